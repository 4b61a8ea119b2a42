"""The review function's request handling before any storage: the form parser, the event, refused links."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from responder.replies.review import MAX_FORM_BYTES, FormRejected, ReviewRequest, ReviewService, parse_form
from responder.replies.tokens import ReviewKeyUnavailable, ReviewSigner

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "functions" / "review" / "handler.py"
FORM = "application/x-www-form-urlencoded"
SIGNER = ReviewSigner(b"r" * 32, 3600)


def test_a_browser_form_is_read_with_its_utf8_text():
    # Given the body a browser posts for the review form (UTF-8, percent-encoded, spaces as +)
    body = urlencode({"nonce": "n", "action": "send", "text": "Désolé 字 👍 a+b&c=d", "agent": "Dana"}).encode()
    # When parsed
    # Then each field is the text that was typed
    assert parse_form(body, "application/x-www-form-urlencoded; charset=UTF-8") == {
        "nonce": "n", "action": "send", "text": "Désolé 字 👍 a+b&c=d", "agent": "Dana"}


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"action=send&text=hi", "application/json", 415),
    (b"action=send&text=hi", None, 415),
    (b"action=send&text=hi", f"{FORM}; charset=latin-1", 415),
    (b"action=send&text=%FF%FE", FORM, 400),  # not UTF-8 once decoded
    ("action=send&text=é".encode(), FORM, 400),  # raw non-ASCII: no browser sends it
    (b"action=send&text=a&text=b", FORM, 400),  # a repeated field
    (b"action=send&evil=1", FORM, 400),  # a field the form does not have
    (b"action=delete", FORM, 400),  # an action the page does not offer
    (b"text=hi", FORM, 400),  # no action
    (b"action=send&&text", FORM, 400),  # not name=value pairs
    (b"action=send&text=" + b"a" * MAX_FORM_BYTES, FORM, 413),
    (None, FORM, 400),  # a base64 body that did not decode
])
def test_anything_but_the_pages_own_form_is_refused(body, content_type, status):
    with pytest.raises(FormRejected) as refused:
        parse_form(body, content_type)
    assert refused.value.status == status


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512) | st.text(max_size=256).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_the_parser_answers_any_body_with_fields_or_a_refusal(body):
    # Given any body at all
    try:
        form = parse_form(body, FORM)
    except FormRejected as refused:
        # Then it is refused with a 4xx the page can answer
        assert refused.status in (400, 413, 415)
    else:
        # Or it is the form's known fields, each once, as text with an action the page offers
        assert set(form) <= {"text", "nonce", "action", "agent"} and form["action"] in ("send", "handled")
        assert all(isinstance(v, str) for v in form.values())


def test_the_event_gives_the_token_and_decodes_a_base64_body():
    # Given an HTTP API event for POST /review/{token} with a base64 body
    event = {"version": "2.0", "rawPath": "/review/abc.def", "pathParameters": {"token": "abc.def"},
             "headers": {"Content-Type": FORM}, "requestContext": {"http": {"method": "POST"}},
             "body": base64.b64encode(b"action=handled").decode(), "isBase64Encoded": True}
    request = ReviewRequest.from_event(event)
    # Then the body is the decoded form and headers are lower-cased
    assert (request.method, request.token, request.body) == ("POST", "abc.def", b"action=handled")
    assert request.headers["content-type"] == FORM
    # And a body that is not base64 is kept as undecodable (answered 400), the token read from the path if needed
    bad = ReviewRequest.from_event({**event, "pathParameters": None, "body": "!!!"})
    assert bad.body is None and bad.token == "abc.def"


class Tripwire:
    """A store and outbox that fail the test when touched: a refused link must not reach them."""

    def __getattr__(self, name):
        raise AssertionError(f"{name} called for a refused request")


def _service(signer=lambda: SIGNER) -> ReviewService:
    return ReviewService(store=Tripwire(), signer=signer, outbox=Tripwire(), configured_channels=lambda: {"x"})


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_forged_or_expired_link_is_refused_before_anything_is_read_or_sent(method):
    # Given a token from another key, a tampered one, and an expired one
    other = ReviewSigner(b"o" * 32, 3600).token("x", "1")
    expired = SIGNER.token("x", "1", now=1_000_000)
    body = b"action=send&text=hi&nonce=" + SIGNER.nonce(other).encode()
    service = _service()
    # When each is opened or posted
    # Then forged answers 403, expired 410, and neither store nor queue was touched (Tripwire)
    assert service.handle(method, other, body, {"content-type": FORM}).status == 403
    assert service.handle(method, other[:-3] + "AAA", body, {"content-type": FORM}).status == 403
    assert service.handle(method, expired, body, {"content-type": FORM}).status == 410
    assert service.handle(method, "", body, {"content-type": FORM}).status == 403


def test_an_unreadable_review_key_answers_503_and_other_methods_405():
    def unavailable():
        raise ReviewKeyUnavailable("secret unreadable")

    assert _service(unavailable).handle("GET", SIGNER.token("x", "1")).status == 503
    assert _service().handle("DELETE", SIGNER.token("x", "1")).status == 405


def test_a_post_with_a_nonce_of_another_token_is_refused():
    # Given a genuine token, and a nonce rendered for another mention's token
    token, other = SIGNER.token("x", "1"), SIGNER.token("x", "2")
    body = f"action=send&text=hi&nonce={SIGNER.nonce(other)}".encode()
    # When posted
    # Then 403 and nothing read or queued
    assert _service().handle("POST", token, body, {"content-type": FORM}).status == 403


def test_cold_import_loads_no_platform_client_and_defers_boto3():
    # Given a fresh interpreter with only the function and the domain layer on the path
    code = ("import sys, handler; heavy = ['boto3', 'botocore.session', 'botocore.client', 'tweepy', 'requests', "
            "'aws_lambda_powertools.event_handler', 'aws_lambda_powertools.utilities.idempotency', 'moto', "
            "'aws_cdk']; print([m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=HANDLER.parent, env={"PYTHONPATH": f"{REPO / 'layers/responder/python'}:{HANDLER.parent}",
                                                   "PATH": "/usr/bin:/bin"})
    # Then no platform client, and not even boto3 until the first request needs it
    assert done.stdout.strip() == "[]"


def test_a_misconfigured_function_answers_a_page_not_a_stack_trace(monkeypatch):
    # Given the review function deployed without its table and queue
    from responder_cli.local.stack import LambdaContext
    from responder_cli.local.triage import load_module

    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("OUTBOUND_QUEUE_URL", raising=False)
    module = load_module(HANDLER, "responder_review_handler_misconfigured")
    module.configure(None)
    event = {"version": "2.0", "rawPath": "/review/t.k", "requestContext": {"http": {"method": "GET"}}}
    # When a page is asked for
    answer = module.handler(event, LambdaContext())
    # Then the person gets the 503 page with the review headers, and no trace of the error
    assert answer["statusCode"] == 503 and answer["headers"]["cache-control"] == "no-store"
    assert "Traceback" not in answer["body"] and "TABLE_NAME" not in answer["body"]
