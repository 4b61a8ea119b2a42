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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from responder.core.model import log_ref
from responder.core.observability import logger
from responder.replies.state import OPEN_STATUSES
from responder.sla.timers import KIND_INCIDENT, KIND_MENTION, parse_due
from responder.triage import notify

ALERT_SLA_BREACHED = "sla_breached"
ALERT_SLA_REMINDER = "sla_reminder"
# Longer than the sla function's timeout (30 s): a live invocation's claim never lapses under it.
SLA_CLAIM_SECONDS = 90
# A timer fired this much before its due time is not a breach (Scheduler fires within the minute after `at()`).
EARLY_TOLERANCE_SECONDS = 1
MAX_KEY_CHARS = 512
MAX_INCIDENT_MEMBERS = 5_000  # bounded per invocation; a larger incident's escalation says "at least"
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
        names = {KIND_MENTION: ("channel", "mention_id"), KIND_INCIDENT: ("account_id", "incident_id")}.get(kind)
        if names is None:
            raise InvalidTimer("kind must be mention or incident")
        key = {}
        for name in names:
            value = event.get(name)
            if not isinstance(value, str) or not value or len(value) > MAX_KEY_CHARS or "#" in value:
                raise InvalidTimer(f"{name} must be a non-empty string without '#'")
            key[name] = value
        due = event.get("sla_due")
        if kind == KIND_INCIDENT and isinstance(due, str) and len(due) <= 40:
            key["sla_due"] = due  # an incident's due time travels with its timer
        return cls(kind=str(kind), key=key)


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
                 metric: Callable[[str, str, int], None] = emit_breaches) -> None:
        self.store, self.alerts, self.metric = store, alerts, metric
        self.review_link = review_link or notify.review_link

    def fire(self, event: Any, now: datetime | None = None) -> dict[str, Any]:
        """Handle one timer: `{"outcome": escalated | answered | closed | already | early | missing, ...}`."""
        timer = TimerEvent.parse(event)
        now = now or datetime.now(timezone.utc)
        if timer.kind == KIND_MENTION:
            return self._mention(timer.key["channel"], timer.key["mention_id"], now)
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
            return {"outcome": "already"}  # answered meanwhile, escalated, or another invocation is on it
        doc, message, subject = escalation(claimed, now, self.review_link(claimed))
        self._publish(key, claimed, doc, message, subject, now)
        self.store.alerted(key, now)
        # Counted with the escalation it goes with: once, even when a first publish failed and a retry sent it.
        self.metric(doc["team"], doc["priority"], 1)
        logger.info("sla breached", mention=log_ref(channel, mention_id), team=doc["team"], priority=doc["priority"],
                    late_seconds=doc["late_seconds"])
        return {"outcome": "escalated", "late_seconds": doc["late_seconds"]}

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


def _classification(item: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(item.get("classification_json") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
