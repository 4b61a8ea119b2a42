"""Meta's Data Deletion Request Callback: record the request, erase the person, and show its state.

`POST /webhooks/meta/data-deletion` (form field `signed_request`, responder.privacy.signed_request) erases what is
stored about that Meta user as the sender on every Meta channel, and answers `{"url", "confirmation_code"}` as Meta
requires (https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback).
`GET /webhooks/meta/data-deletion/{code}` shows the request's state; it never changes anything.

Items (pk / sk), both expiring with the table's TTL after the retention period:
- `DELETION#<code>` / `DELETION`: state (`received` → `completed`), when it was requested, issued and completed, what
  was erased (counts), and a keyed digest of the user id, never the id itself.
- `DELETIONREQ#<digest of the signed payload>` / `DELETIONREQ`: the code given to that signed request, so a request
  delivered twice gets the same code and is recorded once (both items are written in one transaction).

The erasure runs inline, after the request is recorded. It is bounded by what one person has stored, and each
mention's erasure is idempotent; if it cannot finish (DynamoDB unavailable, the function stopped), the request stays
`received` (the status page says so) and the same signed request, delivered again, resumes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import parse_qsl

from responder.aws.storage import DynamoTable, StorageUnavailable, _storage_error
from responder.core.config import DEFAULT_RETENTION_DAYS
from responder.privacy.signed_request import SignedRequestForged, SignedRequestMalformed, parse_signed_request
from responder.core.observability import OptionalLog

STATUS_PATH = "/webhooks/meta/data-deletion"
META_CHANNELS = ("facebook", "instagram", "messenger", "whatsapp")
STATE_RECEIVED = "received"
STATE_COMPLETED = "completed"
MAX_FORM_BYTES = 8_192  # a form holding one signed request of at most 4,096 characters
_CODE = re.compile(r"[a-z2-7]{26}")  # 16 random bytes in base32, lower case, unpadded
COUNT_FIELDS = ("mentions", "threads", "raw_events", "replies", "incidents")


def new_code() -> str:
    """An unguessable confirmation code: 128 random bits."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def user_digest(app_secret: str, user_id: str) -> str:
    """What is kept of the user id: an HMAC under the app secret (an unkeyed hash of a numeric id can be reversed by
    trying ids), so whoever holds the secret can still tell which person a request was for."""
    return hmac.new(app_secret.encode("utf-8"), f"meta-user:{user_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DeletionRequest:
    """One recorded request, as the status page shows it: nothing personal."""

    code: str
    state: str
    requested_at: str
    completed_at: str | None = None
    erased: dict[str, int] | None = None

    def public(self) -> dict[str, Any]:
        view: dict[str, Any] = {"confirmation_code": self.code, "status": self.state,
                                "requested_at": self.requested_at}
        if self.completed_at:
            view["completed_at"] = self.completed_at
        if self.erased is not None:
            view["erased"] = self.erased
            view["found"] = self.found
        return view

    @property
    def found(self) -> bool:
        """Whether anything was stored under the id Meta sent (app-scoped: other channels use other ids)."""
        return any(int(n or 0) for n in (self.erased or {}).values())


_STATE_WORDS = {STATE_RECEIVED: "Received: your data is being deleted.",
                STATE_COMPLETED: "Completed: the data stored about you has been deleted."}


def status_page(request: DeletionRequest) -> str:
    """The status page a person opens from Meta's link: readable without JavaScript, every value escaped."""
    from html import escape

    words = _STATE_WORDS.get(request.state, request.state)
    if request.state == STATE_COMPLETED and request.erased is not None and not request.found:
        # Meta sends an app-scoped id; Messenger, Instagram and WhatsApp store other ids for the same person.
        words = ("Completed: nothing was stored under the id this request named. Messages may be stored under "
                 "the id of the channel they came from: ask the brand to delete them there.")
    rows = [("Confirmation code", request.code), ("Status", words),
            ("Requested", request.requested_at)]
    if request.completed_at:
        rows.append(("Completed", request.completed_at))
    if request.erased is not None:
        rows.append(("Items deleted", ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in request.erased.items())))
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>Data deletion request</title><style>body{font-family:system-ui,sans-serif;margin:1.5rem;"
            "max-width:40rem}th{text-align:left;padding-right:1rem;vertical-align:top}</style></head><body>"
            f"<h1>Data deletion request</h1><table>{cells}</table></body></html>")


