"""Signed review links: one mention per token, expiring, unguessable, and a one-time nonce for the review form.

A token is `base64url(payload) "." base64url(HMAC-SHA256(key, "review." payload))`, the payload a compact JSON
object `{"c": channel, "m": mention id, "e": expiry (epoch seconds), "v": 1}`. The key is the project's own review
key (Secrets Manager deployed, an environment variable or a private file locally), never a platform secret: a
leaked review key cannot forge webhook deliveries, and a leaked platform secret cannot forge review links.

The form's nonce is `random "." base64url(HMAC(key, "nonce." token "." random))`: a GET can render one without
writing anything (mail scanners fetch links), a POST proves it came from a rendered page of this very token, and
the reply claim records it, so the same nonce is never honoured for two different actions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOKEN_VERSION = 1
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
MIN_KEY_BYTES = 32
# Far above a real token (~150 characters); anything longer is refused before any decoding.
MAX_TOKEN_CHARS = 1_024
_B64 = re.compile(r"[A-Za-z0-9_-]+")
_NONCE = re.compile(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}")

ENV_REVIEW_KEY = "RESPONDER_REVIEW_KEY"  # local: the key itself
ENV_REVIEW_KEY_SECRET_ARN = "REVIEW_KEY_SECRET_ARN"  # deployed: the secret holding it
ENV_REVIEW_BASE_URL = "RESPONDER_REVIEW_BASE_URL"  # where /review/{token} is served
ENV_REVIEW_TTL_SECONDS = "RESPONDER_REVIEW_TTL_SECONDS"


class TokenInvalid(ValueError):
    """Forged, tampered or malformed: answered 403."""


class TokenExpired(ValueError):
    """Genuine but past its expiry: answered 410."""


@dataclass(frozen=True)
class ReviewTarget:
    """What a verified token grants: acting on this one mention until `expires_at`."""

    channel: str
    mention_id: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64.fullmatch(text):
        raise TokenInvalid("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid("not base64url") from exc


class ReviewSigner:
    """Signs and verifies review tokens and form nonces with one key."""

    def __init__(self, key: bytes, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the review key must be at least {MIN_KEY_BYTES} bytes")
        if ttl_seconds < 60:
            raise ValueError("review links must live at least a minute")
        self._key = key
        self.ttl_seconds = ttl_seconds

    def _mac(self, purpose: str, message: str) -> bytes:
        return hmac.new(self._key, f"{purpose}.{message}".encode(), hashlib.sha256).digest()

    def token(self, channel: str, mention_id: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self.ttl_seconds)
        payload = _b64(json.dumps({"c": channel, "m": mention_id, "e": expires, "v": TOKEN_VERSION},
                                  separators=(",", ":"), ensure_ascii=True).encode())
        return f"{payload}.{_b64(self._mac('review', payload))}"

    def verify(self, token: object, now: float | None = None) -> ReviewTarget:
        """The mention a token grants; TokenInvalid (403) unless it was signed here, TokenExpired (410) when late.

        The signature is checked (in constant time) before the payload is parsed: nothing an attacker wrote is
        decoded as JSON.
        """
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS or token.count(".") != 1:
            raise TokenInvalid("malformed token")
        payload, signature = token.split(".")
        if not hmac.compare_digest(_unb64(signature), self._mac("review", payload)):
            raise TokenInvalid("bad signature")
        try:
            claims = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError) as exc:  # signed by this key, so only a key misuse gets here
            raise TokenInvalid("malformed payload") from exc
        if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
            raise TokenInvalid("unknown token version")
        channel, mention_id, expires = claims.get("c"), claims.get("m"), claims.get("e")
        if not isinstance(channel, str) or not isinstance(mention_id, str) or type(expires) is not int:
            raise TokenInvalid("malformed payload")
        if (time.time() if now is None else now) >= expires:
            raise TokenExpired("the review link has expired")
        return ReviewTarget(channel=channel, mention_id=mention_id, expires_at=expires)

    def nonce(self, token: str) -> str:
        """A fresh nonce for one rendering of the form of `token` (no state: a GET writes nothing)."""
        random = _b64(secrets.token_bytes(16))
        return f"{random}.{_b64(self._mac('nonce', f'{token}.{random}'))}"

    def check_nonce(self, token: str, nonce: object) -> str:
        """The approval's id when this key made the nonce for this token: its 16 random bytes (22 characters), which
        the claim records as `reply_nonce` and the outbound message carries. The MAC only proves the nonce was issued;
        storing it too would add 44 bytes to an item billed per started KB. TokenInvalid (403) otherwise."""
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise TokenInvalid("malformed nonce")
        random, mac = nonce.split(".")
        if not hmac.compare_digest(_unb64(mac), self._mac("nonce", f"{token}.{random}")):
            raise TokenInvalid("bad nonce")
        return random


class ReviewKeyUnavailable(RuntimeError):
    """The review key cannot be read right now (a review page answers 503, a notification goes out without link)."""


def generate_key() -> str:
    """A new review key, as stored: 48 random bytes, base64url."""
    return _b64(secrets.token_bytes(48))


def _decode_key(text: str) -> bytes:
    key = text.strip().encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise ReviewKeyUnavailable(f"the review key must be at least {MIN_KEY_BYTES} characters")
    return key


_CACHE: dict[str, tuple[float, ReviewSigner]] = {}


def signer_from_env(env: Mapping[str, str] | None = None, max_age: int = 300) -> ReviewSigner:
    """The review signer: RESPONDER_REVIEW_KEY (local), else the Secrets Manager secret REVIEW_KEY_SECRET_ARN (its
    whole string is the key), cached for `max_age` seconds like the platform credentials."""
    env = os.environ if env is None else env
    try:
        ttl = int(env.get(ENV_REVIEW_TTL_SECONDS) or DEFAULT_TTL_SECONDS)
    except ValueError as exc:
        raise ReviewKeyUnavailable(f"{ENV_REVIEW_TTL_SECONDS} must be a whole number of seconds") from exc
    if env.get(ENV_REVIEW_KEY):
        return ReviewSigner(_decode_key(env[ENV_REVIEW_KEY]), ttl)
    arn = env.get(ENV_REVIEW_KEY_SECRET_ARN)
    if not arn:
        raise ReviewKeyUnavailable(f"neither {ENV_REVIEW_KEY} nor {ENV_REVIEW_KEY_SECRET_ARN} is set")
    cached = _CACHE.get(arn)
    if cached is not None and time.monotonic() - cached[0] < max_age and cached[1].ttl_seconds == ttl:
        return cached[1]
    from aws_lambda_powertools.utilities import parameters

    try:
        raw = parameters.get_secret(arn, max_age=max_age)
    except parameters.exceptions.GetParameterError as exc:
        raise ReviewKeyUnavailable(f"cannot read the review key: {type(exc).__name__}") from exc
    signer = ReviewSigner(_decode_key(raw if isinstance(raw, str) else ""), ttl)
    _CACHE[arn] = (time.monotonic(), signer)
    return signer


def review_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/review/{token}"


def link_for(mention: Mapping[str, Any], env: Mapping[str, str] | None = None, now: float | None = None) -> str | None:
    """The review link of a mention, or None when no base URL is configured (then notifications carry none)."""
    env = os.environ if env is None else env
    base = env.get(ENV_REVIEW_BASE_URL)
    if not base:
        return None
    signer = signer_from_env(env)
    return review_url(base, signer.token(str(mention["channel"]), str(mention["mention_id"]), now=now))
