"""From the triage queue to the triage workflow: one Express execution per mention, partial batch failures.

Deployed, each execution is started with StartSyncExecution, so the dispatcher knows whether triage
succeeded and SQS redelivers exactly the messages that failed (after a backoff that grows with each receive,
until the queue's redrive policy moves the message to the dead-letter queue). Locally, moto has no
StartSyncExecution: the local stack injects a runner that starts the execution and waits for it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

MAX_PARALLEL_EXECUTIONS = 10
BACKOFF_BASE_SECONDS = 15
BACKOFF_MAX_SECONDS = 900


@dataclass(frozen=True)
class Outcome:
    """How one execution ended."""

    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    error: str | None = None
    cause: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


class ExecutionRunner(Protocol):
    def run(self, name: str, payload: dict[str, Any]) -> Outcome: ...


class SyncExpressRunner:
    """StartSyncExecution on an Express state machine (the deployed path)."""

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self._arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # An Express execution runs five minutes at most; the read timeout must outlast it.
            self._client = boto3.client("stepfunctions", config=Config(read_timeout=310, retries={"max_attempts": 2}))
        return self._client

    def run(self, name: str, payload: dict[str, Any]) -> Outcome:
        answer = self.client.start_sync_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        return Outcome(answer["status"], answer.get("error"), answer.get("cause"))


def execution_name(key: dict[str, Any], message_id: str, attempt: int) -> str:
    """A readable, unique execution name within Step Functions' 80-character alphabet."""
    raw = f"{key.get('channel', 'x')}-{key.get('mention_id', 'unknown')}-{attempt}-{message_id[:12]}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)[-80:]


def execution_input(record: dict[str, Any]) -> dict[str, Any]:
    """The workflow input for one SQS record; raises ValueError for a body that is not a triage message."""
    body = json.loads(record["body"])
    if not isinstance(body, dict) or not body.get("channel") or not body.get("mention_id"):
        raise ValueError("not a triage message: channel and mention_id are required")
    attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    key = {"channel": body["channel"], "mention_id": str(body["mention_id"]),
           "thread_id": str(body.get("thread_id") or body["mention_id"])}
    # The claim is the message id: a redelivery of this message may take over its own earlier claim.
    return {"key": key, "attempt": attempt, "claim": record["messageId"]}


@dataclass(frozen=True)
class Failure:
    """One record that SQS must redeliver."""

    message_id: str
    receipt_handle: str
    attempt: int
    reason: str


def dispatch(records: Sequence[dict[str, Any]], runner: ExecutionRunner, log: Any = None) -> list[Failure]:
    """Run one execution per record, in parallel; return the records that failed (for batchItemFailures)."""

    def one(record: dict[str, Any]) -> Failure | None:
        attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            payload = execution_input(record)
        except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            # A poison message: it can never succeed; SQS's redrive policy moves it to the DLQ.
            return Failure(record["messageId"], record.get("receiptHandle", ""), attempt, f"poison: {exc}")
        outcome = runner.run(execution_name(payload["key"], record["messageId"], attempt), payload)
        if outcome.succeeded:
            return None
        return Failure(record["messageId"], record.get("receiptHandle", ""), attempt,
                       f"{outcome.status}: {outcome.error or ''}".strip())

    if len(records) <= 1:
        results = [one(r) for r in records]
    else:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_EXECUTIONS, len(records))) as pool:
            results = list(pool.map(one, records))
    failures = [f for f in results if f is not None]
    if log is not None and failures:
        log.warning("triage executions failed", failures=[{"message_id": f.message_id, "attempt": f.attempt,
                                                            "reason": f.reason[:200]} for f in failures])
    return failures


def backoff_seconds(attempt: int, base: int = BACKOFF_BASE_SECONDS) -> int:
    """How long a failed message stays invisible before its next attempt: 15 s, 30 s, 60 s ... up to 15 min."""
    return min(base * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS)


def delay_retries(failures: Sequence[Failure], queue_url: str, sqs_client: Any, log: Any = None,
                  base_seconds: int = BACKOFF_BASE_SECONDS) -> None:
    """Shorten the queue's visibility timeout for failed messages to an exponential backoff."""
    from botocore.exceptions import BotoCoreError, ClientError

    for failure in failures:
        if not failure.receipt_handle:
            continue
        try:
            sqs_client.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=failure.receipt_handle,
                                                 VisibilityTimeout=backoff_seconds(failure.attempt, base_seconds))
        except (BotoCoreError, ClientError) as exc:
            # The message is still redelivered, only after the queue's full visibility timeout.
            if log is not None:
                log.warning("could not shorten the retry delay", message_id=failure.message_id, error=str(exc))
