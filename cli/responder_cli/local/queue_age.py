"""The triage queue's oldest message age, locally: read from moto's in-process SQS, which publishes no CloudWatch
metrics (deployed: responder.aws.triage_queue.SqsQueueAge reads ApproximateAgeOfOldestMessage)."""

from __future__ import annotations

import time

from responder_cli.local.template import LOCAL_ACCOUNT, LOCAL_REGION


class MotoQueueAge:
    """The age of the oldest message not deleted yet (waiting, delayed or in flight), as the metric counts it."""

    def __init__(self, queue_url: str) -> None:
        self._name = queue_url.rstrip("/").rsplit("/", 1)[-1]

    def oldest_age_seconds(self) -> float:
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[LOCAL_ACCOUNT][LOCAL_REGION].queues[self._name]
        sent = [m.sent_timestamp for m in list(queue._messages) if m.sent_timestamp]
        return max(0.0, time.time() - min(sent) / 1000) if sent else 0.0
