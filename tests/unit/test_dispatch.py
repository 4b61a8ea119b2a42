"""The dispatcher: one Express execution per batch of queued mentions, and only the messages that failed come back."""

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
from responder.triage.dispatch import (REPORT_MARGIN_SECONDS, Outcome, SyncExpressRunner, dispatch, execution_name,
                                       tally)

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Triage"
REPO = Path(__file__).resolve().parents[2]
COUNT = {"account": "brand", "bucket": 29_000_000, "topic": "payment"}


def record(n: int, receive_count: int = 1) -> dict[str, Any]:
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}",
            "body": json.dumps({"channel": "x", "mention_id": str(1000 + n)}),
            "attributes": {"ApproximateReceiveCount": str(receive_count)}}


def results(payload: dict[str, Any], failed: tuple[str, ...] = (), left_out: tuple[str, ...] = ()) -> str:
    """The workflow's output for a batch: one small result per item (what EachMention's iterations end with)."""
    return json.dumps([{"claim": item["claim"], "failed": True, "error": "Lambda.Unknown"}
                       if item["key"]["mention_id"] in failed else {"claim": item["claim"], "failed": False,
                                                                    "count": COUNT}
                       for item in payload["items"] if item["key"]["mention_id"] not in left_out])


def sync_answer(status: str = "SUCCEEDED", output: str | None = None) -> dict[str, Any]:
    answer = {"executionArn": f"{ARN}:e", "startDate": "2026-12-01T00:00:00Z", "stopDate": "2026-12-01T00:00:01Z",
              "status": status}
    return answer if output is None else {**answer, "output": output}


def stubbed_runner() -> tuple[SyncExpressRunner, Stubber]:
    # One attempt per call, as after the SDK's own retries are spent
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}))
    return SyncExpressRunner(ARN, client=client), Stubber(client)


class FakeRunner:
    """One answer per execution (an Outcome, an exception to raise, or an Event to wait on; by default the batch
    succeeds), and per item within a succeeded one: the mention ids whose iteration failed or left no result."""

    def __init__(self, answer: Any = None, failed: tuple[str, ...] = (), left_out: tuple[str, ...] = (),
                 answers: dict[str, Any] | None = None) -> None:
        self.answer, self.failed, self.left_out = answer, failed, left_out
        self.answers = answers or {}  # first mention id of an execution → its answer
        self.started: list[tuple[str, list[str]]] = []  # (execution name, mention ids)

    def run(self, name: str, payload: dict[str, Any]) -> Outcome:
        mention_ids = [item["key"]["mention_id"] for item in payload["items"]]
        self.started.append((name, mention_ids))
        answer = self.answers.get(mention_ids[0], self.answer)
        if isinstance(answer, threading.Event):
            answer.wait(10)
            answer = None
        if isinstance(answer, Exception):
            raise answer
        return answer or Outcome("SUCCEEDED", output=results(payload, self.failed, self.left_out))


def test_a_batch_is_one_execution_with_one_item_per_message():
    # Given a full batch of ten messages
    runner = FakeRunner()
    succeeded: list[dict[str, Any]] = []
    # When it is dispatched
    failures = dispatch([record(n) for n in range(1, 11)], runner, succeeded=succeeded)
    # Then one execution triages all ten, in order, and every one of them succeeded
    assert [ids for _, ids in runner.started] == [[str(1000 + n) for n in range(1, 11)]]
    assert failures == [] and [r["claim"] for r in succeeded] == [f"m{n}" for n in range(1, 11)]


def test_the_execution_input_is_the_items_and_its_output_maps_back_to_the_messages():
    # Given three messages, the second of which fails in the workflow, through StartSyncExecution
    runner, stubber = stubbed_runner()
    items = [{"key": {"channel": "x", "mention_id": str(1000 + n), "thread_id": str(1000 + n)}, "attempt": 1,
              "claim": f"m{n}"} for n in (1, 2, 3)]
    stubber.add_response("start_sync_execution", sync_answer(output=results({"items": items}, failed=("1002",))),
                         expected_params={"stateMachineArn": ARN, "name": "batch-m1-3-1",
                                          "input": json.dumps({"items": items})})
    # When the batch is dispatched
    succeeded: list[dict[str, Any]] = []
    with stubber:
        failures = dispatch([record(1), record(2), record(3)], runner, succeeded=succeeded)
        stubber.assert_no_pending_responses()
    # Then one call carried the three items, and only the failed item's message comes back, with its error
    assert [(f.message_id, f.reason) for f in failures] == [("m2", "failed: Lambda.Unknown")]
    assert [r["claim"] for r in succeeded] == ["m1", "m3"]


