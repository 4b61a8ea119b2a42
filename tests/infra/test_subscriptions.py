"""Subscriptions from CDK context: every endpoint that is accepted can actually receive what its topic sends."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from infra import constants as c
from infra.app import build_app
from infra.constructs.notifications import SubscriptionConfigError

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:ticketing-intake"


def _template(context: dict) -> Template:
    app = build_app(context, with_nag=False)
    return Template.from_stack(app.node.find_child(c.STACK_NAME))


@pytest.mark.parametrize(("context_key", "topic_path"), [
    (c.CONTEXT_AGENT_SUBSCRIPTIONS, ("notifications", "agent_topic")),
    (c.CONTEXT_ESCALATION_SUBSCRIPTIONS, ("notifications", "escalation_topic")),
    (c.CONTEXT_INCIDENT_SUBSCRIPTIONS, ("notifications", "incident_topic")),
    (c.CONTEXT_ALARM_SUBSCRIPTIONS, ("alarms", "topic")),
])
def test_a_lambda_subscription_lets_sns_invoke_the_function_from_that_topic_only(context_key, topic_path):
    # Given a Lambda function subscribed to one topic in context
    spec = {"protocol": "lambda", "endpoint": FUNCTION_ARN, "team": "billing"}
    app = build_app({context_key: [spec]}, with_nag=False)
    stack = app.node.find_child(c.STACK_NAME)
    template = Template.from_stack(stack)
    topic = getattr(getattr(stack, topic_path[0]), topic_path[1])
    topic_ref = {"Ref": stack.get_logical_id(topic.node.default_child)}
    # When the template is read
    permissions = template.find_resources("AWS::Lambda::Permission", {"Properties": {"FunctionName": FUNCTION_ARN}})
    subscriptions = template.find_resources("AWS::SNS::Subscription", {"Properties": {"Protocol": "lambda"}})
    # Then SNS may invoke that function, only on behalf of that topic in this account
    assert [p["Properties"] for p in permissions.values()] == [{
        "Action": "lambda:InvokeFunction", "FunctionName": FUNCTION_ARN, "Principal": "sns.amazonaws.com",
        "SourceAccount": {"Ref": "AWS::AccountId"}, "SourceArn": topic_ref}]
    # And the subscription itself points the same topic at the same function
    assert [(s["Properties"]["TopicArn"], s["Properties"]["Endpoint"]) for s in subscriptions.values()] == [
        (topic_ref, FUNCTION_ARN)]


def test_email_and_https_subscriptions_need_no_resource_permission():
    # Given only e-mail and HTTPS subscribers
    template = _template({c.CONTEXT_ESCALATION_SUBSCRIPTIONS: [
        {"protocol": "email", "endpoint": "oncall@example.com"},
        {"protocol": "https", "endpoint": "https://hooks.example.com/oncall", "raw": True}]})
    # Then no Lambda permission is created, and raw delivery is kept for HTTPS
    template.resource_count_is("AWS::Lambda::Permission", _api_permissions(template))
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "https", "RawMessageDelivery": True})


def _api_permissions(template: Template) -> int:
    # API Gateway's invoke permissions on the webhook and EventBridge's on the sweeper are the only other ones.
    return sum(len(template.find_resources("AWS::Lambda::Permission", {"Properties": {"Principal": principal}}))
               for principal in ("apigateway.amazonaws.com", "events.amazonaws.com"))


@pytest.mark.parametrize("context_key", [c.CONTEXT_AGENT_SUBSCRIPTIONS, c.CONTEXT_ALARM_SUBSCRIPTIONS])
def test_an_sqs_subscription_is_refused_with_what_the_queue_needs(context_key):
    # Given a queue subscription, which SNS could never deliver to without the queue owner's policy
    spec = {"protocol": "sqs", "endpoint": "arn:aws:sqs:eu-west-1:123456789012:tickets", "team": "billing"}
    # When the stack is built
    with pytest.raises(SubscriptionConfigError) as refused:
        build_app({context_key: [spec]}, with_nag=False)
    # Then synthesis stops and says what the queue's policy must allow
    assert "sns:SendMessage" in str(refused.value) and "queue's policy" in str(refused.value)


@pytest.mark.parametrize("endpoint", ["ticketing-intake", "arn:aws:sqs:eu-west-1:123456789012:tickets",
                                      "arn:aws:lambda:eu-west-1:123456789012:function:a b"])
def test_a_lambda_endpoint_must_be_a_function_arn(endpoint):
    with pytest.raises(SubscriptionConfigError, match="function ARN"):
        build_app({c.CONTEXT_INCIDENT_SUBSCRIPTIONS: [{"protocol": "lambda", "endpoint": endpoint}]}, with_nag=False)
