"""The synthesized triage state machine, executed by moto's ASL interpreter against DynamoDB Local.

Lambda tasks run the project's handlers in-process; SNS topics and team subscriptions (with their filter
policies) are moto's. Every branch: noise → archived, normal → notified, crisis → p1 and escalated, a task that
fails transiently → retried, a task that keeps failing → triage_failed and an alert.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
import time
from contextlib import contextmanager

import pytest

from responder.ingest.signatures import sign_x
from responder_cli.local.stack import LambdaContext, LocalStack, http_api_event
from responder_cli.traffic import TrafficGenerator
from tests.settle import settle

pytestmark = pytest.mark.slow
TERMINAL = {"notified", "archived", "triage_failed"}
REVIEW_KEY = "k" * 48
REVIEW_ENV = {"RESPONDER_REVIEW_BASE_URL": "http://127.0.0.1:9/", "RESPONDER_REVIEW_KEY": REVIEW_KEY}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    outbox = tmp_path_factory.mktemp("outbox") / "outbox.jsonl"
    import os

    os.environ["RETRY_BASE_SECONDS"] = "0"  # failed messages come back at once (deployed: 15 s, 30 s, …)
    os.environ.update(REVIEW_ENV)  # review links in every notification
    local = LocalStack(port=0, outbox=outbox, log_level="ERROR").start()
    yield local
    local.stop()  # restores the environment as it was before start()
    for name in ("RETRY_BASE_SECONDS", *REVIEW_ENV):
        os.environ.pop(name, None)


def deliver(stack, text, author=None, lang="en"):
    """Send one signed X Activity API mention through the webhook handler; return its id."""
    generator = TrafficGenerator(seed=int(time.time() * 1000) % 100_000)
    author = {**{"id": "5000000123", "username": "casey_q", "name": "Casey", "followers": 120, "verified": False},
              **(author or {})}
    delivery = generator.xaa_mention(text, lang, author, generator.start)
    body = delivery.encoded()
    secret = "local-x-consumer-secret"
    import os

    secret = os.environ.get("RESPONDER_X_CONSUMER_SECRET", secret)
    answer = stack._handler(http_api_event("POST", "/webhooks/x", {"x-twitter-webhooks-signature": sign_x(secret, body)},
                                           body), LambdaContext())
    assert answer["statusCode"] == 200, answer
    return delivery.mention_id


def outcome(stack, mention_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = stack._store.get_mention("x", mention_id)
        if stored and stored.get("status") in TERMINAL:
            return stored
        time.sleep(0.1)
    pytest.fail(f"mention {mention_id} not triaged within {timeout}s: {stored}")


def task_handler(stack, function):
    """The in-process handler the local stack runs for a task function (`classify`, `draft`)."""
    lambdas = stack.triage.lambdas
    return lambdas.handlers[next(n for n, short in lambdas.names.items() if short == function)]


@contextmanager
def handler_replaced(stack, function, replacement):
    """Run `replacement` in place of a task function's handler for the block, then put the original back."""
    lambdas = stack.triage.lambdas
    name = next(n for n, short in lambdas.names.items() if short == function)
    original, lambdas.handlers[name] = lambdas.handlers[name], replacement
    try:
        yield
    finally:
        lambdas.handlers[name] = original


@contextmanager
def routing_fails(mention_ids=None):
    """Routing raises inside the Draft task (for these mentions, or for every one) for the block: the real Draft
    function runs, and its routing step (responder.triage.steps.route_step) fails as unreadable rules would."""
    from responder.triage import steps

    original = steps.route_step

    def broken(event, rules, review_link=None):
        if mention_ids is None or event["mention"]["mention_id"] in mention_ids:
            raise ValueError("routing rules unreadable")
        return original(event, rules, review_link=review_link)

    steps.route_step = broken
    try:
        yield
    finally:
        steps.route_step = original


def notifications_for(stack, mention_id, topic=None, timeout=5, delivered=False):
    """Notifications about a mention; with `delivered`, wait until the team subscriptions have seen them too."""
    deadline = time.monotonic() + timeout
    while True:
        found = [n for n in stack.triage.notifications()
                 if json.dumps(n["message"]).find(mention_id) >= 0 and (topic is None or n["topic"] == topic)]
        if (found and (not delivered or all(n["delivered_to"] for n in found))) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_normal_complaint_is_notified_to_its_team_with_a_draft(stack):
    # Given a delivery complaint from an ordinary customer
    mention_id = deliver(stack, "my order #55120 still hasn't arrived after two weeks, this is ridiculous")
    # When triage finishes
    stored = outcome(stack, mention_id)
    # Then the mention is notified with its classification, route and draft recorded
    assert stored["status"] == "notified"
    assert stored["intent"] == "complaint" and stored["sentiment"] == "negative"
    assert stored["priority"] in ("p2", "p3") and stored["team"] and stored["sla_due"]
    assert stored["draft_text"].startswith("@casey_q") and len(stored["draft_text"]) <= 280
    # And when, as Step Functions writes its context's EnteredTime (milliseconds, `Z`): the item is billed per KB
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stored["triaged_at"]), stored["triaged_at"]
    # And a post without attachments stores none (readers default to []); the listing shows the empty list
    assert "attachments" not in stack._store.get_mention("x", mention_id)
    assert next(m for m in stack.mentions() if m["mention_id"] == mention_id)["attachments"] == []
    (note,) = notifications_for(stack, mention_id, "agent-notifications", delivered=True)
    message = note["message"]
    assert set(message) == {"mention", "classification", "route", "draft", "thread", "actions"}
    assert message["route"]["team"] == stored["team"] == note["attributes"]["team"]
    assert note["attributes"]["platform"] == "x" and note["attributes"]["channel"] == "x"
    assert message["actions"]["reply"]["body"]["reply"]["in_reply_to_tweet_id"] == mention_id
    # And its review link opens this mention's review page
    assert_review_link(message["actions"]["review_url"], mention_id)
    # And the published message had one entry per protocol: the SQS subscriber got `default`, e-mail its own text
    published = published_message(stack, mention_id, "NotifyAgents")
    assert json.loads(published["Message"]["default"]) == message and published["MessageStructure"] == "json"
    assert message["actions"]["review_url"] in published["Message"]["email"]
    assert stored["draft_text"] in published["Message"]["email"] and "{" not in published["Message"]["email"]
    assert published["Message"]["sms"].endswith(message["actions"]["review_url"])
    assert note["subject"] == published["Subject"] and note["subject"].startswith(f"Responder {stored['priority']} ")
    # And the local outbox shows what an e-mail subscriber reads
    assert note["email"] == published["Message"]["email"]
    # And only the subscription of that team received it (SNS filter policy)
    assert note["delivered_to"] == [stored["team"]]
    # And triage leaves the thread as the webhook wrote it (no draft copy, no last route: nothing reads them), and
    # the mention without the claim's bookkeeping
    thread = stack._store.get_thread("x", mention_id)
    assert thread["mention_count"] == 1
    assert not {"last_draft_text", "last_draft_mention_id", "last_team", "last_triaged_at"} & set(thread)
    # (the mention opened its thread and is its only message: the thread has no item of its own, and is shown as a
    # thread of one, in the notification and in the local stack's listing)
    assert stack._store.client.get_item(TableName=stack.table_name, Key=stack._store._item(
        {"pk": f"THREAD#x#{mention_id}", "sk": "THREAD"})).get("Item") is None
    assert note["message"]["thread"]["mention_count"] == 1
    (listed,) = [t for t in stack.threads() if t["thread_id"] == mention_id]
    assert (listed["mention_count"], listed["last_mention_id"], listed["channel"]) == (1, mention_id, "x")
    assert not {"triage_claim", "triage_claimed_until", "triage_attempts"} & set(stored)