def test_a_throttled_start_fails_every_message_of_the_execution():
    # Given StartSyncExecution throttled
    runner, stubber = stubbed_runner()
    stubber.add_client_error("start_sync_execution", service_error_code="ThrottlingException",
                             service_message="Rate exceeded", http_status_code=400)
    # When a batch of three is dispatched
    with stubber:
        failures = dispatch([record(1), record(2), record(3)], runner)
    # Then all three come back with the reason (nothing of the batch ran)
    assert [(f.message_id, f.reason) for f in failures] == [(f"m{n}", "not started: ThrottlingException")
                                                             for n in (1, 2, 3)]


@pytest.mark.parametrize("answer, reason", [
    (RuntimeError("connection reset"), "not started: RuntimeError"),
    (Outcome("FAILED", "States.Runtime"), "FAILED: States.Runtime"),
    (Outcome("TIMED_OUT"), "TIMED_OUT:"),
    (Outcome("SUCCEEDED", output="{not json"), "no result for this message in the execution's output"),
    (Outcome("SUCCEEDED", output=json.dumps({"claim": "m1", "failed": False})),
     "no result for this message in the execution's output")])
def test_an_execution_that_did_not_end_well_fails_all_its_messages(answer, reason):
    # Given an execution refused, failed, timed out, or whose output is not the items' results
    runner = FakeRunner(answer)
    # When a batch of two is dispatched
    failures = dispatch([record(1), record(2)], runner)
    # Then both messages come back with the reason
    assert [(f.message_id, f.reason) for f in failures] == [("m1", reason), ("m2", reason)]


def test_an_item_without_a_result_or_with_an_unclear_one_fails():
    # Given a succeeded execution whose output lacks the second item's result
    runner = FakeRunner(left_out=("1002",))
    # When dispatched
    failures = dispatch([record(1), record(2), record(3)], runner)
    # Then that message alone comes back (its redelivery finds the mention triaged, if it was)
    assert [f.message_id for f in failures] == ["m2"]


def test_a_poison_message_fails_alone_before_the_execution():
    # Given a batch whose second message is not a triage message
    poison = {**record(2), "body": json.dumps({"channel": "x"})}
    runner = FakeRunner()
    # When it is dispatched
    failures = dispatch([record(1), poison, record(3)], runner)
    # Then the execution runs the two others, and only the poison message comes back
    assert [ids for _, ids in runner.started] == [["1001", "1003"]]
    assert [(f.message_id, f.reason.split(":")[0]) for f in failures] == [("m2", "poison")]


def test_a_batch_larger_than_the_map_concurrency_is_split():
    # Given five messages and a workflow that runs two mentions at once
    runner = FakeRunner()
    # When dispatched
    failures = dispatch([record(n) for n in range(1, 6)], runner, max_parallel=2)
    # Then three executions run them, none waiting behind another's mentions
    assert sorted(ids for _, ids in runner.started) == [["1001", "1002"], ["1003", "1004"], ["1005"]]
    assert failures == []


def test_execution_names_are_unique_per_batch_and_attempt_and_fit_80_characters():
    # Given SQS message ids (UUIDs, or anything longer) and the receive count of the batch's first message
    uuid = "0e5c8b8e-3f7a-4c1e-9a52-7d0f4e3b2a10"
    names = {execution_name(uuid, 10, 1), execution_name(uuid, 10, 2), execution_name(uuid, 9, 1),
             execution_name("a" * 200, 10, 1), execution_name("x/y:z", 1, 1)}
    # Then each differs, fits Step Functions' 80 characters and its alphabet
    assert len(names) == 5
    assert all(len(n) <= 80 and n.replace("-", "").replace("_", "").isalnum() for n in names)
    assert execution_name(uuid, 10, 3) == f"batch-{uuid}-10-3"


def test_a_dispatcher_short_of_time_starts_nothing_it_cannot_finish():
    # Given a function with less time left than one execution may take
    runner = FakeRunner()
    failures = dispatch([record(1), record(2)], runner, remaining_seconds=lambda: 60.0, execution_seconds=120)
    # Then no execution is started, and both messages are reported failed (not lost with the batch)
    assert runner.started == []
    assert sorted(f.message_id for f in failures) == ["m1", "m2"]
    assert all(f.reason.startswith("not started") and f.retry_after == 0 for f in failures)


