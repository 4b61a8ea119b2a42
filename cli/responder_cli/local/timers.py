"""The local stack's EventBridge Scheduler: moto stores the SLA timers (CreateSchedule) but never fires them; a thread
here does, at their `at()` time, by calling the sla function's handler in this process, then deletes the schedule
(as ActionAfterCompletion DELETE does). A handler that raises keeps its schedule and is tried again later, as
Scheduler's retry policy would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from responder_cli.local.template import LOCAL_ACCOUNT, LOCAL_REGION

_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
CHECK_INTERVAL_SECONDS = 1.0
RETRY_SECONDS = 5.0  # a failed invocation is tried again this much later (Scheduler backs off too)
LOCAL_ROLE_NAME = "local-sla-scheduler"


def schedule_groups(template: dict[str, Any]) -> list[str]:
    return [lid for lid, r in template.get("Resources", {}).items() if r.get("Type") == "AWS::Scheduler::ScheduleGroup"]


def scheduler_roles(template: dict[str, Any]) -> list[str]:
    """The roles Scheduler assumes (their ARNs are passed to CreateSchedule by the functions)."""
    found = []
    for lid, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        statements = (resource.get("Properties", {}).get("AssumeRolePolicyDocument") or {}).get("Statement") or []
        if any((s.get("Principal") or {}).get("Service") == "scheduler.amazonaws.com" for s in statements):
            found.append(lid)
    return found


def due_time(expression: str) -> float | None:
    """The epoch second of an `at(...)` expression in UTC, or None for any other expression."""
    match = _AT.fullmatch(expression or "")
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


class LocalScheduler:
    """Creates the template's schedule groups in moto and fires their one-time schedules when due."""

    def __init__(self, template: dict[str, Any], refs: dict[str, str], arns: dict[str, str]) -> None:
        self.groups = schedule_groups(template)
        for logical_id in self.groups:
            refs[logical_id] = logical_id
        for logical_id in scheduler_roles(template):
            arns[logical_id] = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{LOCAL_ROLE_NAME}"
        self.fired: list[dict[str, Any]] = []  # what fired: name, due, fired_at, outcome (for tests and benches)
        self._retry_at: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._client: Any = None

    def create_groups(self) -> None:
        import boto3

        self._client = boto3.client("scheduler", region_name=LOCAL_REGION)
        existing = {g["Name"] for g in self._client.list_schedule_groups().get("ScheduleGroups", [])}
        for name in self.groups:
            if name not in existing:
                self._client.create_schedule_group(Name=name)

    def start(self, handlers: dict[str, Callable[..., Any]], context_factory: Callable[[str], Any],
              echo: Callable[[str], None] | None = None, interval: float = CHECK_INTERVAL_SECONDS) -> None:
        """`handlers`: a target function's ARN → its handler."""
        self._thread = threading.Thread(target=self._loop, args=(handlers, context_factory, echo, interval),
                                        name="local-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self, handlers: dict[str, Callable[..., Any]], context_factory: Callable[[str], Any],
              echo: Callable[[str], None] | None, interval: float) -> None:
        while not self._stopping.wait(interval):
            try:
                self.fire_due(handlers, context_factory, echo)
            except Exception as exc:  # noqa: BLE001 - moto stopping or briefly failing: the next tick tries again
                if echo and not self._stopping.is_set():
                    echo(f"[sla] cannot read the timers: {type(exc).__name__}")

    def fire_due(self, handlers: dict[str, Callable[..., Any]], context_factory: Callable[[str], Any],
                 echo: Callable[[str], None] | None = None, now: float | None = None) -> int:
        """Invoke every schedule whose `at()` time has come; returns how many fired successfully."""
        fired = 0
        for group in self.groups:
            for summary in self._client.list_schedules(GroupName=group).get("Schedules", []):
                name = summary["Name"]
                schedule = self._client.get_schedule(GroupName=group, Name=name)
                due = due_time(schedule.get("ScheduleExpression", ""))
                clock = time.time() if now is None else now
                if due is None or clock < max(due, self._retry_at.get(name, 0.0)):
                    continue
                target = schedule.get("Target") or {}
                handler = handlers.get(target.get("Arn", ""))
                if handler is None:
                    continue
                context = context_factory("sla")
                if context is not None:
                    # As deployed: the invocation carries the function's ARN (a bucket's continuation targets it).
                    context.invoked_function_arn = target.get("Arn", "")
                try:
                    result = handler(json.loads(target.get("Input") or "{}"), context)
                except Exception as exc:  # noqa: BLE001 - as Scheduler: keep the schedule, retry later
                    self._retry_at[name] = clock + RETRY_SECONDS
                    if echo:
                        echo(f"[sla] timer {name} failed ({type(exc).__name__}); retrying in {RETRY_SECONDS:g} s")
                    continue
                self._client.delete_schedule(GroupName=group, Name=name)  # ActionAfterCompletion: DELETE
                self._retry_at.pop(name, None)
                self.fired.append({"name": name, "due": due, "fired_at": time.time(),
                                   "outcome": (result or {}).get("outcome")})
                fired += 1
                if echo and (result or {}).get("outcome") == "escalated":
                    echo(f"[sla] SLA breached: escalated ({(result or {}).get('late_seconds')} s late)")
        return fired
