"""A minute bucket's timer firing, on DynamoDB Local: the bucket's open, due mentions of its rule minutes escalate,
each exactly once, through the brand's gsi2 listing; a bucket with more than one invocation's share continues."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from responder.aws.storage import account_partition, mention_key
from responder.sla import escalate
from responder.sla.escalate import InvalidTimer, SlaEscalator, SlaStore, TimerEvent

from tests.integration.test_sla_escalation import Alerts


@pytest.fixture
def store(store_on_both_clients):
    """The store on boto3's client and on the JSON-protocol client the functions use deployed (conftest)."""
    return store_on_both_clients

MINUTE = "2026-12-01T11:00"
# The bucket (11:00, 60 min) fires at 12:01:05; every member received in 11:00 and created then is due by 12:01:00.
FIRED = datetime(2026, 12, 1, 12, 1, 5, tzinfo=timezone.utc)
BUCKET = {"v": 1, "kind": "bucket", "account_id": "brand", "minute": MINUTE, "sla_minutes": 60}


def put(store, mention_id: str, second: int = 10, status: str = "notified", minutes: int = 60,
        received: str | None = None, partition: str | None = None, **extra: Any) -> None:
    """A mention received (and created) at 11:00:<second>, due `minutes` later, listed in the brand's gsi2."""
    received = received or f"{MINUTE}:{second:02d}.000000Z"
    created = datetime.fromisoformat(received.replace("Z", "+00:00"))
    due = (created + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    item = {**mention_key("x", mention_id), "type": "mention", "platform": "x", "channel": "x", "kind": "mention",
            "mention_id": mention_id, "thread_id": mention_id, "author": {"id": "42", "handle": "ana"},
            "text": "My order never arrived", "created_at": received, "received_at": received, "status": status,
            "team": "support", "priority": "p2", "sla_due": due,
            "gsi2pk": partition or account_partition("brand", "x", mention_id),
            "gsi2sk": f"{received[:19]}Z#x#{mention_id}", **extra}
    store.client.put_item(TableName=store._table, Item=store._item(item))


def escalator(store, alerts, continued=None, own=None) -> SlaEscalator:
    def continuation(payload, now):
        continued.append(payload)
        return "created"

    def own_timer(payload, due, now):
        (own if own is not None else []).append((payload["mention_id"], due))
        return "created"

    return SlaEscalator(SlaStore(store), alerts, review_link=lambda m: None, metric=lambda *a: None,
                        continuation=continuation if continued is not None else None, own_timer=own_timer)


def escalated_ids(alerts) -> list[str]:
    return sorted(doc["mention"]["mention_id"] for doc, _, _ in alerts.published)


def test_a_bucket_escalates_exactly_its_open_due_members_of_its_rule(store):
    # Given the minute 11:00 of the brand's listing: two open mentions of the 60-minute rule (one listed in the
    # partition of mentions stored before sharding), and every kind of mention that is not the bucket's to escalate
    put(store, "open1", 5)
    put(store, "open2", 59, partition="ACCOUNT#brand")
    put(store, "answered", 20, status="answered")
    put(store, "archived", 21, status="archived")
    put(store, "member", 22, status="incident", incident_id="inc-1")
    put(store, "deleted", 23, status="deleted")
    put(store, "other_rule", 24, minutes=30)
    put(store, "alerted", 25, sla_alerted_at="2026-12-01T12:00:30Z")
    put(store, "next_minute", received="2026-12-01T11:01:00.000000Z")
    put(store, "before", received="2026-12-01T10:59:59.999000Z")
    alerts = Alerts()
    # When the bucket fires
    result = escalator(store, alerts).fire(BUCKET, now=FIRED)
    # Then the two open members escalate, each once; nothing else does, and the answered one stays untouched
    assert escalated_ids(alerts) == ["open1", "open2"]
    assert result == {"outcome": "bucket", "listed": 8, "escalated": 2}
    assert store.get_mention("x", "open2")["sla_breached_at"].startswith("2026-12-01T12:01:05")
    assert "sla_breached_at" not in store.get_mention("x", "answered")
    assert "sla_breached_at" not in store.get_mention("x", "member")


def test_a_member_created_with_a_fraction_of_a_second_is_due_by_its_rule_to_the_second(store):
    # Given a mention created at 11:00:10.750 whose due time routing wrote to the second (12:00:10)
    put(store, "fraction", 10, received=f"{MINUTE}:10.750000Z")
    store.client.update_item(TableName=store._table, Key=store._item(mention_key("x", "fraction")),
                             UpdateExpression="SET sla_due = :due",
                             ExpressionAttributeValues=store._item({":due": "2026-12-01T12:00:10Z"}))
    alerts = Alerts()
    # When the bucket fires, then it escalates it
    assert escalator(store, alerts).fire(BUCKET, now=FIRED)["escalated"] == 1


def test_a_bucket_fired_early_escalates_nobody_not_yet_due(store):
    # Given an open member due at 12:00:40
    put(store, "later", 40)
    alerts = Alerts()
    # When the bucket fires at 12:00:30 (before that due time), then nobody escalates
    assert escalator(store, alerts).fire(BUCKET, now=FIRED - timedelta(seconds=35))["escalated"] == 0
    # And at 12:01:05 it escalates
    assert escalator(store, alerts).fire(BUCKET, now=FIRED)["escalated"] == 1


def test_a_member_due_after_its_bucket_fired_gets_a_timer_of_its_own_at_its_due_time(store):
    # Given an open member due at 12:00:40 (a clock ahead of ours: its bucket fires before it is due)
    put(store, "later", 40)
    own: list = []
    # When the bucket fires at 12:00:30, then nobody escalates, and that member gets its own timer at 12:00:40
    assert escalator(store, Alerts(), own=own).fire(BUCKET, now=FIRED - timedelta(seconds=35))["escalated"] == 0
    assert own == [("later", datetime(2026, 12, 1, 12, 0, 40, tzinfo=timezone.utc))]


def test_one_member_whose_escalation_fails_does_not_cost_the_rest_of_its_bucket(store):
    # Given three open, due members, and SNS refusing the first escalation
    for n in range(3):
        put(store, f"m{n}", 10 + n)
    alerts, own = Alerts(failures=1), []
    # When the bucket fires, then the two others escalate, and the one that failed gets a timer of its own a minute
    # out (its escalation is retried there), and the invocation succeeds (no retry of the whole bucket is needed)
    result = escalator(store, alerts, own=own).fire(BUCKET, now=FIRED)
    assert result["escalated"] == 2 and len(escalated_ids(alerts)) == 2
    assert [(m, due) for m, due in own] == [(sorted({"m0", "m1", "m2"} - set(escalated_ids(alerts)))[0], FIRED)]


def test_a_member_claimed_by_another_invocation_gets_a_timer_for_after_that_claim_lapses(store):
    # Given an open, due member another invocation has claimed (and may die before it publishes)
    put(store, "m0", 10)
    assert SlaStore(store).claim(mention_key("x", "m0"), FIRED, open_only=True) is not None
    alerts, own = Alerts(), []
    # When the bucket fires, then it publishes nothing for it but looks again once that claim has lapsed
    assert escalator(store, alerts, own=own).fire(BUCKET, now=FIRED)["escalated"] == 0
    assert alerts.published == []
    assert own == [("m0", FIRED + timedelta(seconds=escalate.SLA_CLAIM_SECONDS + 30))]


def test_a_member_that_can_be_neither_escalated_nor_timed_fails_the_invocation_after_the_others(store):
    # Given two open, due members, SNS refusing the first escalation, and no timer of its own to be had
    put(store, "m0", 10)
    put(store, "m1", 11)
    alerts = Alerts(failures=1)
    fired = escalator(store, alerts)
    fired.own_timer = lambda payload, due, now: "failed"
    # When the bucket fires, then the other one escalates, and the invocation fails so that it is retried
    with pytest.raises(RuntimeError):
        fired.fire(BUCKET, now=FIRED)
    assert len(escalated_ids(alerts)) == 1
    # And the retry escalates the one left (the escalated one is claimed: not twice)
    assert escalator(store, alerts).fire(BUCKET, now=FIRED)["escalated"] == 1
    assert escalated_ids(alerts) == ["m0", "m1"]


def test_a_bucket_fired_twice_or_concurrently_escalates_each_member_once(store):
    # Given five open members, one of which also holds a timer of its own (set by an earlier version)
    for n in range(5):
        put(store, f"m{n}", 10 + n)
    alerts, barrier, results = Alerts(), threading.Barrier(4), []

    def fire():
        barrier.wait()
        results.append(escalator(store, alerts).fire(BUCKET, now=FIRED))

    # When four invocations of the bucket run at once, the mention's own timer fires, and the bucket fires again later
    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    own = escalator(store, alerts).fire({"v": 1, "kind": "mention", "channel": "x", "mention_id": "m2"}, now=FIRED)
    again = escalator(store, alerts).fire(BUCKET, now=FIRED + timedelta(minutes=10))
    # Then each member escalated once in all
    assert escalated_ids(alerts) == [f"m{n}" for n in range(5)]
    assert sum(r["escalated"] for r in results) == 5
    assert own == {"outcome": "already"} and again["escalated"] == 0


def test_a_bucket_with_more_than_one_invocation_s_share_continues_until_everyone_is_escalated(store, monkeypatch):
    # Given seven open members and at most three escalations per invocation
    monkeypatch.setattr(escalate, "MAX_BUCKET_ESCALATIONS", 3)
    for n in range(7):
        put(store, f"c{n}", 10 + n)
    alerts, continued = Alerts(), []
    # When the bucket fires, then three escalate and a continuation is set after the last one examined
    first = escalator(store, alerts, continued).fire(BUCKET, now=FIRED)
    assert first["escalated"] == 3 and first["continued"] == "created"
    assert continued[-1] == {**BUCKET, "cursor": "2026-12-01T11:00:12Z#x#c2"}
    # When the continuations fire in turn, then the next three, then the last one escalate, and no more continuation
    second = escalator(store, alerts, continued).fire(continued[-1], now=FIRED + timedelta(minutes=1))
    assert second["escalated"] == 3 and continued[-1]["cursor"] == "2026-12-01T11:00:15Z#x#c5"
    third = escalator(store, alerts, continued).fire(continued[-1], now=FIRED + timedelta(minutes=2))
    assert third == {"outcome": "bucket", "listed": 1, "escalated": 1} and len(continued) == 2
    assert escalated_ids(alerts) == [f"c{n}" for n in range(7)]


def test_a_bucket_whose_invocation_runs_out_of_time_continues_after_the_last_member_examined(store):
    # Given three open members and a clock on which each escalation takes 12 s (the budget is 20 s)
    for n in range(3):
        put(store, f"t{n}", 10 + n)
    alerts, continued, ticks = Alerts(), [], iter(range(0, 1000, 12))
    fired = escalator(store, alerts, continued)
    fired.clock = lambda: next(ticks)
    # When the bucket fires, then it stops once 20 s have passed, and continues after the last member it examined
    result = fired.fire(BUCKET, now=FIRED)
    assert result["escalated"] == 2 and continued == [{**BUCKET, "cursor": "2026-12-01T11:00:11Z#x#t1"}]


def test_a_listing_longer_than_one_invocation_reads_continues_from_where_it_stopped(store, monkeypatch):
    # Given five open members in one partition and a listing of at most two entries per invocation
    monkeypatch.setattr(escalate, "MAX_BUCKET_LISTED", 2)
    for n in range(5):
        put(store, f"l{n}", 10 + n, partition="ACCOUNT#brand#00")
    alerts, continued = Alerts(), []
    # When the bucket and its continuations fire until none is set
    event, rounds = BUCKET, 0
    while event is not None and rounds < 10:
        before = len(continued)
        escalator(store, alerts, continued).fire(event, now=FIRED)
        event, rounds = (continued[-1] if len(continued) > before else None), rounds + 1
    # Then everyone escalated once, two per invocation
    assert escalated_ids(alerts) == [f"l{n}" for n in range(5)] and rounds == 3


def test_a_bucket_with_more_to_do_and_no_way_to_continue_fails_so_scheduler_retries(store, monkeypatch):
    # Given two open members, one escalation per invocation, and no continuation timers
    monkeypatch.setattr(escalate, "MAX_BUCKET_ESCALATIONS", 1)
    put(store, "r1", 10)
    put(store, "r2", 11)
    alerts = Alerts()
    # When the bucket fires, then it raises (Scheduler retries) after escalating the first; the retry does the second
    with pytest.raises(RuntimeError):
        escalator(store, alerts).fire(BUCKET, now=FIRED)
    assert escalated_ids(alerts) == ["r1"]
    monkeypatch.setattr(escalate, "MAX_BUCKET_ESCALATIONS", 2)
    escalator(store, alerts).fire(BUCKET, now=FIRED)
    assert escalated_ids(alerts) == ["r1", "r2"]


def test_a_continuation_that_cannot_be_set_fails_the_invocation_so_scheduler_retries(store, monkeypatch):
    # Given two open members, one escalation per invocation, and a continuation that is not set
    monkeypatch.setattr(escalate, "MAX_BUCKET_ESCALATIONS", 1)
    put(store, "f1", 10)
    put(store, "f2", 11)
    fired = escalator(store, Alerts())
    fired.continuation = lambda payload, now: "failed"
    # When the bucket fires, then the invocation fails rather than forget the second member
    with pytest.raises(RuntimeError):
        fired.fire(BUCKET, now=FIRED)


@pytest.mark.parametrize("event", [
    {**BUCKET, "minute": "2026-12-01T11:00:00"}, {**BUCKET, "minute": "2026-13-01T11:00"},
    {**BUCKET, "minute": "2026-12-1T11:00"},
    {**BUCKET, "minute": 1}, {**BUCKET, "sla_minutes": True}, {**BUCKET, "sla_minutes": 0},
    {**BUCKET, "sla_minutes": "60"}, {**BUCKET, "sla_minutes": 10**9}, {**BUCKET, "account_id": "brand#00"},
    {**BUCKET, "cursor": "2026-12-01T11:01:00Z#x#1"}, {**BUCKET, "cursor": 5},
    {**BUCKET, "cursor": MINUTE + ":" + "9" * 600}, {k: v for k, v in BUCKET.items() if k != "sla_minutes"},
    {**BUCKET, "minute": "9999-12-31T23:59"},
])
def test_a_bucket_event_that_is_not_ours_is_refused(event):
    with pytest.raises(InvalidTimer):
        TimerEvent.parse(event)
