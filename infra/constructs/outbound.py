"""The outbound queue between the review page (an approved reply) and the sender function, with its DLQ."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c


class OutboundQueue(Construct):
    """Approved replies wait here for the sender; a reply whose sending failed too often waits in the DLQ.

    The sender delays a rate-limited reply by sending it again with a delay (up to SQS's 15 minutes) rather than
    leaving it to the visibility timeout, so waiting for a platform's rate-limit window does not count as a receive.
    """

    def __init__(self, scope: Construct, construct_id: str, *,
                 consumer_timeout_seconds: int = c.SENDER_TIMEOUT_SECONDS,
                 max_receive_count: int = c.OUTBOUND_MAX_RECEIVE_COUNT) -> None:
        super().__init__(scope, construct_id)
        self.dlq = sqs.Queue(self, c.OUTBOUND_DLQ_ID, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                             retention_period=Duration.days(c.DLQ_RETENTION_DAYS))
        self.queue = sqs.Queue(
            self, c.OUTBOUND_QUEUE_ID, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            visibility_timeout=Duration.seconds(c.VISIBILITY_TIMEOUT_FACTOR * consumer_timeout_seconds),
            # A reply older than this is no longer an answer within any SLA; the DLQ keeps it for inspection.
            retention_period=Duration.days(c.OUTBOUND_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receive_count))