def assert_review_link(url, mention_id, channel="x"):
    from responder.replies.tokens import ReviewSigner

    # (the local stack points review links at its own server)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/review/[A-Za-z0-9_.-]+", url), url
    target = ReviewSigner(REVIEW_KEY.encode()).verify(url.rsplit("/", 1)[1])
    assert (target.channel, target.mention_id) == (channel, mention_id)


def executions_of(stack, mention_id):
    """The executions (one per batch) whose items include the mention, as ListExecutions lists them."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    found = []
    for execution in sfn.list_executions(stateMachineArn=stack.triage.state_machine_arn)["executions"]:
        try:
            items = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["items"]
        except sfn.exceptions.ExecutionDoesNotExist:
            continue  # moto lists an execution a moment before it describes it: the callers look again
        if any(item["key"]["mention_id"] == mention_id for item in items):
            found.append(execution)
    return found


def item_statuses(stack, mention_id):
    """How each execution holding the mention has ended for it so far: RUNNING, the execution's status, or FAILED when
    the mention's own item failed in an execution that succeeded (its batch's other mentions went on)."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    statuses = []
    for execution in executions_of(stack, mention_id):
        try:
            described = sfn.describe_execution(executionArn=execution["executionArn"])
        except sfn.exceptions.ExecutionDoesNotExist:
            statuses.append("RUNNING")  # (see executions_of)
            continue
        if described["status"] != "SUCCEEDED":
            statuses.append(described["status"])
            continue
        claims = {i["claim"] for i in json.loads(described["input"])["items"] if i["key"]["mention_id"] == mention_id}
        statuses += ["FAILED" if r["failed"] else "SUCCEEDED" for r in json.loads(described["output"])
                     if r["claim"] in claims]
    return statuses


def published_message(stack, mention_id, state):
    """The parameters a publishing task of the mention's execution sent to SNS, its Message parsed."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    (execution,) = executions_of(stack, mention_id)
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    # (the batch's other mentions run in the same execution: this mention's state inputs only)
    entered = [json.loads(e["stateEnteredEventDetails"]["input"]) for e in events
               if e.get("stateEnteredEventDetails", {}).get("name") == state
               and json.loads(e["stateEnteredEventDetails"]["input"])["key"]["mention_id"] == mention_id]
    scheduled = [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in events
                 if "taskScheduledEventDetails" in e and e["taskScheduledEventDetails"]["resourceType"] == "sns"]
    assert entered and scheduled, [e["type"] for e in events]
    parameters = next(p for p in scheduled if p.get("Subject") == entered[0]["drafted"]["route"]["subject"])
    message = parameters["Message"]
    return {**parameters, "Message": json.loads(message) if isinstance(message, str) else message}


def test_spam_is_archived_with_a_reason_and_nobody_is_paged(stack):
    mention_id = deliver(stack, "🔥 FREE crypto giveaway 🔥 follow back and DM me to claim 1000 USDT now!!! bit.ly/x1")
    stored = outcome(stack, mention_id)
    assert stored["status"] == "archived" and stored["archive_reason"]
    settle(stack)  # everything that could have been published has been: a positive signal, not a sleep
    assert notifications_for(stack, mention_id, timeout=0) == []


def test_crisis_is_p1_and_escalated(stack):
    mention_id = deliver(stack, "the heater I bought from you caught fire last night, my kid could have been hurt")
    stored = outcome(stack, mention_id)
    assert stored["status"] == "notified" and stored["priority"] == "p1"
    assert notifications_for(stack, mention_id, "agent-notifications")
    (escalation,) = notifications_for(stack, mention_id, "escalations")
    assert escalation["attributes"]["priority"] == "p1"
    # And the escalation carries the review link and a subject saying p1
    assert_review_link(escalation["message"]["actions"]["review_url"], mention_id)
    assert escalation["subject"].startswith("Responder p1 ")


def test_a_transient_task_failure_is_retried(stack):
    # Given the Draft function fails once with a retryable error
    original, calls = task_handler(stack, "draft"), []

    def flaky(event, context):
        calls.append(1)
        if len(calls) == 1:
            from responder.aws.storage import StorageUnavailable

            raise StorageUnavailable("throttled")
        return original(event, context)

    with handler_replaced(stack, "draft", flaky):
        mention_id = deliver(stack, "how do I change the delivery address on my order?")
        stored = outcome(stack, mention_id)
    # Then the workflow retried the step and the mention was notified
    assert len(calls) == 2 and stored["status"] == "notified"


def test_a_task_that_keeps_failing_alerts_once_dead_letters_and_is_triaged_after_redrive(stack):
    # Given the Draft task fails every time it routes
    with routing_fails():
        mention_id = deliver(stack, "is the store on Main Street open on Sunday?")
        stored = outcome(stack, mention_id)
        assert stored["status"] == "triage_failed" and stored["triage_error"] == "ValueError"
        # When SQS has redelivered it five times, Then it is dead-lettered, and on-call was alerted once
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stack.dead_letters() == 0:
            time.sleep(0.3)
        assert stack.dead_letters() == 1
    alerts = [n for n in notifications_for(stack, mention_id, "escalations") if n["message"].get("alert")]
    assert len(alerts) == 1 and alerts[0]["message"]["alert"] == "triage_failed"
    settle(stack)
    assert notifications_for(stack, mention_id, "agent-notifications", timeout=0) == []
    # When the cause is fixed and the dead letters are redriven, Then the mention is triaged: nothing was lost
    assert stack.redrive() == 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and stack._store.get_mention("x", mention_id)["status"] != "notified":
        time.sleep(0.2)
    assert stack._store.get_mention("x", mention_id)["status"] == "notified"
    assert notifications_for(stack, mention_id, "agent-notifications")


def test_a_duplicate_triage_message_does_not_notify_twice(stack):
    # Given a mention already triaged
    mention_id = deliver(stack, "thank you for the quick refund, great service!")
    outcome(stack, mention_id)
    before = len(notifications_for(stack, mention_id))
    # When its triage message is delivered again (SQS is at-least-once)
    import boto3

    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.triage.triage_queue_url,
        MessageBody=json.dumps({"v": 1, "platform": "x", "channel": "x", "mention_id": mention_id,
                                "thread_id": mention_id, "kind": "mention"}))
    settle(stack)  # the duplicate's execution has ended and whatever it published is recorded
    # Then nobody is paged again
    assert len(notifications_for(stack, mention_id)) == before


def minute_total(stack) -> int:
    """All mentions in the brand's minute counters (the last hour)."""
    from responder.aws.incident_store import IncidentStore
    from responder.surge.incidents import BRAND_KEY, SurgeSettings

    counts = IncidentStore(stack._store).counts(BRAND_KEY, datetime.now(timezone.utc), SurgeSettings())
    return sum(counts.get("all", {}).values())


