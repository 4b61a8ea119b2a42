"""The handlers' SLA hunks: Classify sets one timer when an incident opens; the sla function refuses foreign events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from responder.sla.timers import SlaTimers, TimerSettings
from responder.triage.routing import load_rules
from responder_cli.local.paths import REPO_ROOT
from responder_cli.local.triage import load_module


class Scheduler:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_schedule(self, **kwargs: Any) -> None:
        self.created.append(kwargs)


def _classify(monkeypatch, scheduler: Scheduler) -> Any:
    module = load_module(REPO_ROOT / "functions" / "classify" / "handler.py", "test_classify_handler_sla")
    timers = SlaTimers(TimerSettings(group="g", target_arn="arn:sla", role_arn="arn:role"), client=scheduler)
    monkeypatch.setattr(module, "timers_from_env", lambda: timers)
    return module


OPENED = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)  # due well after the timer's lead


def _result(kind: str) -> dict[str, Any]:
    return {"skip": False, "incident": {"incident_id": "inc-1", "alert": {"alert": kind, "incident": {
        "incident_id": "inc-1", "account_id": "acct", "opened_at": OPENED.strftime("%Y-%m-%dT%H:%M:%SZ")}}}}


def test_an_incident_that_opens_gets_one_timer_due_its_p1_sla_later(monkeypatch):
    # Given Classify's result for a mention that opened an incident, under rules with a 15-minute p1 SLA
    scheduler = Scheduler()
    module = _classify(monkeypatch, scheduler)
    # When the handler's timer hunk runs on it
    module._incident_timer(_result("opened"), load_rules({"sla_minutes": {"p1": 15}}))
    # Then one schedule is created for the incident, at opened + 15 min
    (created,) = scheduler.created
    due = OPENED + timedelta(minutes=15)
    assert created["ScheduleExpression"] == f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})"
    assert json.loads(created["Target"]["Input"]) == {"v": 1, "kind": "incident", "account_id": "acct",
                                                      "incident_id": "inc-1",
                                                      "sla_due": due.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_digest_or_a_member_sets_no_timer(monkeypatch):
    # Given results that did not open an incident: a digest alert, a member joining, an ordinary mention
    scheduler = Scheduler()
    module = _classify(monkeypatch, scheduler)
    for result in (_result("digest"), {"skip": False, "incident": {"incident_id": "inc-1", "alert": None}},
                   {"skip": True}):
        module._incident_timer(result, load_rules())
    # Then no timer is set: members are covered by their incident's one timer
    assert scheduler.created == []


def test_the_sla_function_answers_an_event_that_is_not_its_timer_without_a_retry(monkeypatch):
    module = load_module(REPO_ROOT / "functions" / "sla" / "handler.py", "test_sla_handler")

    class Never:
        def fire(self, event):
            from responder.sla.escalate import TimerEvent

            TimerEvent.parse(event)
            raise AssertionError("parsed a foreign event")

    from responder_cli.local.stack import LambdaContext

    module.configure(Never())
    assert module.handler({"source": "aws.events"}, LambdaContext(function_name="sla")) == {"outcome": "invalid"}


def _draft(monkeypatch, name: str, received: datetime) -> tuple[Any, Scheduler]:
    """The draft handler with its timers, its runtime and its steps replaced: the mention received at `received` is
    routed under a 60-minute rule when Draft is told to notify."""
    module = load_module(REPO_ROOT / "functions" / "draft" / "handler.py", name)
    scheduler = Scheduler()
    timers = SlaTimers(TimerSettings(group="g", target_arn="arn:sla", role_arn="arn:role"), client=scheduler)
    monkeypatch.setattr(module, "timers_from_env", lambda: timers)
    due = (received + timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    draft = {"text": "On it", "template": "complaint", "length": 5}
    monkeypatch.setattr(module, "draft_and_route_step", lambda event, store, voice, rules, drafter: {
        "draft": draft, "route": {"team": "care", "priority": "p3", "sla_minutes": 60, "sla_due": due}})
    monkeypatch.setattr(module, "draft_step", lambda event, store, voice, drafter: {
        "draft": draft, "thread": {}, "actions": {}})
    monkeypatch.setattr(module, "runtime", lambda settings: type(
        "Rt", (), {"rules": None, "store": None, "voice": None, "drafter": None})())
    return module, scheduler


def _received_a_minute_ago() -> tuple[dict[str, Any], datetime]:
    received = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
    stamp = received.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"channel": "x", "mention_id": "7", "created_at": stamp, "received_at": stamp}, received


def test_draft_sets_the_routed_mention_s_bucket_from_its_receipt_and_rule(monkeypatch):
    # Given the draft handler's timers and a mention received a minute ago, routed under a 60-minute rule
    mention, received = _received_a_minute_ago()
    module, scheduler = _draft(monkeypatch, "test_draft_handler_sla", received)
    from responder_cli.local.stack import LambdaContext

    # When Draft runs for it on the paged path (told to notify: it routes too)
    result = module.handler({"mention": mention, "classification": {}, "notify": True},
                            LambdaContext(function_name="draft"))
    # Then the timer set is its minute's bucket for 60 minutes, not one of its own
    (created,) = scheduler.created
    assert json.loads(created["Target"]["Input"]) == {"v": 1, "kind": "bucket", "account_id": "brand",
                                                      "minute": received.strftime("%Y-%m-%dT%H:%M"),
                                                      "sla_minutes": 60}
    assert result["route"]["sla_due"] and result["draft"]["text"] == "On it"


def test_draft_of_an_incident_member_routes_nothing_and_sets_no_timer(monkeypatch):
    # Given the draft handler, and a mention drafted as an incident member (recorded without a page: no `notify`)
    mention, received = _received_a_minute_ago()
    module, scheduler = _draft(monkeypatch, "test_draft_handler_member_sla", received)
    from responder_cli.local.stack import LambdaContext

    # When Draft runs for it
    result = module.handler({"mention": mention, "classification": {}}, LambdaContext(function_name="draft"))
    # Then it is only drafted: no route, no SLA timer (the incident's own timer covers it)
    assert scheduler.created == [] and "route" not in result and result["draft"]["text"] == "On it"


def test_the_sla_function_continues_a_bucket_on_a_timer_invoking_itself(monkeypatch):
    # Given the sla function's environment as the stack sets it (group and role; its own ARN is not in it)
    module = load_module(REPO_ROOT / "functions" / "sla" / "handler.py", "test_sla_handler_continuation")
    for name, value in {"TABLE_NAME": "t", "ESCALATION_TOPIC_ARN": "arn:esc", "AGENT_TOPIC_ARN": "arn:agents",
                        "SLA_GROUP": "g", "SLA_ROLE_ARN": "arn:role"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLA_TARGET_ARN", raising=False)
    from responder_cli.local.stack import LambdaContext

    context = LambdaContext(function_name="sla", invoked_function_arn="arn:aws:lambda:us-east-1:1:function:sla")
    escalator = module._build(module.SlaSettings.from_env(), context)
    scheduler = Scheduler()
    # When it sets a continuation
    escalator.continuation.__self__._client = scheduler
    now = datetime(2026, 12, 1, 12, 1, 5, tzinfo=timezone.utc)
    escalator.continuation({"v": 1, "kind": "bucket", "account_id": "brand", "minute": "2026-12-01T11:00",
                            "sla_minutes": 60, "cursor": "2026-12-01T11:00:12Z#x#c2"}, now)
    # Then the schedule invokes this very function, a minute out, through the Scheduler role
    (created,) = scheduler.created
    assert created["Target"]["Arn"] == "arn:aws:lambda:us-east-1:1:function:sla"
    assert created["Target"]["RoleArn"] == "arn:role" and created["GroupName"] == "g"
    assert created["ScheduleExpression"] == "at(2026-12-01T12:02:05)"
