"""The review page's logic: GET shows, POST acts (Send, Mark handled), each as a function of the request and ports.

GET never writes: mail scanners (Safe Links, Mimecast, Proofpoint) fetch every link before the person does, so a GET
reads the mention and its thread and renders a form with a fresh stateless nonce, nothing else. POST checks, in
this order, the token (403 forged, 410 expired), the form (bounded, strictly parsed: 400/413/415), the nonce (403:
it must have been rendered for this very token), the mention (404, 410 deleted), then claims the reply with one
conditional write and queues `{"v": 1, "channel", "mention_id", "nonce"}`; the answer is 303 See Other to the page
itself (post/redirect/get), so a reload never posts twice. Log lines carry ids only (log_ref), never a text.
"""

from __future__ import annotations

import base64
import binascii
import os
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import parse_qsl

from responder.aws.storage import StorageRejected, StorageUnavailable
from responder.core.model import log_ref
from responder.replies import limits, page, state
from responder.replies.claims import ClaimResult, QueueUnavailable, outbound_message
from responder.replies.page import Page
from responder.replies.tokens import ReviewKeyUnavailable, ReviewSigner, ReviewTarget, TokenExpired, TokenInvalid

# A reply is at most 10,000 characters (X DMs), 4 bytes each in UTF-8 and up to 3 ASCII bytes each percent-encoded:
# 64 KB holds any real form with room to spare and bounds the parsing work of a hostile one.
MAX_FORM_BYTES = 64 * 1024
FORM_FIELDS = frozenset({"text", "nonce", "action", "agent"})
ACTIONS = ("send", "handled")
MAX_AGENT_CHARS = 64
FORM_TYPE = "application/x-www-form-urlencoded"
ROUTE_PREFIX = "/review/"
# A claim still `queued` this long after its approval is presumed to have no message (the function stopped between
# the claim and SendMessage): Send or Mark handled may take it over. Far above the sender's own delays (SQS delays
# stop at 15 minutes, X's rate-limit windows are 15 minutes), and a late message no longer matches the nonce anyway.
STALE_CLAIM_SECONDS = 30 * 60


