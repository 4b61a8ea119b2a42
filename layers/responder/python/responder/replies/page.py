"""The review pages: small, readable without JavaScript, mobile-first, and escaping everything they show.

Every value that came from a platform, a person or the table goes through `esc` (html.escape with quote=True) and
nothing else reaches the markup: the author's name, the mention's text, the thread, the draft (a `</textarea>` in a
draft stays text), the platform's refusal reason. Each response carries its own CSP nonce, so the one inline style
sheet and the live length counter run and nothing injected could.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from responder.replies import limits

# The thread's earlier messages on the page: the last ones, each cut short (a page stays small on a phone).
THREAD_MESSAGES = 20
THREAD_TEXT_CHARS = 1_000
CHANNEL_NAMES = {"x": "X", "facebook": "Facebook", "instagram": "Instagram", "messenger": "Messenger",
                 "whatsapp": "WhatsApp"}


def esc(value: object) -> str:
    """Text made safe for HTML element content and quoted attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class Page:
    """One HTML answer: its status, its document, and the redirect or auto-refresh it asks for."""

    status: int
    title: str
    body: str = ""  # already-escaped HTML fragments (built only by the functions below)
    refresh_seconds: int | None = None
    location: str | None = None
    script: bool = False
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def headers(self) -> dict[str, str]:
        """The headers of every review page: never cached, never framed, the token never sent on as a Referer."""
        headers = {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            "x-content-type-options": "nosniff",
            "x-robots-tag": "noindex, nofollow",
            "content-security-policy": (f"default-src 'none'; style-src 'nonce-{self.nonce}'; "
                                        f"script-src 'nonce-{self.nonce}'; form-action 'self'; base-uri 'none'; "
                                        "frame-ancestors 'none'"),
        }
        if self.location is not None:
            headers["location"] = self.location
        return headers

    def html(self) -> str:
        refresh = (f'<meta http-equiv="refresh" content="{int(self.refresh_seconds)}">'
                   if self.refresh_seconds else "")
        script = f'<script nonce="{esc(self.nonce)}">{_COUNTER_JS}</script>' if self.script else ""
        return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                '<meta name="robots" content="noindex, nofollow">'
                f"{refresh}<title>{esc(self.title)} · Responder</title>"
                f'<style nonce="{esc(self.nonce)}">{_CSS}</style></head>'
                f"<body><main><h1>{esc(self.title)}</h1>{self.body}</main>{script}</body></html>")

    def response(self) -> dict[str, Any]:
        """An API Gateway HTTP API (payload 2.0) response."""
        return {"statusCode": self.status, "headers": self.headers(),
                "body": "" if self.location is not None else self.html()}


_CSS = (
    "body{font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;"
    "color:#1b1f24}"
    "main{max-width:40rem;margin:0 auto;padding:1rem}h1{font-size:1.3rem;margin:.2rem 0 .8rem}"
    "h2{font-size:1rem;margin:1.2rem 0 .4rem;color:#444}"
    ".card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:.8rem;margin:.5rem 0}"
    ".meta{color:#555;font-size:.9rem}.labels span{display:inline-block;background:#eef1f5;border-radius:4px;"
    "padding:0 .4rem;margin:0 .3rem .3rem 0;font-size:.85rem}.p1,.p2{background:#fde2e1!important}"
    "ol{list-style:none;padding:0;margin:0}ol li{border-left:3px solid #dde1e6;padding:.2rem .6rem;margin:.4rem 0}"
    ".text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0 0}"
    "textarea,input[type=text]{box-sizing:border-box;width:100%;font:inherit;padding:.5rem;border:1px solid #aab;"
    "border-radius:6px}textarea{min-height:9rem}label{display:block;font-weight:600;margin:.7rem 0 .2rem}"
    "#count{font-size:.9rem;color:#555;margin:.2rem 0}#count.over{color:#b00020;font-weight:700}"
    ".actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.8rem}button{font:inherit;padding:.6rem 1rem;"
    "border-radius:6px;border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;min-width:9rem}"
    "button.secondary{background:#fff;color:#1d4ed8}button:disabled{opacity:.5}"
    ".notice{border-left:4px solid #b45309;background:#fff7ed;padding:.6rem .8rem;margin:.6rem 0}"
    ".error{border-left-color:#b00020;background:#fdecec}.ok{border-left-color:#15803d;background:#ecfdf3}"
)