class DeletionRequestStore(Protocol):
    def record(self, payload_digest: str, user_digest: str, issued_at: int, now: datetime) -> tuple[str, bool]: ...
    def get(self, code: str) -> DeletionRequest | None: ...
    def complete(self, code: str, erased: dict[str, int], now: datetime) -> None: ...


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DynamoDeletionRequests(DynamoTable):
    """The requests on the project's table."""

    def __init__(self, table_name: str, client: Any = None, retention_days: int = DEFAULT_RETENTION_DAYS,
                 code_factory: Callable[[], str] = new_code) -> None:
        super().__init__(table_name, client)
        self._retention_seconds = retention_days * 86_400
        self._new_code = code_factory

    def record(self, payload_digest: str, user_digest: str, issued_at: int, now: datetime) -> tuple[str, bool]:
        """The request's code, and whether this call recorded it (False: the same signed request came before)."""
        code = self._new_code()
        expires = int(now.timestamp()) + self._retention_seconds
        request_key = {"pk": f"DELETIONREQ#{payload_digest}", "sk": "DELETIONREQ"}
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": self._values({**request_key, "type": "deletion_request_key", "code": code,
                                               "expires_at": expires})}},
                {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": self._values({"pk": f"DELETION#{code}", "sk": "DELETION", "type": "deletion_request",
                                               "state": STATE_RECEIVED, "requested_at": _iso(now),
                                               "issued_at": issued_at, "user_digest": user_digest,
                                               "source": "meta.data_deletion", "expires_at": expires})}},
            ])
            return code, True
        except Exception as exc:  # noqa: BLE001 - a repeat is answered with its code; anything else is mapped
            if _cancelled_by_condition(exc):
                item = self._call(self.client.get_item, TableName=self._table, Key=self._values(request_key),
                                  ConsistentRead=True).get("Item")
                if item is not None:
                    return str(self._plain(item)["code"]), False
            raise _storage_error(exc) from exc

    def get(self, code: str) -> DeletionRequest | None:
        item = self._call(self.client.get_item, TableName=self._table,
                          Key=self._values({"pk": f"DELETION#{code}", "sk": "DELETION"})).get("Item")
        if item is None:
            return None
        values = self._plain(item)
        erased = values.get("erased")
        return DeletionRequest(code=code, state=str(values.get("state")), requested_at=str(values.get("requested_at")),
                               completed_at=values.get("completed_at"),
                               erased={k: int(v) for k, v in erased.items()} if isinstance(erased, dict) else None)

    def complete(self, code: str, erased: dict[str, int], now: datetime) -> None:
        # Only an existing request is completed: an expired one is not recreated without its TTL.
        self._call(self.client.update_item, TableName=self._table,
                   Key=self._values({"pk": f"DELETION#{code}", "sk": "DELETION"}),
                   UpdateExpression="SET #s = :done, completed_at = :at, erased = :erased",
                   ConditionExpression="attribute_exists(pk)",
                   ExpressionAttributeNames={"#s": "state"},
                   ExpressionAttributeValues=self._values({":done": STATE_COMPLETED, ":at": _iso(now),
                                                           ":erased": erased}))


