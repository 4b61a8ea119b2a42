"""The triage workflow's Lambda steps: Classify, and Draft, which applies the routing rules (Route) too. Publishing to
SNS and recording the outcome are Step Functions' direct integrations (see infra/constructs/triage_workflow.py), not
code here.

State passed between steps (all JSON):
- input (from the dispatcher): `{"key": {"channel", "mention_id", "thread_id"}, "attempt": n, "claim": ...}` (the
  message id: carried for the record, triage takes no claim)
- Classify adds `mention` (the stored mention, public fields, its text cut to NOTIFIED_TEXT_MAX_CHARS),
  `classification`, `count` (the minute counters' share: bucket and topic, see responder.triage.dispatch.tally),
  `keys` (DynamoDB keys), `seen` (the `paged_at` and `escalated_at` it read, NOT_SEEN when absent, which the outcome
  write compares) and `skip` (true when the mention is already triaged).
- Draft, for a mention the agents are paged for, adds `draft` and `route` (`draft_and_route_step`: the routing
  rules applied in the same invocation): the team, priority and SLA, and the agents' notification composed
  (`message`, per protocol, and `subject`; see responder.triage.notify), which holds the thread and the actions.
  After it the state keeps only the mention's ids (the SlimMention state): its text then travels once, in the
  notification. For an incident member, which is recorded without a page, Draft adds `draft`, `thread` and
  `actions` (`draft_step`) and routes nothing.

The state holds the mention's text once, and at most NOTIFIED_TEXT_MAX_CHARS of it: Step Functions fails an
execution whose state passes 256 KiB (States.DataLimitExceeded), and the agents' notification, built from the
state, must stay under SNS's 256 KiB message limit. The full text stays in DynamoDB; Draft reads it from there.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from responder.aws.storage import DynamoMentionStore, mention_key, thread_key

# Fields of stored items that are bookkeeping, not part of the mention agents see.
_PRIVATE_FIELDS = ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "type", "status", "triage_claim", "triage_claimed_until",
                   "triage_attempts", "triaged_by")
_GRAPH = "https://graph.facebook.com/v21.0"
# The most of a mention's text the workflow carries and the agents' notification shows. It covers the whole text of
# almost every channel (WhatsApp 4,096, Messenger 2,000, X 280; Facebook comments 8,000 and long X posts 25,000
# are cut), and even as JSON escapes of 4-byte characters (12 bytes each) stays near 60 KB: a quarter of the
# 256 KiB that both a Step Functions state and an SNS message may hold (Step Functions and SNS quotas).
NOTIFIED_TEXT_MAX_CHARS = 5_000
# Classify's `seen` value for a mark the mention does not have: never a time, so it never equals a stored one.
NOT_SEEN = "-"
# An incident member's team and priority when its classification named none: the SLA escalation's own defaults for an
# incident (responder.sla.escalate).
DEFAULT_MEMBER_TEAM = "support"
DEFAULT_MEMBER_PRIORITY = "p1"
TRUNCATION_MARKER = " […]"


def public(item: dict[str, Any] | None) -> dict[str, Any]:
    """A stored item without its keys and bookkeeping attributes."""
    return {k: v for k, v in (item or {}).items() if k not in _PRIVATE_FIELDS}


def notified(mention: dict[str, Any]) -> dict[str, Any]:
    """The mention as the workflow carries it: a text longer than NOTIFIED_TEXT_MAX_CHARS is cut, marked with
    TRUNCATION_MARKER, and `text_truncated` and `text_length` (the full length, in characters) say so."""
    text = mention.get("text")
    if not isinstance(text, str) or len(text) <= NOTIFIED_TEXT_MAX_CHARS:
        return mention
    kept = NOTIFIED_TEXT_MAX_CHARS - len(TRUNCATION_MARKER)
    return {**mention, "text": text[:kept] + TRUNCATION_MARKER, "text_truncated": True, "text_length": len(text)}


def classify_step(event: dict[str, Any], store: DynamoMentionStore, rules: Any,
                  now: datetime | None = None, incidents: Any = None,
                  voice: Any = None, sentiment: Any = None, mention_text: Any = None,
                  review_link: Any = None) -> dict[str, Any]:
    """Read the mention, classify it, and correlate it with the account's surges.

    `mention_text` (responder.platforms.meta.InstagramMentionText) fetches the text of an Instagram @mention, which
    the webhook delivers as ids only; the text is stored on the mention, or `text_fetch_error` says why not.

    `skip` is true when the mention is triaged (or closed, or erased) already. `incident` says whether it joined
    (or opened) an incident, whether it is still paged individually, and carries an incident alert when due.
    With a managed `sentiment` backend (`responder.aws.managed.ComprehendSentiment`) its language and sentiment replace
    the local ones, and the classification's `sources` says where each came from.
    """
    from responder.classification.classify import classify

    key = event["key"]
    now = now or datetime.now(timezone.utc)
    # No claim: one read. The workflow records the outcome with a conditional write before any page, so of two
    # executions for one mention (a duplicate message) only the one that records it pages.
    mention = store.awaiting_triage(key["channel"], key["mention_id"])
    if mention is None:
        return {"skip": True}
    if mention_text is not None and mention.get("channel") == "instagram" and mention.get("kind") == "mention" \
            and not mention.get("text"):
        mention = _fetch_text(mention, store, mention_text, now)
        if mention is None:
            return {"skip": True}  # erased while its text was fetched: nothing left to triage
    local = classify(mention.get("text", ""), lang=mention.get("lang"), author=mention.get("author"),
                     channel=mention.get("channel"), rules=rules)
    # Instagram mention webhooks carry ids only: an empty text is not noise, it is not fetched yet.
    unfetched = not mention.get("text") and mention.get("kind") == "mention"
    surge = incidents is not None and not (local.noise and not unfetched)
    if sentiment is None:
        result = local.to_dict()
    else:
        refined = sentiment.refine(local, mention.get("text", ""), hint=mention.get("lang"),
                                   author=mention.get("author"), rules=rules)
        result = {**refined.classification.to_dict(), "sources": refined.sources}
    if result.get("noise") and unfetched:
        result.update(noise=False, noise_reason=None)
    incident = {"incident_id": None, "member": False, "alert": None, "page": True}
    if surge:
        from responder.surge.correlate import correlate

        # Counted by the dispatcher once this execution has succeeded (`count` below), with the rest of its batch.
        incident = correlate(mention, result, incidents, rules, voice, now=now, deferred=True)
        if incident.get("alert") is not None:
            # The alert's per-protocol message, its review link opening the mention that raised it.
            from responder.triage import notify

            link = (review_link or notify.review_link)(mention)
            message, subject = notify.compose_incident_alert(incident["alert"], link)
            incident.update(alert_message=message, alert_subject=subject)
    count = None
    if surge:
        from responder.surge.correlate import count_of

        # The local classifier's topic, as the counters have always had it (a managed backend refines sentiment).
        count = count_of(mention, local.to_dict(), now)
    return {
        "skip": False,
        # The minute and topic the dispatcher adds this mention to when the execution succeeds
        # (responder.triage.dispatch.tally): one counter write per batch instead of one per mention.
        "count": count,
        "mention": notified(public(mention)),
        "classification": result,
        "incident": incident,
        # Paged by an earlier execution that failed afterwards (MarkFailedAfterPaging): recorded, not paged again.
        "paged": bool(mention.get("paged_at")),
        # Escalated (a p1) by an earlier execution that failed afterwards (MarkFailedAfterEscalating).
        "escalated": bool(mention.get("escalated_at")),
        # What this read saw of those marks ("-": none). The outcome write is refused when another execution has
        # paged (or escalated) the mention since, and failed after it: this execution would page it a second time.
        "seen": {"paged_at": str(mention.get("paged_at") or NOT_SEEN),
                 "escalated_at": str(mention.get("escalated_at") or NOT_SEEN)},
        # What an incident member keeps of its classification (RecordIncidentMember): the SLA escalation's team and
        # priority, as a notified mention keeps them (two attributes; the whole classification kept a member's item
        # over 1 KB, and even a JSON copy of these two pushed a third of members over it).
        "member_route": {"team": str(result.get("team") or DEFAULT_MEMBER_TEAM),
                         "priority": str(result.get("priority") or DEFAULT_MEMBER_PRIORITY)},
        "keys": {"mention": mention_key(mention["channel"], mention["mention_id"]),
                 "thread": thread_key(mention["channel"], mention["thread_id"])},
    }


def _fetch_text(mention: dict[str, Any], store: DynamoMentionStore, fetch: Any,
                now: datetime) -> dict[str, Any] | None:
    from responder.core.model import MAX_TEXT_CHARS
    from responder.platforms.errors import Permanent, PlatformError

    try:
        text = fetch(mention)[:MAX_TEXT_CHARS]
    except PlatformError as exc:
        code = exc.code if isinstance(exc, Permanent) else type(exc).__name__
        error = {"code": code, "reason": str(getattr(exc, "reason", exc)), "at": now.isoformat()}
        if not store.record_fetched_text(mention["channel"], mention["mention_id"], error=error):
            return None
        return {**mention, "text_fetch_error": error}
    if not store.record_fetched_text(mention["channel"], mention["mention_id"], text=text):
        return None
    return {**mention, "text": text}


def draft_step(event: dict[str, Any], store: DynamoMentionStore, voice: Any, drafter: Any = None) -> dict[str, Any]:
    """Draft a reply with the thread's context, and describe how an agent acts on it.

    With a `drafter` (`responder.aws.managed.BedrockDrafter`) a model writes it, and the draft says which drafted it.
    """
    from responder.triage.drafting import draft_reply

    mention = event["mention"]
    if mention.get("text_truncated"):
        # The state carries a cut text; the draft is written from the whole of it.
        full = store.get_mention(mention["channel"], mention["mention_id"]) or {}
        mention = {**mention, "text": full.get("text", mention.get("text"))}
    # The thread as of about a second ago is context enough for a draft (a person reviews it before anything is sent).
    thread = public(store.get_thread(mention["channel"], mention["thread_id"], opener=mention, consistent=False))
    if drafter is not None:
        draft = drafter.draft(mention, event["classification"], thread, voice)
    else:
        draft = draft_reply(mention, event["classification"], thread, voice)
    return {"draft": _as_dict(draft), "thread": thread, "actions": actions_for(mention)}


def route_step(event: dict[str, Any], rules: Any, review_link: Any = None) -> dict[str, Any]:
    """Team, priority and SLA due time from the routing rules, and the agents' notification: `message` (SNS
    per-protocol entries: `default` JSON, `email`, `sms`) and its e-mail `subject`.

    `review_link(mention)` gives the mention's review link or None (default: `responder.triage.notify.review_link`).
    """
    from responder.triage import notify
    from responder.triage.routing import route

    mention = event["mention"]
    routed = _as_dict(route(event["classification"], mention.get("created_at"), rules))
    link = (review_link or notify.review_link)(mention)
    message, subject = notify.compose(mention, event["classification"], routed, event.get("draft") or {},
                                      event.get("thread"), event.get("actions"), link)
    return {**routed, "message": message, "subject": subject}


def draft_and_route_step(event: dict[str, Any], store: DynamoMentionStore, voice: Any, rules: Any,
                         drafter: Any = None, review_link: Any = None) -> dict[str, Any]:
    """The Draft task of a mention the agents are paged for: its draft (`draft_step`), then its route and the
    agents' notification (`route_step`) in the same invocation, one Lambda request instead of two.

    The result keeps the draft (its text is recorded on the mention) and `route`; the thread and the actions travel
    inside the notification only, so the execution's state holds them once.
    """
    drafted = draft_step(event, store, voice, drafter=drafter)
    routed = route_step({"mention": event["mention"], "classification": event["classification"], **drafted}, rules,
                        review_link=review_link)
    return {"draft": drafted["draft"], "route": routed}


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    from dataclasses import asdict

    return asdict(value)


def actions_for(mention: dict[str, Any]) -> dict[str, Any]:
    """How an agent answers this mention: the platform API call to reply, and where to see it."""
    channel, kind, mid = mention["channel"], mention["kind"], mention["mention_id"]
    author = (mention.get("author") or {}).get("id")
    account = mention.get("account_id")
    if channel == "x" and kind == "dm":
        reply = {"method": "POST", "url": f"https://api.x.com/2/dm_conversations/with/{author}/messages",
                 "body": {"text": "<draft>"}}
        return {"reply": reply, "open": f"https://x.com/messages/{mention.get('thread_id')}"}
    if channel == "x":
        reply = {"method": "POST", "url": "https://api.x.com/2/tweets",
                 "body": {"text": "<draft>", "reply": {"in_reply_to_tweet_id": mid}}}
        return {"reply": reply, "open": f"https://x.com/i/web/status/{mid}"}
    if channel == "facebook":  # a comment or a visitor's post: the reply goes under it
        return {"reply": {"method": "POST", "url": f"{_GRAPH}/{mid}/comments", "body": {"message": "<draft>"}},
                "open": f"https://www.facebook.com/{mid}"}
    if channel == "instagram" and kind == "comment":
        return {"reply": {"method": "POST", "url": f"{_GRAPH}/{mid}/replies", "body": {"message": "<draft>"}}}
    if channel in ("messenger", "instagram"):
        # Inside Meta's 24-hour window a RESPONSE is allowed; later only with the HUMAN_AGENT tag (7 days).
        return {"reply": {"method": "POST", "url": f"{_GRAPH}/{account}/messages",
                          "body": {"recipient": {"id": author}, "messaging_type": "RESPONSE",
                                   "message": {"text": "<draft>"}}}}
    if channel == "whatsapp":
        return {"reply": {"method": "POST", "url": f"{_GRAPH}/{account}/messages",
                          "body": {"messaging_product": "whatsapp", "to": author, "context": {"message_id": mid},
                                   "type": "text", "text": {"body": "<draft>"}}}}
    return {}
