"""Setting SLA timers in moto's EventBridge Scheduler, and the local stack firing them at their time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from responder.sla.timers import (SlaTimers, TimerSettings, at_expression, schedule_name, set_incident_timer,
                                  set_mention_timer)
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
    # Given a timer already set (Route ran, then triage was retried)
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
