"""When an SLA timer fires, on DynamoDB Local: an unanswered mention escalates exactly once; answered ones never."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from responder.aws.storage import mention_key
from responder.sla.escalate import InvalidTimer, SlaEscalator, SlaStore


@pytest.fixture
def store(store_on_both_clients):
    """The store on boto3's client and on the JSON-protocol client the functions use deployed (conftest)."""
    return store_on_both_clients

DUE = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
AFTER = DUE + timedelta(seconds=75)


class Alerts:
    """Records what would be published: escalations in `published`, reminders in `reminded`; fails the first
    `failures` escalations and the first `reminder_failures` reminders."""

    def __init__(self, failures: int = 0, reminder_failures: int = 0) -> None:
        self.published: list[tuple[dict[str, Any], dict[str, str], str]] = []
        self.reminded: list[tuple[dict[str, Any], dict[str, str], str]] = []
        self.failures, self.reminder_failures = failures, reminder_failures
        self.lock = threading.Lock()

    def escalate(self, doc, message, subject):
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("SNS unreachable")
            self.published.append((doc, message, subject))

    def remind(self, doc, message, subject):
        with self.lock:
            if self.reminder_failures:
                self.reminder_failures -= 1
                raise ConnectionError("SNS unreachable")
            self.reminded.append((doc, message, subject))


def put_mention(store, mention_id: str, status: str = "notified", **extra: Any) -> dict[str, str]:
    item = {**mention_key("x", mention_id), "type": "mention", "platform": "x", "channel": "x", "kind": "mention",
            "mention_id": mention_id, "thread_id": mention_id, "author": {"id": "42", "handle": "ana"},
            "text": "My order never arrived", "created_at": "2026-12-01T11:00:00Z", "status": status,
            "team": "support", "priority": "p2", "sla_due": "2026-12-01T12:00:00Z", **extra}
    store.client.put_item(TableName=store._table, Item=store._item(item))
    return {"v": 1, "kind": "mention", "channel": "x", "mention_id": mention_id}


def escalator(store, alerts, metrics=None) -> SlaEscalator:
    return SlaEscalator(SlaStore(store), alerts, review_link=lambda m: f"https://review.example/r/{m['mention_id']}",
                        metric=lambda team, priority, n: (metrics if metrics is not None else []).append(
                            (team, priority, n)))


def test_an_unanswered_mention_escalates_once_with_its_review_link(store):
    # Given a notified mention past its due time
    event = put_mention(store, "1001")
    alerts, metrics = Alerts(), []
    # When its timer fires
    result = escalator(store, alerts, metrics).fire(event, now=AFTER)
    # Then one escalation goes out, 75 s late, with the mention, its team and its review link
    assert result == {"outcome": "escalated", "late_seconds": 75}
    ((doc, message, subject),) = alerts.published
    assert doc["alert"] == "sla_breached" and doc["team"] == "support" and doc["priority"] == "p2"
    assert doc["sla_due"] == "2026-12-01T12:00:00Z" and doc["late_seconds"] == 75
    assert doc["actions"] == {"review_url": "https://review.example/r/1001"}
    assert doc["mention"]["mention_id"] == "1001" and doc["mention"]["text"] == "My order never arrived"
    assert json.loads(message["default"]) == doc and "https://review.example/r/1001" in message["sms"]
    assert subject.startswith("Responder SLA breached 1 min late")
    # And the mention records when it breached and when the escalation went out; the claim is gone
    item = store.get_mention("x", "1001")
    assert item["sla_breached_at"].startswith("2026-12-01T12:01:15") and item["sla_alerted_at"]
    assert "sla_alert_claimed_until" not in item
    assert metrics == [("support", "p2", 1)]


def test_a_timer_firing_twice_escalates_once(store):
    # Given a mention whose timer already fired and escalated
    event = put_mention(store, "1002")
    alerts, metrics = Alerts(), []
    escalator(store, alerts, metrics).fire(event, now=AFTER)
    # When the same timer fires again, long after any claim would have lapsed
    again = escalator(store, alerts, metrics).fire(event, now=AFTER + timedelta(minutes=10))
    # Then nothing more is published nor counted
    assert again == {"outcome": "already"}
    assert len(alerts.published) == 1 and len(metrics) == 1


def test_concurrent_invocations_escalate_once(store):
    # Given eight invocations of the same timer at once (each with its own escalator, as Lambda would run them)
    event = put_mention(store, "1003")
    alerts, barrier = Alerts(), threading.Barrier(8)
    outcomes = []

    def fire():
        barrier.wait()
        outcomes.append(escalator(store, alerts).fire(event, now=AFTER)["outcome"])

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one publishes
    assert len(alerts.published) == 1
    assert sorted(outcomes) == ["already"] * 7 + ["escalated"]


@pytest.mark.parametrize("status", ["answered", "handled", "deleted", "archived", "triaging"])
def test_a_mention_answered_or_closed_is_never_escalated(store, status):
    # Given a mention that is not open any more (or never was notified)
    event = put_mention(store, f"11{status}", status=status, first_response_at="2026-12-01T11:30:00Z")
    alerts = Alerts()
    # When its timer fires
    result = escalator(store, alerts).fire(event, now=AFTER)
    # Then nothing is published and the mention records no breach
    assert result["outcome"] in ("answered", "closed")
    assert alerts.published == []
    assert "sla_breached_at" not in store.get_mention("x", f"11{status}")


