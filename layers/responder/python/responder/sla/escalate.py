"""When an SLA timer fires: escalate a mention (or an incident's members) still unanswered, exactly once.

1. Read the mention. Answered, handled, deleted, archived or never notified: nothing to do (an answered mention's
   timer is left to fire; see responder.sla.timers).
2. ONE conditional UpdateItem claims the escalation: it sets `sla_breached_at` (if not set yet) and a short claim
   (`sla_alert_claimed_until`), only while the mention is open, has no `sla_alerted_at`, and no live claim. A timer
   that fires twice, or two concurrent invocations, find the condition false: one escalation.
3. Publish the escalation (per protocol) on the Escalations topic and a reminder on the agents' topic (filtered on
   `team`), then set `sla_alerted_at` and drop the claim.
If a publish fails, the claim is dropped and the error raised: Scheduler retries the invocation, which finds
`sla_breached_at` set, `sla_alerted_at` missing and no claim, and publishes. A function that dies mid-publish leaves
its claim until SLA_CLAIM_SECONDS pass; a retry after that publishes (at least once, never lost).

An incident's timer covers its members: the escalation lists how many are still open, each open member records
`sla_breached_at` (for the report), and the claim is on the incident item.

A bucket's timer (responder.sla.timers.set_route_timer) covers the mentions received in its minute with its rule
minutes: the brand's gsi2 listing of that minute (keys only), their status and SLA fields (BatchGetItem, a
projection), and for each one notified, not an incident's, not escalated, due, and due by these rule minutes
(sla_due = created_at + minutes), the mention's own escalation above: same read, same claim, same alerts. At most
MAX_BUCKET_ESCALATIONS (or BUCKET_TIME_BUDGET_SECONDS) per invocation; the rest is left to a continuation timer a
minute out, from a cursor (the last gsi2 entry examined).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from responder.core.model import log_ref
from responder.core.observability import logger
from responder.replies.state import OPEN_STATUSES, STATUS_NOTIFIED
from responder.sla.timers import (KIND_BUCKET, KIND_INCIDENT, KIND_MENTION, MAX_SLA_MINUTES, MINUTE_FORMAT,
                                  bucket_fire_time, bucket_input, parse_due, rule_minutes_match, timer_input)
from responder.triage import notify

ALERT_SLA_BREACHED = "sla_breached"
ALERT_SLA_REMINDER = "sla_reminder"
# Longer than the sla function's timeout (30 s): a live invocation's claim never lapses under it.
SLA_CLAIM_SECONDS = 90
# A timer fired this much before its due time is not a breach (Scheduler fires within the minute after `at()`).
EARLY_TOLERANCE_SECONDS = 1
MAX_KEY_CHARS = 512
MAX_INCIDENT_MEMBERS = 5_000  # bounded per invocation; a larger incident's escalation says "at least"
# A bucket's invocation escalates at most this many mentions, and starts no new one after this many seconds (the sla
# function's timeout is 30 s, infra/constants.py SLA_TIMEOUT_SECONDS; one escalation is ~6 calls, a read, three
# writes and two publishes); and it reads at most MAX_BUCKET_LISTED entries of the listing. The rest: a continuation.
MAX_BUCKET_ESCALATIONS = 200
BUCKET_TIME_BUDGET_SECONDS = 20.0
MAX_BUCKET_LISTED = 2_000
_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
BUCKET_FIELDS = "pk, sk, gsi2sk, #s, channel, mention_id, created_at, sla_due, sla_alerted_at, incident_id"
MENTION_FIELDS = ("platform", "channel", "kind", "mention_id", "thread_id", "account_id", "author", "text",
                  "created_at", "received_at", "lang", "status", "team", "priority", "sentiment", "intent", "topic",
                  "incident_id", "sla_due")


class InvalidTimer(ValueError):
    """A timer event that is not one this project sets."""


@dataclass(frozen=True)
class TimerEvent:
    kind: str
    key: dict[str, str]

    @classmethod
    def parse(cls, event: Any) -> TimerEvent:
        if not isinstance(event, Mapping) or event.get("v") != 1:
            raise InvalidTimer("expected {\"v\": 1, \"kind\": ...}")
        kind = event.get("kind")
        names = {KIND_MENTION: ("channel", "mention_id"), KIND_INCIDENT: ("account_id", "incident_id"),
                 KIND_BUCKET: ("account_id", "minute")}.get(kind)
        if names is None:
            raise InvalidTimer("kind must be mention, incident or bucket")
        key = {}
        for name in names:
            value = event.get(name)
            if not isinstance(value, str) or not value or len(value) > MAX_KEY_CHARS or "#" in value:
                raise InvalidTimer(f"{name} must be a non-empty string without '#'")
            key[name] = value
        if kind == KIND_BUCKET:
            key.update(_bucket_key(event, key["minute"]))
        due = event.get("sla_due")
        if kind == KIND_INCIDENT and isinstance(due, str) and len(due) <= 40:
            key["sla_due"] = due  # an incident's due time travels with its timer
        return cls(kind=str(kind), key=key)


def _bucket_key(event: Mapping[str, Any], minute: str) -> dict[str, str]:
    """A bucket's minute, rule minutes and cursor, checked: the minute a real one, the minutes a whole number in the
    rules' range, the cursor a gsi2 sort key of that minute."""
    if not _MINUTE.fullmatch(minute):
        raise InvalidTimer("minute must be YYYY-MM-DDTHH:MM")
    try:
        datetime.strptime(minute, MINUTE_FORMAT)
    except ValueError as exc:
        raise InvalidTimer("minute must be a real minute") from exc
    minutes = event.get("sla_minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_SLA_MINUTES:
        raise InvalidTimer("sla_minutes must be a whole number of minutes, at least 1")
    try:
        # The minute after it and its fire time must be times too (9999-12-31T23:59 has none).
        bucket_fire_time(datetime.strptime(minute, MINUTE_FORMAT).replace(tzinfo=timezone.utc), minutes)
    except OverflowError as exc:
        raise InvalidTimer("minute is too late for a timer") from exc
    key = {"sla_minutes": str(minutes)}
    cursor = event.get("cursor")
    if cursor is not None:
        if not isinstance(cursor, str) or len(cursor) > MAX_KEY_CHARS or not cursor.startswith(minute + ":"):
            raise InvalidTimer("cursor must be a listing entry of the bucket's minute")
        key["cursor"] = cursor
    return key


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SlaStore:
    """The reads and the conditional writes of the escalation, on the single table (client built on first use)."""

    def __init__(self, mentions: Any) -> None:
        self.mentions = mentions  # responder.aws.storage.DynamoMentionStore

    def _update(self, key: dict[str, str], **kwargs: Any) -> dict[str, Any] | None:
        m = self.mentions
        try:
            answer = m._call(m.client.update_item, TableName=m._table, Key=m._item(key), **kwargs)
        except Exception as exc:
            if _error_code(exc) == "ConditionalCheckFailedException" or \
                    "ConditionalCheckFailed" in type(exc).__name__:
                return None
            raise
        return m._plain(answer.get("Attributes") or {})

    def get(self, key: dict[str, str]) -> dict[str, Any] | None:
        m = self.mentions
        item = m._call(m.client.get_item, TableName=m._table, Key=m._item(key), ConsistentRead=True).get("Item")
        return m._plain(item) if item else None

    def claim(self, key: dict[str, str], now: datetime, open_only: bool) -> dict[str, Any] | None:
        """The item after claiming its escalation, or None when another invocation has it or it is done."""
        condition = ("attribute_exists(pk) AND attribute_not_exists(sla_alerted_at) AND "
                     "(attribute_not_exists(sla_alert_claimed_until) OR sla_alert_claimed_until < :now)")
        values: dict[str, Any] = {":now": _iso(now), ":until": _iso(now + timedelta(seconds=SLA_CLAIM_SECONDS))}
        names = {}
        if open_only:
            condition += " AND #s IN (" + ", ".join(f":s{i}" for i in range(len(OPEN_STATUSES))) + ")"
            values.update({f":s{i}": s for i, s in enumerate(OPEN_STATUSES)})
            names["#s"] = "status"
        return self._update(key, UpdateExpression="SET sla_breached_at = if_not_exists(sla_breached_at, :now), "
                                                  "sla_alert_claimed_until = :until",
                            ConditionExpression=condition, ReturnValues="ALL_NEW",
                            ExpressionAttributeValues=self.mentions._item(values),
                            **({"ExpressionAttributeNames": names} if names else {}))

    def mark_breached(self, key: dict[str, str], now: datetime) -> bool:
        """An incident member still open records `sla_breached_at` (once)."""
        values = {":now": _iso(now), **{f":s{i}": s for i, s in enumerate(OPEN_STATUSES)}}
        done = self._update(key, UpdateExpression="SET sla_breached_at = :now",
                            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(sla_breached_at) AND "
                                                "#s IN (" + ", ".join(f":s{i}" for i in range(len(OPEN_STATUSES)))
                                                + ")",
                            ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues=self.mentions._item(values), ReturnValues="NONE")
        return done is not None

    # The bookkeeping below is guarded by the item's existence: an item that expired (TTL) or was never stored must
    # not be recreated as a stub without `expires_at`, which would then never expire.
    def alerted(self, key: dict[str, str], now: datetime) -> None:
        self._update(key, UpdateExpression="SET sla_alerted_at = :now REMOVE sla_alert_claimed_until",
                     ConditionExpression="attribute_exists(pk)",
                     ExpressionAttributeValues=self.mentions._item({":now": _iso(now)}))

    def escalated(self, key: dict[str, str], now: datetime) -> None:
        self._update(key, UpdateExpression="SET sla_escalated_at = :now", ConditionExpression="attribute_exists(pk)",
                     ExpressionAttributeValues=self.mentions._item({":now": _iso(now)}))

    def release(self, key: dict[str, str]) -> None:
        self._update(key, UpdateExpression="REMOVE sla_alert_claimed_until", ConditionExpression="attribute_exists(pk)")

    def bucket_listing(self, account_id: str, minute: datetime, after: str | None,
                       limit: int | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """The mentions received in [minute, minute + 60 s) listed after the cursor `after` (gsi2, every partition the
        account was ever listed in), oldest first, with their status and SLA fields; at most `limit` of them, and the
        cursor to continue from when more are left (None otherwise)."""
        from responder.aws.storage import account_partitions

        m, limit = self.mentions, limit or MAX_BUCKET_LISTED
        low = after or f"{minute.strftime(MINUTE_FORMAT)}:00Z"
        high = f"{(minute + timedelta(minutes=1)).strftime(MINUTE_FORMAT)}:00Z"  # every entry of it sorts after
        entries: list[dict[str, Any]] = []
        complete_to: str | None = None  # entries up to here are all read, in every partition
        for partition in account_partitions(account_id):
            items, more = m._window(partition, low, high, limit + 1)
            items = [i for i in items if after is None or i["gsi2sk"]["S"] > after]
            if more and items:
                last = items[-1]["gsi2sk"]["S"]
                complete_to = last if complete_to is None else min(complete_to, last)
            entries += items
        entries.sort(key=lambda i: i["gsi2sk"]["S"])
        if complete_to is not None:
            entries = [i for i in entries if i["gsi2sk"]["S"] <= complete_to]
        more = complete_to is not None or len(entries) > limit
        entries = entries[:limit]
        cursor = entries[-1]["gsi2sk"]["S"] if more and entries else None
        found = [m._plain(i) for i in m._batch_get([{"pk": i["pk"], "sk": i["sk"]} for i in entries], BUCKET_FIELDS)]
        found.sort(key=lambda i: str(i.get("gsi2sk", "")))  # BatchGetItem answers in no particular order
        return found, cursor

    def members(self, incident_id: str, limit: int = MAX_INCIDENT_MEMBERS) -> list[dict[str, str]]:
        """The incident's member keys (channel, mention_id), at most `limit`."""
        m, found, start = self.mentions, [], None
        while len(found) < limit:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = m._call(m.client.query, TableName=m._table,
                           KeyConditionExpression="pk = :pk AND begins_with(sk, :member)",
                           ExpressionAttributeValues=m._item({":pk": f"INCIDENT#{incident_id}", ":member": "MEMBER#"}),
                           ProjectionExpression="sk", **kwargs)
            for item in page.get("Items", []):
                _, channel, mention_id = m._plain(item)["sk"].split("#", 2)
                found.append({"channel": channel, "mention_id": mention_id})
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return found[:limit]


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


# --- the messages ------------------------------------------------------------------------------------------------


def shown_mention(item: Mapping[str, Any]) -> dict[str, Any]:
    """The mention's public fields for the escalation; a private message's words stay out (the review page shows
    them), a public text is cut to notify.SMS_TEXT_MAX_CHARS * 2."""
    shown = {k: item[k] for k in MENTION_FIELDS if k in item}
    if notify.is_private(item):
        shown.pop("text", None)
    elif isinstance(shown.get("text"), str):
        shown["text"] = notify.line(shown["text"], notify.SMS_TEXT_MAX_CHARS * 2)
    return shown


def escalation(item: Mapping[str, Any], now: datetime, review_url: str | None,
               open_members: int | None = None) -> tuple[dict[str, Any], dict[str, str], str]:
    """The `sla_breached` document, its per-protocol message and its subject."""
    due = item.get("sla_due")
    try:
        late = max(int((now - parse_due(due)).total_seconds()), 0)
    except ValueError:
        late = None
    team, priority = str(item.get("team") or "support"), str(item.get("priority") or "p3")
    doc: dict[str, Any] = {"alert": ALERT_SLA_BREACHED, "mention": shown_mention(item), "team": team,
                           "priority": priority, "sla_due": due, "late_seconds": late,
                           "actions": {"review_url": review_url} if review_url else {}}
    if open_members is not None:
        doc["incident"] = {"incident_id": item.get("incident_id"), "open_members": open_members}
    minutes = "" if late is None else f" {late // 60} min late"
    where = notify._where(item)
    what = (f"incident with {open_members} unanswered mention(s)" if open_members is not None
            else f"{where} from {notify._who(item.get('author'))}")
    head = f"Responder SLA breached{minutes}: {notify.line(priority, 10)} {notify.line(team, 40)}: {what}"
    lines = [f"{head}.", "", f"SLA due: {notify.line(due, 40)}   Received: {notify.line(item.get('created_at'), 40)}",
             "Nobody has answered it yet."]
    text = doc["mention"].get("text")
    if text:
        lines += ["", "What they said:", text]
    if review_url:
        lines += ["", f"Review and reply: {review_url}"]
    sms = notify.fit_bytes(head + "." + (f" Review: {review_url}" if review_url else ""), notify.SMS_MAX_BYTES)
    message = notify.per_protocol(doc, "\n".join(lines) + "\n", sms)
    return doc, message, notify.ascii_line(head, notify.SUBJECT_MAX_CHARS)


class SnsSlaAlerts:
    """Publishes the escalation on the Escalations topic and the reminder on the agents' topic."""

    def __init__(self, escalation_topic_arn: str, agent_topic_arn: str, client: Any = None) -> None:
        self.escalation_topic_arn, self.agent_topic_arn = escalation_topic_arn, agent_topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from responder.aws.storage import default_client

            self._client = default_client("sns", connect_timeout=1.0, read_timeout=3.0, attempts=3)
        return self._client

    def escalate(self, doc: Mapping[str, Any], message: Mapping[str, str], subject: str) -> None:
        """The escalation, on the Escalations topic."""
        attributes = {"alert": ALERT_SLA_BREACHED, "team": doc["team"], "priority": doc["priority"]}
        self._publish(self.escalation_topic_arn, message, subject, attributes)

    def remind(self, doc: Mapping[str, Any], message: Mapping[str, str], subject: str) -> None:
        """The reminder to the team, on the agents' topic (their subscriptions filter on `team`)."""
        attributes = {"alert": ALERT_SLA_REMINDER, "team": doc["team"], "priority": doc["priority"]}
        reminder_doc = {**doc, "alert": ALERT_SLA_REMINDER}
        reminder = {**message, "default": json.dumps(reminder_doc, ensure_ascii=False, separators=(",", ":"))}
        self._publish(self.agent_topic_arn, reminder, subject, attributes)

    def _publish(self, topic: str, message: Mapping[str, str], subject: str, attributes: Mapping[str, str]) -> None:
        self.client.publish(TopicArn=topic, Message=json.dumps(dict(message), ensure_ascii=False),
                            MessageStructure="json", Subject=subject,
                            MessageAttributes={k: {"DataType": "String", "StringValue": str(v)[:256]}
                                               for k, v in attributes.items()})


def emit_breaches(team: str, priority: str, count: int) -> None:
    """`SlaBreaches` per team and priority, and in the totals the breach-rate alarm reads (responder.core.metrics)."""
    from responder.core.metrics import SLA_BREACHES, metrics

    metrics.count(SLA_BREACHES, count, team=team[:250] or "support", priority=priority[:250] or "p3")
    metrics.flush()


# --- firing -------------------------------------------------------------------------------------------------------


class SlaEscalator:
    """What a fired timer does (see the module's docstring); the store, the alerts and the metric are ports."""

    def __init__(self, store: SlaStore, alerts: Any,
                 review_link: Callable[[Mapping[str, Any]], str | None] | None = None,
                 metric: Callable[[str, str, int], None] = emit_breaches,
                 continuation: Callable[[dict[str, Any], datetime], str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 own_timer: Callable[[dict[str, Any], datetime, datetime], str] | None = None) -> None:
        self.store, self.alerts, self.metric = store, alerts, metric
        self.review_link = review_link or notify.review_link
        # Sets a bucket's continuation timer (payload, now) -> `created` | `exists`; raises when it cannot.
        self.continuation, self.clock = continuation, clock
        # Sets a mention's own timer (payload, due, now) -> `created` | `exists`: for a bucket's member the bucket cannot
        # settle now (not due yet, another invocation's claim on it, or its escalation failed).
        self.own_timer = own_timer

    def fire(self, event: Any, now: datetime | None = None) -> dict[str, Any]:
        """Handle one timer: `{"outcome": escalated | answered | closed | already | early | missing, ...}`."""
        timer = TimerEvent.parse(event)
        now = now or datetime.now(timezone.utc)
        if timer.kind == KIND_MENTION:
            result = self._mention(timer.key["channel"], timer.key["mention_id"], now)
            result.pop("claim_refused", None)  # (a bucket's concern: its member gets a timer of its own)
            return result
        if timer.kind == KIND_BUCKET:
            return self._bucket(timer.key, now)
        return self._incident(timer.key["account_id"], timer.key["incident_id"], now, timer.key.get("sla_due"))

    def _mention(self, channel: str, mention_id: str, now: datetime) -> dict[str, Any]:
        from responder.aws.storage import mention_key

        key = mention_key(channel, mention_id)
        item = self.store.get(key)
        outcome = self._precheck(item, now)
        if outcome is not None:
            return {"outcome": outcome}
        claimed = self.store.claim(key, now, open_only=True)
        if claimed is None:
            # Answered meanwhile, escalated, or another invocation is on it (which may die before it publishes).
            return {"outcome": "already", "claim_refused": True}
        doc, message, subject = escalation(claimed, now, self.review_link(claimed))
        self._publish(key, claimed, doc, message, subject, now)
        self.store.alerted(key, now)
        # Counted with the escalation it goes with: once, even when a first publish failed and a retry sent it.
        self.metric(doc["team"], doc["priority"], 1)
        logger.info("sla breached", mention=log_ref(channel, mention_id), team=doc["team"], priority=doc["priority"],
                    late_seconds=doc["late_seconds"])
        return {"outcome": "escalated", "late_seconds": doc["late_seconds"]}

    def _bucket(self, key: Mapping[str, str], now: datetime) -> dict[str, Any]:
        """Escalate the bucket's open, due members of its rule minutes, each through `_mention` (its claim)."""
        started = self.clock()
        minute = datetime.strptime(key["minute"], MINUTE_FORMAT).replace(tzinfo=timezone.utc)
        minutes = int(key["sla_minutes"])
        listed, cursor = self.store.bucket_listing(key["account_id"], minute, key.get("cursor"))
        escalated = examined = 0
        unsettled: list[str] = []  # members neither escalated nor given a timer of their own
        for item in listed:
            if examined and (escalated >= MAX_BUCKET_ESCALATIONS
                             or self.clock() - started >= BUCKET_TIME_BUDGET_SECONDS):
                # Where this invocation stops: the next one starts after the last member examined.
                cursor = str(listed[examined - 1]["gsi2sk"])
                break
            examined += 1
            state = _bucket_member(item, minutes, now)
            if state is None:
                continue
            channel, mention_id = str(item["channel"]), str(item["mention_id"])
            if state == "later":
                # Due after its bucket fired (a clock ahead of ours): nobody would look again.
                self._settle_later(item, parse_due(item.get("sla_due")), now, unsettled)
                continue
            try:
                outcome = self._mention(channel, mention_id, now)
            except Exception as exc:  # noqa: BLE001 - one member's failure must not cost the rest of the bucket
                logger.warning("sla bucket member not escalated", mention=log_ref(channel, mention_id),
                               error=type(exc).__name__)
                self._settle_later(item, now, now, unsettled)
                continue
            escalated += outcome.get("outcome") == "escalated"
            if outcome.get("claim_refused"):
                # Another invocation's live claim (it may die before it publishes): look again once it has lapsed.
                self._settle_later(item, now + timedelta(seconds=SLA_CLAIM_SECONDS + 30), now, unsettled)
        result: dict[str, Any] = {"outcome": "bucket", "listed": len(listed), "escalated": escalated}
        if cursor is not None:
            result["continued"] = self._continue(key, minute, minutes, cursor, now)
        if unsettled:
            # After the continuation: the retry runs this part of the bucket again (what is escalated is claimed).
            raise RuntimeError(f"{len(unsettled)} bucket member(s) neither escalated nor given a timer of their own")
        return result

    def _settle_later(self, item: Mapping[str, Any], due: datetime, now: datetime, unsettled: list[str]) -> None:
        """Give one member a timer of its own at `due` (at least a minute out); noted in `unsettled` if it cannot."""
        channel, mention_id = str(item["channel"]), str(item["mention_id"])
        try:
            outcome = (self.own_timer(timer_input(KIND_MENTION, channel=channel, mention_id=mention_id), due, now)
                       if self.own_timer is not None else "off")
        except Exception as exc:  # noqa: BLE001 - counted in `unsettled`, which fails the invocation
            outcome = type(exc).__name__
        if outcome not in ("created", "exists"):
            unsettled.append(log_ref(channel, mention_id))

    def _continue(self, key: Mapping[str, str], minute: datetime, minutes: int, cursor: str, now: datetime) -> str:
        if self.continuation is None:
            raise RuntimeError("a bucket has more members than one invocation escalates and no continuation is set")
        payload = bucket_input(key["account_id"], minute, minutes, cursor)
        outcome = self.continuation(payload, now)
        if outcome not in ("created", "exists"):
            # Scheduler retries this invocation: what it escalated is claimed, the rest is not forgotten.
            raise RuntimeError(f"bucket continuation not set: {outcome}")
        logger.info("sla bucket continued", minute=key["minute"], sla_minutes=minutes, outcome=outcome)
        return outcome

    def _precheck(self, item: Mapping[str, Any] | None, now: datetime) -> str | None:
        if item is None:
            return "missing"
        if item.get("sla_alerted_at"):
            return "already"
        if item.get("status") not in OPEN_STATUSES:
            return "answered" if item.get("status") == "answered" else "closed"
        if not item.get("sla_due"):
            return None  # a member of an incident has no due time of its own: its incident's timer decides
        try:
            due = parse_due(item.get("sla_due"))
        except ValueError:
            # Unreadable (never written so by triage): escalate rather than keep quiet about a mention past its timer.
            logger.warning("sla_due unreadable; escalating", mention=log_ref(str(item.get("channel")),
                                                                             str(item.get("mention_id"))))
            return None
        return "early" if now < due - timedelta(seconds=EARLY_TOLERANCE_SECONDS) else None

    def _publish(self, key: dict[str, str], item: Mapping[str, Any], doc: Mapping[str, Any],
                 message: Mapping[str, str], subject: str, now: datetime) -> None:
        """The escalation, recorded as soon as it is out (`sla_escalated_at`), then the team's reminder: a retry after
        a failed reminder sends the reminder only, never a second escalation."""
        try:
            if not item.get("sla_escalated_at"):
                self.alerts.escalate(doc, message, subject)
                self.store.escalated(key, now)
            self.alerts.remind(doc, message, subject)
        except Exception:
            # Scheduler retries the invocation; without the claim, the retry publishes what is missing.
            self.store.release(key)
            raise

    def _incident(self, account_id: str, incident_id: str, now: datetime, due: str | None) -> dict[str, Any]:
        from responder.aws.storage import mention_key

        key = {"pk": f"INCIDENT#{account_id}", "sk": incident_id}
        incident = self.store.get(key)
        if incident is None:
            return {"outcome": "missing"}
        if incident.get("sla_alerted_at"):
            return {"outcome": "already"}
        members = self.store.members(incident_id)
        open_items = []
        for ref in members:
            item = self.store.get(mention_key(ref["channel"], ref["mention_id"]))
            if item is not None and item.get("status") in OPEN_STATUSES:
                open_items.append(item)
        if not open_items:
            return {"outcome": "answered"}
        claimed_incident = self.store.claim(key, now, open_only=False)
        if claimed_incident is None:
            return {"outcome": "already"}
        breached = sum(self.store.mark_breached(mention_key(i["channel"], i["mention_id"]), now) for i in open_items)
        first = open_items[0]
        classification = _classification(first)
        shown = {**first, "incident_id": incident_id, "sla_due": due or first.get("sla_due"),
                 "team": first.get("team") or classification.get("team"),
                 "priority": first.get("priority") or classification.get("priority") or "p1"}
        doc, message, subject = escalation(shown, now, self.review_link(first), open_members=len(open_items))
        self._publish(key, claimed_incident, doc, message, subject, now)
        self.store.alerted(key, now)
        if breached:
            self.metric(doc["team"], doc["priority"], breached)
        logger.info("sla breached", incident=incident_id[:100], open_members=len(open_items), team=doc["team"])
        return {"outcome": "escalated", "open_members": len(open_items), "late_seconds": doc["late_seconds"]}


def _bucket_member(item: Mapping[str, Any], minutes: int, now: datetime) -> str | None:
    """Whether a mention of the bucket's listing is this bucket's to escalate: `due`, `later` (due after now: it gets a
    timer of its own), or None: not notified (an incident's member: its incident's timer decides), escalated already,
    or due by other rule minutes (sla_due = created_at + minutes; such a mention has its own bucket, or its own timer
    when its times do not fit one: responder.sla.timers.mention_bucket applies the same test)."""
    if item.get("status") != STATUS_NOTIFIED or item.get("incident_id") or item.get("sla_alerted_at"):
        return None
    if not rule_minutes_match(item.get("created_at"), item.get("sla_due"), minutes):
        return None
    due = parse_due(item.get("sla_due"))
    return "due" if now >= due - timedelta(seconds=EARLY_TOLERANCE_SECONDS) else "later"


def _classification(item: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(item.get("classification_json") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
