"""The public HTTP API that X and Meta deliver webhooks to, and the function behind it."""

from __future__ import annotations

import json
from typing import cast

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.constructs.function import ResponderFunction
from infra.nag import acknowledge

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
    }
)


# HttpStage takes an IAccessLogSettings interface, which jsii only accepts from a class that implements it.
@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.IAccessLogFormat:
        return apigw.AccessLogFormat.custom(ACCESS_LOG_FORMAT)


class WebhookApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        queue: sqs.IQueue,
        secret: secretsmanager.ISecret,
        layers: list[lambda_.ILayerVersion],
        raw_event_ttl_days: int,
        retention_days: int,
        throttle_burst_limit: int,
        throttle_rate_limit: int,
        handshake_throttle_burst_limit: int = c.DEFAULT_HANDSHAKE_THROTTLE_BURST,
        handshake_throttle_rate_limit: int = c.DEFAULT_HANDSHAKE_THROTTLE_RATE,
    ) -> None:
        super().__init__(scope, construct_id)

        webhook = ResponderFunction(
            self,
            c.WEBHOOK_FUNCTION_ID,
            code_dir=c.WEBHOOK_CODE_DIR,
            description="Responder webhook: verifies X and Meta deliveries and enqueues mentions",
            layers=layers,
            environment={
                c.ENV_TABLE_NAME: table.table_name,
                c.ENV_QUEUE_URL: queue.queue_url,
                c.ENV_SECRET_ARN: secret.secret_arn,
                c.ENV_RAW_EVENT_TTL_DAYS: str(raw_event_ttl_days),
                c.ENV_RETENTION_DAYS: str(retention_days),
                c.ENV_POWERTOOLS_SERVICE_NAME: c.WEBHOOK_SERVICE_NAME,
                c.ENV_POWERTOOLS_LOG_LEVEL: c.DEFAULT_LOG_LEVEL,
            },
        )
        self.function = webhook.function
        self.function_log_group = webhook.log_group
        role = webhook.role

        # Exactly what the webhook's calls need (responder.ingest.intake → storage.DynamoMentionStore), on the table alone:
        # the mention and its raw event are PutItems and the thread's counters an UpdateItem, marking a mention queued is an UpdateItem, brand-post links a PutItem, a thread's bounds and
        # a duplicate's status a GetItem, and a reply's parent a consistent Query on the base table; a native answer
        # marks its mention with an UpdateItem. Erasing (responder.privacy.erasure: delete notices and Meta's data
        # deletion callback) reads the mention (GetItem), turns it into a tombstone (UpdateItem, or PutItem before its
        # create), deletes its raw event (DeleteItem), and reads the incidents' samples (Query on the base table); a
        # data deletion request is one TransactWriteItems of two Puts. It never scans.
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(c.WEBHOOK_TABLE_ACTIONS),
                                                         resources=[table.table_arn]))
        # A person's mentions for Meta's data deletion callback: a Query on the sparse author index only.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:Query"],
                                                         resources=[f"{table.table_arn}/index/{c.GSI4_NAME}"]))
        # A native DM answer (the brand's own message, responder.replies.native) finds the conversation's latest
        # mention through gsi1: a Query on that index only.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["dynamodb:Query"],
                                                         resources=[f"{table.table_arn}/index/{c.GSI1_NAME}"]))
        # Explicit single actions: grant_send_messages and grant_read would add attribute/describe calls
        # the webhook never makes.
        queue.grant(role, "sqs:SendMessage")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[secret.secret_arn])
        )

        self.api = apigwv2.HttpApi(
            self,
            c.HTTP_API_ID,
            description="Responder webhook receiver for X and Meta",
            # The default stage is declared below so it can carry access logs and throttling.
            create_default_stage=False,
        )
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            # Who called the webhooks outlives the stack until the retention expires (see ResponderFunction).
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.stage = apigwv2.HttpStage(
            self,
            c.HTTP_STAGE_ID,
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(self.access_log_group),
            # Caps a replay storm or a flood of forged deliveries before it reaches Lambda and DynamoDB.
            throttle=apigwv2.ThrottleSettings(burst_limit=throttle_burst_limit, rate_limit=throttle_rate_limit),
        )
        # The GET handshakes (X's CRC, Meta's verification) come a few times an hour at most, and each one costs a
        # Lambda invocation and a secret read while proving nothing about the caller: they get their own, much
        # lower limit, so a flood of them cannot use up the deliveries' share. Route settings apply per route
        # across all callers (API Gateway HTTP API, "Throttling requests"): a flood can still make a real handshake
        # fail while it lasts, but no longer the POST deliveries.
        stage_resource = cast(apigwv2.CfnStage, self.stage.node.default_child)
        stage_resource.route_settings = {
            **{route_key: {"ThrottlingBurstLimit": handshake_throttle_burst_limit,
                           "ThrottlingRateLimit": handshake_throttle_rate_limit}
               for route_key in c.WEBHOOK_HANDSHAKE_ROUTE_KEYS},
            **{route_key: {"ThrottlingBurstLimit": c.DEFAULT_DATA_DELETION_THROTTLE_BURST,
                           "ThrottlingRateLimit": c.DEFAULT_DATA_DELETION_THROTTLE_RATE}
               for route_key in c.DATA_DELETION_ROUTE_KEYS}}

        integration = integrations.HttpLambdaIntegration(
            "WebhookIntegration",
            self.function,
            # Pinned rather than defaulted: the handler parses the 2.0 event shape (rawPath, requestContext.http).
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        routes = []
        for path in (c.WEBHOOK_PATH_X, c.WEBHOOK_PATH_META):
            routes += self.api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.GET, apigwv2.HttpMethod.POST],
                integration=integration,
            )
        # Meta's Data Deletion Request Callback and its status page: the same function, which holds the app secret.
        routes += self.api.add_routes(path=c.DATA_DELETION_PATH, methods=[apigwv2.HttpMethod.POST],
                                      integration=integration)
        routes += self.api.add_routes(path=c.DATA_DELETION_STATUS_PATH, methods=[apigwv2.HttpMethod.GET],
                                      integration=integration)
        # Route settings name routes that must exist before the stage refers to them.
        for route in routes:
            self.stage.node.add_dependency(route)

        # One acknowledgement on the API covers its routes; the routes are the violating resources.
        acknowledge(
            self.api,
            "AwsSolutions-APIG4",
            "X and Meta cannot present IAM, JWT or Cognito credentials when they call a webhook; every request "
            "is authenticated inside the function by HMAC-SHA256 over the raw body with the platform app "
            "secret (CRC response / hub.verify_token for the GET handshakes; Meta's signed_request, HMAC-SHA256 with the "
            "same secret, for the data deletion callback), and unsigned requests are rejected. The deletion status "
            "page is public by design (Meta shows its URL to the person) and is keyed by a 128-bit random code.",
        )

        self.url = self.stage.url
        self.x_webhook_url = f"{self.url}{c.WEBHOOK_PATH_X.lstrip('/')}"
        self.meta_webhook_url = f"{self.url}{c.WEBHOOK_PATH_META.lstrip('/')}"
        self.data_deletion_url = f"{self.url}{c.DATA_DELETION_PATH.lstrip('/')}"
        # The data deletion answer's status URL is on this API (a custom domain in front of it: see the stack).
        self.function.add_environment(c.ENV_REVIEW_BASE_URL, self.url)
