"""Webhook signatures and handshakes of X and Meta, verified over the raw request bytes.

X: https://docs.x.com/x-api/webhooks/introduction (CRC and x-twitter-webhooks-signature, base64).
Meta: https://developers.facebook.com/docs/graph-api/webhooks/getting-started (X-Hub-Signature-256, hex).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

X_SIGNATURE_HEADER = "x-twitter-webhooks-signature"
META_SIGNATURE_HEADER = "x-hub-signature-256"
_PREFIX = "sha256="


class SignatureMissing(Exception):
    """The request carries no signature header (answered 401)."""


class SignatureMismatch(Exception):
    """The signature does not match the body (answered 403)."""


def _hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def sign_x(secret: str, body: bytes) -> str:
    """The header value X sends with a body: sha256=<base64 HMAC-SHA256>."""
    return _PREFIX + base64.b64encode(_hmac_sha256(secret, body)).decode("ascii")


def sign_meta(secret: str, body: bytes) -> str:
    """The header value Meta sends with a body: sha256=<hex HMAC-SHA256>."""
    return _PREFIX + _hmac_sha256(secret, body).hex()


# X's CRC answer is base64(HMAC-SHA256(consumer secret, token)): the very signature X puts on a POST whose body is
# the token. Answering any token would sign any body an attacker chooses. X's tokens are short opaque strings
# (UUIDs, base64); this pattern admits them and nothing a delivery can be: every delivery is a JSON object, which
# starts with `{` (or whitespace), and neither is in the alphabet. Deliveries, in turn, must be objects
# (validation.parse_delivery_body), so the two uses of the key can never be confused.
CRC_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_.~+/=-]{1,256}")


class CrcTokenRefused(ValueError):
    """The crc_token is not shaped like X's (answered 400, and never signed)."""


def x_crc_response(secret: str, crc_token: str) -> dict[str, str]:
    """The answer to X's challenge-response check for an (already URL-decoded) token shaped like X's."""
    if not CRC_TOKEN_PATTERN.fullmatch(crc_token):
        raise CrcTokenRefused("crc_token must be 1-256 characters of A-Z a-z 0-9 _ . ~ + / = -")
    return {"response_token": sign_x(secret, crc_token.encode("utf-8"))}


def _verify(expected: str, received: str | None) -> None:
    if received is None or not received.strip():
        raise SignatureMissing("signature header missing")
    # compare_digest on bytes is constant-time for equal lengths and safe for unequal ones.
    if not hmac.compare_digest(expected.encode("ascii"), received.strip().encode("utf-8", "replace")):
        raise SignatureMismatch("signature does not match the body")


def verify_x_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise unless `header` is X's signature of `body` under the consumer secret."""
    _verify(sign_x(secret, body), header)


def verify_meta_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raise unless `header` is Meta's signature of `body` under the app secret (hex is case-insensitive)."""
    if header is not None and header.strip().lower().startswith(_PREFIX):
        header = _PREFIX + header.strip()[len(_PREFIX):].lower()
    _verify(sign_meta(secret, body), header)
