"""The agents' notifications as SNS per-protocol messages: the JSON document for machines, readable text for people.

SNS delivers one entry of a `MessageStructure: json` message per subscription protocol (SNS developer guide,
"Publishing with message formats per protocol"): `default` (required; what https, sqs and lambda subscribers get
here) is the JSON document as before, plus `actions.review_url`; `email` is plain text a person reads; `sms` one line
with the link, at most SMS_MAX_BYTES. The e-mail subject is plain ASCII of at most SUBJECT_MAX_CHARS (SNS Publish API:
"Subject ... no line breaks or control characters ... less than 100 characters").

Every part is cut to a bound, and building it is linear in the texts: a hostile mention or author name costs no more
than its own length, and the whole message stays far below SNS's 256 KiB.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from responder.core.model import PRIVATE_KINDS

# SNS sends at most 1,600 bytes per SMS publish (longer is split into several messages or refused; SNS developer
# guide, "Publishing SMS messages").
SMS_MAX_BYTES = 1_600
SUBJECT_MAX_CHARS = 99  # "less than 100 characters" (SNS Publish API, Subject)
# The e-mail shows this much of the mention; the review page shows all of it.
EMAIL_TEXT_MAX_CHARS = 1_000
EMAIL_DRAFT_MAX_CHARS = 2_000
SMS_TEXT_MAX_CHARS = 120
LINE_MAX_CHARS = 200  # names, handles, teams, reasons: one line each
MAX_REASONS = 10
ELLIPSIS = "…"

CHANNEL_NAMES = {"x": "X", "facebook": "Facebook", "instagram": "Instagram", "messenger": "Messenger",
                 "whatsapp": "WhatsApp"}
KIND_NAMES = {"mention": "mention", "reply": "reply", "quote": "quote post", "comment": "comment",
              "dm": "direct message", "message": "message"}

# C0/C1 controls, DEL, line and paragraph separators, bidi overrides and isolates: nothing that can reorder, hide or
# break the lines an agent reads. Tabs and newlines are handled by the callers (kept in blocks, folded in lines).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - len(ELLIPSIS), 0)] + ELLIPSIS


def line(value: Any, limit: int = LINE_MAX_CHARS) -> str:
    """One line of text: controls removed, all whitespace folded to single spaces, cut to `limit` characters."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text[: limit * 4]  # folding only shortens; a bounded prefix keeps the work linear in `limit`
    return _cut(_SPACES.sub(" ", _CONTROL.sub(" ", text)).strip(), limit)


def block(value: Any, limit: int) -> str:
    """A multi-line text: controls removed, line breaks kept (at most two in a row), cut to `limit` characters."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = _CONTROL.sub(" ", text[: limit * 2].replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return _cut(text, limit)


def ascii_line(value: str, limit: int) -> str:
    """`value` as printable ASCII (accents folded, other characters dropped), cut to `limit` characters."""
    folded = unicodedata.normalize("NFKD", value[: limit * 4]).encode("ascii", "ignore").decode("ascii")
    folded = _SPACES.sub(" ", re.sub(r"[^\x20-\x7e]", " ", folded)).strip()
    return folded if len(folded) <= limit else folded[: limit - 3].rstrip() + "..."


def fit_bytes(text: str, max_bytes: int) -> str:
    """`text` cut (on a character boundary, with an ellipsis) to at most `max_bytes` of UTF-8."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode("utf-8"))
    return encoded[:room].decode("utf-8", "ignore") + ELLIPSIS


def is_private(mention: Mapping[str, Any]) -> bool:
    return mention.get("kind") in PRIVATE_KINDS


def _who(author: Mapping[str, Any] | None, name_limit: int = 80) -> str:
    author = author or {}
    name, handle = line(author.get("name"), name_limit), line(author.get("handle"), 40)
    if name and handle:
        return f"{name} (@{handle})"
    return name or (f"@{handle}" if handle else f"user {line(author.get('id'), 40)}")


def _where(mention: Mapping[str, Any]) -> str:
    channel = CHANNEL_NAMES.get(str(mention.get("channel")), line(mention.get("channel"), 20))
    kind = KIND_NAMES.get(str(mention.get("kind")), line(mention.get("kind"), 20))
    return f"{channel} {kind}"


