"""Operational alarms: a dead-letter queue that holds anything, and a triage backlog older than the p1 SLA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.constructs.notifications import PROTOCOLS, SubscriptionConfigError


class OperationalAlarms(Construct):
    """Alarms on the triage queues, notifying an `OperationalAlarms` topic.

    CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so this topic has its own
    customer-managed key (rotated yearly) whose policy lets CloudWatch use it: about $1 a month, the one
    standing cost of the stack.
    """

    def __init__(self, scope: Construct, construct_id: str, *, queue: sqs.IQueue, dlq: sqs.IQueue,
                 subscriptions: Sequence[Mapping[str, Any]] = (), backlog_age_seconds: int = 15 * 60) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(self, "Key", enable_key_rotation=True, description="Responder operational alarms topic")
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")], resources=["*"]))
        self.topic = sns.Topic(self, c.ALARM_TOPIC_ID, display_name="Responder operational alarms",
                               master_key=key, enforce_ssl=True)
        action = actions.SnsAction(self.topic)
        self.dlq_alarm = cloudwatch.Alarm(
            self, "DeadLetters", alarm_description="Mentions whose triage failed five times wait in the "
            "dead-letter queue: inspect them, fix the cause, then `responder redrive`.",
            metric=dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1),
                                                                      statistic="Maximum"),
            threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.backlog_alarm = cloudwatch.Alarm(
            self, "TriageBacklog", alarm_description="The oldest mention waiting for triage is older than the p1 "
            "SLA: triage is throttled or failing, or its concurrency is too low for this surge.",
            metric=queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
            threshold=backlog_age_seconds, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        for alarm in (self.dlq_alarm, self.backlog_alarm):
            alarm.add_alarm_action(action)
        for index, spec in enumerate(subscriptions):
            protocol = PROTOCOLS.get(str(spec.get("protocol", "")).lower())
            if protocol is None or not spec.get("endpoint"):
                raise SubscriptionConfigError(f"alarm subscription {dict(spec)!r} needs protocol and endpoint")
            sns.Subscription(self, f"Alarm{index}", topic=self.topic, protocol=protocol, endpoint=str(spec["endpoint"]))
