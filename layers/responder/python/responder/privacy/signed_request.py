"""Meta's `signed_request`: `base64url(signature).base64url(payload)`, signed with the app secret.

Data Deletion Request Callback (https://developers.facebook.com/docs/development/create-an-app/app-dashboard/
data-deletion-callback): Meta POSTs a form field `signed_request` when a person asks for their data to be deleted;
the signature is HMAC-SHA256 of the payload's base64url string under the app secret, the payload JSON names
`algorithm` ("HMAC-SHA256"), `issued_at` (epoch seconds) and `user_id` (the person's app-scoped id).

The signature is checked before the payload is read, and the algorithm is fixed here whatever the payload claims
(a payload cannot choose a weaker one). Every refusal names the rule, never a value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

# Meta's signed requests are a few hundred characters; anything far longer is not one.
MAX_SIGNED_REQUEST_CHARS = 4_096
MAX_USER_ID_CHARS = 64
# A signed request carries no nonce: its age bounds how long a copy of it can be replayed (a replay is harmless, the
# request is idempotent on its digest, but a stale one is refused outright). Meta calls the moment the person asks, so
# an hour leaves room for delayed retries; five minutes ahead absorbs clock skew.
MAX_AGE_SECONDS = 3_600
MAX_FUTURE_SECONDS = 300
ALGORITHM = "HMAC-SHA256"
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_USER_ID = re.compile(r"[0-9]{1,%d}" % MAX_USER_ID_CHARS)  # Meta user ids are decimal numbers


class SignedRequestMalformed(ValueError):
    """Not a signed request at all: bad shape, base64, JSON, field or size (400)."""


class SignedRequestForged(ValueError):
    """Shaped right but not signed with the app secret, or signed too long ago (403)."""


@dataclass(frozen=True)
class SignedRequest:
    """A verified deletion request: who (app-scoped user id), when it was issued, and a digest of the signed part."""

    user_id: str
    issued_at: int
    digest: str  # SHA-256 of the signed payload string: the same request delivered twice has the same digest


def _decode(part: str, what: str) -> bytes:
    if not _B64URL.fullmatch(part):
        raise SignedRequestMalformed(f"signed_request: {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part.rstrip("=") + "=" * (-len(part.rstrip("=")) % 4))
    except (ValueError, TypeError) as exc:
        raise SignedRequestMalformed(f"signed_request: {what} is not base64url") from exc


def parse_signed_request(value: str, app_secret: str, now: float) -> SignedRequest:
    """Verify and read a signed request; raises SignedRequestMalformed (400) or SignedRequestForged (403)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SIGNED_REQUEST_CHARS:
        raise SignedRequestMalformed(f"signed_request: must be 1-{MAX_SIGNED_REQUEST_CHARS} characters")
    parts = value.split(".")
    if len(parts) != 2 or not all(parts):
        raise SignedRequestMalformed("signed_request: must be two base64url parts joined by a dot")
    signature, payload_part = _decode(parts[0], "signature"), parts[1]
    payload_bytes = _decode(payload_part, "payload")
    if len(signature) != hashlib.sha256().digest_size:
        raise SignedRequestMalformed("signed_request: signature must be 32 bytes (HMAC-SHA256)")
    expected = hmac.new(app_secret.encode("utf-8"), payload_part.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise SignedRequestForged("signed_request: signature mismatch")
    try:
        payload = json.loads(payload_bytes.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignedRequestMalformed("signed_request: payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignedRequestMalformed("signed_request: payload must be a JSON object")
    if payload.get("algorithm") != ALGORITHM:
        raise SignedRequestMalformed(f"signed_request: algorithm must be {ALGORITHM}")
    issued_at = payload.get("issued_at")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int) or not 0 < issued_at < 10**11:
        raise SignedRequestMalformed("signed_request: issued_at must be epoch seconds")
    if issued_at < now - MAX_AGE_SECONDS or issued_at > now + MAX_FUTURE_SECONDS:
        raise SignedRequestForged("signed_request: issued_at is outside the accepted window")
    user_id = payload.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise SignedRequestMalformed(f"signed_request: user_id must be 1-{MAX_USER_ID_CHARS} digits")
    return SignedRequest(user_id=user_id, issued_at=issued_at,
                         digest=hashlib.sha256(payload_part.encode("ascii")).hexdigest())


def sign_request(payload: dict, app_secret: str) -> str:
    """A signed request as Meta builds one (for tests, `responder replay` and local checks)."""
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    signature = hmac.new(app_secret.encode("utf-8"), body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(signature).decode().rstrip("=") + "." + body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