def test_a_mention_answered_between_the_read_and_the_claim_is_not_escalated(store):
    # Given a mention read as open whose reply goes out just before the escalation's conditional write
    event = put_mention(store, "1004")
    alerts = Alerts()
    sla_store = SlaStore(store)
    real_get = sla_store.get

    def get_then_answer(key):
        item = real_get(key)
        store.client.update_item(TableName=store._table, Key=store._item(mention_key("x", "1004")),
                                 UpdateExpression="SET #s = :a", ExpressionAttributeNames={"#s": "status"},
                                 ExpressionAttributeValues=store._item({":a": "answered"}))
        return item

    sla_store.get = get_then_answer
    # When the timer fires
    result = SlaEscalator(sla_store, alerts, review_link=lambda m: None, metric=lambda *a: None).fire(event, now=AFTER)
    # Then the condition refuses it: nothing published, no breach recorded
    assert result == {"outcome": "already"} and alerts.published == []
    assert "sla_breached_at" not in store.get_mention("x", "1004")


def test_a_failed_publish_raises_and_the_retry_publishes(store):
    # Given SNS failing on the first attempt
    event = put_mention(store, "1005")
    alerts, metrics = Alerts(failures=1), []
    # When the timer fires: the error reaches Scheduler (which retries the invocation)
    with pytest.raises(ConnectionError):
        escalator(store, alerts, metrics).fire(event, now=AFTER)
    item = store.get_mention("x", "1005")
    assert item["sla_breached_at"] and "sla_alerted_at" not in item and "sla_alert_claimed_until" not in item
    # And Scheduler's retry publishes, once, keeping the first breach time
    retry = escalator(store, alerts, metrics).fire(event, now=AFTER + timedelta(seconds=20))
    assert retry["outcome"] == "escalated" and len(alerts.published) == 1
    item = store.get_mention("x", "1005")
    assert item["sla_breached_at"].startswith("2026-12-01T12:01:15") and item["sla_alerted_at"]
    assert metrics == [("support", "p2", 1)]  # the breach is counted once, with the escalation that went out
    # And a third firing does nothing
    assert escalator(store, alerts, metrics).fire(event, now=AFTER + timedelta(seconds=40))["outcome"] == "already"
    assert len(alerts.published) == 1 and len(metrics) == 1


def test_a_failed_reminder_is_retried_without_a_second_escalation(store):
    # Given the escalation published and the team's reminder failing once
    event = put_mention(store, "1015")
    alerts = Alerts(reminder_failures=1)
    # When the timer fires: the error reaches Scheduler, which retries
    with pytest.raises(ConnectionError):
        escalator(store, alerts).fire(event, now=AFTER)
    retry = escalator(store, alerts).fire(event, now=AFTER + timedelta(seconds=20))
    # Then the on-call got one escalation and the team one reminder
    assert retry["outcome"] == "escalated"
    assert len(alerts.published) == 1 and len(alerts.reminded) == 1
    assert store.get_mention("x", "1015")["sla_alerted_at"]


def test_a_claim_left_by_a_crashed_invocation_lapses_and_a_later_retry_publishes(store):
    # Given an invocation that claimed the escalation and died before publishing
    event = put_mention(store, "1006")
    assert SlaStore(store).claim(mention_key("x", "1006"), AFTER, open_only=True) is not None
    alerts = Alerts()
    # When a retry comes while the claim is live, then after it lapsed
    early = escalator(store, alerts).fire(event, now=AFTER + timedelta(seconds=10))
    late = escalator(store, alerts).fire(event, now=AFTER + timedelta(seconds=120))
    # Then the first stands back and the second publishes
    assert early == {"outcome": "already"} and late["outcome"] == "escalated" and len(alerts.published) == 1


def test_a_timer_fired_before_the_due_time_does_nothing(store):
    event = put_mention(store, "1007")
    alerts = Alerts()
    assert escalator(store, alerts).fire(event, now=DUE - timedelta(seconds=30)) == {"outcome": "early"}
    assert alerts.published == [] and "sla_breached_at" not in store.get_mention("x", "1007")


def test_a_private_message_text_stays_out_of_the_escalation(store):
    # Given an unanswered WhatsApp-like private message (a DM)
    event = put_mention(store, "1008", kind="dm", text="my card number is 4111")
    alerts = Alerts()
    escalator(store, alerts).fire(event, now=AFTER)
    # Then no protocol's message carries its words
    ((doc, message, subject),) = alerts.published
    assert "text" not in doc["mention"]
    assert all("4111" not in part for part in (*message.values(), subject))


@pytest.mark.parametrize("event", [None, {}, {"v": 2, "kind": "mention", "channel": "x", "mention_id": "1"},
                                   {"v": 1, "kind": "thread", "channel": "x", "mention_id": "1"},
                                   {"v": 1, "kind": "mention", "channel": "x", "mention_id": "1#RAW"},
                                   {"v": 1, "kind": "mention", "channel": "x", "mention_id": 7},
                                   {"v": 1, "kind": "mention", "channel": "x", "mention_id": "9" * 600}])
