"""The hand-off from ingest to triage: one SQS message per stored mention."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from responder.core.model import Mention, MentionKey

_BATCH = 10  # SendMessageBatch takes at most 10 entries
_ATTEMPTS = 3


class QueueUnavailable(RuntimeError):
    """SQS cannot take the messages right now (answered 503 so the platform retries)."""


class TriageQueue(Protocol):
    """The queue port of the ingest path."""

    def enqueue(self, mentions: Sequence[Mention | MentionKey]) -> None: ...


def triage_message(mention: Mention | MentionKey) -> dict[str, Any]:
    """The message body: the mention's key; the table stays the single source of truth."""
    return {"v": 1, "platform": mention.platform, "channel": mention.channel, "mention_id": mention.mention_id,
            "thread_id": mention.thread_id, "kind": mention.kind}


class SqsTriageQueue:
    """The TriageQueue on an SQS queue."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self._url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from responder.aws.storage import default_client

            self._client = default_client("sqs")
        return self._client

    def enqueue(self, mentions: Sequence[Mention | MentionKey]) -> None:
        """Send every mention in batches of ten (in parallel for large deliveries); raise if any is not sent."""
        chunks = [mentions[i:i + _BATCH] for i in range(0, len(mentions), _BATCH)]
        if len(chunks) <= 1:
            for chunk in chunks:
                self._send_batch(chunk)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(chunks))) as pool:
            list(pool.map(self._send_batch, chunks))

    def _send_batch(self, chunk: Sequence[Mention | MentionKey]) -> None:
        """One SendMessageBatch, retrying the entries SQS reports as failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        pending = {str(i): m for i, m in enumerate(chunk)}
        for _ in range(_ATTEMPTS):
            entries = [{"Id": i, "MessageBody": json.dumps(triage_message(m), separators=(",", ":")),
                        "MessageAttributes": {"channel": {"DataType": "String", "StringValue": m.channel}}}
                       for i, m in pending.items()]
            try:
                response = self.client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise QueueUnavailable(f"{type(exc).__name__}: {exc}") from exc
            pending = {f["Id"]: pending[f["Id"]] for f in response.get("Failed", [])}
            if not pending:
                break
        if pending:
            raise QueueUnavailable(f"{len(pending)} message(s) not accepted by SQS")


# ApproximateAgeOfOldestMessage is published once a minute; the largest of the last few minutes errs towards an
# older message, which only moves the sweeper's window earlier (responder.ingest.sweeper).
_AGE_LOOKBACK_MINUTES = 5


class SqsQueueAge:
    """The age of the oldest message in an SQS queue, from its CloudWatch metric (one GetMetricStatistics per sweep:
    $0.01 per 1,000 requests, about $0.22 a month every two minutes)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self._name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from responder.aws.storage import default_client

            self._client = default_client("cloudwatch", attempts=2)
        return self._client

    def oldest_age_seconds(self) -> float:
        """The largest age reported over the last minutes; 0 when the queue reported none (idle: SQS stops
        publishing for a queue inactive for six hours)."""
        from datetime import datetime, timedelta, timezone

        now = datetime.now(timezone.utc)
        answer = self.client.get_metric_statistics(
            Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": self._name}], Statistics=["Maximum"], Period=60,
            StartTime=now - timedelta(minutes=_AGE_LOOKBACK_MINUTES), EndTime=now)
        return max((float(p["Maximum"]) for p in answer.get("Datapoints", [])), default=0.0)
