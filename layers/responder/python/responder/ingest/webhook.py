"""The webhook endpoint: handshakes, signatures, normalisation, storage, and the HTTP answer for each outcome.

Input and output are API Gateway HTTP API (payload format 2.0) events and responses, so the deployed Lambda
and the local server run exactly this code.

Answers: 200 once every mention is stored and enqueued (or the events are deliberately ignored); 400 for a
malformed or out-of-bounds body (nothing of it is written: see validation.py); 401 for a missing signature, 403
for a forged one; 503 only when storage, the queue or the credentials are unavailable, so the platform retries;
404/405 for anything else.

Delete notices in a delivery are erased in the same request (`eraser`, responder.privacy.erasure), before its new
mentions are stored: a mention deleted in the very delivery that creates it is never stored, and one deleted in an
earlier delivery is refused by its tombstone. Meta's Data Deletion Request Callback (`/webhooks/meta/data-deletion`)
is served here too: it is signed with the same app secret (responder.privacy.deletion_requests). Error answers and log lines name the field and the problem, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from responder.core.config import CredentialsProvider, CredentialsUnavailable
from responder.core.metrics import MENTIONS_RECEIVED
from responder.ingest.intake import apply_answers, each, ingest
from responder.core.model import Deletion, Delivery, MalformedDelivery, log_ref
from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from responder.ingest.signatures import (
    META_SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
    CrcTokenRefused,
    SignatureMismatch,
    SignatureMissing,
    verify_meta_signature,
    verify_x_signature,
    x_crc_response,
)
from responder.aws.storage import MentionStore, StorageRejected, StorageUnavailable
from responder.aws.triage_queue import QueueUnavailable, TriageQueue
from responder.ingest.validation import MAX_MENTIONS_PER_DELIVERY, parse_delivery_body
from responder.core.observability import OptionalLog

X_PATH = "/webhooks/x"
META_PATH = "/webhooks/meta"
DATA_DELETION_PATH = "/webhooks/meta/data-deletion"


@dataclass(frozen=True)
class Request:
    """The parts of an HTTP API event the webhook needs."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        """Read an API Gateway HTTP API v2 event; the body stays raw bytes for signature checks."""
        http = (event.get("requestContext") or {}).get("http") or {}
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw_query = event.get("rawQueryString")
        if raw_query is not None:
            query = dict(parse_qsl(raw_query, keep_blank_values=True))
        else:
            query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                data = b"\x00invalid-base64"  # fails the signature check, so it is answered 401/403
        else:
            # surrogatepass: a body holding a lone surrogate cannot be what was signed, so it fails as a 403, not a 500
            data = body.encode("utf-8", "surrogatepass")
        return cls(method=str(http.get("method", "GET")).upper(), path=event.get("rawPath") or http.get("path", "/"),
                   headers=headers, query=query, body=data)


def response(status: int, body: Any, content_type: str = "application/json") -> dict[str, Any]:
    """An HTTP API v2 response."""
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {"statusCode": status, "headers": {"content-type": content_type}, "body": text}


class WebhookService(OptionalLog):
    """Routes webhook requests; ports (credentials, store, queue) are injected so tests can pass fakes."""

    def __init__(self, credentials: CredentialsProvider, store: MentionStore, queue: TriageQueue,
                 log: Any = None, answers: Any = None, metrics: Any = None, eraser: Any = None,
                 deletion_requests: Any = None) -> None:
        """`answers` marks the mentions the brand answered natively (responder.replies.native.NativeAnswerPort);
        without it, native answers are only counted as ignored. `metrics` (responder.core.metrics.BusinessMetrics)
        counts the mentions stored for the first time, per channel. `eraser` (responder.privacy.erasure.Eraser)
        erases what delete notices name; without it a delivery holding one is answered 503, never acknowledged
        unapplied. `deletion_requests` (responder.privacy.deletion_requests.DataDeletionRequests) serves Meta's data
        deletion callback; without it that route is 404."""
        self._credentials = credentials
        self._store = store
        self._queue = queue
        self._log = log
        self._answers = answers
        self._metrics = metrics
        self._eraser = eraser
        self._deletion_requests = deletion_requests

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Answer one HTTP API event."""
        request = Request.from_event(event)
        routes: dict[tuple[str, str], Callable[[Request], dict[str, Any]]] = {
            ("GET", X_PATH): self._x_crc,
            ("POST", X_PATH): self._x_delivery,
            ("GET", META_PATH): self._meta_verify,
            ("POST", META_PATH): self._meta_delivery,
        }
        path = request.path.rstrip("/") or "/"
        route = routes.get((request.method, path))
        if self._deletion_requests is not None and (path == DATA_DELETION_PATH
                                                    or path.startswith(DATA_DELETION_PATH + "/")):
            route = self._data_deletion_route(request.method, path)
        if route is None:
            known = path in (X_PATH, META_PATH) or (self._deletion_requests is not None and path == DATA_DELETION_PATH)
            return response(405 if known else 404, {"error": "method not allowed" if known else "not found"})
        try:
            return route(request)
        except CredentialsUnavailable as exc:
            self._warn("credentials unavailable", reason=str(exc))
            return response(503, {"error": "temporarily unavailable, retry later"})

    # -- X ---------------------------------------------------------------------------------------------

    def _x_crc(self, request: Request) -> dict[str, Any]:
        token = request.query.get("crc_token")
        if not token:
            return response(400, {"error": "crc_token is required"})
        secret = self._credentials.get().x_consumer_secret
        if not secret:
            raise CredentialsUnavailable("the X consumer secret is not configured")
        try:
            return response(200, x_crc_response(secret, token))
        except CrcTokenRefused as exc:
            self._warn("crc refused: token not shaped like X's", token_chars=len(token))
            return response(400, {"error": str(exc)})

    def _x_delivery(self, request: Request) -> dict[str, Any]:
        secret = self._credentials.get().x_consumer_secret
        if not secret:
            raise CredentialsUnavailable("the X consumer secret is not configured")
        return self._delivery("x", request, lambda: verify_x_signature(
            secret, request.body, request.headers.get(X_SIGNATURE_HEADER)), normalize_x)

    # -- Meta ------------------------------------------------------------------------------------------

    def _meta_verify(self, request: Request) -> dict[str, Any]:
        expected = self._credentials.get().meta_verify_token
        if not expected:
            raise CredentialsUnavailable("the Meta verify token is not configured")
        challenge = request.query.get("hub.challenge")
        if request.query.get("hub.mode") != "subscribe" or not challenge:
            return response(400, {"error": "hub.mode=subscribe and hub.challenge are required"})
        import hmac

        if not hmac.compare_digest(request.query.get("hub.verify_token", "").encode(), expected.encode()):
            self._warn("meta verification refused: wrong verify token")
            return response(403, {"error": "verify token mismatch"})
        return response(200, challenge, content_type="text/plain")

    def _meta_delivery(self, request: Request) -> dict[str, Any]:
        secret = self._credentials.get().meta_app_secret
        if not secret:
            raise CredentialsUnavailable("the Meta app secret is not configured")
        return self._delivery("meta", request, lambda: verify_meta_signature(
            secret, request.body, request.headers.get(META_SIGNATURE_HEADER)), normalize_meta)

    # -- Meta's Data Deletion Request Callback -----------------------------------------------------------

    def _data_deletion_route(self, method: str, path: str) -> Callable[[Request], dict[str, Any]] | None:
        if path == DATA_DELETION_PATH:
            return self._data_deletion_request if method == "POST" else None
        code = path[len(DATA_DELETION_PATH) + 1:]
        if method != "GET" or "/" in code:
            return None
        return lambda request: self._deletion_requests.status_answer(code, request.headers.get("accept", ""))

    def _data_deletion_request(self, request: Request) -> dict[str, Any]:
        secret = self._credentials.get().meta_app_secret
        if not secret:
            raise CredentialsUnavailable("the Meta app secret is not configured")
        return self._deletion_requests.request_answer(request.body, request.headers.get("content-type", ""), secret)

    # -- shared delivery path ------------------------------------------------------------------------

    def _delivery(self, platform: str, request: Request, verify: Callable[[], None],
                  normalize: Callable[[Any], Delivery]) -> dict[str, Any]:
        try:
            verify()
        except SignatureMissing:
            self._warn("delivery refused: no signature", platform=platform)
            return response(401, {"error": "signature required"})
        except SignatureMismatch:
            self._warn("delivery refused: bad signature", platform=platform, body_bytes=len(request.body))
            return response(403, {"error": "invalid signature"})
        try:
            # Every check happens here, before the first write: a batch is stored whole or not at all.
            delivery = normalize(parse_delivery_body(request.body))
            if len(delivery.mentions) + len(delivery.answers) + len(delivery.deletions) > MAX_MENTIONS_PER_DELIVERY:
                raise MalformedDelivery(f"more than {MAX_MENTIONS_PER_DELIVERY} mentions in one delivery")
        except MalformedDelivery as exc:
            # The messages are written to name the field and the rule, never the value (see validation.py).
            self._warn("malformed delivery", platform=platform, reason=str(exc)[:200], body_bytes=len(request.body))
            return response(400, {"error": f"malformed delivery: {exc}"[:300]})
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError, OSError, RecursionError) as exc:
            # Normalisation is pure: any failure means a field of an unexpected type or range in a signed body.
            # Retrying cannot fix it, so it is a 400, never a 500. Only the error's type is logged: its message may
            # quote the offending value, which may be private text.
            self._warn("malformed delivery: unexpected field type", platform=platform, error=type(exc).__name__)
            return response(400, {"error": "malformed delivery: a field has an unexpected type or value"})
        if delivery.deletions and self._eraser is None:
            # A delete notice is an obligation (X: erase within 24 hours): never acknowledged without being applied.
            self._warn("delete notices not applied: no eraser configured", platform=platform,
                       deletions=len(delivery.deletions))
            return response(503, {"error": "temporarily unavailable, retry later"})
        deleted = {d.key for d in delivery.deletions}
        # A mention deleted in the very delivery that creates it is never stored, whatever their order in the batch.
        mentions = [m for m in delivery.mentions if (m.channel, m.mention_id) not in deleted]
        try:
            erased = self._erase(delivery.deletions)
            result = ingest(mentions, self._store, self._queue, links=delivery.links)
            # After the mentions: a native answer may answer a mention of this very delivery.
            answered = apply_answers(delivery.answers, self._answers) if delivery.answers and self._answers else {}
        except StorageRejected as exc:
            # DynamoDB refused an item as invalid: a retry would be refused again, so this is the sender's 400.
            # Validation is meant to catch this first; anything stored before the refusal is triaged by the sweeper.
            self._warn("delivery refused by storage validation", platform=platform, reason=str(exc)[:200])
            return response(400, {"error": "malformed delivery: a field is outside what can be stored"})
        except (StorageUnavailable, QueueUnavailable) as exc:
            self._warn("delivery not stored, asking the platform to retry", platform=platform,
                       reason=str(exc)[:200], mentions=len(delivery.mentions))
            return response(503, {"error": "temporarily unavailable, retry later"})
        if self._metrics is not None:
            for mention in result.stored:  # new mentions only: a platform's redelivery is not a second mention
                self._metrics.count(MENTIONS_RECEIVED, channel=mention.channel)
        ignored = list(delivery.ignored)
        if delivery.answers and not self._answers:
            ignored += ["native answer (not applied here)"] * len(delivery.answers)
        # Counts only: an answer's text (a DM's above all) and the conversation it answers stay out of the log.
        self._info("delivery stored", platform=platform,
                    stored=[log_ref(m.channel, m.mention_id) for m in result.stored],
                    duplicates=len(result.duplicates), enqueued=len(result.enqueued), ignored=ignored,
                    **({"native_answers": answered} if answered else {}),
                    **({"deleted": [f"{log_ref(d.channel, d.mention_id)} {d.source}" for d in erased]}
                       if erased else {}))
        if result.links_failed:
            self._warn("brand post links not stored", platform=platform, links_failed=result.links_failed)
        return response(200, {"stored": len(result.stored), "duplicates": len(result.duplicates),
                              "ignored": len(ignored), **({"answered": answered} if answered else {}),
                              **({"deleted": len(erased)} if erased else {})})

    def _erase(self, deletions: tuple[Deletion, ...]) -> list[Deletion]:
        """Erase what each delete notice names (idempotent: a redelivered notice erases nothing more). An X notice
        names the post's author, which the eraser checks against the stored one; StorageUnavailable propagates."""
        unique: dict[tuple[str, str], Deletion] = {}
        for deletion in deletions:
            unique.setdefault(deletion.key, deletion)
        if not unique:
            return []
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc)
        eraser = self._eraser
        each(lambda d: eraser.erase_mention(d.channel, d.mention_id, source=d.source, at=now, author_id=d.author_id),
             unique.values())
        return list(unique.values())

