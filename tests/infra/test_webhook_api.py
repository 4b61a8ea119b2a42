"""The HTTP API: routes, integration, access logging and throttling."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra import constants as c


def test_http_api_has_exactly_the_webhook_routes_the_data_deletion_callback_and_the_review_page(synthesized):
    # Given the synthesised stack
    routes = synthesized.resources("AWS::ApiGatewayV2::Route").values()
    # When the route keys are collected
    route_keys = sorted(route["Properties"]["RouteKey"] for route in routes)
    # Then GET and POST exist for /webhooks/x, /webhooks/meta and /review/{token}, the data deletion callback takes a
    # POST and its status page a GET, and nothing else
    assert route_keys == sorted(["GET /webhooks/x", "POST /webhooks/x", "GET /webhooks/meta", "POST /webhooks/meta",
                                 "POST /webhooks/meta/data-deletion", "GET /webhooks/meta/data-deletion/{code}",
                                 "GET /review/{token}", "POST /review/{token}"])
    assert route_keys == sorted([*c.WEBHOOK_ROUTE_KEYS, *c.DATA_DELETION_ROUTE_KEYS, *c.REVIEW_ROUTE_KEYS])


def test_every_route_invokes_the_webhook_with_payload_v2(synthesized, template):
    # Given the synthesised stack
    function_id = synthesized.logical_id(synthesized.stack.webhook.function)
    integrations = synthesized.resources("AWS::ApiGatewayV2::Integration")
    # When the integrations behind the routes are inspected
    routes = synthesized.resources("AWS::ApiGatewayV2::Route").values()
    targets = {route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"] for route in routes}
    # Then all routes share one Lambda proxy integration, format 2.0, pointing at the webhook
    assert targets == set(integrations)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {
            "IntegrationType": "AWS_PROXY",
            "PayloadFormatVersion": "2.0",
            "IntegrationUri": {"Fn::GetAtt": [function_id, "Arn"]},
        },
    )


def test_default_stage_logs_json_access_records(synthesized):
    # Given the synthesised stack
    stages = synthesized.resources("AWS::ApiGatewayV2::Stage")
    # When the auto-deployed default stage is inspected
    assert len(stages) == 1
    (stage,) = stages.values()
    settings = stage["Properties"]["AccessLogSettings"]
    log_fields = json.loads(settings["Format"])
    log_group = synthesized.template_dict["Resources"][settings["DestinationArn"]["Fn::GetAtt"][0]]
    # Then access logs go to a 30-day log group as JSON with the fields operators query
    assert stage["Properties"]["StageName"] == "$default"
    assert stage["Properties"]["AutoDeploy"] is True
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert {"requestId", "ip", "routeKey", "status", "responseLength", "integrationLatency"} <= set(log_fields)
    assert log_fields["requestId"] == "$context.requestId"
    assert log_fields["ip"] == "$context.identity.sourceIp"


def test_default_stage_throttles_every_route(template):
    # Given the synthesised stack with default context
    # When the default stage's route settings are inspected
    # Then bursts are capped at 2000 and the steady rate at 1000 requests per second
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"DefaultRouteSettings": Match.object_like({"ThrottlingBurstLimit": 2000, "ThrottlingRateLimit": 1000})},
    )


def test_api_gateway_may_invoke_the_webhook_only_from_this_api(synthesized):
    # Given the synthesised stack
    function_id = synthesized.logical_id(synthesized.stack.webhook.function)
    api_id = synthesized.logical_id(synthesized.stack.webhook.api)
    permissions = [p for p in synthesized.resources("AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}]
    # When the Lambda permissions on the webhook are inspected
    # Then each is for apigateway.amazonaws.com, scoped to this API's ARN
    assert len(permissions) == 6  # four webhook routes, the data deletion callback and its status page
    for permission in permissions:
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert props["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert {"Ref": api_id} in props["SourceArn"]["Fn::Join"][1]


def test_handshake_routes_have_their_own_low_throttle_and_deliveries_keep_the_stage_one(synthesized):
    # Given the default stage of the synthesised stack
    stage = synthesized.resource(synthesized.stack.webhook.stage)
    # When its per-route settings are read
    route_settings = stage["Properties"]["RouteSettings"]
    # Then the two GET handshakes carry the low defaults (10 burst, 5 per second)
    assert route_settings == {
        "GET /webhooks/x": {"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 5},
        "GET /webhooks/meta": {"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 5},
        # And the data deletion callback and its status page a person's pace (20 burst, 10 per second)
        "POST /webhooks/meta/data-deletion": {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10},
        "GET /webhooks/meta/data-deletion/{code}": {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10},
        # And the review page has its own (a person's clicks; guesses at its tokens capped too)
        "GET /review/{token}": {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10},
        "POST /review/{token}": {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10},
    }
    # And the POST deliveries fall under the stage's high default limits
    assert stage["Properties"]["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 2000, "ThrottlingRateLimit": 1000}
    # And the stage is created after the routes it names (a route setting on a missing route fails the deploy)
    routes = synthesized.resources("AWS::ApiGatewayV2::Route")
    named = {r["Properties"]["RouteKey"]: logical_id for logical_id, r in routes.items()}
    assert {named[key] for key in route_settings} <= set(stage["DependsOn"])


def test_the_webhook_knows_the_public_address_of_the_deletion_status_pages(synthesized):
    # Given the webhook function of the synthesised stack
    env = synthesized.resource(synthesized.stack.webhook.function)["Properties"]["Environment"]["Variables"]
    # Then the status URL it answers Meta with is built on the API's address (as the review links are)
    base = env[c.ENV_REVIEW_BASE_URL]
    assert "Fn::Join" in base and any(isinstance(p, dict) and "Ref" in p for p in base["Fn::Join"][1])
