"""One classification of the platforms' failures, for X (tweepy) and Meta (requests) alike.

- RateLimited(reset_at): the platform asked us to wait; the sender re-queues the reply until `reset_at`.
- Transient: try again later (5xx, timeouts, connection errors, Meta `is_transient` and codes 1/2).
  `maybe_sent` is true when the request may have reached the platform (a read timeout, a dropped connection
  after sending): the retry must then ask the platform before sending again.
- Permanent(code, reason): the platform refused this reply for good; a person must look (`reason` is the
  platform's own message, bounded and without any token).

Sources: X API v2 "Rate limits" (429 with x-rate-limit-reset, epoch seconds) and "Response codes and errors"
(problem JSON `{"title", "detail", "type", "status"}`); Meta Graph API "Handling errors" (codes 1, 2, 4, 10, 17,
32, 100, 200, 551, 613; `is_transient`), WhatsApp Cloud API "Error codes" (130429, 80007, 131047, 131026).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

MAX_REASON_CHARS = 300
# Without a reset time from the platform, a throttled reply waits this long (SQS delays stop at 15 minutes).
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60

# Meta: "Application request limit reached" (4), "User request limit reached" (17), Page-level throttling (32),
# "Calls to this api have exceeded the rate limit" (613); WhatsApp: "Rate limit hit" (130429, 80 messages/s per
# number), "Too many messages sent from this phone number" (80007) and the pair rate limit (131056).
META_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
# "An unknown error occurred" (1) and "Service temporarily unavailable" (2): Meta says retry.
META_TRANSIENT_CODES = frozenset({1, 2})


class PlatformError(RuntimeError):
    """A platform call that did not deliver the reply."""


class RateLimited(PlatformError):
    def __init__(self, reset_at: float, reason: str = "rate limited") -> None:
        super().__init__(reason)
        self.reset_at = reset_at
        self.reason = reason


class Transient(PlatformError):
    def __init__(self, reason: str, maybe_sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.maybe_sent = maybe_sent


class Permanent(PlatformError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


_TOKENISH = re.compile(r"(access_token=)[^&\s\"']+|(Bearer\s+)\S+|(OAuth\s+)[^\n]+|[A-Za-z0-9_\-.%]{40,}",
                       re.IGNORECASE)


def safe_reason(text: object, secrets: Iterable[str | None] = ()) -> str:
    """The platform's message as agents may read it: one line, at most MAX_REASON_CHARS, no token in it."""
    reason = " ".join(str(text or "").split())
    for secret in secrets:
        if secret and len(secret) >= 8:  # a real token is long; a short one would blank ordinary words
            reason = reason.replace(secret, "[redacted]")
    # Anything shaped like a credential (a query token, an Authorization value, a long opaque run) goes too.
    reason = _TOKENISH.sub(lambda m: (m.group(1) or m.group(2) or m.group(3) or "") + "[redacted]", reason)
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS - 1] + "…"
    return reason or "no reason given"


def _reset_from_headers(headers: Mapping[str, str], now: float) -> float:
    try:
        reset = float(headers.get("x-rate-limit-reset", ""))
    except (TypeError, ValueError):
        return now + DEFAULT_RATE_LIMIT_WAIT_SECONDS
    return reset if reset > now else now + 1


def classify_x_error(exc: BaseException, secrets: Iterable[str | None] = (), now: float | None = None
                     ) -> PlatformError:
    """A tweepy or requests exception from an X call, classified."""
    import requests
    import tweepy

    now = time.time() if now is None else now
    if isinstance(exc, tweepy.TooManyRequests):
        return RateLimited(_reset_from_headers(exc.response.headers, now), "X rate limit reached")
    if isinstance(exc, tweepy.TwitterServerError):
        return Transient(f"X answered {exc.response.status_code}")
    if isinstance(exc, tweepy.HTTPException):
        status = getattr(exc.response, "status_code", 0)
        message = "; ".join(str(m) for m in exc.api_messages) or _x_problem_detail(exc.response) or str(exc)
        if status == 401:
            return Permanent("x_unauthorized", safe_reason(f"X refused the credentials: {message}", secrets))
        if status == 404 or "deleted" in message.lower() or "not found" in message.lower():
            return Permanent("x_not_found", safe_reason(message, secrets))
        if "duplicate" in message.lower():
            return Permanent("x_duplicate", safe_reason(message, secrets))
        return Permanent(f"x_{status}", safe_reason(message, secrets))
    return _classify_transport(exc, "X", requests)


def _x_problem_detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("detail") or body.get("title") or "") if isinstance(body, dict) else ""


def _classify_transport(exc: BaseException, platform: str, requests: Any) -> PlatformError:
    if isinstance(exc, requests.ConnectTimeout):
        return Transient(f"{platform} could not be reached in time")  # never connected: nothing was sent
    if isinstance(exc, requests.Timeout):
        return Transient(f"{platform} did not answer in time", maybe_sent=True)
    if isinstance(exc, requests.ConnectionError):
        # Refused before the request went out, or dropped after it did: requests cannot tell which.
        return Transient(f"{platform} connection failed", maybe_sent=True)
    if isinstance(exc, requests.RequestException):
        return Transient(f"{platform} request failed: {type(exc).__name__}")
    raise exc


def classify_transport_error(exc: BaseException, platform: str) -> PlatformError:
    """A requests exception (no answer from the platform), classified; anything else is re-raised."""
    import requests

    return _classify_transport(exc, platform, requests)


def classify_meta_response(status: int, body: Any, headers: Mapping[str, str], secrets: Iterable[str | None] = (),
                           now: float | None = None) -> PlatformError:
    """A Graph API (or WhatsApp Cloud API) answer that is not a success, classified."""
    now = time.time() if now is None else now
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        if status == 429 or status >= 500:
            return Transient(f"Meta answered {status}") if status >= 500 else RateLimited(
                now + DEFAULT_RATE_LIMIT_WAIT_SECONDS, "Meta rate limit reached")
        return Permanent(f"meta_{status}", f"Meta answered {status} without an error body")
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else -1
    message = safe_reason(_meta_message(error), secrets)
    if code in META_RATE_LIMIT_CODES or status == 429:
        return RateLimited(_meta_reset(headers, now), f"Meta rate limit reached ({code})")
    if error.get("is_transient") is True or code in META_TRANSIENT_CODES or status >= 500:
        return Transient(f"Meta transient error {code}: {message}")
    return Permanent(f"meta_{code}", message)


def _meta_message(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or "")
    details = error.get("error_data", {}).get("details") if isinstance(error.get("error_data"), dict) else None
    user_msg = error.get("error_user_msg")
    extra = details or user_msg
    return f"{message} ({extra})" if extra and str(extra) not in message else message


def _meta_reset(headers: Mapping[str, str], now: float) -> float:
    """Meta's `x-business-use-case-usage` says how many minutes until access returns; else a minute."""
    import json

    raw = headers.get("x-business-use-case-usage")
    try:
        usage = json.loads(raw) if raw else {}
        minutes = max((int(u.get("estimated_time_to_regain_access") or 0)
                       for entries in usage.values() for u in entries), default=0)
    except (ValueError, TypeError, AttributeError):
        minutes = 0
    return now + (minutes * 60 if minutes > 0 else DEFAULT_RATE_LIMIT_WAIT_SECONDS)
