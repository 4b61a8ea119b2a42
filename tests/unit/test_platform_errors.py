"""One classification of the platforms' failures: rate limited, transient, permanent; reasons without tokens."""

from __future__ import annotations

import json

import pytest
import requests
import tweepy

from responder.platforms.errors import (MAX_REASON_CHARS, Permanent, RateLimited, Transient, classify_meta_response,
                                        classify_transport_error, classify_x_error, safe_reason)

NOW = 1_800_000_000.0


def x_response(status: int, body: dict | None, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "reason"
    response._content = json.dumps(body).encode() if body is not None else b"<html>oops</html>"
    response.headers.update(headers or {})
    return response


def tweepy_error(status: int, body: dict | None, headers: dict | None = None) -> Exception:
    response = x_response(status, body, headers)
    cls = {400: tweepy.BadRequest, 401: tweepy.Unauthorized, 403: tweepy.Forbidden, 404: tweepy.NotFound,
           429: tweepy.TooManyRequests}.get(status, tweepy.TwitterServerError)
    if cls is tweepy.TooManyRequests:
        reset = headers.get("x-rate-limit-reset") if headers else None
        return cls(response, reset_time=int(reset) if reset else None)
    return cls(response)


def test_x_429_waits_until_the_reset_header():
    # Given X's 429 with x-rate-limit-reset five minutes away
    exc = tweepy_error(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                             "status": 429}, {"x-rate-limit-reset": str(int(NOW) + 300)})
    # When it is classified
    result = classify_x_error(exc, now=NOW)
    # Then the reply waits until exactly that reset
    assert isinstance(result, RateLimited) and result.reset_at == NOW + 300


def test_x_429_without_a_reset_waits_a_minute():
    result = classify_x_error(tweepy_error(429, None), now=NOW)
    assert isinstance(result, RateLimited) and result.reset_at == NOW + 60


@pytest.mark.parametrize("status,detail,code", [
    (403, "You can only reply to or quote posts where you are mentioned or are the author.", "x_403"),
    (403, "You are not allowed to create a Tweet with duplicate content.", "x_duplicate"),
    (400, "You attempted to reply to a Tweet that is deleted or not visible to you.", "x_not_found"),
    (404, "Could not find tweet with in_reply_to_tweet_id.", "x_not_found"),
    (401, "Unauthorized", "x_unauthorized"),
])
def test_x_refusals_are_permanent_with_the_platform_reason(status, detail, code):
    # Given X's problem JSON refusing the reply
    exc = tweepy_error(status, {"title": "Forbidden", "detail": detail, "type": "about:blank", "status": status})
    # When it is classified
    result = classify_x_error(exc, now=NOW)
    # Then it is permanent, and the reason is X's own words
    assert isinstance(result, Permanent) and result.code == code and detail in result.reason


def test_x_5xx_and_transport_errors_are_transient_and_say_whether_the_reply_may_be_out():
    assert isinstance(classify_x_error(tweepy_error(503, None), now=NOW), Transient)
    # A connect timeout never reached X; a read timeout may have been accepted
    assert classify_x_error(requests.ConnectTimeout(), now=NOW).maybe_sent is False
    assert classify_x_error(requests.ReadTimeout(), now=NOW).maybe_sent is True
    assert classify_transport_error(requests.ConnectionError(), "Meta").maybe_sent is True


def test_an_error_that_is_not_a_platform_failure_is_raised_not_classified():
    with pytest.raises(KeyError):
        classify_x_error(KeyError("bug"), now=NOW)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80007, 130429, 131056])
def test_meta_throttling_codes_are_rate_limited(code):
    body = {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException",
                      "code": code, "fbtrace_id": "A1"}}
    assert isinstance(classify_meta_response(400, body, {}, now=NOW), RateLimited)


def test_meta_business_use_case_header_gives_the_wait():
    # Given Meta's x-business-use-case-usage saying access returns in 7 minutes
    usage = {"104000000000001": [{"type": "messenger", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    body = {"error": {"message": "(#32) Page request limit reached", "type": "OAuthException", "code": 32}}
    # When the 400 is classified
    result = classify_meta_response(400, body, {"x-business-use-case-usage": json.dumps(usage)}, now=NOW)
    # Then the reply waits those 7 minutes
    assert isinstance(result, RateLimited) and result.reset_at == NOW + 420


@pytest.mark.parametrize("status,error", [
    (500, {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}),
    (400, {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2}),
    (400, {"message": "Please retry", "type": "OAuthException", "code": 190000, "is_transient": True}),
    (503, {"message": "Unavailable", "type": "OAuthException", "code": 9999}),
])
def test_meta_transient_errors_are_retried(status, error):
    assert isinstance(classify_meta_response(status, {"error": error}, {}, now=NOW), Transient)


@pytest.mark.parametrize("code,message", [
    (10, "(#10) This message is sent outside of allowed window."),
    (551, "This person isn't available right now."),
    (100, "(#100) Invalid parameter"),
    (200, "(#200) Permissions error"),
    (131047, "Re-engagement message"),
    (131026, "Message undeliverable"),
])
def test_meta_refusals_are_permanent_with_the_platform_message(code, message):
    body = {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1"}}
    result = classify_meta_response(400, body, {}, now=NOW)
    assert isinstance(result, Permanent) and result.code == f"meta_{code}" and result.reason == message


def test_a_reason_never_carries_a_token_and_is_bounded():
    # Given a platform message echoing the token it was sent, and a very long message
    token = "EAAGm0PX4ZCpsBAKZCZBxyz1234567890abcdefTOKEN"
    echoed = f"Invalid OAuth access token - Cannot parse access token: {token} (access_token={token})"
    # When it becomes a reason
    reason = safe_reason(echoed, secrets=(token,))
    # Then the token is gone, whatever its form
    assert token not in reason and "[redacted]" in reason
    assert "sk-live" not in safe_reason("Authorization: Bearer sk-live-abc header")
    assert len(safe_reason("word " * 500)) <= MAX_REASON_CHARS


def test_a_meta_reason_redacts_the_token_the_client_used():
    token = "page-token-value-0123"
    body = {"error": {"message": f"Malformed access token {token}", "type": "OAuthException", "code": 190}}
    result = classify_meta_response(400, body, {}, secrets=(token,), now=NOW)
    assert isinstance(result, Permanent) and token not in result.reason