def document(mention: Mapping[str, Any], classification: Mapping[str, Any], route: Mapping[str, Any],
             draft: Mapping[str, Any], thread: Mapping[str, Any] | None, actions: Mapping[str, Any] | None,
             review_url: str | None) -> dict[str, Any]:
    """The JSON document https, sqs and lambda subscribers receive (the `default` entry)."""
    shown_draft = {"text": draft.get("text"), "language": draft.get("language")}
    if "drafted_by" in draft:  # which drafted it: only a model backend says
        shown_draft["drafted_by"] = draft["drafted_by"]
    return {
        "mention": dict(mention),
        "classification": dict(classification),
        "route": {"team": route.get("team"), "priority": route.get("priority"), "sla_due": route.get("sla_due"),
                  "reasons": list(route.get("reasons") or [])},
        "draft": shown_draft,
        "thread": dict(thread or {}),
        "actions": {**(actions or {}), **({"review_url": review_url} if review_url else {})},
    }


def email_text(doc: Mapping[str, Any]) -> str:
    """The readable e-mail of a mention's notification document."""
    mention, route = doc.get("mention") or {}, doc.get("route") or {}
    classification, draft = doc.get("classification") or {}, doc.get("draft") or {}
    actions, thread = doc.get("actions") or {}, doc.get("thread") or {}
    review_url = actions.get("review_url")
    private = is_private(mention)
    text = mention.get("text") or ""
    shown = block(text, EMAIL_TEXT_MAX_CHARS)
    full_length = mention.get("text_length") or len(text)
    where = _where(mention)
    article = "an" if where[:1] in ("A", "E", "I", "O", "X") else "a"  # "an X post", "an Instagram comment"
    lines = [
        f"{_who(mention.get('author'))} wrote {article} {where}"
        + (" (private: keep it out of shared channels)." if private else "."),
        "",
        f"Priority: {line(route.get('priority'), 10)}   Team: {line(route.get('team'), 60)}   "
        f"SLA due: {line(route.get('sla_due'), 40)}",
        f"Received: {line(mention.get('created_at'), 40)}",
        f"Classified: {line(classification.get('intent'), 30)}, {line(classification.get('sentiment'), 30)}, "
        f"topic {line(classification.get('topic'), 40)}, language {line(classification.get('language'), 35)}",
    ]
    if thread.get("mention_count"):
        lines.append(f"Thread: {line(thread.get('mention_count'), 12)} message(s) so far")
    lines += ["", "What they said:", shown or "(no text yet)"]
    if full_length > EMAIL_TEXT_MAX_CHARS or mention.get("text_truncated"):
        lines.append(f"[{ELLIPSIS} {line(full_length, 12)} characters in all"
                     + (": the review page shows the whole text]" if review_url else "]"))
    lines += ["", "Draft reply" + (" (edit it and send it from the review page):" if review_url else ":"),
              block(draft.get("text"), EMAIL_DRAFT_MAX_CHARS) or "(no draft)"]
    reasons = [line(r, LINE_MAX_CHARS) for r in list(route.get("reasons") or [])[:MAX_REASONS]]
    if reasons:
        lines += ["", "Why this route:", *(f"- {r}" for r in reasons)]
    lines.append("")
    if review_url:
        lines.append(f"Review and reply: {review_url}")
    if actions.get("open"):
        lines.append(f"Open on {CHANNEL_NAMES.get(str(mention.get('channel')), 'the platform')}: "
                     f"{line(actions['open'], 400)}")
    return "\n".join(lines).rstrip() + "\n"


def sms_text(doc: Mapping[str, Any]) -> str:
    """One line for SMS: priority, team, who and where, a short excerpt (public posts only), the link."""
    mention, route = doc.get("mention") or {}, doc.get("route") or {}
    review_url = (doc.get("actions") or {}).get("review_url")
    head = (f"Responder {line(route.get('priority'), 10)} {line(route.get('team'), 40)}: "
            f"{_where(mention)} from {_who(mention.get('author'), name_limit=40)}")
    # A private message's words stay off lock screens and carriers' networks; the review page shows them.
    excerpt = "" if is_private(mention) else line(mention.get("text"), SMS_TEXT_MAX_CHARS)
    tail = f" SLA {line(route.get('sla_due'), 40)}." + (f" Review: {review_url}" if review_url else "")
    if excerpt:
        room = SMS_MAX_BYTES - len(head.encode()) - len(tail.encode()) - 4
        head += f': "{fit_bytes(excerpt, max(room, 0))}"' if room > len(ELLIPSIS.encode()) else ""
    return fit_bytes(head + tail, SMS_MAX_BYTES)