class FormRejected(ValueError):
    """The POST body is not a form this page rendered; `status` is the answer (400, 413 or 415)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class ReviewStore(Protocol):
    def get_mention(self, channel: str, mention_id: str) -> dict[str, Any] | None: ...
    def earlier_messages(self, mention: dict[str, Any], limit: int) -> list[dict[str, Any]]: ...
    def claim_reply(self, channel: str, mention_id: str, nonce: str, text: str, agent: str | None,
                    at: str, stale_before: str) -> ClaimResult: ...
    def release_claim(self, channel: str, mention_id: str, nonce: str) -> bool: ...
    def mark_handled(self, channel: str, mention_id: str, nonce: str, agent: str | None, at: str,
                     stale_before: str) -> ClaimResult: ...


class Outbox(Protocol):
    def send(self, message: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ReviewSettings:
    """What the review function needs from its environment."""

    table_name: str
    queue_url: str
    secret_arn: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReviewSettings:
        """Read TABLE_NAME, OUTBOUND_QUEUE_URL and SECRET_ARN (the review key has its own variables: tokens.py)."""
        from responder.core.config import require

        env = os.environ if env is None else env
        require(env, "TABLE_NAME", "OUTBOUND_QUEUE_URL")
        return cls(table_name=env["TABLE_NAME"], queue_url=env["OUTBOUND_QUEUE_URL"],
                   secret_arn=env.get("SECRET_ARN") or None)


@dataclass(frozen=True)
class ReviewRequest:
    """The parts of an HTTP API request the review page reads."""

    method: str
    token: str
    body: bytes | None  # None: a body that could not be decoded (answered 400)
    headers: dict[str, str]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ReviewRequest:
        """Read an API Gateway HTTP API (payload 2.0) event for `/review/{token}`; base64 bodies are decoded."""
        http = (event.get("requestContext") or {}).get("http") or {}
        params = event.get("pathParameters") or {}
        token = params.get("token") if isinstance(params, Mapping) else None
        if not isinstance(token, str):
            path = str(event.get("rawPath") or http.get("path") or "")
            token = path.rsplit(ROUTE_PREFIX, 1)[1] if ROUTE_PREFIX in path else ""
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw = event.get("body") or ""
        body: bytes | None
        if len(raw) > 2 * MAX_FORM_BYTES:
            body = b"\x00" * (MAX_FORM_BYTES + 1)  # never decoded: answered 413 by its size
        elif event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                body = None
        else:
            body = raw.encode("utf-8", "surrogatepass")
        return cls(method=str(http.get("method") or "GET").upper(), token=token, body=body, headers=headers)


def _no_controls(value: str, allowed: str = "") -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cs") and c not in allowed for c in value)


def parse_form(body: bytes | None, content_type: str | None) -> dict[str, str]:
    """The review form's fields, parsed strictly: a urlencoded ASCII body of at most MAX_FORM_BYTES, known fields
    once each, values valid UTF-8 once percent-decoded; FormRejected otherwise."""
    media_type, _, params = (content_type or "").partition(";")
    if media_type.strip().lower() != FORM_TYPE:
        raise FormRejected(415, "not a urlencoded form")
    charset = params.strip().lower()
    if charset and charset.replace(" ", "") not in ("charset=utf-8", 'charset="utf-8"'):
        raise FormRejected(415, "not UTF-8")
    if body is None:
        raise FormRejected(400, "body is not valid base64")
    if len(body) > MAX_FORM_BYTES:
        raise FormRejected(413, "form too large")
    try:
        text = body.decode("ascii")  # a browser percent-encodes every byte outside ASCII
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict",
                          max_num_fields=len(FORM_FIELDS))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormRejected(400, f"malformed form: {type(exc).__name__}") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in FORM_FIELDS or name in form:
            raise FormRejected(400, "unknown or repeated field")
        form[name] = value
    if form.get("action") not in ACTIONS:
        raise FormRejected(400, "unknown action")
    return form


def clean_text(value: str) -> str:
    """A reply as the platform should receive it: browsers' CRLF made LF, outer whitespace trimmed."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def clean_agent(value: str | None) -> str | None:
    """The approving agent's name as typed (optional, one line, at most MAX_AGENT_CHARS); ValueError otherwise."""
    name = " ".join((value or "").split())
    if len(name) > MAX_AGENT_CHARS or not _no_controls(name):
        raise ValueError("agent name")
    return name or None


