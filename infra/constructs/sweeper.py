"""The sweeper: a scheduled function that enqueues mentions stored but never handed to triage."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c
from infra.constructs.function import ResponderFunction


class Sweeper(Construct):
    """A function on an EventBridge schedule; it reads the brand's mentions by received time (gsi2), their status,
    the triage queue's oldest-message age, and moves its watermark item."""

    def __init__(self, scope: Construct, construct_id: str, *, table: dynamodb.ITable, queue: sqs.IQueue,
                 layers: Sequence[lambda_.ILayerVersion], rate_minutes: int = c.SWEEPER_RATE_MINUTES) -> None:
        super().__init__(scope, construct_id)
        self.function = ResponderFunction(
            self, c.SWEEPER_FUNCTION_ID, code_dir=c.SWEEPER_CODE_DIR,
            description="Responder sweeper: enqueues mentions stored but never handed to triage",
            layers=layers, timeout=Duration.seconds(c.SWEEPER_TIMEOUT_SECONDS), memory_size=c.SWEEPER_MEMORY_MB,
            resource_star_uses=["cloudwatch:GetMetricStatistics, which supports no resource-level permissions (the "
                                "sweeper reads the triage queue's ApproximateAgeOfOldestMessage)"],
            environment={
                c.ENV_TABLE_NAME: table.table_name,
                c.ENV_QUEUE_URL: queue.queue_url,
                c.ENV_POWERTOOLS_SERVICE_NAME: c.SWEEPER_SERVICE_NAME,
                c.ENV_POWERTOOLS_LOG_LEVEL: c.DEFAULT_LOG_LEVEL,
            },
        )
        # Exactly what responder.ingest.sweeper does: query gsi2 over the window not swept yet, read the candidates'
        # status (BatchGetItem), read and move the watermark item (GetItem, PutItem), send what is still `received`.
        self.function.role.add_to_policy(iam.PolicyStatement(
            actions=["dynamodb:Query"], resources=[f"{table.table_arn}/index/{c.GSI2_NAME}"]))
        self.function.role.add_to_policy(iam.PolicyStatement(
            actions=["dynamodb:BatchGetItem", "dynamodb:GetItem"], resources=[table.table_arn]))
        # It writes its watermark item only (responder.aws.storage.SWEEP_WATERMARK_KEY).
        self.function.role.add_to_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem"], resources=[table.table_arn],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [c.SWEEP_WATERMARK_PK]}}))
        # GetMetricStatistics supports no resource-level permissions (Service Authorization Reference, Amazon
        # CloudWatch): the queue's ApproximateAgeOfOldestMessage, so a queue that is merely behind is not swept.
        self.function.role.add_to_policy(iam.PolicyStatement(
            actions=["cloudwatch:GetMetricStatistics"], resources=["*"]))
        queue.grant(self.function.role, "sqs:SendMessage")  # not grant_send_messages: it adds GetQueue* too
        self.rule = events.Rule(
            self, c.SWEEPER_RULE_ID, schedule=events.Schedule.rate(Duration.minutes(rate_minutes)),
            description="Responder: enqueue mentions stored but never handed to triage",
            targets=[targets.LambdaFunction(self.function.function, retry_attempts=2)],
        )