# A live count while typing: X's weights (light ranges 1, the rest 2, URLs 23, an emoji sequence 2) or code points.
# The server recounts exactly on Send; this is only the hint a person types against.
_COUNTER_JS = (
    "(function(){var t=document.getElementById('text'),c=document.getElementById('count');if(!t||!c)return;"
    "var L=+t.getAttribute('data-limit'),W=t.getAttribute('data-weighted')==='1',U=/https?:\\/\\/[^\\s<>\"]+/gi,"
    "E=/\\p{Extended_Pictographic}|\\p{Regional_Indicator}|\\u20E3/u;"
    "function light(p){return p<=0x10FF||(p>=0x2000&&p<=0x200D)||(p>=0x2010&&p<=0x201F)||(p>=0x2032&&p<=0x2037)}"
    "function n(s){s=s.normalize('NFC');if(!W)return Array.from(s).length;var u=0;"
    "s=s.replace(U,function(){u+=23;return ''});var g=window.Intl&&Intl.Segmenter?"
    "Array.from(new Intl.Segmenter().segment(s),function(x){return x.segment}):Array.from(s);"
    "g.forEach(function(x){if(E.test(x)){u+=2;return}Array.from(x).forEach(function(ch){"
    "u+=light(ch.codePointAt(0))?1:2})});return u}"
    "function up(){var k=n(t.value);c.textContent=k+' / '+L+(W?' (as X counts)':' characters');"
    "c.className=k>L?'over':''}t.addEventListener('input',up);up()})();"
)


# --- fragments -----------------------------------------------------------------------------------------------

def channel_name(channel: object) -> str:
    return CHANNEL_NAMES.get(str(channel), str(channel))


def author_label(author: object) -> str:
    """`Name (@handle)`, or whatever the platform told, or the author's id (plain text, escaped by the caller)."""
    if not isinstance(author, Mapping):
        return "someone"
    name, handle = author.get("name"), author.get("handle")
    if name and handle:
        return f"{name} (@{handle})"
    if handle:
        return f"@{handle}"
    return str(name or author.get("id") or "someone")


def when(value: object) -> str:
    """A stored ISO 8601 UTC time as a person reads it (`1 Dec 17:05 UTC`), in a <time> element; escaped."""
    from datetime import datetime

    text = "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"<time>{esc(text)}</time>"
    if moment.utcoffset() is None:
        return f"<time>{esc(text)}</time>"
    return f'<time datetime="{esc(text)}">{moment.day} {moment:%b %H:%M} UTC</time>'


def _cut(text: object, limit: int = THREAD_TEXT_CHARS) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[:limit] + "…"


def _notice(message: str, kind: str = "") -> str:
    """A boxed message; `message` is already-escaped HTML."""
    return f'<p class="notice {kind}">{message}</p>'


def mention_summary(mention: Mapping[str, Any]) -> str:
    """Who wrote, where, when, the labels triage gave, and the message itself."""
    labels = [("priority", mention.get("priority")), ("team", mention.get("team")),
              ("intent", mention.get("intent")), ("sentiment", mention.get("sentiment")),
              ("topic", mention.get("topic")), ("language", mention.get("language") or mention.get("lang"))]
    chips = "".join(f'<span class="{esc(value) if name == "priority" else ""}">{esc(name)}: {esc(value)}</span>'
                    for name, value in labels if value)
    sla = f" · SLA due {when(mention.get('sla_due'))}" if mention.get("sla_due") else ""
    return (f'<div class="card"><p class="meta"><strong>{esc(author_label(mention.get("author")))}</strong> on '
            f'{esc(channel_name(mention.get("channel")))} ({esc(mention.get("kind"))}) · '
            f'{when(mention.get("created_at"))}{sla}</p>'
            f'<p class="labels">{chips}</p><p class="text">{esc(_cut(mention.get("text"), 10_000))}</p></div>')


