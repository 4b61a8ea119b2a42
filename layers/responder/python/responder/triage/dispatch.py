"""From the triage queue to the triage workflow: one Express execution per batch, partial batch failures.

Express bills $1.00 per million executions: the dispatcher starts one execution for the valid messages of its batch
(input `{"items": [...]}`, one item per message, see `execution_input`), and the workflow triages them side by side,
one inline Map iteration each (infra/constructs/triage_workflow.py). Deployed, the execution is started with
StartSyncExecution, so the dispatcher knows how each mention's triage ended: the execution's output holds one small
result per item (its message id as `claim`, `failed`, and its minute-counter share `count`), and SQS redelivers
exactly the messages that failed (after a backoff that grows with each receive, until the queue's redrive policy
moves the message to the dead-letter queue). Locally, moto has no StartSyncExecution: the local stack injects a
runner that starts the execution and waits for it.

A poison message (not a triage message) fails alone, before the execution. An item that failed in the workflow fails
its message alone. Whatever ends the execution itself (it failed or timed out, StartSyncExecution was throttled or
refused, the dispatcher is about to run out of time) fails every message of it: the others of the batch are not
affected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from responder.core.labels import TOPICS

MAX_PARALLEL_EXECUTIONS = 10
BACKOFF_BASE_SECONDS = 15
BACKOFF_MAX_SECONDS = 900
# Kept back from the function's remaining time to answer Lambda with the failed messages before it times out:
# a dispatcher killed by its timeout fails the whole batch, successes included.
REPORT_MARGIN_SECONDS = 5
# The workflow's own timeout (infra/constants.py TRIAGE_WORKFLOW_TIMEOUT_SECONDS): how long one execution may run.
DEFAULT_EXECUTION_SECONDS = 150
# SQS's largest visibility timeout (SQS developer guide, "Visibility timeout": 12 hours).
SQS_MAX_VISIBILITY_SECONDS = 43_200


@dataclass(frozen=True)
class Outcome:
    """How one execution ended."""

    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    error: str | None = None
    cause: str | None = None
    output: str | None = None  # the execution's output (JSON text: one result per item) when it succeeded

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


class ExecutionRunner(Protocol):
    def run(self, name: str, payload: dict[str, Any]) -> Outcome: ...


class SyncExpressRunner:
    """StartSyncExecution on an Express state machine (the deployed path): one call per batch."""

    def __init__(self, state_machine_arn: str, client: Any = None,
                 execution_seconds: int = DEFAULT_EXECUTION_SECONDS) -> None:
        self._arn = state_machine_arn
        self._client = client
        self._execution_seconds = execution_seconds

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # The call returns when the execution ends: the read timeout must outlast the workflow's timeout, or
            # the SDK would retry and start a second execution of the same batch. For the same reason the SDK
            # never retries (a 5xx may come after the execution started; Express names are not idempotent): a
            # failed call fails that execution's messages, and SQS brings them back after the retry delay.
            self._client = boto3.client("stepfunctions", config=Config(read_timeout=self._execution_seconds + 10,
                                                                       retries={"max_attempts": 0,
                                                                                "mode": "standard"}))
        return self._client

    def run(self, name: str, payload: dict[str, Any]) -> Outcome:
        answer = self.client.start_sync_execution(stateMachineArn=self._arn, name=name, input=json.dumps(payload))
        return Outcome(answer["status"], answer.get("error"), answer.get("cause"), answer.get("output"))


def execution_name(first_message_id: str, size: int, attempt: int) -> str:
    """A unique execution name within Step Functions' 80 characters: the batch's first SQS message id (a UUID), the
    batch's size and that message's receive count (a message is received once per count)."""
    raw = f"batch-{first_message_id[:48]}-{size}-{attempt}"
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw)[:80]


def execution_input(record: dict[str, Any]) -> dict[str, Any]:
    """The workflow input for one SQS record; raises ValueError for a body that is not a triage message."""
    body = json.loads(record["body"])
    if not isinstance(body, dict) or not body.get("channel") or not body.get("mention_id"):
        raise ValueError("not a triage message: channel and mention_id are required")
    attempt = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    key = {"channel": body["channel"], "mention_id": str(body["mention_id"]),
           "thread_id": str(body.get("thread_id") or body["mention_id"])}
    # The message id: the item's result carries it back (`claim`); triage takes no claim on the mention.
    return {"key": key, "attempt": attempt, "claim": record["messageId"]}


@dataclass(frozen=True)
class Failure:
    """One record that SQS must redeliver."""

    message_id: str
    receipt_handle: str
    attempt: int
    reason: str
    # At least this long before the next attempt: an execution the dispatcher stopped waiting for may still run.
    retry_after: int = 0


def _receive_count(record: dict[str, Any]) -> int:
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except (TypeError, ValueError):
        return 1


def _failure(record: dict[str, Any], reason: str, retry_after: int = 0) -> Failure:
    return Failure(str(record.get("messageId", "")), record.get("receiptHandle", ""), _receive_count(record), reason,
                   retry_after)


def _error_name(exc: BaseException) -> str:
    """`ThrottlingException` for an AWS error, the exception's class otherwise."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return str(code or type(exc).__name__)


