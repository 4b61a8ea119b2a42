"""Setting an SLA timer: one EventBridge Scheduler one-time schedule at a mention's (or an incident's) due time.

The schedule (`at(yyyy-mm-ddThh:mm:ss)` in UTC, FlexibleTimeWindow OFF, ActionAfterCompletion DELETE) invokes the sla
function with `{"v": 1, "kind": "mention", "channel", "mention_id"}` or `{"v": 1, "kind": "incident", "account_id",
"incident_id"}`. Its name is a hash of that key: a step run again (a retry, a redelivered message) gets
ConflictException, which means the timer is already set. An answered mention keeps its timer: when it fires, the
sla function reads the mention and does nothing (one invocation, $0.000001, instead of a DeleteSchedule per answer).

A notified mention shares its timer with the mentions of its minute bucket (see `set_route_timer`): one schedule per
(account, minute received, rule minutes) instead of one per mention, `{"v": 1, "kind": "bucket", "account_id",
"minute", "sla_minutes"}`, firing at the end of the minute plus the rule's minutes; the sla function then escalates the
bucket's open, due mentions through the brand's gsi2 listing. A mention for which the bucket would fire too late or
too soon keeps a timer of its own.

Setting a timer never fails triage: an error is logged (`sla timer not set`) and the notification goes out. Scheduler
quotas (EventBridge Scheduler user guide, "Quotas"): CreateSchedule up to 5,000/s in large Regions and less
elsewhere, 10 M schedules per Region; incident members get no timer of their own, the incident has one.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
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
KIND_BUCKET = "bucket"
MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
# A bucket fires this long after its last member's due time: Scheduler's one-time schedules fire within the minute
# after `at()` anyway (user guide, "Schedule types"), and a few seconds cover the clocks of the webhook and Draft.
BUCKET_TOLERANCE_SECONDS = 5
# A member escalates at most this long after its own due time (then Scheduler's minute): a delivery that reached the
# webhook long after it was posted (its due time, from created_at, is early in its bucket) keeps a timer of its own.
BUCKET_MAX_LATE_SECONDS = 90
# A bucket that fires before a member is recorded `notified` (RecordMention, the workflow's last write) would skip it
# and nobody would look again: a member joins only a bucket firing later than the whole triage workflow may still run
# after Draft routed it (infra/constants.py TRIAGE_WORKFLOW_TIMEOUT_SECONDS, 150 s) plus a minute.
BUCKET_MIN_LEAD_SECONDS = 150 + 60
# Buckets this container has set (their schedule names): a repeat costs no CreateSchedule. 4,096 names of 68 bytes
# are ~0.5 MB; one bucket per (minute, rule minutes), so a few dozen a minute at most.
BUCKET_MEMORY = 4_096
MAX_SLA_MINUTES = 60 * 24 * 366  # a rule of more than a year is no SLA (and keeps the arithmetic bounded)


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
        self.buckets = BucketMemory()

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

    def soon(self, payload: Mapping[str, Any], now: datetime) -> str:
        """Set a timer the minimum lead from now (a bucket's continuation): `created` or `exists`."""
        return self.create(payload, now, now)


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


class BucketMemory:
    """The schedule names of the buckets set by this container, the oldest forgotten first (bounded)."""

    def __init__(self, size: int = BUCKET_MEMORY) -> None:
        self.size = size
        self._names: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()  # the local stack runs Draft in several threads

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._names

    def add(self, name: str) -> None:
        with self._lock:
            self._names[name] = None
            self._names.move_to_end(name)
            while len(self._names) > self.size:
                self._names.popitem(last=False)


def bucket_input(account_id: str, minute: datetime, sla_minutes: int, cursor: str | None = None) -> dict[str, Any]:
    """The bucket's event; a continuation (more members than one invocation escalates) carries a cursor too."""
    payload = timer_input(KIND_BUCKET, account_id=str(account_id), minute=minute.strftime(MINUTE_FORMAT))
    payload["sla_minutes"] = int(sla_minutes)
    if cursor is not None:
        payload["cursor"] = cursor
    return payload


def bucket_fire_time(minute: datetime, sla_minutes: int) -> datetime:
    """When the bucket of mentions received in [minute, minute + 60 s) with these rule minutes fires: after the due
    time of each of them (created before received; due = created + rule minutes)."""
    return minute + timedelta(seconds=60 + BUCKET_TOLERANCE_SECONDS, minutes=sla_minutes)


def rule_minutes_match(created_at: Any, sla_due: Any, minutes: int) -> bool:
    """Whether a mention's due time is its creation plus these rule minutes (the test a bucket's fire applies to its
    members: both times readable, routing writing sla_due to the second, so within a second)."""
    try:
        due, created = parse_due(sla_due), parse_due(created_at)
        return abs((due - created) - timedelta(minutes=minutes)) < timedelta(seconds=1)
    except (ValueError, OverflowError):
        return False


def mention_bucket(mention: Mapping[str, Any], route: Mapping[str, Any], now: datetime,
                   account_id: str) -> tuple[dict[str, Any], datetime] | None:
    """The bucket a notified mention joins (its event and fire time), or None when it keeps a timer of its own:
    its times are missing or unreadable (or its due time is not its creation plus the rule's minutes, as the bucket's
    fire checks), the bucket would fire more than BUCKET_MAX_LATE_SECONDS after its due time
    or before it, or sooner than BUCKET_MIN_LEAD_SECONDS from now."""
    minutes = route.get("sla_minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_SLA_MINUTES:
        return None
    try:
        received, due = parse_due(mention.get("received_at")), parse_due(route.get("sla_due"))
    except (ValueError, OverflowError):
        return None
    if not rule_minutes_match(mention.get("created_at"), route.get("sla_due"), minutes):
        return None  # the bucket's fire would not recognise it as a member of this rule
    minute = received.replace(second=0, microsecond=0)
    fire = bucket_fire_time(minute, minutes)
    if (fire - due).total_seconds() > BUCKET_MAX_LATE_SECONDS:
        return None
    if due > fire:
        # Posted "after" it was received (the platform's clock ahead of ours): due after its bucket fires, it would
        # be found not yet due then, and nobody would look again.
        return None
    if fire < now + timedelta(seconds=BUCKET_MIN_LEAD_SECONDS):
        return None
    return bucket_input(account_id, minute, minutes), fire


def set_route_timer(timers: SlaTimers | None, mention: Mapping[str, Any], route: Mapping[str, Any],
                    now: datetime | None = None, account_id: str | None = None) -> str:
    """The routing's timer for a notified mention (Draft sets it): its minute bucket's (one CreateSchedule per bucket
    and container), or a timer of its own when a bucket would not do (see mention_bucket). `created`, `exists`, `off`
    or `failed`."""
    if timers is None:
        return "off"
    now = now or datetime.now(timezone.utc)
    if account_id is None:
        from responder.surge.incidents import BRAND_KEY

        account_id = BRAND_KEY  # the gsi2 listing the sla function reads the bucket's members from
    bucket = mention_bucket(mention, route, now, account_id)
    if bucket is None:
        return set_mention_timer(timers, mention, route.get("sla_due"), now)
    payload, fire = bucket
    name = schedule_name(payload)
    if name in timers.buckets:
        return "exists"
    outcome = _set(timers, payload, fire, now, bucket=f"{payload['minute']}/{payload['sla_minutes']}")
    if outcome in ("created", "exists"):
        timers.buckets.add(name)
    return outcome


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