def test_a_triaged_mention_is_counted_once_by_its_dispatcher_even_when_its_message_comes_again(stack):
    # Given a quiet stack and the brand's minute counters as they are
    settle(stack)
    before = minute_total(stack)
    # When a complaint is triaged, and its triage message is then delivered again
    mention_id = deliver(stack, "my parcel never arrived and nobody answers, order 55812")
    assert outcome(stack, mention_id)["status"] == "notified"
    settle(stack)
    assert minute_total(stack) == before + 1
    import boto3

    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.triage.triage_queue_url,
        MessageBody=json.dumps({"v": 1, "platform": "x", "channel": "x", "mention_id": mention_id,
                                "thread_id": mention_id, "kind": "mention"}))
    settle(stack)
    # Then the counters hold it once: the duplicate's execution skipped it and carried nothing to count
    assert minute_total(stack) == before + 1


def empty_dead_letter_queue(stack):
    """Wait until the dead-letter queue reads empty: its count is approximate and refreshed once a second, so an
    earlier test's redriven message may still be counted for a moment."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and stack.dead_letters() != 0:
        time.sleep(0.2)
    assert stack.dead_letters() == 0


def test_a_failing_duplicate_never_turns_a_notified_mention_back_into_failed(stack):
    import boto3

    empty_dead_letter_queue(stack)
    # Given a mention already notified
    mention_id = deliver(stack, "my parcel is late again, where is order #55120?")
    assert outcome(stack, mention_id)["status"] == "notified"
    pages = len(notifications_for(stack, mention_id, "agent-notifications"))

    def throttled(event, context):
        raise RuntimeError("Rate exceeded")  # stands for a throttled claim: the step fails before claiming

    # When a duplicate of its triage message keeps failing in Classify until it is dead-lettered
    with handler_replaced(stack, "classify", throttled):
        boto3.client("sqs", region_name="us-east-1").send_message(
            QueueUrl=stack.triage.triage_queue_url,
            MessageBody=json.dumps({"v": 1, "platform": "x", "channel": "x", "mention_id": mention_id,
                                    "thread_id": mention_id, "kind": "mention"}))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stack.dead_letters() == 0:
            time.sleep(0.3)
        assert stack.dead_letters() == 1
    # Then the mention is still notified, nobody was told triage failed, and after a redrive nobody is paged again
    assert stack._store.get_mention("x", mention_id)["status"] == "notified"
    assert stack.redrive() == 1
    settle(stack)
    assert stack._store.get_mention("x", mention_id)["status"] == "notified"
    assert len(notifications_for(stack, mention_id, "agent-notifications", timeout=0)) == pages
    assert [n for n in notifications_for(stack, mention_id, "escalations", timeout=0)
            if n["message"].get("alert") == "triage_failed"] == []


@contextmanager
def calls_refused(times, matches, code):
    """The AWS calls `matches(operation, params)` selects refused `times` times with `code`, as a throttled service
    refuses them; every other call goes through."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original, refused = BaseClient._make_api_call, []

    def refusing(client, operation, params):
        if matches(operation, params) and len(refused) < times:
            refused.append(operation)
            raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "local-refused"}}, operation)
        return original(client, operation, params)

    BaseClient._make_api_call = refusing
    try:
        yield refused
    finally:
        BaseClient._make_api_call = original


def the_outcome_write(operation, params):
    """RecordMention: the workflow's `notified` outcome."""
    return operation == "UpdateItem" and (params.get("ExpressionAttributeValues") or {}).get(":notified") == {
        "S": "notified"}


def the_p1_escalation(operation, params):
    """Escalate: a p1's publish on the Escalations topic (the failure alert is published as usual)."""
    return operation == "Publish" and "escalations" in str(params.get("TopicArn")).lower() \
        and str(params.get("Subject", "")).startswith("Responder p1 ")


def triaged_after_refusals(stack, text, step, code, times=3):
    """Deliver `text` while its first execution's `step` is refused `times` times (its two retries too), wait until
    SQS's redelivery (at once here) has it notified and the stack is quiet; return its id and stored item."""
    empty_dead_letter_queue(stack)
    with calls_refused(times, step, code) as refused:
        mention_id = deliver(stack, text)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(refused) < times:
            time.sleep(0.1)
        assert len(refused) == times
        stored = outcome(stack, mention_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and stored["status"] != "notified":
            time.sleep(0.2)
            stored = stack._store.get_mention("x", mention_id)
    settle(stack)
    # (`notified` is recorded before the page: read the mention again once everything has run)
    return mention_id, stack._store.get_mention("x", mention_id)


def the_agents_page(operation, params):
    """NotifyAgents: the publish on the agents' topic."""
    return operation == "Publish" and "agent" in str(params.get("TopicArn")).lower()


def test_a_refused_outcome_write_pages_nobody_and_the_retry_pages_once(stack):
    # Given the outcome write keeps failing in the first execution (it comes before any page)
    # When SQS delivers its message again and the write succeeds
    mention_id, stored = triaged_after_refusals(stack, "where is my refund for order #88412? it has been three weeks",
                                                the_outcome_write, "ProvisionedThroughputExceededException")
    # Then the mention is notified, its agents were paged once, by the retry, and on-call heard once that triage
    # failed
    assert stored["status"] == "notified" and not stored.get("paged_at")
    assert len(notifications_for(stack, mention_id, "agent-notifications", timeout=0)) == 1
    alerts = [n["message"].get("alert") for n in notifications_for(stack, mention_id, "escalations", timeout=0)]
    assert alerts.count("triage_failed") == 1


def test_a_page_refused_after_the_outcome_was_recorded_is_sent_by_the_retry(stack):
    # Given the agents' page keeps failing in the first execution, after it recorded the mention `notified`
    # When SQS delivers its message again and SNS accepts the page
    mention_id, stored = triaged_after_refusals(stack, "still no sign of order #88530, please check",
                                                the_agents_page, "Throttling")
    # Then the first execution's failure turned its own `notified` back into `triage_failed`, so the retry
    # recorded the mention again and paged its agents once
    assert stored["status"] == "notified" and stored.get("triage_failed_at")
    assert len(notifications_for(stack, mention_id, "agent-notifications", timeout=0)) == 1
    alerts = [n["message"].get("alert") for n in notifications_for(stack, mention_id, "escalations", timeout=0)]
    assert alerts.count("triage_failed") == 1


def test_two_executions_of_one_mention_at_once_page_its_agents_once_and_count_it_once(stack):
    # Given a quiet stack, and Classify holding each execution until two of them run for the same mention
    import boto3

    settle(stack)
    counted_before = minute_total(stack)
    arrived, together = classify_in_pairs(stack)

    with handler_replaced(stack, "classify", together):
        # When a complaint is delivered and a duplicate of its triage message is sent at once
        mention_id = deliver(stack, "the app charged me but my order 55941 never showed up")
        boto3.client("sqs", region_name="us-east-1").send_message(
            QueueUrl=stack.triage.triage_queue_url,
            MessageBody=json.dumps({"v": 1, "platform": "x", "channel": "x", "mention_id": mention_id,
                                    "thread_id": mention_id, "kind": "mention"}))
        assert outcome(stack, mention_id)["status"] == "notified"
        settle(stack)
    # Then both executions classified it, only the one whose outcome write was accepted paged the agents, and the
    # minute counters hold it once
    assert arrived.broken is False and arrived.n_waiting == 0
    assert len(notifications_for(stack, mention_id, "agent-notifications", timeout=0)) == 1
    assert minute_total(stack) == counted_before + 1


def test_a_p1_whose_escalation_failed_is_escalated_on_the_retry_without_paging_its_agents_again(stack):
    # Given a p1 whose agents were paged, then whose escalation failed; When SQS delivers its message again and SNS
    # accepts the escalation
    text = "the kettle I bought from you caught fire last night, my kid could have been hurt"
    mention_id, stored = triaged_after_refusals(stack, text, the_p1_escalation, "Throttling")
    # Then its agents were paged once, it was escalated once, and the mention is notified
    pages = notifications_for(stack, mention_id, "agent-notifications", timeout=0)
    escalations = [n for n in notifications_for(stack, mention_id, "escalations", timeout=0)
                   if n["message"].get("alert") != "triage_failed"]
    assert (len(pages), len(escalations)) == (1, 1)
    assert stored["status"] == "notified" and stored["priority"] == "p1" and stored.get("paged_at")


def test_a_poison_message_ends_in_the_dead_letter_queue_and_can_be_redriven(stack):
    import boto3

    # Given an empty dead-letter queue
    empty_dead_letter_queue(stack)
    # And a message that can never be triaged (not a triage message at all)
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=stack.triage.triage_queue_url, MessageBody="{not json")
    # When the dispatcher has failed it five times (retry delay shortened for the test)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stack.dead_letters() == 0:
        time.sleep(0.5)
    # Then it waits in the dead-letter queue, and redrive moves it back
    assert stack.dead_letters() == 1
    assert stack.redrive() == 1