def item_results(outcome: Outcome) -> dict[str, dict[str, Any]]:
    """A succeeded execution's results per item, keyed by its SQS message id (`claim`); an output that is not what
    the workflow writes yields none (its messages then fail, and their redelivery finds them triaged)."""
    try:
        results = json.loads(outcome.output or "null")
    except ValueError:
        return {}
    if not isinstance(results, list):
        return {}
    return {r["claim"]: r for r in results if isinstance(r, dict) and isinstance(r.get("claim"), str)}


def dispatch(records: Sequence[dict[str, Any]], runner: ExecutionRunner, log: Any = None,
             remaining_seconds: Callable[[], float] | None = None,
             execution_seconds: float = DEFAULT_EXECUTION_SECONDS,
             max_parallel: int = MAX_PARALLEL_EXECUTIONS,
             succeeded: list[dict[str, Any]] | None = None) -> list[Failure]:
    """Run one execution for the batch's valid records; return the records that failed (for batchItemFailures), and
    add the results of the items that succeeded to `succeeded` when given (for `record_counts`).

    A batch larger than `max_parallel` (the workflow's Map concurrency) is split into executions of that many, run
    in parallel: each lasts as long as its slowest mention. With `remaining_seconds` (the Lambda context's remaining
    time), an execution is started only while it can still finish (`execution_seconds`, the workflow's timeout)
    before the function's own timeout, and an execution that has not finished when only REPORT_MARGIN_SECONDS are
    left fails its records instead of being lost with the batch.
    """

    def enough_time() -> bool:
        return remaining_seconds is None or remaining_seconds() >= execution_seconds + REPORT_MARGIN_SECONDS

    def run(chunk: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Failure | dict[str, Any]]:
        batch = [record for record, _ in chunk]
        if not enough_time():
            return [_failure(r, "not started: the dispatcher is running out of time") for r in batch]
        try:
            outcome = runner.run(execution_name(str(batch[0]["messageId"]), len(batch), _receive_count(batch[0])),
                                 {"items": [item for _, item in chunk]})
        except Exception as exc:  # noqa: BLE001 - throttled, refused or unreachable: its messages fail, not the batch
            return [_failure(r, f"not started: {_error_name(exc)}") for r in batch]
        if not outcome.succeeded:
            return [_failure(r, f"{outcome.status}: {outcome.error or ''}".strip()) for r in batch]
        results = item_results(outcome)
        ended: list[Failure | dict[str, Any]] = []
        for record in batch:
            result = results.get(str(record["messageId"]))
            if result is None:
                ended.append(_failure(record, "no result for this message in the execution's output"))
            elif result.get("failed") is not False:
                ended.append(_failure(record, f"failed: {result.get('error') or 'unknown'}"))
            else:
                ended.append(result)
        return ended

    failures: list[Failure] = []
    valid: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in records:
        try:
            valid.append((record, execution_input(record)))
        except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            # A poison message: it can never succeed; SQS's redrive policy moves it to the DLQ.
            failures.append(_failure(record, f"poison: {exc}"))
    if valid:
        size = max(1, max_parallel)
        chunks = [valid[i:i + size] for i in range(0, len(valid), size)]
        pool = ThreadPoolExecutor(max_workers=len(chunks))
        futures: dict[Future[list[Failure | dict[str, Any]]], list[dict[str, Any]]] = {
            pool.submit(run, chunk): [record for record, _ in chunk] for chunk in chunks}
        budget = None if remaining_seconds is None else max(remaining_seconds() - REPORT_MARGIN_SECONDS, 0.0)
        done, _ = wait(futures, timeout=budget, return_when=ALL_COMPLETED)
        for future, batch in futures.items():
            if future in done:
                for ended in future.result():
                    if isinstance(ended, Failure):
                        failures.append(ended)
                    elif succeeded is not None:
                        succeeded.append(ended)
            elif future.cancel():
                failures.extend(_failure(r, "not started: the dispatcher ran out of time") for r in batch)
            else:
                # Still waiting on its execution, which may yet succeed: the messages stay hidden until the execution
                # has surely ended, so a redelivery never runs beside it.
                failures.extend(_failure(r, "unfinished: the dispatcher ran out of time",
                                         retry_after=int(execution_seconds)) for r in batch)
        # Never wait for stragglers here: the answer must reach Lambda before the function times out.
        pool.shutdown(wait=False, cancel_futures=True)
    if log is not None and failures:
        log.warning("triage executions failed", failures=[{"message_id": f.message_id, "attempt": f.attempt,
                                                            "reason": f.reason[:200]} for f in failures])
    return failures


