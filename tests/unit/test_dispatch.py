"""The dispatcher: one Express execution per queued mention, and only the messages that failed come back."""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from responder.core.config import DispatcherSettings
from responder.triage.dispatch import REPORT_MARGIN_SECONDS, Outcome, SyncExpressRunner, dispatch, tally

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Triage"
REPO = Path(__file__).resolve().parents[2]


def record(n: int, receive_count: int = 1) -> dict[str, Any]:
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}",
            "body": json.dumps({"channel": "x", "mention_id": str(1000 + n)}),
            "attributes": {"ApproximateReceiveCount": str(receive_count)}}


def sync_answer(status: str = "SUCCEEDED") -> dict[str, Any]:
    return {"executionArn": f"{ARN}:e", "startDate": "2026-12-01T00:00:00Z", "stopDate": "2026-12-01T00:00:01Z",
            "status": status}


def stubbed_runner() -> tuple[SyncExpressRunner, Stubber]:
    # One attempt per call, as after the SDK's own retries are spent
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}))
    return SyncExpressRunner(ARN, client=client), Stubber(client)


class FakeRunner:
    """Answers per mention id: an Outcome, an exception to raise, or an Event to wait on."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.started: list[str] = []

    def run(self, name: str, payload: dict[str, Any]) -> Outcome:
        mention_id = payload["key"]["mention_id"]
        self.started.append(mention_id)
        answer = self.answers.get(mention_id, Outcome("SUCCEEDED"))
        if isinstance(answer, threading.Event):
            answer.wait(10)
            return Outcome("SUCCEEDED")
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_throttled_start_fails_only_that_message():
    # Given three messages, and StartSyncExecution throttled for the second one only
    runner, stubber = stubbed_runner()
    stubber.add_response("start_sync_execution", sync_answer())
    stubber.add_client_error("start_sync_execution", service_error_code="ThrottlingException",
                             service_message="Rate exceeded", http_status_code=400)
    stubber.add_response("start_sync_execution", sync_answer())
    # When the batch is dispatched (one at a time, so the stubbed answers meet their messages in order)
    with stubber:
        failures = dispatch([record(1), record(2), record(3)], runner, max_parallel=1)
        stubber.assert_no_pending_responses()
    # Then only the throttled message is reported failed, with the reason
    assert [(f.message_id, f.reason) for f in failures] == [("m2", "not started: ThrottlingException")]


def test_a_refused_or_failed_execution_fails_only_its_message():
    # Given one execution the service refuses, one that fails, one that times out, and one that succeeds
    runner = FakeRunner({"1001": RuntimeError("connection reset"), "1002": Outcome("FAILED", "TriageFailed"),
                         "1003": Outcome("TIMED_OUT")})
    # When they are dispatched in parallel
    failures = dispatch([record(1), record(2), record(3), record(4)], runner)
    # Then the three failures come back, each with its own reason, and the success does not
    assert {f.message_id: f.reason for f in failures} == {
        "m1": "not started: RuntimeError", "m2": "FAILED: TriageFailed", "m3": "TIMED_OUT:"}


def test_a_dispatcher_short_of_time_starts_nothing_it_cannot_finish():
    # Given a function with less time left than one execution may take
    runner = FakeRunner({})
    failures = dispatch([record(1), record(2)], runner, remaining_seconds=lambda: 60.0, execution_seconds=120)
    # Then no execution is started, and both messages are reported failed (not lost with the batch)
    assert runner.started == []
    assert sorted(f.message_id for f in failures) == ["m1", "m2"]
    assert all(f.reason.startswith("not started") and f.retry_after == 0 for f in failures)


def test_an_execution_still_running_at_the_deadline_is_reported_and_the_others_are_not():
    # Given two executions: one ends at once, the other is still running when the function's time is nearly up
    release = threading.Event()
    runner = FakeRunner({"1002": release})
    try:
        # When the dispatcher has REPORT_MARGIN_SECONDS + 1.3 s left, and an execution may take 1 s
        failures = dispatch([record(1), record(2)], runner, remaining_seconds=lambda: REPORT_MARGIN_SECONDS + 1.3,
                            execution_seconds=1)
    finally:
        release.set()
    # Then it answers in time: the unfinished message fails and stays hidden until its execution has surely ended
    assert [(f.message_id, f.reason, f.retry_after) for f in failures] == [
        ("m2", "unfinished: the dispatcher ran out of time", 1)]


class FakeSqs:
    def __init__(self) -> None:
        self.visibility: dict[str, int] = {}

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> None:
        self.visibility[ReceiptHandle] = VisibilityTimeout


class Context:
    function_name = "dispatcher"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:dispatcher"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def dispatcher_handler():
    spec = importlib.util.spec_from_file_location("dispatcher_handler_under_test",
                                                  REPO / "functions" / "dispatcher" / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_handler_reports_only_the_throttled_message_and_delays_its_retry(dispatcher_handler):
    # Given a batch of three where StartSyncExecution is throttled for one, and 150 s left in the function
    runner = FakeRunner({"1002": _throttled()})
    sqs = FakeSqs()
    dispatcher_handler.configure(runner, sqs, DispatcherSettings(ARN, "https://sqs/q", retry_base_seconds=15,
                                                                 workflow_timeout_seconds=120))
    # When the SQS event source invokes the dispatcher (the message's third receive)
    answer = dispatcher_handler.handler({"Records": [record(1), record(2, receive_count=3), record(3)]},
                                        Context(180_000))
    # Then only that message comes back, after the backoff for its third attempt (15 s x 2 x 2)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert sorted(runner.started) == ["1001", "1002", "1003"]
    assert sqs.visibility == {"r2": 60}


def test_the_handler_with_too_little_time_left_fails_the_batch_without_crashing(dispatcher_handler):
    # Given a dispatcher invoked with less time left than one workflow may take
    runner = FakeRunner({})
    sqs = FakeSqs()
    dispatcher_handler.configure(runner, sqs, DispatcherSettings(ARN, "https://sqs/q", workflow_timeout_seconds=120))
    # When it runs
    answer = dispatcher_handler.handler({"Records": [record(1), record(2)]}, Context(100_000))
    # Then it starts nothing and reports both messages failed, to be retried after the usual backoff
    assert runner.started == []
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert sqs.visibility == {"r1": 15, "r2": 15}


def _throttled() -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartSyncExecution")


def test_settings_read_the_workflow_timeout_and_parallelism():
    settings = DispatcherSettings.from_env({"STATE_MACHINE_ARN": ARN, "QUEUE_URL": "q", "WORKFLOW_TIMEOUT_SECONDS": "90",
                                            "MAX_PARALLEL_EXECUTIONS": "3"})
    assert (settings.workflow_timeout_seconds, settings.max_parallel_executions) == (90, 3)
    from responder.core.config import ConfigError

    with pytest.raises(ConfigError):
        DispatcherSettings.from_env({"STATE_MACHINE_ARN": ARN, "QUEUE_URL": "q", "MAX_PARALLEL_EXECUTIONS": "0"})


def counted(mention_id: str, bucket: int = 29_000_000, topic: str = "payment", account: str = "brand") -> Outcome:
    """A succeeded execution whose Classify counted the mention (the workflow's output keeps its state)."""
    return Outcome("SUCCEEDED", output=json.dumps({"classified": {"skip": False, "count": {
        "account": account, "bucket": bucket, "topic": topic}, "mention": {"mention_id": mention_id}}}))


def test_a_batch_is_tallied_per_minute_and_topic_from_the_succeeded_executions_only():
    # Given the outcomes of a batch: five counted mentions over two minutes, a skipped one, a noise one, and outputs
    # that are not what the workflow writes (malformed JSON, a topic that is no attribute name, a boolean minute)
    outcomes = [counted("1"), counted("2"), counted("3", topic="delivery"), counted("4", bucket=29_000_001),
                counted("5", bucket=29_000_001),
                Outcome("SUCCEEDED", output=json.dumps({"classified": {"skip": True}})),
                Outcome("SUCCEEDED", output=json.dumps({"classified": {"skip": False, "count": None}})),
                Outcome("SUCCEEDED", output="{not json"), Outcome("SUCCEEDED"),
                counted("6", topic="pay ment, #total"), counted("7", bucket=True), counted("8", account="a#b")]
    # When it is tallied
    tallies = tally(outcomes)
    # Then each minute holds its mentions by topic, and nothing else counts
    assert tallies == {"brand": {29_000_000: {"payment": 2, "delivery": 1}, 29_000_001: {"payment": 2}}}


class FakeCounters:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, dict]] = []

    def add_counts(self, account: str, tallies: dict) -> int:
        self.calls.append((account, tallies))
        if self.error is not None:
            raise self.error
        return len(tallies)