STATE_LIMIT_BYTES = 256 * 1024  # Step Functions' state payload and SNS's message size quotas alike


def _execution_payloads(stack, mention_id):
    """Every state input and output of the mention's execution, as the interpreter recorded them."""
    import boto3

    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    (execution,) = executions_of(stack, mention_id)
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    return [details[field] for event in events for details in event.values() if isinstance(details, dict)
            for field in ("input", "output") if isinstance(details.get(field), str)]


def test_the_largest_accepted_mention_is_notified_with_its_state_and_message_under_the_limits(stack):
    from responder.core.model import MAX_TEXT_CHARS
    from responder.triage.steps import NOTIFIED_TEXT_MAX_CHARS, TRUNCATION_MARKER

    # Given a complaint as long as a mention may be (MAX_TEXT_CHARS characters), nearly all of them 4-byte emoji:
    # 240 KB of UTF-8, 720 KB as JSON escapes, once in the state would already have been too much
    from responder_cli.traffic import BRAND_HANDLE

    complaint = "my order #55120 never arrived and nobody answers, I want a refund "
    prefix = len(f"@{BRAND_HANDLE} ")  # the generator addresses the post to the brand
    text = complaint + "😡" * (MAX_TEXT_CHARS - len(complaint) - prefix)
    mention_id = deliver(stack, text)
    # When triage finishes
    stored = outcome(stack, mention_id, timeout=60)
    # Then it is notified (no States.DataLimitExceeded), and the table keeps the whole text
    assert stored["status"] == "notified", stored.get("triage_error")
    assert len(stored["text"]) == MAX_TEXT_CHARS
    payloads = _execution_payloads(stack, mention_id)
    # And no state of its execution came near Step Functions' 256 KiB of UTF-8 (the quota's own measure): between
    # Route and SlimMention the state holds the carried text twice (the mention, the notification's document) and
    # the e-mail's excerpt once
    largest = max(len(json.dumps(json.loads(p), ensure_ascii=False).encode()) for p in payloads)
    assert largest < STATE_LIMIT_BYTES / 4, largest
    # And even with every character written as a JSON escape (12 bytes for each emoji) it would still fit
    escaped = max(len(json.dumps(json.loads(p)).encode()) for p in payloads)
    assert escaped < STATE_LIMIT_BYTES * 0.6, escaped
    # And the agents' notification shows the text cut to NOTIFIED_TEXT_MAX_CHARS with a marker and the full length
    (note,) = notifications_for(stack, mention_id, "agent-notifications")
    mention = note["message"]["mention"]
    assert len(mention["text"]) == NOTIFIED_TEXT_MAX_CHARS and mention["text"].endswith(TRUNCATION_MARKER)
    assert mention["text_truncated"] is True and mention["text_length"] == MAX_TEXT_CHARS
    assert stored["text"].startswith(mention["text"].removesuffix(TRUNCATION_MARKER))
    # And the published message is well under SNS's 256 KiB, even with every character escaped
    assert len(json.dumps(note["message"]).encode()) < STATE_LIMIT_BYTES / 2


def test_a_state_over_the_limit_marks_the_mention_failed_and_alerts(stack):
    # Given a Draft step whose answer would push the state past 256 KiB (300,000 characters of draft)
    original = task_handler(stack, "draft")

    def oversized(event, context):
        answer = original(event, context)
        return {**answer, "draft": {**answer["draft"], "text": "x" * 300_000}}

    with handler_replaced(stack, "draft", oversized):
        mention_id = deliver(stack, "where is my parcel? tracking has not moved for a week")
        # When triage runs into States.DataLimitExceeded, which States.ALL does not catch
        stored = outcome(stack, mention_id)
    # Then the failure path still ran: the mention says why, and on-call is alerted on the first attempt
    assert stored["status"] == "triage_failed" and stored["triage_error"] == "States.DataLimitExceeded"
    alerts = [n for n in notifications_for(stack, mention_id, "escalations") if n["message"].get("alert")]
    assert alerts and alerts[0]["message"]["error"]["Error"] == "States.DataLimitExceeded"


def duplicate_message(stack, mention_id):
    """A second triage message for a mention (SQS at-least-once, or the sweeper), sent now."""
    import boto3

    boto3.client("sqs", region_name="us-east-1").send_message(
        QueueUrl=stack.triage.triage_queue_url,
        MessageBody=json.dumps({"v": 1, "platform": "x", "channel": "x", "mention_id": mention_id,
                                "thread_id": mention_id, "kind": "mention"}))