def tally(results: Sequence[dict[str, Any]]) -> dict[str, dict[int, dict[str, int]]]:
    """The minute counters' additions of a batch's triaged mentions: account → minute → topic → mentions.

    Classify puts each counted mention's share in the state (`classified.count`: account, bucket, topic; see
    responder.surge.correlate.count_of) and the item's result carries it as `count`; the dispatcher adds them up once
    the execution has succeeded, so a batch costs one counter write per minute instead of one per mention, and a
    mention is counted once: by the execution that triaged it (a skipped or failed item carries no count). A result
    that is not what the workflow writes counts nothing."""
    tallies: dict[str, dict[int, dict[str, int]]] = {}
    for result in results:
        count = result.get("count") if isinstance(result, dict) and result.get("failed") is False else None
        if not isinstance(count, dict):
            continue
        account, minute, topic = count.get("account"), count.get("bucket"), count.get("topic")
        if not isinstance(account, str) or not _ACCOUNT.fullmatch(account) or not isinstance(minute, int) \
                or isinstance(minute, bool) or minute < 0 or topic not in TOPICS:
            continue
        per_topic = tallies.setdefault(account, {}).setdefault(minute, {})
        per_topic[topic] = per_topic.get(topic, 0) + 1
    return tallies


# What a counter's key may hold for the account (its topics are the classifier's, responder.core.labels.TOPICS).
_ACCOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def record_counts(results: Sequence[dict[str, Any]], store: Any, log: Any = None) -> int:
    """Add the batch's triaged mentions to the minute counters (`tally`; `store` an IncidentStore). Returns the
    mentions counted. A failed write is logged and the counts are lost: triage has already paged these mentions,
    and the counters only serve surge detection, which a few missing mentions do not change."""
    counted = 0
    for account, per_minute in tally(results).items():
        mentions = sum(sum(t.values()) for t in per_minute.values())
        try:
            store.add_counts(account, per_minute)
        except Exception as exc:  # noqa: BLE001 - any storage error: the mentions were triaged, their messages go
            if log is not None:
                log.warning("minute counts not recorded", account=account, error=_error_name(exc), mentions=mentions)
            continue
        counted += mentions
    return counted


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
                                                 VisibilityTimeout=min(max(backoff_seconds(failure.attempt, base_seconds),
                                                                           failure.retry_after),
                                                                       SQS_MAX_VISIBILITY_SECONDS))
        except (BotoCoreError, ClientError) as exc:
            # The message is still redelivered, only after the queue's full visibility timeout.
            if log is not None:
                log.warning("could not shorten the retry delay", message_id=failure.message_id, error=str(exc))
