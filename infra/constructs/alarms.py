"""Operational alarms: a dead-letter queue (triage or outbound) that holds anything, a triage backlog older than
the p1 SLA, and SLA breaches above a share of the mentions notified."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.constructs.notifications import subscribe


class OperationalAlarms(Construct):
    """Alarms on the triage queues, notifying an `OperationalAlarms` topic.

    CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, so this topic has its own
    customer-managed key (rotated yearly) whose policy lets CloudWatch use it: about $1 a month, the one
    standing cost of the stack. A topic policy replaces SNS's default access policy, so the topic's policy
    must allow CloudWatch to publish too. Both grants name this stack's alarms and this account
    (aws:SourceArn, aws:SourceAccount), so no other account's alarm can use the topic or the key; the alarms
    carry fixed names so that their ARNs are known before they exist (the key cannot refer to the alarms'
    attributes: the alarms depend on the topic, which depends on the key).
    """

    def __init__(self, scope: Construct, construct_id: str, *, queue: sqs.IQueue, dlq: sqs.IQueue,
                 outbound_dlq: sqs.IQueue | None = None, sweeper: lambda_.IFunction | None = None,
                 subscriptions: Sequence[Mapping[str, Any]] = (),
                 backlog_age_seconds: int = 15 * 60, breach_rate_percent: float | None = None) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        names = {alarm: f"{stack.stack_name}-{alarm}" for alarm in (c.DLQ_ALARM_ID, c.BACKLOG_ALARM_ID,
                                                                       c.OUTBOUND_DLQ_ALARM_ID)
                 + ((c.BREACH_RATE_ALARM_ID,) if breach_rate_percent is not None else ())
                 + ((c.SWEEPER_ALARM_ID, c.SWEEPER_BEHIND_ALARM_ID) if sweeper is not None else ())}
        self.alarm_arns = [stack.format_arn(service="cloudwatch", resource="alarm", resource_name=name,
                                            arn_format=ArnFormat.COLON_RESOURCE_NAME) for name in names.values()]
        # Confused-deputy guard recommended for service principals (IAM user guide, "The confused deputy problem").
        from_these_alarms = {"StringEquals": {"aws:SourceAccount": stack.account},
                             "ArnLike": {"aws:SourceArn": self.alarm_arns}}
        cloudwatch_principal = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key = kms.Key(self, "Key", enable_key_rotation=True, description="Responder operational alarms topic")
        key.add_to_resource_policy(iam.PolicyStatement(
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], principals=[cloudwatch_principal], resources=["*"],
            conditions=from_these_alarms))
        self.topic = sns.Topic(self, c.ALARM_TOPIC_ID, display_name="Responder operational alarms",
                               master_key=key, enforce_ssl=True)
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            actions=["sns:Publish"], principals=[cloudwatch_principal], resources=[self.topic.topic_arn],
            conditions=from_these_alarms))
        action = actions.SnsAction(self.topic)
        self.dlq_alarm = cloudwatch.Alarm(
            self, c.DLQ_ALARM_ID, alarm_name=names[c.DLQ_ALARM_ID],
            alarm_description="Mentions whose triage failed five times wait in the "
            "dead-letter queue: inspect them, fix the cause, then `responder redrive`.",
            metric=dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1),
                                                                      statistic="Maximum"),
            threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.backlog_alarm = cloudwatch.Alarm(
            self, c.BACKLOG_ALARM_ID, alarm_name=names[c.BACKLOG_ALARM_ID],
            alarm_description="The oldest mention waiting for triage is older than the p1 "
            "SLA: triage is throttled or failing, or its concurrency is too low for this surge.",
            metric=queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
            threshold=backlog_age_seconds, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarms = [self.dlq_alarm, self.backlog_alarm]
        if outbound_dlq is not None:
            self.outbound_dlq_alarm = cloudwatch.Alarm(
                self, c.OUTBOUND_DLQ_ALARM_ID, alarm_name=names[c.OUTBOUND_DLQ_ALARM_ID],
                alarm_description="Approved replies that could not be handed to the platform wait in the outbound "
                "dead-letter queue: the sender could not run for them. Inspect them, fix the cause, redrive.",
                metric=outbound_dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(1),
                                                                                   statistic="Maximum"),
                threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarms.append(self.outbound_dlq_alarm)
        if sweeper is not None:
            self.sweeper_alarm = cloudwatch.Alarm(
                self, c.SWEEPER_ALARM_ID, alarm_name=names[c.SWEEPER_ALARM_ID],
                alarm_description="The sweeper, which enqueues mentions stored but never handed to triage, failed in "
                "two of the last three 5-minute periods: such mentions stay untriaged until it runs again. See its logs.",
                metric=sweeper.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarms.append(self.sweeper_alarm)
            self.sweeper_behind_alarm = cloudwatch.Alarm(
                self, c.SWEEPER_BEHIND_ALARM_ID, alarm_name=names[c.SWEEPER_BEHIND_ALARM_ID],
                alarm_description=f"The sweeper has looked for stranded mentions only up to more than "
                f"{c.SWEEPER_BEHIND_SECONDS // 3600} hours ago, in two of the last three 5-minute periods: it cannot "
                "keep up, or the triage queue is that far behind (see TriageBacklog). Stranded mentions wait until it "
                "catches up. See its logs.",
                metric=cloudwatch.Metric(namespace=c.METRICS_NAMESPACE, metric_name=c.METRIC_SWEEP_LAG_SECONDS,
                                         period=Duration.minutes(5), statistic="Maximum"),
                threshold=c.SWEEPER_BEHIND_SECONDS,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, evaluation_periods=3,
                datapoints_to_alarm=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarms.append(self.sweeper_behind_alarm)
        self.breach_rate_alarm: cloudwatch.Alarm | None = None
        if breach_rate_percent is not None:
            from infra.constructs.dashboard import breach_rate

            self.breach_rate_alarm = cloudwatch.Alarm(
                self, c.BREACH_RATE_ALARM_ID, alarm_name=names[c.BREACH_RATE_ALARM_ID],
                alarm_description=f"More than {breach_rate_percent:g}% of the mentions notified in "
                f"{c.BREACH_RATE_PERIOD_MINUTES} minutes passed their SLA unanswered: the teams are short of hands, "
                "or notifications do not reach them. See the first-response dashboard.",
                metric=breach_rate(), threshold=breach_rate_percent,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
            alarms.append(self.breach_rate_alarm)
        for alarm in alarms:
            alarm.add_alarm_action(action)
        for index, spec in enumerate(subscriptions):
            subscribe(self, f"Alarm{index}", self.topic, spec)