def test_a_duplicate_that_read_the_mention_before_another_execution_paged_and_failed_pages_nobody_again(stack):
    # Given two executions of one p1 mention that both classify it while it is `received`; the first records it,
    # pages its agents, then fails on the escalation (SNS throttled through its retries), which turns the mention
    # back into `triage_failed` with `paged_at`; the second is drafted only once that has happened
    import threading

    settle(stack)
    classify, draft = task_handler(stack, "classify"), task_handler(stack, "draft")
    arrived, drafts, lock = threading.Barrier(2, timeout=20), [], threading.Lock()
    calls = {"classify": 0}

    def together(event, context):
        with lock:
            calls["classify"] += 1
            first_two = calls["classify"] <= 2
        if first_two:
            arrived.wait()
        return classify(event, context)

    def second_drafted_after_the_revert(event, context):
        with lock:
            drafts.append(event["mention"]["mention_id"])
            second = len(drafts) == 2
        if second:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and \
                    stack._store.get_mention("x", event["mention"]["mention_id"])["status"] != "triage_failed":
                time.sleep(0.05)
        return draft(event, context)

    text = "the heater I bought from you started smoking and caught fire in my kitchen, we had to call the firemen"
    with handler_replaced(stack, "classify", together), handler_replaced(stack, "draft", second_drafted_after_the_revert), \
            calls_refused(3, the_p1_escalation, "Throttling") as refused:
        # When the mention is delivered and a duplicate of its triage message is sent at once
        mention_id = deliver(stack, text)
        duplicate_message(stack, mention_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (len(refused) < 3 or stack._store.get_mention(
                "x", mention_id)["status"] != "notified"):
            time.sleep(0.2)
        settle(stack)
    # Then its agents were paged once and it was escalated once: the second execution's outcome write must not be
    # accepted on the strength of a read that predates the first one's page
    assert arrived.broken is False and len(refused) == 3 and len(drafts) >= 2
    pages = notifications_for(stack, mention_id, "agent-notifications", timeout=0)
    escalations = [n for n in notifications_for(stack, mention_id, "escalations", timeout=0)
                   if n["message"].get("alert") != "triage_failed"]
    assert stack._store.get_mention("x", mention_id)["status"] == "notified"
    assert (len(pages), len(escalations)) == (1, 1)


@contextmanager
def states_entered_at(instant):
    """Every state's `$$.State.EnteredTime` is `instant` in the block: two executions entering a state in the same
    millisecond (the resolution Step Functions gives it, e.g. "2026-12-01T12:00:00.123Z")."""
    import datetime as real
    import types

    from moto.stepfunctions.parser.asl.component.state import state as state_module

    class Fixed(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return instant

    original = state_module.datetime
    state_module.datetime = types.SimpleNamespace(datetime=Fixed, timezone=real.timezone)
    try:
        yield
    finally:
        state_module.datetime = original


def test_two_executions_that_record_a_mention_in_the_same_millisecond_page_its_agents_once(stack):
    # Given two executions of one mention, held in Classify until both run, whose Recording states are entered in
    # the same millisecond
    settle(stack)
    arrived, together = classify_in_pairs(stack)

    with handler_replaced(stack, "classify", together), \
            states_entered_at(datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)):
        # When a complaint is delivered and a duplicate of its triage message is sent at once
        mention_id = deliver(stack, "you billed me twice for order 66120 and support never answers")
        duplicate_message(stack, mention_id)
        assert outcome(stack, mention_id)["status"] == "notified"
        settle(stack)
    # Then only one of them paged the agents: the outcome write tells one execution from another by more than the
    # time it was made
    assert arrived.broken is False and arrived.n_waiting == 0
    assert len(notifications_for(stack, mention_id, "agent-notifications", timeout=0)) == 1


def test_a_duplicate_execution_never_announces_an_incident_a_second_time(stack):
    # Given two executions of one mention held in Classify until both run, and an incident this mention opened whose
    # `opened` alert is not recorded yet (the first execution's Classify opened it a moment ago)
    settle(stack)
    arrived, together = classify_in_pairs(stack)

    text = "the zorblax scanner rejects my voucher zorblax voucher broken again"
    with handler_replaced(stack, "classify", together):
        mention_id = deliver(stack, text)
        incident_id = open_incident_of(stack, mention_id, text, "inc-dup")
        # When a duplicate of its triage message is sent
        duplicate_message(stack, mention_id)
        settle(stack)
    assert stack._store.get_mention("x", mention_id)["status"] == "incident"
    # Then the incident was announced once: the execution whose outcome write was refused announces nothing
    assert arrived.broken is False and arrived.n_waiting == 0
    opened = [n for n in stack.triage.notifications() if n["topic"] == "incidents"
              and n["message"].get("alert") == "opened" and n["message"]["incident"]["incident_id"] == incident_id]
    assert len(opened) == 1


def test_a_failure_after_an_agent_queued_a_reply_leaves_the_mention_to_that_reply(stack):
    # Given a mention recorded `notified` whose agents' page keeps failing, and an agent who queues a reply to it (on
    # the review page, which the mention's record makes possible) before the execution's failure path runs
    from responder.replies.claims import DynamoReplyStore

    settle(stack)
    replies = DynamoReplyStore(stack._store._table, client=stack._store.client)
    queued = []

    def page_refused_once_a_reply_is_queued(operation, params):
        if not the_agents_page(operation, params):
            return False
        if not queued:
            mention = json.loads(json.loads(params["Message"])["default"])["mention"]
            before = stack._store.get_mention("x", mention["mention_id"])
            at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            claim = replies.claim_reply("x", mention["mention_id"], "nonce-r1", "We are on it, sorry!", "agent-7",
                                        at=at, stale_before="2000-01-01T00:00:00Z")
            queued.append((mention["mention_id"], before["triaged_by"], claim.taken))
        return True

    with calls_refused(3, page_refused_once_a_reply_is_queued, "Throttling") as refused:
        # When its triage fails on the page, after the reply was queued
        deliver(stack, "my order #88790 arrived broken, I want a replacement")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(refused) < 3:
            time.sleep(0.1)
        settle(stack)
    # Then the failure left the mention `notified` with its reply in flight: not turned back into `triage_failed`,
    # which the redelivery would have triaged, recorded and paged again
    assert len(refused) == 3
    ((mention_id, triaged_by, taken),) = queued
    stored = stack._store.get_mention("x", mention_id)
    assert taken and (stored["status"], stored["reply_state"]) == ("notified", "queued")
    assert stored["triaged_by"] == triaged_by and not stored.get("triage_failed_at")
    # (the execution's identity: 12 random hex digits, small on an item billed per started KB)
    assert re.fullmatch(r"[0-9a-f]{12}", triaged_by)
    assert notifications_for(stack, mention_id, "agent-notifications", timeout=0) == []


def test_noise_recorded_by_another_execution_meanwhile_is_not_archived_over_it(stack):
    # Given an execution that classifies a mention as noise while another execution records it `notified` (a managed
    # classifier that judged it otherwise)
    from responder.aws.storage import mention_key

    settle(stack)
    original = task_handler(stack, "classify")

    def recorded_meanwhile(event, context):
        classified = original(event, context)
        key = mention_key(event["key"]["channel"], event["key"]["mention_id"])
        stack._store.client.update_item(
            TableName=stack._store._table, Key={name: {"S": value} for name, value in key.items()},
            UpdateExpression="SET #s = :notified, triaged_by = :other", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":notified": {"S": "notified"}, ":other": {"S": "another-execution"}})
        return classified

    with handler_replaced(stack, "classify", recorded_meanwhile):
        # When the noise is delivered and triaged
        mention_id = deliver(stack, "🔥 FREE crypto giveaway 🔥 follow back and DM me to claim 1000 USDT now!!! bit.ly/x2")
        settle(stack)
    # Then Archive, refused like any outcome write on a mention recorded meanwhile, left the other execution's outcome
    stored = stack._store.get_mention("x", mention_id)
    assert (stored["status"], stored["triaged_by"]) == ("notified", "another-execution")
    assert not stored.get("archive_reason")