def _now_iso(now: datetime | None = None) -> str:
    moment = now or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ReviewService:
    """GET and POST of `/review/{token}`; the ports are injected so tests pass DynamoDB Local or fakes."""

    def __init__(self, store: ReviewStore, signer: Callable[[], ReviewSigner], outbox: Outbox,
                 configured_channels: Callable[[], set[str]], log: Any = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self._signer = signer
        self._outbox = outbox
        self._configured = configured_channels
        self._log = log
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    def _info(self, message: str, **keys: Any) -> None:
        if self._log is not None:
            self._log.info(message, **keys)

    def _warning(self, message: str, **keys: Any) -> None:
        if self._log is not None:
            self._log.warning(message, **keys)

    def handle_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """An API Gateway HTTP API event in, its HTML response out."""
        request = ReviewRequest.from_event(event)
        return self.handle(request.method, request.token, request.body, request.headers).response()

    def handle(self, method: str, token: str, body: bytes | None = b"",
               headers: Mapping[str, str] | None = None) -> Page:
        """The page answering one request (GET renders, POST acts)."""
        if method not in ("GET", "POST"):
            return page.message_page(*page.METHOD)
        try:
            signer = self._signer()
            target = signer.verify(token)
        except ReviewKeyUnavailable as exc:
            self._warning("review key unavailable", reason=str(exc))
            return page.message_page(*page.UNAVAILABLE)
        except TokenExpired:
            self._info("review link refused", method=method, outcome="expired")
            return page.message_page(*page.EXPIRED)
        except TokenInvalid:
            self._info("review link refused", method=method, outcome="forged")
            return page.message_page(*page.FORGED)
        ref = log_ref(target.channel, target.mention_id)
        try:
            if method == "GET":
                return self._get(token, target, signer)
            return self._post(token, target, signer, body, {str(k).lower(): v for k, v in (headers or {}).items()})
        except (StorageUnavailable, StorageRejected) as exc:
            self._warning("review storage unavailable", mention=ref, error=type(exc).__name__)
            return page.message_page(*page.UNAVAILABLE)

    # -- GET ----------------------------------------------------------------------------------------------------

    def _mention(self, target: ReviewTarget) -> tuple[dict[str, Any] | None, Page | None]:
        mention = self._store.get_mention(target.channel, target.mention_id)
        if mention is None:
            return None, page.message_page(*page.NOT_FOUND)
        if mention.get("status") == state.STATUS_DELETED:
            return None, page.message_page(*page.DELETED)
        return mention, None

    def _get(self, token: str, target: ReviewTarget, signer: ReviewSigner) -> Page:
        mention, refused = self._mention(target)
        if refused is not None or mention is None:
            return refused  # type: ignore[return-value]
        self._info("review page shown", mention=log_ref(target.channel, target.mention_id))
        if not _actionable(mention, self._stale_before()):
            return page.reply_status(mention)
        if mention.get("reply_state") == state.REPLY_QUEUED:
            problem = (f"A reply approved by {mention.get('reply_requested_by') or 'another agent'} at "
                       f"{mention.get('reply_requested_at')} has not gone out: it was never queued. Send again, or "
                       "mark the mention handled.")
            return self._form(token, signer, mention, text=str(mention.get("reply_text") or ""), problem=problem)
        return self._form(token, signer, mention, text=str(mention.get("draft_text") or ""),
                          problem=page.refusal_notice(mention))

    def _stale_before(self) -> str:
        """Claims still `queued` since before this moment have no message (see STALE_CLAIM_SECONDS)."""
        return _now_iso(self._clock() - timedelta(seconds=STALE_CLAIM_SECONDS))

    def _form(self, token: str, signer: ReviewSigner, mention: dict[str, Any], text: str, status: int = 200,
              problem: str | None = None, agent: str = "") -> Page:
        thread = self._store.earlier_messages(mention, page.THREAD_MESSAGES)
        return page.review_form(mention, thread, signer.nonce(token), text, configured=self._can_send(mention),
                                status=status, problem=problem, agent=agent)

    def _can_send(self, mention: Mapping[str, Any]) -> bool:
        """Whether Send can reach the platform; on a page that only shows, an unreadable secret leaves Send on (the
        POST checks again and refuses with nothing queued)."""
        from responder.core.config import CredentialsUnavailable

        try:
            return str(mention.get("channel")) in self._configured()
        except CredentialsUnavailable as exc:
            self._warning("platform credentials unavailable", error=type(exc).__name__)
            return True

    # -- POST ---------------------------------------------------------------------------------------------------

    def _post(self, token: str, target: ReviewTarget, signer: ReviewSigner, body: bytes | None,
              headers: Mapping[str, str]) -> Page:
        ref = log_ref(target.channel, target.mention_id)
        try:
            form = parse_form(body, headers.get("content-type"))
            nonce = signer.check_nonce(token, form.get("nonce"))
        except FormRejected as exc:
            self._info("review form refused", mention=ref, outcome=exc.status)
            status, title, message = page.TOO_LARGE if exc.status == 413 else page.BAD_REQUEST
            return page.message_page(exc.status, title, message)
        except TokenInvalid:
            self._info("review form refused", mention=ref, outcome="nonce")
            return page.message_page(*page.STALE_FORM)
        mention, refused = self._mention(target)
        if refused is not None or mention is None:
            return refused  # type: ignore[return-value]
        try:
            agent = clean_agent(form.get("agent"))
        except ValueError:
            return self._form(token, signer, mention, clean_text(form.get("text", "")), status=400,
                              problem=f"A name is one line of at most {MAX_AGENT_CHARS} characters.")
        at = _now_iso(self._clock())
        if form["action"] == "handled":
            result = self._store.mark_handled(target.channel, target.mention_id, nonce, agent, at,
                                              self._stale_before())
            self._info("review action", mention=ref, action="handled",
                       outcome="taken" if result.taken else "repeated" if result.repeated else "lost")
            return self._after(token, result)
        return self._send(token, target, signer, mention, nonce, clean_text(form.get("text", "")), agent, at)

    def _send(self, token: str, target: ReviewTarget, signer: ReviewSigner, mention: dict[str, Any], nonce: str,
              text: str, agent: str | None, at: str) -> Page:
        from responder.core.config import CredentialsUnavailable

        ref = log_ref(target.channel, target.mention_id)
        if _actionable(mention, self._stale_before()):  # else the claim fails and the page says who was first
            try:
                configured = target.channel in self._configured()
            except CredentialsUnavailable as exc:
                self._warning("platform credentials unavailable", mention=ref, error=type(exc).__name__)
                return page.message_page(*page.UNAVAILABLE)
            if not configured:
                self._info("review action", mention=ref, action="send", outcome="not_configured")
                return page.message_page(*page.NOT_CONFIGURED)
            problem = _text_problem(mention, text)
            if problem is not None:
                self._info("review action", mention=ref, action="send", outcome="invalid_text")
                return self._form(token, signer, mention, text, status=400, problem=problem, agent=agent or "")
        result = self._store.claim_reply(target.channel, target.mention_id, nonce, text, agent, at,
                                         self._stale_before())
        in_flight = result.repeated and (result.item or {}).get("reply_state") in (state.REPLY_QUEUED,
                                                                                   state.REPLY_SENDING)
        if result.taken or in_flight:
            try:
                # A repeated request re-sends the message: the first one may have been lost, and the sender acts on
                # a nonce once.
                self._outbox.send(outbound_message(target.channel, target.mention_id, nonce))
            except QueueUnavailable as exc:
                released = result.taken and self._store.release_claim(target.channel, target.mention_id, nonce)
                self._warning("reply not queued", mention=ref, error=str(exc), released=released)
                if result.taken and not released:
                    return page.redirect(token)  # the sender has it after all: the page shows where it stands
                return page.message_page(*page.UNAVAILABLE)
        self._info("review action", mention=ref, action="send",
                   outcome="taken" if result.taken else "repeated" if result.repeated else "lost")
        return self._after(token, result, signer)

    def _after(self, token: str, result: ClaimResult, signer: ReviewSigner | None = None) -> Page:
        if result.ours:
            return page.redirect(token)
        item = result.item
        if item is None:
            return page.message_page(*page.NOT_FOUND)
        if item.get("status") == state.STATUS_DELETED:
            return page.message_page(*page.DELETED)
        if _actionable(item, self._stale_before()) and signer is not None:
            # Open and nothing in flight, yet refused: this nonce already carried a reply the platform refused.
            return self._form(token, signer, item, str(item.get("reply_text") or ""), status=409,
                              problem="This form was already used once. Check the reply and send it again.")
        return page.lost_claim(item)


def _actionable(mention: Mapping[str, Any], stale_before: str) -> bool:
    """Open for a person's action: notified or incident, and no reply in flight (none, the last one ended, or a claim
    whose message never came); the same rule as the claim's condition (claims.DynamoReplyStore._free)."""
    if mention.get("status") not in state.OPEN_STATUSES:
        return False
    reply_state = mention.get("reply_state")
    if reply_state == state.REPLY_QUEUED:
        return str(mention.get("reply_requested_at") or "") < stale_before
    return reply_state in (None, *state.RECLAIMABLE_REPLY_STATES)


def _text_problem(mention: Mapping[str, Any], text: str) -> str | None:
    """Why a reply text cannot be sent (plain text), or None."""
    if not text:
        return "The reply is empty."
    if not _no_controls(text, allowed="\n\t"):
        return "The reply contains control characters."
    used, limit = limits.reply_length(str(mention.get("channel")), str(mention.get("kind")), text)
    if used > limit:
        return f"The reply is {used} long; {page.channel_name(mention.get('channel'))} allows {limit}."
    return None