def thread_section(thread: Sequence[Mapping[str, Any]]) -> str:
    """The conversation before this mention, oldest first (at most THREAD_MESSAGES, each cut short)."""
    if not thread:
        return ""
    items = "".join(f'<li><span class="meta"><strong>{esc(author_label(m.get("author")))}</strong> · '
                    f'{when(m.get("created_at"))}</span>'
                    f'<p class="text">{esc(_cut(m.get("text")))}</p></li>'
                    for m in list(thread)[-THREAD_MESSAGES:])
    return f"<h2>Earlier in the conversation</h2><ol>{items}</ol>"


# --- pages ---------------------------------------------------------------------------------------------------

def review_form(mention: Mapping[str, Any], thread: Sequence[Mapping[str, Any]], nonce: str, text: str,
                configured: bool, status: int = 200, problem: str | None = None, agent: str = "") -> Page:
    """The form: the draft (or the text just posted) to edit and send, or the mention to mark handled."""
    channel, kind = str(mention.get("channel")), str(mention.get("kind"))
    used, limit = limits.reply_length(channel, kind, text)
    weighted = limits.counts_weighted(channel, kind)
    notices = ""
    if problem:
        notices += _notice(esc(problem), "error")
    if not configured:
        notices += _notice(f"Sending on {esc(channel_name(channel))} is not configured for this deployment: reply on "
                           "the platform itself, then mark the mention handled here.")
    unit = " (as X counts)" if weighted else " characters"
    over = ' class="over"' if used > limit else ""
    # The conversation reads top to bottom: what came before, then the message being answered, then the reply.
    body = (f"{thread_section(thread)}<h2>The message</h2>{mention_summary(mention)}{notices}"
            '<form method="post" autocomplete="off">'
            f'<input type="hidden" name="nonce" value="{esc(nonce)}">'
            '<label for="text">Reply</label>'
            # The newline after the tag is eaten by the HTML parser, so a draft's own first newline survives.
            f'<textarea id="text" name="text" rows="7" data-limit="{limit}" data-weighted="{1 if weighted else 0}">'
            f"\n{esc(text)}</textarea>"
            f'<p id="count"{over}>{used} / {limit}{unit}</p>'
            '<label for="agent">Your name (shown to other agents)</label>'
            f'<input type="text" id="agent" name="agent" maxlength="64" value="{esc(agent)}">'
            '<div class="actions">'
            f'<button type="submit" name="action" value="send"{"" if configured else " disabled"}>Send reply</button>'
            '<button type="submit" name="action" value="handled" class="secondary">Mark handled, no reply</button>'
            "</div></form>")
    title = f"Reply on {channel_name(channel)}"
    return Page(status=status, title=title, body=body, script=True)


def _who(name: object) -> str:
    return esc(name) if name else "another agent"