def test_an_incident_alert_refused_after_the_member_was_recorded_is_announced_once_by_the_retry(stack):
    # Given an incident this mention opened, not announced yet, and the incidents topic refusing the `opened` alert
    # through the retries of the execution that recorded the mention its member
    import threading

    settle(stack)
    original, opened_now = task_handler(stack, "classify"), threading.Event()

    def after_the_incident_opened(event, context):
        opened_now.wait(20)
        return original(event, context)

    def the_incident_alert(operation, params):
        return operation == "Publish" and "incident" in str(params.get("TopicArn")).lower() \
            and "settled_marker" not in str(params.get("Message"))

    text = "the frobnitzer meter shows zero frobnitzer meter reset failed"
    with handler_replaced(stack, "classify", after_the_incident_opened), \
            calls_refused(3, the_incident_alert, "Throttling") as refused:
        mention_id = deliver(stack, text)
        incident_id = open_incident_of(stack, mention_id, text, "inc-retried")
        # When its triage records it, fails on the alert, and SQS delivers its message again
        opened_now.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(refused) < 3:
            time.sleep(0.1)
        settle(stack)
    # Then the failure turned its own outcome back, and the retry recorded it again and announced the incident once
    assert len(refused) == 3
    stored = stack._store.get_mention("x", mention_id)
    assert (stored["status"], stored["incident_id"]) == ("incident", incident_id) and stored.get("triage_failed_at")
    opened = [n for n in stack.triage.notifications() if n["topic"] == "incidents"
              and n["message"].get("alert") == "opened" and n["message"]["incident"]["incident_id"] == incident_id]
    assert len(opened) == 1


def test_a_native_brand_reply_on_x_marks_the_notified_mention_answered(stack):
    from responder.ingest.signatures import sign_x
    from responder_cli.traffic import BRAND_X_ID

    # Given a complaint notified to its team
    mention_id = deliver(stack, "my parcel 8812 is a week late, can someone help?")
    assert outcome(stack, mention_id)["status"] == "notified"
    # When the brand replies to it on X itself (X Activity API post.create by the filtered user)
    post = {"id": "4100000000000000998", "author_id": BRAND_X_ID, "conversation_id": mention_id,
            "in_reply_to_tweet_id": mention_id, "created_at": "2026-12-01T12:00:00.000Z",
            "text": "@casey_q sorry! DM us the order number and we'll chase it."}
    reply = {"data": {"event_uuid": "4100000000000000999", "filter": {"user_id": BRAND_X_ID},
                      "event_type": "post.create", "payload": post}}
    body = json.dumps(reply).encode()
    secret = os.environ.get("RESPONDER_X_CONSUMER_SECRET", "local-x-consumer-secret")
    headers = {"x-twitter-webhooks-signature": sign_x(secret, body)}
    answer = stack._handler(http_api_event("POST", "/webhooks/x", headers, body), LambdaContext())
    # Then the mention is answered by the platform with its first-response time, and the reply is no mention
    assert answer["statusCode"] == 200, answer
    stored = stack._store.get_mention("x", mention_id)
    assert (stored["status"], stored["answered_by"], stored["first_response_at"]) == (
        "answered", "platform", "2026-12-01T12:00:00Z")
    assert stack._store.get_mention("x", "4100000000000000998") is None


def test_a_mention_answered_natively_while_triage_runs_stays_answered(stack):
    from responder.core.model import NativeAnswer
    from responder.replies.native import MARKED, DynamoNativeAnswers

    original, marked = task_handler(stack, "draft"), []

    def answered_meanwhile(event, context):
        # The brand answers on X while triage is between Draft (drafted and routed) and the record of its outcome
        result = original(event, context)
        mention = event["mention"]
        answer = NativeAnswer(channel="x", reply_id="4100000000000000997", text="On it!", at="2026-12-01T12:00:00Z",
                              mention_id=mention["mention_id"])
        marked.append(DynamoNativeAnswers(stack._store).apply(answer, datetime.now(timezone.utc)))
        return result

    with handler_replaced(stack, "draft", answered_meanwhile):
        mention_id = deliver(stack, "the app keeps logging me out, please fix it")
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline and status not in ("SUCCEEDED", "FAILED"):
            found = item_statuses(stack, mention_id)
            status = found[0] if found else None
            time.sleep(0.1)
    # Then the execution ends well, and the mention keeps the answer instead of turning back to notified
    assert marked == [MARKED] and status == "SUCCEEDED"
    stored = stack._store.get_mention("x", mention_id)
    assert (stored["status"], stored["answered_by"]) == ("answered", "platform")

def execution_status(stack, mention_id, timeout=30):
    """How the mention's (one) execution ended for it, or the last status seen (item_statuses)."""
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline and status not in ("SUCCEEDED", "FAILED"):
        found = item_statuses(stack, mention_id)
        status = found[0] if found else None
        time.sleep(0.1)
    return status


def test_an_incident_whose_opening_mention_is_answered_while_triage_runs_is_still_announced(stack):
    # (Last: settle cannot wait out an answered mention.)
    # Given an incident this mention opened, not announced yet, and the brand answering the mention on X while its
    # triage runs (after Classify decided the `opened` alert was due), so that its outcome write is refused
    import threading

    from responder.core.model import NativeAnswer
    from responder.replies.native import MARKED, DynamoNativeAnswers

    original, marked, opened_now = task_handler(stack, "classify"), [], threading.Event()

    def answered_meanwhile(event, context):
        opened_now.wait(20)
        classified = original(event, context)
        answer = NativeAnswer(channel="x", reply_id=f"41000000{int(time.time() * 1000)}", text="We are on it!",
                              at="2026-12-01T12:00:00Z", mention_id=event["key"]["mention_id"])
        marked.append(DynamoNativeAnswers(stack._store).apply(answer, datetime.now(timezone.utc)))
        return classified

    text = "the quibbitron kiosk swallowed my card quibbitron kiosk broken again"
    with handler_replaced(stack, "classify", answered_meanwhile):
        mention_id = deliver(stack, text)
        incident_id = open_incident_of(stack, mention_id, text, "inc-answered")
        # When its triage classifies it, and finds it answered when it records the outcome
        opened_now.set()
        assert execution_status(stack, mention_id) == "SUCCEEDED"
    # Then the mention stays answered, and the incident was announced though no execution recorded the mention
    assert marked == [MARKED]
    assert stack._store.get_mention("x", mention_id)["status"] == "answered"
    deadline, opened = time.monotonic() + 10, []
    while time.monotonic() < deadline and not opened:
        opened = [n for n in stack.triage.notifications() if n["topic"] == "incidents"
                  and n["message"].get("alert") == "opened" and n["message"]["incident"]["incident_id"] == incident_id]
        time.sleep(0.1)
    assert len(opened) == 1