def test_an_execution_still_running_at_the_deadline_fails_its_messages_and_the_others_do_not():
    # Given two executions (two mentions at once): one ends at once, the other still runs when time is nearly up
    release = threading.Event()
    runner = FakeRunner(answers={"1003": release})
    try:
        # When the dispatcher has REPORT_MARGIN_SECONDS + 1.3 s left, and an execution may take 1 s
        failures = dispatch([record(1), record(2), record(3), record(4)], runner, max_parallel=2,
                            remaining_seconds=lambda: REPORT_MARGIN_SECONDS + 1.3, execution_seconds=1)
    finally:
        release.set()
    # Then it answers in time: the unfinished execution's messages fail and stay hidden until it has surely ended
    assert [(f.message_id, f.reason, f.retry_after) for f in failures] == [
        ("m3", "unfinished: the dispatcher ran out of time", 1),
        ("m4", "unfinished: the dispatcher ran out of time", 1)]


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


def test_the_handler_reports_only_the_failed_message_and_delays_its_retry(dispatcher_handler):
    # Given a batch of three whose second mention fails in the workflow, and 180 s left in the function
    runner = FakeRunner(failed=("1002",))
    sqs = FakeSqs()
    dispatcher_handler.configure(runner, sqs, DispatcherSettings(ARN, "https://sqs/q", retry_base_seconds=15,
                                                                 workflow_timeout_seconds=120))
    # When the SQS event source invokes the dispatcher (the message's third receive)
    answer = dispatcher_handler.handler({"Records": [record(1), record(2, receive_count=3), record(3)]},
                                        Context(180_000))
    # Then only that message comes back, after the backoff for its third attempt (15 s x 2 x 2)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert [ids for _, ids in runner.started] == [["1001", "1002", "1003"]]
    assert sqs.visibility == {"r2": 60}


def test_the_handler_reports_every_message_of_a_throttled_execution(dispatcher_handler):
    # Given StartSyncExecution throttled
    sqs = FakeSqs()
    dispatcher_handler.configure(FakeRunner(_throttled()), sqs, DispatcherSettings(ARN, "https://sqs/q"))
    # When the dispatcher runs a batch of two (first and second receive)
    answer = dispatcher_handler.handler({"Records": [record(1), record(2, receive_count=2)]}, Context(180_000))
    # Then both come back, each after the backoff of its own attempt
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert sqs.visibility == {"r1": 15, "r2": 30}


def test_the_handler_with_too_little_time_left_fails_the_batch_without_crashing(dispatcher_handler):
    # Given a dispatcher invoked with less time left than one workflow may take
    runner = FakeRunner()
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


def counted(message_id: str, bucket: int = 29_000_000, topic: str = "payment", account: str = "brand") -> dict:
    """A triaged item's result whose Classify counted the mention (the workflow's per-item output)."""
    return {"claim": message_id, "failed": False, "count": {"account": account, "bucket": bucket, "topic": topic}}


def test_a_batch_is_tallied_per_minute_and_topic_from_the_triaged_items_only():
    # Given the results of a batch: five counted mentions over two minutes, a skipped one, a noise one, one closed
    # meanwhile, a failed one, and results that are not what the workflow writes (a topic that is no attribute name,
    # a boolean minute, an account with a separator, no result at all)
    results = [counted("1"), counted("2"), counted("3", topic="delivery"), counted("4", bucket=29_000_001),
               counted("5", bucket=29_000_001), {"claim": "s", "failed": False}, {"claim": "n", "failed": False,
                                                                                 "count": None},
               {"claim": "c", "failed": False, "count": {}}, {**counted("f"), "failed": True},
               counted("6", topic="pay ment, #total"), counted("7", bucket=True), counted("8", account="a#b"), None]
    # When it is tallied
    tallies = tally(results)
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


def test_the_handler_counts_the_triaged_mentions_of_the_batch_in_one_call(dispatcher_handler):
    # Given a batch of three whose second mention failed in the workflow
    counters = FakeCounters()
    dispatcher_handler.configure(FakeRunner(failed=("1002",)), FakeSqs(), DispatcherSettings(ARN, "https://sqs/q"),
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
    dispatcher_handler.configure(FakeRunner(), FakeSqs(),
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
