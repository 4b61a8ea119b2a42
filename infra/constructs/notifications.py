"""SNS topics the agents and on-call people subscribe to, with per-team filter policies from CDK context."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_kms as kms
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
        protocol = PROTOCOLS.get(str(spec.get("protocol", "")).lower())
        endpoint = spec.get("endpoint")
        if protocol is None or not endpoint:
            raise SubscriptionConfigError(
                f"subscription {dict(spec)!r} needs protocol (one of {sorted(PROTOCOLS)}) and endpoint")
        if filtered and not spec.get("team") and not spec.get("filter"):
            raise SubscriptionConfigError(f"agent subscription {dict(spec)!r} needs a team or a filter")
        return sns.Subscription(self, construct_id, topic=topic, protocol=protocol, endpoint=str(endpoint),
                                filter_policy=filter_policy(spec) if filtered else None,
                                raw_message_delivery=bool(spec.get("raw")) and protocol in (
                                    sns.SubscriptionProtocol.SQS, sns.SubscriptionProtocol.HTTPS))