def subject(doc: Mapping[str, Any]) -> str:
    """The e-mail subject: priority, team, who and where, and the start of a public text; ASCII, one line."""
    mention, route = doc.get("mention") or {}, doc.get("route") or {}
    head = f"Responder {line(route.get('priority'), 10)} {line(route.get('team'), 40)}: {_where(mention)} from " \
           f"{_who(mention.get('author'))}"
    if not is_private(mention) and mention.get("text"):
        head += f": {line(mention.get('text'), SUBJECT_MAX_CHARS)}"
    return ascii_line(head, SUBJECT_MAX_CHARS) or "Responder notification"


def per_protocol(doc: Mapping[str, Any], email: str, sms: str) -> dict[str, str]:
    """The `MessageStructure: json` message: each entry a string, `default` the compact JSON document."""
    return {"default": json.dumps(doc, ensure_ascii=False, separators=(",", ":")), "email": email, "sms": sms}


def compose(mention: Mapping[str, Any], classification: Mapping[str, Any], route: Mapping[str, Any],
            draft: Mapping[str, Any], thread: Mapping[str, Any] | None, actions: Mapping[str, Any] | None,
            review_url: str | None) -> tuple[dict[str, str], str]:
    """The agents' notification of a mention: the per-protocol message and its e-mail subject."""
    doc = document(mention, classification, route, draft, thread, actions, review_url)
    return per_protocol(doc, email_text(doc), sms_text(doc)), subject(doc)


# --- incident alerts -------------------------------------------------------------------------------------------


def _incident_summary(alert: Mapping[str, Any]) -> str:
    incident = alert.get("incident") or {}
    terms = ", ".join(line(t, 40) for t in list(incident.get("top_terms") or [])[:5])
    kind = "opened" if alert.get("alert") == "opened" else "update"
    return (f"Responder incident {kind}: {line(incident.get('size'), 12)} mentions"
            + (f" about {terms}" if terms else ""))


def incident_email_text(alert: Mapping[str, Any]) -> str:
    """The readable e-mail of an incident alert (opened, or a digest as it grows)."""
    incident = alert.get("incident") or {}
    review_url = (alert.get("actions") or {}).get("review_url")
    mix = ", ".join(f"{line(k, 20)} {line(v, 12)}" for k, v in list((incident.get("sentiment_mix") or {}).items())[:5])
    lines = [f"{_incident_summary(alert)}.", "",
             f"Incident: {line(incident.get('incident_id'), 100)} on account {line(incident.get('account_id'), 100)}",
             f"Opened: {line(incident.get('opened_at'), 40)}   Last seen: {line(incident.get('last_seen_at'), 40)}"]
    if mix:
        lines.append(f"Sentiment: {mix}")
    samples = list(incident.get("samples") or [])[:5]
    if samples:
        lines += ["", "Examples:"]
        lines += [f"- {CHANNEL_NAMES.get(str(s.get('channel')), line(s.get('channel'), 20))}: "
                  f"{line(s.get('text'), 280)}" for s in samples if isinstance(s, Mapping)]
    statement = alert.get("holding_statement")
    statement = statement.get("text") if isinstance(statement, Mapping) else statement
    lines += ["", "Holding statement to review before posting it:", block(statement, 2_000) or "(none)"]
    if review_url:
        lines += ["", f"Review the mention that raised it: {review_url}"]
    return "\n".join(lines).rstrip() + "\n"


def compose_incident_alert(alert: Mapping[str, Any], review_url: str | None) -> tuple[dict[str, str], str]:
    """An incident alert as a per-protocol message and its subject; `actions.review_url` opens the review page of
    the mention that raised it."""
    doc = {**alert, "actions": {**(alert.get("actions") or {}), **({"review_url": review_url} if review_url else {})}}
    summary = _incident_summary(doc)
    sms = fit_bytes(summary + "." + (f" Review: {review_url}" if review_url else ""), SMS_MAX_BYTES)
    return per_protocol(doc, incident_email_text(doc), sms), ascii_line(summary, SUBJECT_MAX_CHARS)


# --- the review link -------------------------------------------------------------------------------------------


def review_link(mention: Mapping[str, Any], env: Mapping[str, str] | None = None,
                link_for: Callable[..., str | None] | None = None) -> str | None:
    """The mention's review link, or None: no base URL configured, or the review key cannot be read right now (then
    the notification goes out without a link, and the reason is logged; triage never fails for it)."""
    from responder.replies import tokens

    try:
        return (link_for or tokens.link_for)(mention, env)
    except (tokens.ReviewKeyUnavailable, ValueError) as exc:
        from responder.core.model import log_ref
        from responder.core.observability import logger

        logger.warning("notification without a review link", reason=str(exc)[:200],
                       mention=log_ref(str(mention.get("channel")), str(mention.get("mention_id"))))
        return None
