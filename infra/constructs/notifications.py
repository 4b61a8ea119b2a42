"""SNS topics the agents and on-call people subscribe to, with per-team filter policies from CDK context."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import constants as c

PROTOCOLS = {
    "email": sns.SubscriptionProtocol.EMAIL,
    "email-json": sns.SubscriptionProtocol.EMAIL_JSON,
    "https": sns.SubscriptionProtocol.HTTPS,
    "sqs": sns.SubscriptionProtocol.SQS,
    "sms": sns.SubscriptionProtocol.SMS,
    "lambda": sns.SubscriptionProtocol.LAMBDA,
}
# A function (optionally an alias or version) in this partition; SNS may only invoke what the stack grants it.
_FUNCTION_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9_$-]+)?")
# Message attributes the workflow sets on every agent notification; filters may use any of them.
FILTER_ATTRIBUTES = ("team", "priority", "platform", "channel", "intent", "language")


class SubscriptionConfigError(ValueError):
    """A subscription declared in CDK context is malformed."""


def filter_policy(spec: Mapping[str, Any]) -> dict[str, sns.SubscriptionFilter]:
    """`{"team": "billing", "filter": {"priority": ["p1", "p2"]}}` → an SNS filter policy on message attributes."""
    policy: dict[str, list[str]] = {}
    if spec.get("team"):
        policy["team"] = [str(spec["team"])]
    for key, values in (spec.get("filter") or {}).items():
        if key not in FILTER_ATTRIBUTES:
            raise SubscriptionConfigError(f"filter on unknown attribute {key!r}; use one of {FILTER_ATTRIBUTES}")
        values = [values] if isinstance(values, str) else list(values)
        if not values:
            raise SubscriptionConfigError(f"filter {key!r} needs at least one value")
        policy[key] = [str(v) for v in values]
    return {key: sns.SubscriptionFilter.string_filter(allowlist=values) for key, values in policy.items()}


def subscribe(scope: Construct, construct_id: str, topic: sns.ITopic, spec: Mapping[str, Any],
              filter_policy: Mapping[str, sns.SubscriptionFilter] | None = None) -> sns.Subscription:
    """One subscription declared in CDK context, with what its endpoint needs to receive anything.

    SNS delivers to a Lambda function only when the function's resource policy allows it: a `lambda`
    subscription gets that permission, scoped to this topic and this account. An `sqs` subscription is refused:
    a queue's policy is one document, so a stack that wrote it would erase its owner's statements, and a queue
    encrypted with a customer key also needs that key's policy changed, which this stack cannot do safely.
    """
    protocol = PROTOCOLS.get(str(spec.get("protocol", "")).lower())
    endpoint = str(spec.get("endpoint") or "")
    if protocol is None or not endpoint:
        raise SubscriptionConfigError(
            f"subscription {dict(spec)!r} needs protocol (one of {sorted(PROTOCOLS)}) and endpoint")
    if protocol is sns.SubscriptionProtocol.SQS:
        raise SubscriptionConfigError(
            f"subscription {dict(spec)!r}: SNS delivers to an SQS queue only when the queue's policy allows "
            "sns:SendMessage from the topic (and, for a queue encrypted with a customer-managed KMS key, the key "
            "allows SNS kms:GenerateDataKey* and kms:Decrypt). This stack does not own the queue and would "
            "overwrite its whole policy, so it does not subscribe queues: add that statement to the queue's "
            "policy, then subscribe the queue to the topic ARN in the stack outputs (aws sns subscribe).")
    if protocol is sns.SubscriptionProtocol.LAMBDA:
        if not _FUNCTION_ARN_RE.fullmatch(endpoint):
            raise SubscriptionConfigError(
                f"subscription {dict(spec)!r}: a lambda endpoint must be a function ARN in this account")
        lambda_.CfnPermission(scope, f"{construct_id}Permission", action="lambda:InvokeFunction",
                              function_name=endpoint, principal="sns.amazonaws.com", source_arn=topic.topic_arn,
                              source_account=Stack.of(scope).account)
    return sns.Subscription(scope, construct_id, topic=topic, protocol=protocol, endpoint=endpoint,
                            filter_policy=dict(filter_policy) if filter_policy else None,
                            raw_message_delivery=bool(spec.get("raw")) and protocol is sns.SubscriptionProtocol.HTTPS)


class Notifications(Construct):
    """The agent-notification topic (one subscription per team or filter), the escalation topic (p1 and
    failures) and the incident topic (one alert per surge, then digests)."""

    def __init__(self, scope: Construct, construct_id: str, *, agent_subscriptions: Sequence[Mapping[str, Any]] = (),
                 escalation_subscriptions: Sequence[Mapping[str, Any]] = (),
                 incident_subscriptions: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(scope, construct_id)
        # The AWS-managed SNS key: encrypted at rest for free; publishers are IAM roles of this account.
        key = kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns")
        self.agent_topic = sns.Topic(self, c.AGENT_TOPIC_ID, display_name="Responder agent notifications",
                                     master_key=key, enforce_ssl=True)
        self.escalation_topic = sns.Topic(self, c.ESCALATION_TOPIC_ID, display_name="Responder escalations",
                                          master_key=key, enforce_ssl=True)
        self.incident_topic = sns.Topic(self, c.INCIDENT_TOPIC_ID, display_name="Responder incidents",
                                        master_key=key, enforce_ssl=True)
        self.subscriptions: list[sns.Subscription] = []
        for index, spec in enumerate(agent_subscriptions):
            self.subscriptions.append(self._subscribe(self.agent_topic, f"Agent{index}", spec, filtered=True))
        for index, spec in enumerate(escalation_subscriptions):
            self.subscriptions.append(self._subscribe(self.escalation_topic, f"Escalation{index}", spec,
                                                      filtered=False))
        for index, spec in enumerate(incident_subscriptions):
            self.subscriptions.append(self._subscribe(self.incident_topic, f"Incident{index}", spec, filtered=False))

    def _subscribe(self, topic: sns.ITopic, construct_id: str, spec: Mapping[str, Any],
                   filtered: bool) -> sns.Subscription:
        if filtered and not spec.get("team") and not spec.get("filter"):
            raise SubscriptionConfigError(f"agent subscription {dict(spec)!r} needs a team or a filter")
        return subscribe(self, construct_id, topic, spec, filter_policy(spec) if filtered else None)