def test_the_handler_counts_the_mentions_whose_executions_succeeded_in_one_call(dispatcher_handler):
    # Given a batch of three whose second execution failed
    outcomes = {"1001": counted("1001"), "1002": Outcome("FAILED", "TriageFailed"), "1003": counted("1003")}
    counters = FakeCounters()
    dispatcher_handler.configure(FakeRunner(outcomes), FakeSqs(), DispatcherSettings(ARN, "https://sqs/q"),
                                 counters=counters)
    # When the dispatcher runs it
    answer = dispatcher_handler.handler({"Records": [record(1), record(2), record(3)]}, Context(180_000))
    # Then the failed message comes back, and the two others are counted in one call for their minute
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert counters.calls == [("brand", {29_000_000: {"payment": 2}})]


def test_a_counter_write_that_fails_loses_the_counts_not_the_batch(dispatcher_handler, caplog):
    # Given counters that cannot be written (DynamoDB throttling the dispatcher's write)
    from botocore.exceptions import ClientError

    counters = FakeCounters(ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem"))
    dispatcher_handler.configure(FakeRunner({"1001": counted("1001")}), FakeSqs(),
                                 DispatcherSettings(ARN, "https://sqs/q"), counters=counters)
    # When the dispatcher runs a batch that succeeded (its warnings captured whatever level an earlier test left the
    # service's logger at: the local stack sets POWERTOOLS_LOG_LEVEL=ERROR)
    import logging

    from responder.core.observability import logger

    with caplog.at_level(logging.WARNING, logger=logger.name):
        answer = dispatcher_handler.handler({"Records": [record(1)]}, Context(180_000))
    # Then no message comes back (the mention was triaged and paged), and the lost count is logged with its reason
    assert answer == {"batchItemFailures": []} and len(counters.calls) == 1
    (lost,) = [r for r in caplog.records if r.getMessage() == "minute counts not recorded"]
    assert (lost.error, lost.mentions) == ("ProvisionedThroughputExceededException", 1)


def test_settings_read_the_table_the_counts_go_to():
    env = {"STATE_MACHINE_ARN": ARN, "QUEUE_URL": "q"}
    assert DispatcherSettings.from_env(env).table_name is None
    assert DispatcherSettings.from_env({**env, "TABLE_NAME": "responder-table"}).table_name == "responder-table"