def executions_ended(stack, mention_id, count, timeout=60):
    """How the mention's executions ended for it (item_statuses) once `count` of them have ended."""
    deadline, ended = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        ended = [status for status in item_statuses(stack, mention_id) if status != "RUNNING"]
        if len(ended) >= count:
            return ended
        time.sleep(0.1)
    pytest.fail(f"{len(ended)} of {count} executions of {mention_id} ended")


def incident_opened_announcements(stack, incident_id, wait=3.0):
    """The incident's `opened` alerts, after `wait` seconds for any late one (settle cannot wait out an answered
    mention: these tests come last)."""
    time.sleep(wait)
    return [n for n in stack.triage.notifications() if n["topic"] == "incidents"
            and n["message"].get("alert") == "opened" and n["message"]["incident"]["incident_id"] == incident_id]


def classify_in_pairs(stack):
    """A Classify that holds each execution until a second one arrives (two executions of one mention run together),
    and the barrier that says whether both did."""
    import threading

    original = task_handler(stack, "classify")
    arrived = threading.Barrier(2, timeout=20)

    def together(event, context):
        arrived.wait()
        return original(event, context)

    return arrived, together


def open_incident_of(stack, mention_id, text, prefix):
    from responder.aws.incident_store import IncidentStore
    from responder.surge.incidents import BRAND_KEY, SurgeSettings, salient_terms

    incident_id = f"{prefix}-{int(time.time() * 1000)}"
    now = datetime.now(timezone.utc)
    at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert IncidentStore(stack._store).try_open(BRAND_KEY, incident_id, {
        "incident_id": incident_id, "account_id": BRAND_KEY, "scope": "all", "incident_status": "open",
        "signature": {term: 1.0 for term in salient_terms(text)}, "opened_at": at, "first_seen_at": at,
        "last_seen_at": at, "size": 0, "next_digest": 25, "sample_mention_ids": [], "alerts": [], "language": "en",
        "opened_by": f"x:{mention_id}"}, now, SurgeSettings())
    time.sleep(2.2)  # the task functions' cache of open incidents (2 s) sees it
    return incident_id


def answer_natively(stack, mention_id):
    from responder.core.model import NativeAnswer
    from responder.replies.native import DynamoNativeAnswers

    answer = NativeAnswer(channel="x", reply_id=f"42{int(time.time() * 1000)}", text="We are on it!",
                          at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), mention_id=mention_id)
    return DynamoNativeAnswers(stack._store).apply(answer, datetime.now(timezone.utc))


def test_an_incident_whose_opening_mention_is_answered_after_one_execution_recorded_it_is_announced_once(stack):
    # Given two executions of one mention held in Classify until both run (both carry the `opened` alert of an
    # incident this mention opened, not announced yet); the first records the mention the incident's member, the
    # brand then answers it on X, and only then does the second write its outcome: refused, the mention being closed,
    # though an execution recorded it and goes on to announce the incident
    import threading

    from responder.replies.native import MARKED

    classify, draft = task_handler(stack, "classify"), task_handler(stack, "draft")
    text = "the plonkwerth gauge reads empty plonkwerth gauge stuck again"
    arrived, lock, drafts, marked = threading.Barrier(2, timeout=20), threading.Lock(), [], []

    def together(event, context):
        if "plonkwerth" in (stack._store.get_mention("x", event["key"]["mention_id"]) or {}).get("text", ""):
            arrived.wait()
        return classify(event, context)

    def second_drafted_after_the_first_recorded_and_the_answer(event, context):
        mention_id = event["mention"]["mention_id"]
        with lock:
            drafts.append(mention_id)
            second = len(drafts) == 2
        if second:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and stack._store.get_mention("x", mention_id)["status"] != "incident":
                time.sleep(0.05)
            marked.append(answer_natively(stack, mention_id))
        return draft(event, context)

    with handler_replaced(stack, "classify", together), \
            handler_replaced(stack, "draft", second_drafted_after_the_first_recorded_and_the_answer):
        mention_id = deliver(stack, text)
        incident_id = open_incident_of(stack, mention_id, text, "inc-answered-after")
        # When a duplicate of its triage message is sent
        duplicate_message(stack, mention_id)
        assert executions_ended(stack, mention_id, 2) == ["SUCCEEDED", "SUCCEEDED"]
    assert arrived.broken is False and drafts == [mention_id, mention_id] and marked == [MARKED]
    assert stack._store.get_mention("x", mention_id)["status"] == "answered"
    # Then the incident was announced once: by the execution that recorded the mention, not again by the one whose
    # write was refused after that record
    assert len(incident_opened_announcements(stack, incident_id)) == 1


def test_an_incident_whose_opening_mention_is_answered_before_two_executions_record_it_is_announced_once(stack):
    # Given two executions of one mention that both classify it (both carry the `opened` alert of an incident this
    # mention opened, not announced yet), and the brand answering it on X before either writes its outcome: both
    # writes are refused, the mention being closed, and no execution records it
    import threading

    from responder.replies.native import MARKED

    classify = task_handler(stack, "classify")
    text = "the snorvelbox hinge cracked again snorvelbox hinge snapped"
    arrived, classified, answered = (threading.Barrier(2, timeout=20) for _ in range(3))
    marked = []

    def together_then_answered(event, context):
        if "snorvelbox" not in (stack._store.get_mention("x", event["key"]["mention_id"]) or {}).get("text", ""):
            return classify(event, context)
        arrived.wait()
        result = classify(event, context)
        if classified.wait() == 0:
            marked.append(answer_natively(stack, event["key"]["mention_id"]))
        answered.wait()
        return result

    with handler_replaced(stack, "classify", together_then_answered):
        mention_id = deliver(stack, text)
        incident_id = open_incident_of(stack, mention_id, text, "inc-answered-before")
        # When a duplicate of its triage message is sent
        duplicate_message(stack, mention_id)
        assert executions_ended(stack, mention_id, 2) == ["SUCCEEDED", "SUCCEEDED"]
    assert arrived.broken is False and marked == [MARKED]
    assert stack._store.get_mention("x", mention_id)["status"] == "answered"
    # Then the incident was announced once, not once by each execution whose write was refused
    assert len(incident_opened_announcements(stack, incident_id)) == 1


# --- one execution per batch ---------------------------------------------------------------------------------------

