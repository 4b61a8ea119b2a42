"""Setting an SLA timer: one EventBridge Scheduler one-time schedule at a mention's (or an incident's) due time.

The schedule (`at(yyyy-mm-ddThh:mm:ss)` in UTC, FlexibleTimeWindow OFF, ActionAfterCompletion DELETE) invokes the sla
function with `{"v": 1, "kind": "mention", "channel", "mention_id"}` or `{"v": 1, "kind": "incident", "account_id",
"incident_id"}`. Its name is a hash of that key: a step run again (a retry, a redelivered message) gets
ConflictException, which means the timer is already set. An answered mention keeps its timer: when it fires, the
sla function reads the mention and does nothing (one invocation, $0.000001, instead of a DeleteSchedule per answer).

Setting a timer never fails triage: an error is logged (`sla timer not set`) and the notification goes out. Scheduler
quotas (EventBridge Scheduler user guide, "Quotas"): CreateSchedule up to 5,000/s in large Regions and less
elsewhere, 10 M schedules per Region; incident members get no timer of their own, the incident has one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from responder.core.model import log_ref
from responder.core.observability import logger

ENV_SCHEDULE_GROUP = "SLA_GROUP"
ENV_TARGET_ARN = "SLA_TARGET_ARN"
ENV_ROLE_ARN = "SLA_ROLE_ARN"
ENV_MIN_LEAD_SECONDS = "SLA_TIMER_MIN_LEAD_SECONDS"
# Scheduler invokes one-time schedules with 60-second precision (user guide, "Schedule types"); an `at()` already in
# the past is not a timer one can count on, so a mention notified after its due time gets a timer a minute out.
DEFAULT_MIN_LEAD_SECONDS = 60
NAME_MAX_CHARS = 64  # CreateSchedule: Name, 1-64 characters [0-9a-zA-Z-_.]
EVENT_VERSION = 1
KIND_MENTION = "mention"
KIND_INCIDENT = "incident"


@dataclass(frozen=True)
class TimerSettings:
    group: str
    target_arn: str
    role_arn: str
    min_lead_seconds: int = DEFAULT_MIN_LEAD_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TimerSettings | None:
        """The timers' settings, or None when the stack gives this function no timers to set."""
        env = os.environ if env is None else env
        group, target, role = env.get(ENV_SCHEDULE_GROUP), env.get(ENV_TARGET_ARN), env.get(ENV_ROLE_ARN)
        if not (group and target and role):
            return None
        try:
            lead = int(env.get(ENV_MIN_LEAD_SECONDS) or DEFAULT_MIN_LEAD_SECONDS)
        except ValueError:
            lead = DEFAULT_MIN_LEAD_SECONDS
        return cls(group=group, target_arn=target, role_arn=role, min_lead_seconds=max(lead, 0))


def timer_input(kind: str, **key: str) -> dict[str, Any]:
    return {"v": EVENT_VERSION, "kind": kind, **key}


def schedule_name(payload: Mapping[str, Any]) -> str:
    """A deterministic name for the timer of one key: `sla-` and a SHA-256 of the key, 64 characters at most."""
    key = json.dumps({k: payload[k] for k in sorted(payload)}, separators=(",", ":"), ensure_ascii=True)
    return ("sla-" + hashlib.sha256(key.encode()).hexdigest())[:NAME_MAX_CHARS]


def parse_due(value: Any) -> datetime:
    """An ISO 8601 time (`Z` or an offset) as an aware UTC datetime; ValueError otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("sla_due must be an ISO 8601 time")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("sla_due must carry its time zone")
    return moment.astimezone(timezone.utc)


def at_expression(due: datetime, now: datetime, min_lead_seconds: int = DEFAULT_MIN_LEAD_SECONDS) -> str:
    """`at(yyyy-mm-ddThh:mm:ss)` in UTC: the due time rounded up to the second, never sooner than the lead."""
    moment = max(due, now + timedelta(seconds=min_lead_seconds))
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({moment.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')})"


class SlaTimers:
    """Creates the one-time schedules (the port; the Scheduler client is built on first use)."""

    def __init__(self, settings: TimerSettings, client: Any = None) -> None:
        self.settings = settings
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from responder.aws.storage import default_client

            self._client = default_client("scheduler", connect_timeout=1.0, read_timeout=3.0, attempts=3)
        return self._client

    def create(self, payload: Mapping[str, Any], due: datetime, now: datetime | None = None) -> str:
        """Set the timer; `created`, or `exists` when a timer of this key was set before (ConflictException)."""
        now = now or datetime.now(timezone.utc)
        try:
            self.client.create_schedule(
                Name=schedule_name(payload), GroupName=self.settings.group,
                ScheduleExpression=at_expression(due, now, self.settings.min_lead_seconds),
                ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE", State="ENABLED",
                Target={"Arn": self.settings.target_arn, "RoleArn": self.settings.role_arn,
                        "Input": json.dumps(dict(payload), separators=(",", ":"))})
        except Exception as exc:
            if _error_code(exc) == "ConflictException":
                return "exists"
            raise
        return "created"


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


def set_mention_timer(timers: SlaTimers | None, mention: Mapping[str, Any], sla_due: Any,
                      now: datetime | None = None) -> str:
    """Set a notified mention's timer: `created`, `exists`, `off` (no timers configured) or `failed` (logged)."""
    if timers is None:
        return "off"
    channel, mention_id = str(mention.get("channel")), str(mention.get("mention_id"))
    return _set(timers, timer_input(KIND_MENTION, channel=channel, mention_id=mention_id), sla_due, now,
                mention=log_ref(channel, mention_id))


def set_incident_timer(timers: SlaTimers | None, account_id: str, incident_id: str, due: Any,
                       now: datetime | None = None) -> str:
    """Set an incident's one timer (its members have none of their own)."""
    if timers is None:
        return "off"
    payload = timer_input(KIND_INCIDENT, account_id=str(account_id), incident_id=str(incident_id), sla_due=str(due))
    return _set(timers, payload, due, now, incident=str(incident_id)[:100])


def _set(timers: SlaTimers, payload: dict[str, Any], due: Any, now: datetime | None, **where: Any) -> str:
    try:
        moment = due if isinstance(due, datetime) else parse_due(due)
        outcome = timers.create(payload, moment, now)
    except Exception as exc:  # noqa: BLE001 - a timer never fails triage; the log line and its metric filter say so
        logger.error("sla timer not set", error=type(exc).__name__, code=_error_code(exc), reason=str(exc)[:200],
                     **where)
        return "failed"
    logger.info("sla timer set", outcome=outcome, due=str(due)[:40], **where)
    return outcome


_timers: SlaTimers | None = None
_read = False


def timers_from_env() -> SlaTimers | None:
    """The container's timers (None when the function sets none), built once."""
    global _timers, _read
    if not _read:
        settings = TimerSettings.from_env()
        _timers, _read = (SlaTimers(settings) if settings else None), True
    return _timers


def reset() -> None:
    """Forget the cached timers (tests and the local stack after changing the environment)."""
    global _timers, _read
    _timers, _read = None, False