def test_an_event_that_is_not_our_timer_is_refused(store, event):
    with pytest.raises(InvalidTimer):
        escalator(store, Alerts()).fire(event, now=AFTER)


def test_an_incident_timer_escalates_once_for_its_open_members(store):
    # Given an incident with three members: two still open, one answered
    account, incident_id = "acct-1", "inc-20261201T1100-payment-0001"
    store.client.put_item(TableName=store._table, Item=store._item(
        {"pk": f"INCIDENT#{account}", "sk": incident_id, "type": "incident", "incident_id": incident_id}))
    classification = json.dumps({"team": "payments", "priority": "p1"})
    for mid, status in (("2001", "incident"), ("2002", "incident"), ("2003", "answered")):
        put_mention(store, mid, status=status, incident_id=incident_id, classification_json=classification,
                    team=None, priority=None, sla_due=None)
        store.client.put_item(TableName=store._table, Item=store._item(
            {"pk": f"INCIDENT#{incident_id}", "sk": f"MEMBER#x#{mid}", "type": "incident_member"}))
    event = {"v": 1, "kind": "incident", "account_id": account, "incident_id": incident_id,
             "sla_due": "2026-12-01T12:00:00Z"}
    alerts, metrics = Alerts(), []
    # When its one timer fires, twice
    first = escalator(store, alerts, metrics).fire(event, now=AFTER)
    second = escalator(store, alerts, metrics).fire(event, now=AFTER)
    # Then one escalation, for the two open members, on the team of their classification
    assert first == {"outcome": "escalated", "open_members": 2, "late_seconds": 75} and second == {"outcome": "already"}
    ((doc, _message, _subject),) = alerts.published
    assert doc["incident"] == {"incident_id": incident_id, "open_members": 2}
    assert (doc["team"], doc["priority"]) == ("payments", "p1")
    # And each open member records the breach; the answered one does not
    assert store.get_mention("x", "2001")["sla_breached_at"] and store.get_mention("x", "2002")["sla_breached_at"]
    assert "sla_breached_at" not in store.get_mention("x", "2003")
    assert metrics == [("payments", "p1", 2)]


def test_an_incident_escalates_on_the_team_its_members_keep_as_attributes(store):
    # Given an incident whose open member was recorded with the routing's team and priority as attributes (the
    # members of earlier versions kept them as JSON, above)
    account, incident_id = "acct-1", "inc-20261201T1100-payment-0002"
    store.client.put_item(TableName=store._table, Item=store._item(
        {"pk": f"INCIDENT#{account}", "sk": incident_id, "type": "incident", "incident_id": incident_id}))
    put_mention(store, "2101", status="incident", incident_id=incident_id, team="payments", priority="p2",
                sla_due=None)
    store.client.put_item(TableName=store._table, Item=store._item(
        {"pk": f"INCIDENT#{incident_id}", "sk": "MEMBER#x#2101", "type": "incident_member"}))
    event = {"v": 1, "kind": "incident", "account_id": account, "incident_id": incident_id,
             "sla_due": "2026-12-01T12:00:00Z"}
    alerts = Alerts()
    # When its timer fires
    assert escalator(store, alerts).fire(event, now=AFTER)["outcome"] == "escalated"
    # Then the escalation goes to that team at that priority
    ((doc, _message, _subject),) = alerts.published
    assert (doc["team"], doc["priority"]) == ("payments", "p2")


def test_an_incident_whose_members_were_all_answered_does_not_escalate(store):
    account, incident_id = "acct-2", "inc-20261201T1100-late-0002"
    store.client.put_item(TableName=store._table, Item=store._item(
        {"pk": f"INCIDENT#{account}", "sk": incident_id, "type": "incident", "incident_id": incident_id}))
    put_mention(store, "3001", status="handled", incident_id=incident_id)
    store.client.put_item(TableName=store._table, Item=store._item(
        {"pk": f"INCIDENT#{incident_id}", "sk": "MEMBER#x#3001", "type": "incident_member"}))
    alerts = Alerts()
    result = escalator(store, alerts).fire({"v": 1, "kind": "incident", "account_id": account,
                                            "incident_id": incident_id}, now=AFTER)
    assert result == {"outcome": "answered"} and alerts.published == []


def test_the_breach_metric_is_emf_in_the_responder_namespace_by_team_and_priority(capsys):
    from responder.sla.escalate import emit_breaches

    # When one breach is counted
    emit_breaches("billing", "p1", 1)
    # Then CloudWatch receives SlaBreaches=1 under Responder, by team and priority and in the totals (no dimension)
    # that the breach-rate alarm reads
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Responder"
    assert directive["Metrics"] == [{"Name": "SlaBreaches", "Unit": "Count"}]
    assert [sorted(d) for d in directive["Dimensions"]] == [["priority", "team"], []]
    assert (line["SlaBreaches"], line["team"], line["priority"]) == ([1.0], "billing", "p1")
