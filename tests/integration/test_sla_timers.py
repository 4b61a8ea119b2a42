"""Setting SLA timers in moto's EventBridge Scheduler, and the local stack firing them at their time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from responder.sla.timers import (SlaTimers, TimerSettings, at_expression, schedule_name, set_incident_timer,
                                  set_mention_timer, set_route_timer)
from responder_cli.local.metering import Meter
from responder_cli.local.timers import LocalScheduler, due_time

NOW = datetime(2026, 12, 1, 11, 0, 0, tzinfo=timezone.utc)
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:SlaFunction"
ROLE = "arn:aws:iam::123456789012:role/sla-scheduler"


@pytest.fixture
def scheduler():
    with mock_aws():
        client = boto3.client("scheduler", region_name="us-east-1")
        client.create_schedule_group(Name="timers")
        yield client


@pytest.fixture
def timers(scheduler):
    return SlaTimers(TimerSettings(group="timers", target_arn=TARGET, role_arn=ROLE), client=scheduler)


def test_a_notified_mention_gets_a_one_time_schedule_at_its_due_time(scheduler, timers):
    # Given a mention notified at 11:00 and due at 12:00:00
    mention = {"channel": "x", "mention_id": "1860000000000000001"}
    # When its timer is set
    assert set_mention_timer(timers, mention, "2026-12-01T12:00:00Z", now=NOW) == "created"
    # Then one schedule exists in the group, at the due time in UTC, deleted after it fires, invoking the sla function
    payload = {"v": 1, "kind": "mention", "channel": "x", "mention_id": "1860000000000000001"}
    name = schedule_name(payload)
    schedule = scheduler.get_schedule(GroupName="timers", Name=name)
    assert schedule["ScheduleExpression"] == "at(2026-12-01T12:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == TARGET and schedule["Target"]["RoleArn"] == ROLE
    assert json.loads(schedule["Target"]["Input"]) == payload
    # And its name is deterministic, short and in Scheduler's alphabet
    assert name == schedule_name(dict(reversed(list(payload.items()))))
    assert len(name) <= 64 and all(ch.isalnum() or ch in "-_." for ch in name)


def test_setting_the_same_timer_again_is_success_and_leaves_one_schedule(scheduler, timers):
    # Given a timer already set (Draft routed the mention, then triage was retried)
    mention = {"channel": "x", "mention_id": "1860000000000000002"}
    set_mention_timer(timers, mention, "2026-12-01T12:00:00Z", now=NOW)
    # When it is set again: Scheduler answers ConflictException, which means it is there
    assert set_mention_timer(timers, mention, "2026-12-01T12:00:00Z", now=NOW) == "exists"
    # Then there is one schedule
    assert len(scheduler.list_schedules(GroupName="timers")["Schedules"]) == 1


def test_a_timer_that_cannot_be_set_never_fails_triage(scheduler):
    # Given timers pointing at a group that does not exist (or Scheduler refusing)
    broken = SlaTimers(TimerSettings(group="missing", target_arn=TARGET, role_arn=ROLE), client=scheduler)
    # When a timer is set, then the caller gets `failed` and no exception
    assert set_mention_timer(broken, {"channel": "x", "mention_id": "3"}, "2026-12-01T12:00:00Z", now=NOW) == "failed"
    assert set_mention_timer(broken, {"channel": "x", "mention_id": "3"}, "not a time", now=NOW) == "failed"
    assert set_mention_timer(None, {"channel": "x", "mention_id": "3"}, "2026-12-01T12:00:00Z") == "off"


def test_a_mention_already_past_due_gets_a_timer_a_lead_away():
    # Given a due time already passed when the mention is notified
    due = NOW - timedelta(minutes=5)
    # Then the timer is set the lead after now (Scheduler's `at()` in the past is no timer), rounded up to the second
    assert at_expression(due, NOW, 60) == "at(2026-12-01T11:01:00)"
    assert at_expression(NOW + timedelta(seconds=10, microseconds=5), NOW, 0) == "at(2026-12-01T11:00:11)"


def test_an_incident_gets_one_timer_of_its_own(scheduler, timers):
    assert set_incident_timer(timers, "acct", "inc-1", "2026-12-01T11:15:00Z", now=NOW) == "created"
    (summary,) = scheduler.list_schedules(GroupName="timers")["Schedules"]
    schedule = scheduler.get_schedule(GroupName="timers", Name=summary["Name"])
    assert json.loads(schedule["Target"]["Input"]) == {"v": 1, "kind": "incident", "account_id": "acct",
                                                       "incident_id": "inc-1", "sla_due": "2026-12-01T11:15:00Z"}


def test_the_local_scheduler_fires_a_timer_at_its_time_once_and_deletes_it(scheduler, timers):
    # Given the local stack's scheduler over the group, and a timer due at 12:00:00
    template = {"Resources": {"timers": {"Type": "AWS::Scheduler::ScheduleGroup"}}}
    local = LocalScheduler(template, {}, {})
    local.create_groups()
    set_mention_timer(timers, {"channel": "x", "mention_id": "4"}, "2026-12-01T12:00:00Z", now=NOW)
    calls = []
    handlers = {TARGET: lambda event, context: calls.append(event) or {"outcome": "escalated"}}
    due = due_time("at(2026-12-01T12:00:00)")
    # When it checks one second before the due time, then nothing fires
    assert local.fire_due(handlers, lambda name: None, now=due - 1) == 0 and calls == []
    # When it checks at the due time, then the sla handler gets the timer's input, and the schedule is gone
    assert local.fire_due(handlers, lambda name: None, now=due) == 1
    assert calls == [{"v": 1, "kind": "mention", "channel": "x", "mention_id": "4"}]
    assert scheduler.list_schedules(GroupName="timers")["Schedules"] == []
    assert local.fire_due(handlers, lambda name: None, now=due + 5) == 0 and len(calls) == 1


def test_the_local_scheduler_keeps_a_timer_whose_invocation_failed_and_retries_it(scheduler, timers):
    template = {"Resources": {"timers": {"Type": "AWS::Scheduler::ScheduleGroup"}}}
    local = LocalScheduler(template, {}, {})
    local.create_groups()
    set_mention_timer(timers, {"channel": "x", "mention_id": "5"}, "2026-12-01T12:00:00Z", now=NOW)
    attempts = []

    def flaky(event, context):
        attempts.append(event)
        if len(attempts) == 1:
            raise ConnectionError("SNS unreachable")
        return {"outcome": "escalated"}

    due = due_time("at(2026-12-01T12:00:00)")
    # When the first invocation fails, then the schedule stays and is tried again after the retry delay
    assert local.fire_due({TARGET: flaky}, lambda name: None, now=due) == 0
    assert len(scheduler.list_schedules(GroupName="timers")["Schedules"]) == 1
    assert local.fire_due({TARGET: flaky}, lambda name: None, now=due + 1) == 0 and len(attempts) == 1
    assert local.fire_due({TARGET: flaky}, lambda name: None, now=due + 10) == 1 and len(attempts) == 2
    assert scheduler.list_schedules(GroupName="timers")["Schedules"] == []


# --- minute buckets (set_route_timer) -------------------------------------------------------------------------------


def notified(mention_id: str, received_at: str, created_at: str | None = None) -> dict[str, str]:
    return {"channel": "x", "mention_id": mention_id, "received_at": received_at,
            "created_at": created_at or received_at}


def routed(created_at: str, minutes: int) -> dict:
    due = datetime.fromisoformat(created_at.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return {"sla_minutes": minutes, "sla_due": due.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def schedules(scheduler) -> list[dict]:
    found = []
    for summary in scheduler.list_schedules(GroupName="timers")["Schedules"]:
        schedule = scheduler.get_schedule(GroupName="timers", Name=summary["Name"])
        found.append({"at": schedule["ScheduleExpression"], "input": json.loads(schedule["Target"]["Input"])})
    return sorted(found, key=lambda s: (s["at"], json.dumps(s["input"], sort_keys=True)))


def test_two_mentions_of_one_minute_and_rule_share_one_schedule_at_the_end_of_the_minute_plus_the_rule(scheduler,
                                                                                                     timers):
    # Given two mentions received in the minute 11:00 (at :05 and :58), both under a 60-minute rule
    first, second = notified("11", "2026-12-01T11:00:05.200Z"), notified("12", "2026-12-01T11:00:58.900Z")
    # When Draft, routing them, sets their timers
    assert set_route_timer(timers, first, routed(first["created_at"], 60), now=NOW) == "created"
    assert set_route_timer(timers, second, routed(second["created_at"], 60), now=NOW) == "exists"
    # Then one schedule is set: the bucket's, at 11:01 + 60 min + the tolerance, after both due times
    assert schedules(scheduler) == [{"at": "at(2026-12-01T12:01:05)", "input": {
        "v": 1, "kind": "bucket", "account_id": "brand", "minute": "2026-12-01T11:00", "sla_minutes": 60}}]
    # And another container (no memory of it) finds it set: ConflictException, still one schedule
    other = SlaTimers(timers.settings, client=scheduler)
    assert set_route_timer(other, second, routed(second["created_at"], 60), now=NOW) == "exists"
    assert len(schedules(scheduler)) == 1


def test_the_container_remembers_its_buckets_and_calls_scheduler_once_per_bucket(scheduler, timers):
    # Given a Scheduler client that counts the creates
    calls = []
    real = scheduler.create_schedule

    def counting(**kwargs):
        calls.append(kwargs["Name"])
        return real(**kwargs)

    timers._client = type("Counting", (), {"create_schedule": staticmethod(counting)})()
    # When ten mentions of one bucket are routed
    for n in range(10):
        mention = notified(f"2{n}", f"2026-12-01T11:00:{n:02d}Z")
        assert set_route_timer(timers, mention, routed(mention["created_at"], 60), now=NOW) in ("created", "exists")
    # Then Scheduler was asked once
    assert len(calls) == 1


def test_another_rule_or_another_minute_is_another_bucket(scheduler, timers):
    # Given three mentions: 11:00 under 60 min, 11:00 under 30 min, 11:01 under 60 min
    for mention_id, received, minutes in (("31", "2026-12-01T11:00:10Z", 60), ("32", "2026-12-01T11:00:20Z", 30),
                                          ("33", "2026-12-01T11:01:00Z", 60)):
        mention = notified(mention_id, received)
        assert set_route_timer(timers, mention, routed(received, minutes), now=NOW) == "created"
    # Then three schedules, each bucket at its own time
    found = schedules(scheduler)
    assert [(s["at"], s["input"]["minute"], s["input"]["sla_minutes"]) for s in found] == [
        ("at(2026-12-01T11:31:05)", "2026-12-01T11:00", 30), ("at(2026-12-01T12:01:05)", "2026-12-01T11:00", 60),
        ("at(2026-12-01T12:02:05)", "2026-12-01T11:01", 60)]


@pytest.mark.parametrize(("received_at", "created_at"), [
    # posted 2 minutes before it reached the webhook: its bucket would escalate it ~3 minutes after its due time
    ("2026-12-01T11:00:10Z", "2026-12-01T10:58:10Z"),
    # posted 36 s before its minute: due 11:59:34, the bucket at 12:01:05, 91 s later, just over the 90 s allowed
    ("2026-12-01T11:00:10Z", "2026-12-01T10:59:34Z"),
    (None, "2026-12-01T11:00:10Z"), ("yesterday", "2026-12-01T11:00:10Z"),
    # posted 6 s "after" it was received at 11:00:59 (the platform's clock ahead): due 12:01:05.5, after its bucket
    ("2026-12-01T11:00:59Z", "2026-12-01T11:01:05.500Z"),
])
def test_a_mention_a_bucket_would_escalate_too_late_keeps_a_timer_of_its_own(scheduler, timers, received_at,
                                                                             created_at):
    # Given a mention whose bucket would fire more than 90 s after its due time, or whose receipt time is unknown
    mention = {"channel": "x", "mention_id": "41", "created_at": created_at,
               **({"received_at": received_at} if received_at else {})}
    route = routed(created_at, 60)
    # When Draft, routing it, sets its timer
    assert set_route_timer(timers, mention, route, now=NOW) == "created"
    # Then it is the mention's own timer, at its due time, as before buckets
    (schedule,) = schedules(scheduler)
    assert schedule["input"] == {"v": 1, "kind": "mention", "channel": "x", "mention_id": "41"}
    assert schedule["at"] == at_expression(datetime.fromisoformat(route["sla_due"].replace("Z", "+00:00")), NOW)


@pytest.mark.parametrize("created_at", ["2026-12-01T11:00:10", "2026-12-01t11:00:10z"])
def test_a_mention_whose_bucket_could_not_tell_its_rule_keeps_a_timer_of_its_own(scheduler, timers, created_at):
    # Given a mention whose creation time routing reads but the bucket's fire would not (no time zone; a lowercase
    # designator), due 60 minutes after it
    mention = {"channel": "x", "mention_id": "44", "created_at": created_at, "received_at": "2026-12-01T11:00:12Z"}
    route = {"team": "support", "priority": "p2", "sla_minutes": 60, "sla_due": "2026-12-01T12:00:10Z"}
    # When Draft, routing it, sets its timer, then it is the mention's own: in the bucket it would never be found due
    assert set_route_timer(timers, mention, route, now=NOW) == "created"
    (schedule,) = schedules(scheduler)
    assert schedule["input"]["kind"] == "mention"


def test_a_mention_received_up_to_90_s_before_its_bucket_fires_joins_it(scheduler, timers):
    # Given a mention posted 35 s before its minute: due 11:59:35, its bucket at 12:01:05, 90 s exactly
    mention = notified("42", "2026-12-01T11:00:10Z", "2026-12-01T10:59:35Z")
    # When Draft, routing it, sets its timer, then it joins the bucket
    assert set_route_timer(timers, mention, routed(mention["created_at"], 60), now=NOW) == "created"
    (schedule,) = schedules(scheduler)
    assert schedule["input"]["kind"] == "bucket"


@pytest.mark.parametrize(("minutes", "kind"), [(1, "mention"), (2, "mention"), (3, "bucket")])
def test_a_bucket_firing_before_the_workflow_may_have_recorded_the_mention_is_not_joined(scheduler, timers, minutes,
                                                                                       kind):
    # Given a mention received at 11:00:00 and routed at once (NOW): its bucket fires at 11:01:05 + the rule
    mention = notified("43", "2026-12-01T11:00:00Z")
    # When its rule is 1 or 2 minutes (the bucket would fire at 11:02:05 or 11:03:05, within the workflow's
    # 150 s + 60 s: 11:03:30), or 3 (11:04:05, after it)
    assert set_route_timer(timers, mention, routed(mention["created_at"], minutes), now=NOW) == "created"
    # Then only the 3-minute rule joins a bucket; the others keep their own timers
    (schedule,) = schedules(scheduler)
    assert schedule["input"]["kind"] == kind


def test_a_refused_create_is_not_metered_as_a_scheduled_invocation(scheduler, timers):
    # Given the demo's meter over botocore
    meter = Meter()
    meter.install()
    try:
        # When the same bucket is set by two containers: one create, one ConflictException
        mention = notified("51", "2026-12-01T11:00:10Z")
        assert set_route_timer(timers, mention, routed(mention["created_at"], 60), now=NOW) == "created"
        other = SlaTimers(timers.settings, client=scheduler)
        assert set_route_timer(other, mention, routed(mention["created_at"], 60), now=NOW) == "exists"
    finally:
        meter.uninstall()
    # Then one scheduled invocation is counted
    assert meter.schedules_created == 1


def test_the_local_scheduler_fires_a_bucket_with_the_target_s_arn_in_the_context(scheduler, timers):
    # Given a bucket set in the local stack's group
    template = {"Resources": {"timers": {"Type": "AWS::Scheduler::ScheduleGroup"}}}
    local = LocalScheduler(template, {}, {})
    local.create_groups()
    mention = notified("52", "2026-12-01T11:00:10Z")
    set_route_timer(timers, mention, routed(mention["created_at"], 60), now=NOW)
    calls = []

    class Context:
        invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:responder-webhook-local"

    handlers = {TARGET: lambda event, context: calls.append((event, context.invoked_function_arn)) or {}}
    # When its time comes, then the sla handler gets the bucket's event, invoked as the target function
    assert local.fire_due(handlers, lambda name: Context(), now=due_time("at(2026-12-01T12:01:05)")) == 1
    assert calls == [({"v": 1, "kind": "bucket", "account_id": "brand", "minute": "2026-12-01T11:00",
                       "sla_minutes": 60}, TARGET)]
