"""The triage queue between the webhook (producer) and the triage function (consumer)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c


class IngestQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        consumer_timeout_seconds: int = c.TRIAGE_FUNCTION_TIMEOUT_SECONDS,
        max_receive_count: int = c.TRIAGE_MAX_RECEIVE_COUNT,
    ) -> None:
        super().__init__(scope, construct_id)

        self.dlq = sqs.Queue(
            self,
            c.TRIAGE_DLQ_ID,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # The maximum SQS allows: poisoned mentions must survive a long weekend before someone redrives them.
            retention_period=Duration.days(c.DLQ_RETENTION_DAYS),
        )

        self.queue = sqs.Queue(
            self,
            c.TRIAGE_QUEUE_ID,
            # SQS-managed SSE is free and needs no KMS grants for producers or consumers.
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(c.VISIBILITY_TIMEOUT_FACTOR * consumer_timeout_seconds),
            retention_period=Duration.days(c.TRIAGE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count),
        )
