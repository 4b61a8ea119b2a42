"""DynamoDB going away in the middle of a run and coming back: 503 while it is down, and after it returns the
platform's retries store and page each mention exactly once."""

from __future__ import annotations

import time

import pytest

from responder.ingest.signatures import sign_x
from responder_cli.local.stack import DEFAULT_SECRETS, LambdaContext, LocalStack, http_api_event
from responder_cli.traffic import TrafficGenerator

pytestmark = pytest.mark.slow
SECRET = DEFAULT_SECRETS["RESPONDER_X_CONSUMER_SECRET"]
AUTHOR = {"id": "5000000456", "username": "sam_outage", "name": "Sam", "followers": 80, "verified": False}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # On disk, as `responder local --data-dir`: what was stored survives DynamoDB Local's restart
    local = LocalStack(port=0, data_dir=tmp_path_factory.mktemp("outage") / "data", log_level="CRITICAL").start()
    yield local
    local.stop()


def post(stack: LocalStack, body: bytes) -> dict:
    event = http_api_event("POST", "/webhooks/x", {"x-twitter-webhooks-signature": sign_x(SECRET, body)}, body)
    return stack._handler(event, LambdaContext())


def retried_like_x(stack: LocalStack, body: bytes, attempts: int = 8) -> dict:
    """X retries a delivery answered 5xx; the first tries after a restart may still meet stale connections."""
    for attempt in range(attempts):
        answer = post(stack, body)
        if answer["statusCode"] != 503:
            return answer
        time.sleep(0.25 * 2 ** min(attempt, 3))
    return answer


def until(check, timeout: float = 90.0):
    """Poll `check` (which may fail while DynamoDB Local comes back) until it returns a true value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # noqa: BLE001 - DynamoDB Local restarting: poll again until the deadline
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def pages(stack: LocalStack, mention_id: str) -> list[dict]:
    return [n for n in stack.triage.notifications() if n["topic"] == "agent-notifications"
            and n["message"]["mention"]["mention_id"] == mention_id]


def status(stack: LocalStack, mention_id: str) -> str | None:
    return (stack._store.get_mention("x", mention_id) or {}).get("status")


def test_503_while_dynamodb_is_down_then_exactly_once_after_it_returns(stack):
    generator = TrafficGenerator(seed=4242)
    before = generator.xaa_mention("my order #30112 never arrived, where is it?", "en", AUTHOR, generator.start)
    during = generator.xaa_mention("charged twice for order #30113, please refund one", "en", AUTHOR,
                                   generator.start)
    marker = generator.xaa_mention("is the store on Main Street open on Sunday?", "en", AUTHOR, generator.start)
    # Given a mention stored, recorded and paged while DynamoDB is up (a mention recorded just before DynamoDB stops,
    # whose page and failure record then both fail, waits for its SLA timer: see the README's Limits)
    assert post(stack, before.encoded())["statusCode"] == 200
    until(lambda: pages(stack, before.mention_id))
    until(lambda: status(stack, before.mention_id) == "notified")
    # When DynamoDB Local stops in the middle of the run
    stack.dynamodb.stop()
    # Then a delivery is answered 503 (X retries it), not 500 and not 200
    assert post(stack, during.encoded())["statusCode"] == 503
    # When it starts again (same port, same data) and X retries the delivery, twice, as platforms do
    stack.dynamodb.start()
    first = retried_like_x(stack, during.encoded())
    second = retried_like_x(stack, during.encoded())
    # Then the first retry stores it and the second is recognised as a duplicate
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    assert '"stored":1' in first["body"].replace(" ", "") and '"duplicates":1' in second["body"].replace(" ", "")
    # And once a later mention has been paged (pages come out in order), each mention was stored and paged once
    assert post(stack, marker.encoded())["statusCode"] == 200
    until(lambda: pages(stack, marker.mention_id))
    until(lambda: status(stack, during.mention_id) == "notified")
    stored = [m for m in until(stack.mentions) if m["mention_id"] in (before.mention_id, during.mention_id)]
    assert sorted(m["mention_id"] for m in stored) == sorted([before.mention_id, during.mention_id])
    assert (len(pages(stack, before.mention_id)), len(pages(stack, during.mention_id))) == (1, 1)