def _cancelled_by_condition(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict) or response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    return any(isinstance(r, dict) and r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _log_ref(ref: str) -> str:
    """`<channel>:<id>` as a log line may name it (a WhatsApp id only as a digest: see core.model.log_ref)."""
    from responder.core.model import log_ref

    channel, _, mention_id = ref.partition(":")
    return log_ref(channel, mention_id)


def _answer(status: int, body: Any) -> dict[str, Any]:
    import json

    return {"statusCode": status, "headers": {"content-type": "application/json", "cache-control": "no-store"},
            "body": json.dumps(body, separators=(",", ":"))}


class DataDeletionRequests(OptionalLog):
    """The callback's two routes. `eraser` is responder.privacy.erasure.Eraser (erase_author); `base_url` is where
    the status pages are served (the API's public URL)."""

    def __init__(self, store: DeletionRequestStore, eraser: Any, base_url: Callable[[], str], log: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._eraser = eraser
        self._base_url = base_url
        self._log = log
        self._clock = clock

    def request_answer(self, body: bytes, content_type: str, app_secret: str) -> dict[str, Any]:
        """POST: verify, record (idempotent), erase, answer url + confirmation_code."""
        if len(body) > MAX_FORM_BYTES:
            return self._refuse(400, "signed_request: the form is too large")
        if content_type.split(";")[0].strip().lower() not in ("application/x-www-form-urlencoded", ""):
            return self._refuse(400, "signed_request: the body must be a form (application/x-www-form-urlencoded)")
        try:
            fields = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return self._refuse(400, "signed_request: the body is not a form")
        values = [v for k, v in fields if k == "signed_request"]
        if len(values) != 1:
            return self._refuse(400, "signed_request: exactly one signed_request field is required")
        try:
            signed = parse_signed_request(values[0], app_secret, self._clock())
        except SignedRequestMalformed as exc:
            return self._refuse(400, str(exc))
        except SignedRequestForged as exc:
            return self._refuse(403, str(exc))
        now = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        try:
            code, created = self._store.record(signed.digest, user_digest(app_secret, signed.user_id),
                                               signed.issued_at, now)
            existing = None if created else self._store.get(code)
            if existing is None or existing.state != STATE_COMPLETED:
                erased = self._eraser.erase_author(META_CHANNELS, signed.user_id, source="meta.data_deletion", at=now)
                counts = {name: int(getattr(erased, name, 0)) for name in COUNT_FIELDS}
                self._store.complete(code, counts, now)
                self._info("data deletion request completed", confirmation_code=code, repeated=not created,
                           **counts, erased=[_log_ref(ref) for ref in getattr(erased, "mention_ids", ())])
            else:
                self._info("data deletion request repeated", confirmation_code=code)
        except StorageUnavailable as exc:
            # Not recorded, or recorded and not finished: either way Meta's retry (the same signed request) finishes it.
            self._warn("data deletion request not finished, asking to retry", reason=str(exc)[:200])
            return _answer(503, {"error": "temporarily unavailable, retry later"})
        return _answer(200, {"url": f"{self._base_url().rstrip('/')}{STATUS_PATH}/{code}", "confirmation_code": code})

    def status_answer(self, code: str, accept: str = "") -> dict[str, Any]:
        """GET: the request's state, as JSON or (for a browser, `Accept: text/html`) a short page; an unknown or
        malformed code is 404 (never read from the table when malformed)."""
        if not _CODE.fullmatch(code):
            return _answer(404, {"error": "not found"})
        try:
            request = self._store.get(code)
        except StorageUnavailable:
            return _answer(503, {"error": "temporarily unavailable, retry later"})
        if request is None:
            return _answer(404, {"error": "not found"})
        if "text/html" in accept.lower():
            return {"statusCode": 200, "body": status_page(request),
                    "headers": {"content-type": "text/html; charset=utf-8", "cache-control": "no-store",
                                "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
                                "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}}
        return _answer(200, request.public())

    def _refuse(self, status: int, reason: str) -> dict[str, Any]:
        if self._log is not None:
            self._log.warning("data deletion request refused", status=status, reason=reason)
        return _answer(status, {"error": reason})