def stored_mentions(stack, texts):
    """Mentions saved as the webhook saves them, without their triage messages: the test dispatches them itself."""
    from responder.core.model import Author, Mention

    base = time.time_ns() // 1000
    now = datetime.now(timezone.utc)
    ids = []
    for n, text in enumerate(texts):
        mention_id = str(1_900_000_000_000_000_000 + base + n)
        stack._store.save(Mention(
            platform="x", channel="x", kind="mention", mention_id=mention_id, thread_id=mention_id,
            author=Author(id=str(5_000_000_200 + n), handle=f"batch_{n}", name="Sam", followers=40, verified=False),
            text=text, created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), account_id="1000000000000000001", source="xaa"),
            now)
        ids.append(mention_id)
    return ids


def batch_records(mention_ids, receive_count=1):
    """The SQS event source's records for these mentions' triage messages."""
    import uuid

    return [{"messageId": str(uuid.uuid4()), "receiptHandle": f"r-{mention_id}",
             "body": json.dumps({"v": 1, "platform": "x", "channel": "x", "mention_id": mention_id,
                                 "thread_id": mention_id, "kind": "mention"}),
             "attributes": {"ApproximateReceiveCount": str(receive_count)}} for mention_id in mention_ids]


def dispatched(stack, records, succeeded=None):
    """The dispatcher's work for one SQS batch, against the local state machine: its failures."""
    import boto3

    from responder.triage.dispatch import dispatch
    from responder_cli.local.triage import InterpreterRunner

    runner = InterpreterRunner(stack.triage.state_machine_arn, boto3.client("stepfunctions", region_name="us-east-1"))
    return dispatch(records, runner, succeeded=succeeded)


COMPLAINTS = ["my order #{} never arrived and the tracking page is blank", "charged twice for order {}, refund please",
              "the parcel {} came damaged, box crushed", "how do I change the address on order {}?",
              "order {} was cancelled without any email", "still waiting for invoice of order {}",
              "your courier left parcel {} in the rain", "refund for order {} has not arrived after 3 weeks",
              "can I pay order {} with paypal?", "wrong size delivered in order {}"]


def test_a_batch_of_ten_is_one_execution_and_every_mention_is_triaged(stack):
    # Given ten stored mentions and their ten triage messages in one SQS batch
    ids = stored_mentions(stack, [text.format(77100 + n) for n, text in enumerate(COMPLAINTS)])
    records = batch_records(ids)
    succeeded = []
    # When the dispatcher runs the batch
    failures = dispatched(stack, records, succeeded)
    # Then one execution triaged all ten: none failed, each has its result, and each mention has its outcome
    assert failures == []
    assert sorted(r["claim"] for r in succeeded) == sorted(r["messageId"] for r in records)
    assert {e["executionArn"] for mention_id in ids for e in executions_of(stack, mention_id)} == {
        executions_of(stack, ids[0])[0]["executionArn"]}
    assert {stack._store.get_mention("x", i)["status"] for i in ids} <= {"notified", "incident", "archived"}
    # And its ten iterations ran side by side: all had started before the first one ended (what the meter relies on
    # to bill the execution its slowest mention, not the sum of them)
    import boto3

    events = [e["type"] for e in boto3.client("stepfunctions", region_name="us-east-1").get_execution_history(
        executionArn=executions_of(stack, ids[0])[0]["executionArn"], maxResults=1000)["events"]
              if e["type"].startswith("MapIteration")]
    assert events.count("MapIterationStarted") == events.count("MapIterationSucceeded") == 10
    assert events.index("MapIterationSucceeded") > max(i for i, t in enumerate(events) if t == "MapIterationStarted")


def test_a_mention_failing_in_a_batch_fails_alone_and_its_siblings_are_paged_once(stack):
    # Given a batch of five mentions whose third one fails in the Draft task's routing every time (after its
    # siblings have started)
    ids = stored_mentions(stack, [text.format(77200 + n) for n, text in enumerate(COMPLAINTS[:5])])
    records = batch_records(ids)

    # When the dispatcher runs the batch
    with routing_fails({ids[2]}):
        failures = dispatched(stack, records)
    # Then only that message is reported for redelivery, with the error, and its mention is marked triage_failed
    assert [(f.message_id, f.reason) for f in failures] == [(records[2]["messageId"], "failed: ValueError")]
    assert stack._store.get_mention("x", ids[2])["status"] == "triage_failed"
    # And its siblings were recorded and their agents paged, once each
    siblings = ids[:2] + ids[3:]
    for mention_id in siblings:
        assert stack._store.get_mention("x", mention_id)["status"] in ("notified", "incident")
    # (settle cannot wait out the answered mentions of the tests above: the pages are waited for, then a moment more)
    notified = [i for i in siblings if stack._store.get_mention("x", i)["status"] == "notified"]
    assert all(notifications_for(stack, i, "agent-notifications", timeout=10) for i in notified)
    time.sleep(1.0)
    pages = {i: len(notifications_for(stack, i, "agent-notifications", timeout=0)) for i in siblings}
    assert all(pages[i] == 1 for i in notified) and all(n <= 1 for n in pages.values())
    # When its message comes back (its second receive) with routing working again
    assert dispatched(stack, [{**records[2], "attributes": {"ApproximateReceiveCount": "2"}}]) == []
    # Then it is triaged (and paged once if it is not an incident member), and nobody else is paged again
    status = stack._store.get_mention("x", ids[2])["status"]
    assert status in ("notified", "incident")
    if status == "notified":
        assert notifications_for(stack, ids[2], "agent-notifications", timeout=10)
    time.sleep(1.0)
    assert len(notifications_for(stack, ids[2], "agent-notifications", timeout=0)) == (status == "notified")
    assert {i: len(notifications_for(stack, i, "agent-notifications", timeout=0)) for i in siblings} == pages


def test_the_output_of_a_full_batch_of_the_largest_mentions_stays_small(stack):
    from responder.core.model import MAX_TEXT_CHARS

    # Given ten mentions as long as a mention may be, nearly all 4-byte emoji (240 KB of UTF-8 each)
    ids = stored_mentions(stack, [(text.format(77300 + n) + " ").ljust(MAX_TEXT_CHARS, "😡")
                                  for n, text in enumerate(COMPLAINTS)])
    records = batch_records(ids)
    # When the dispatcher runs them as one batch
    failures = dispatched(stack, records)
    # Then all ten are triaged, in one execution
    assert failures == []
    (execution,) = executions_of(stack, ids[0])
    import boto3

    output = boto3.client("stepfunctions", region_name="us-east-1").describe_execution(
        executionArn=execution["executionArn"])["output"]
    # And its output (the Map's, every item's result) holds a few hundred bytes per mention, nothing of their text:
    # far below Express's 256 KiB for a state's output, whatever the batch holds
    results = json.loads(output)
    assert sorted(r["claim"] for r in results) == sorted(r["messageId"] for r in records)
    assert len(output.encode()) < 10 * 200, len(output.encode())
    assert "😡" not in output and "\\ud83d" not in output