def reply_status(mention: Mapping[str, Any], status: int = 200) -> Page:
    """Where the reply stands: queued, sending, sent, answered, handled, or waiting for a person to check it."""
    state, item_status = mention.get("reply_state"), mention.get("status")
    summary = mention_summary(mention)
    reply = (f'<h2>Reply</h2><div class="card"><p class="text">{esc(mention.get("reply_text"))}</p></div>'
             if mention.get("reply_text") else "")
    if item_status == "answered":
        by = mention.get("answered_by")
        who = "the brand, on the platform itself" if by == "platform" else _who(by)
        line = (f"Answered by {who} at {when(mention.get('first_response_at') or mention.get('reply_sent_at'))}.")
        return Page(status=status, title="Already answered", body=_notice(line, "ok") + summary + reply)
    if item_status == "handled":
        line = (f"Marked handled without a reply by {_who(mention.get('handled_by'))} at "
                f"{when(mention.get('handled_at'))}.")
        return Page(status=status, title="Already handled", body=_notice(line, "ok") + summary)
    if state in ("queued", "sending"):
        line = (f"A reply approved by {_who(mention.get('reply_requested_by'))} at "
                f"{when(mention.get('reply_requested_at'))} is "
                f"{'on its way to' if state == 'queued' else 'being sent to'} "
                f"{esc(channel_name(mention.get('channel')))}."
                " This page refreshes itself.")
        return Page(status=status, title="Reply queued" if state == "queued" else "Reply sending",
                    body=_notice(line, "ok") + summary + reply, refresh_seconds=5)
    if state == "sent":
        line = f"Sent at {when(mention.get('reply_sent_at'))} (reply id {esc(mention.get('reply_id'))})."
        return Page(status=status, title="Reply sent", body=_notice(line, "ok") + summary + reply)
    if state == "unconfirmed":
        line = ("The sender stopped during the platform call and the platform cannot be asked whether the reply went "
                "out. Check the conversation on the platform before doing anything else.")
        return Page(status=status, title="Reply not confirmed", body=_notice(line, "error") + summary + reply)
    if item_status in ("received", "triaging"):
        # The agents' notification is published just before triage records `notified`: a person who opens the link
        # at once can land in between, and the form appears on the next refresh.
        line = "This mention is still being triaged. This page refreshes itself."
        return Page(status=status, title="Being triaged", body=_notice(line, "ok") + summary, refresh_seconds=2)
    line = f"This mention is {esc(item_status)}: there is nothing to reply to from this page."
    return Page(status=status, title="Not open for a reply", body=_notice(line) + summary)


def refusal_notice(mention: Mapping[str, Any]) -> str | None:
    """The platform's reason for refusing the last reply (plain text), when there was one."""
    error = mention.get("reply_error")
    if mention.get("reply_state") not in ("refused", "failed") or not isinstance(error, Mapping):
        return None
    verb = "refused" if mention.get("reply_state") == "refused" else "could not take"
    return (f"The platform {verb} the last reply ({error.get('code')}: {error.get('reason')}, at {error.get('at')}). "
            "Edit it and send again, or mark the mention handled.")


def message_page(status: int, title: str, message: str) -> Page:
    """A page that only says something (a refused link, a missing mention, an outage); `message` is plain text."""
    return Page(status=status, title=title, body=_notice(esc(message), "error" if status >= 400 else ""))


def redirect(location: str) -> Page:
    """303 See Other: the browser GETs the page again, so a reload never re-posts the form."""
    return Page(status=303, title="See other", location=location)


FORGED = (403, "Link not valid", "This review link was not issued by Responder, or it was altered. Nothing was sent.")
EXPIRED = (410, "Link expired", "This review link has expired. Open the mention from a newer notification. "
           "Nothing was sent.")
STALE_FORM = (403, "Form not valid", "This form did not come from this review page. Reload the page and try again. "
              "Nothing was sent.")
NOT_FOUND = (404, "Mention not found", "This mention is not stored (any more). Nothing was sent.")
DELETED = (410, "Mention deleted", "The author deleted this mention, so it can no longer be answered. "
           "Nothing was sent.")
UNAVAILABLE = (503, "Try again", "Responder cannot reach its storage or its queue right now. Nothing was sent; "
               "try again in a moment.")
NOT_CONFIGURED = (409, "Sending not configured", "Sending replies on this channel is not configured for this "
                  "deployment. Nothing was queued: reply on the platform itself, then mark the mention handled.")
BAD_REQUEST = (400, "Form not understood", "The form could not be read. Reload the page and try again. "
               "Nothing was sent.")
TOO_LARGE = (413, "Form too large", "The form is larger than any reply can be. Nothing was sent.")
METHOD = (405, "Not allowed", "Review pages answer GET and POST only.")


def lost_claim(mention: Mapping[str, Any]) -> Page:
    """The answer to every approval but the first: who got there first, and when (410: this action is gone)."""
    page = reply_status(mention, status=410)
    return Page(status=410, title=page.title, body=_notice("Your action was not taken: nothing was sent.", "error")
                + page.body)
