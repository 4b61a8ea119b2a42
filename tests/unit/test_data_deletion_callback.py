"""Meta's Data Deletion Request Callback: signed_request checks, idempotent requests, and the status page."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from urllib.parse import urlencode

import pytest

from responder.aws.storage import StorageUnavailable
from responder.ingest.webhook import WebhookService
from responder.privacy.deletion_requests import (
    STATE_COMPLETED,
    STATE_RECEIVED,
    DataDeletionRequests,
    DeletionRequest,
    new_code,
    user_digest,
)
from responder.privacy.signed_request import (
    SignedRequestForged,
    SignedRequestMalformed,
    parse_signed_request,
    sign_request,
)
from tests.conftest import META_SECRET, StaticCredentials, api_event, fixture_bytes, meta_headers
from tests.fakes import FakeEraser

NOW = 1_790_940_000
PERSON = "5100000000000001"
PATH = "/webhooks/meta/data-deletion"


def payload(**overrides):
    return {"algorithm": "HMAC-SHA256", "expires": NOW + 3600, "issued_at": NOW - 10, "user_id": PERSON, **overrides}


class Requests:
    """DeletionRequestStore in memory, with the DynamoDB adapter's contract."""

    def __init__(self):
        self.by_digest: dict[str, str] = {}
        self.items: dict[str, dict] = {}
        self.down = False

    def record(self, payload_digest, user_digest, issued_at, now):
        if self.down:
            raise StorageUnavailable("fake outage")
        if payload_digest in self.by_digest:
            return self.by_digest[payload_digest], False
        code = new_code()
        self.by_digest[payload_digest] = code
        self.items[code] = {"state": STATE_RECEIVED, "requested_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "user_digest": user_digest, "issued_at": issued_at}
        return code, True

    def get(self, code):
        item = self.items.get(code)
        return None if item is None else DeletionRequest(code=code, state=item["state"],
                                                         requested_at=item["requested_at"],
                                                         completed_at=item.get("completed_at"),
                                                         erased=item.get("erased"))

    def complete(self, code, erased, now):
        self.items[code].update(state=STATE_COMPLETED, completed_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), erased=erased)


@pytest.fixture
def requests_store():
    return Requests()


@pytest.fixture
def eraser(store):
    return FakeEraser(store)


@pytest.fixture
def service(store, queue, eraser, requests_store):
    callback = DataDeletionRequests(requests_store, eraser, base_url=lambda: "https://api.example.test/",
                                    clock=lambda: NOW)
    return WebhookService(StaticCredentials(), store, queue, eraser=eraser, deletion_requests=callback)


def call(service, signed=None, form=None, content_type="application/x-www-form-urlencoded"):
    body = (form if form is not None else urlencode({"signed_request": signed})).encode() \
        if not isinstance(form, bytes) else form
    b64 = isinstance(form, bytes)  # API Gateway base64-encodes a body that is not UTF-8
    answer = service.handle(api_event("POST", PATH, body, {"content-type": content_type}, b64=b64))
    return answer["statusCode"], json.loads(answer["body"])


def status_page(service, code):
    answer = service.handle(api_event("GET", f"{PATH}/{code}"))
    return answer["statusCode"], json.loads(answer["body"])


def store_meta(service, name):
    raw = fixture_bytes(name)
    assert service.handle(api_event("POST", "/webhooks/meta", raw, meta_headers(raw)))["statusCode"] == 200


# --- signed_request -------------------------------------------------------------------------------------


def test_a_signed_request_built_as_meta_does_is_read():
    # Given a signed request made with the app secret, unpadded base64url as Meta sends it
    signed = sign_request(payload(), META_SECRET)
    assert "=" not in signed
    # Then its user id and time are read
    request = parse_signed_request(signed, META_SECRET, NOW)
    assert (request.user_id, request.issued_at) == (PERSON, NOW - 10) and len(request.digest) == 64


@pytest.mark.parametrize("make, error", [
    (lambda: sign_request(payload(), "another-secret"), SignedRequestForged),
    (lambda: sign_request(payload(issued_at=NOW - 3601), META_SECRET), SignedRequestForged),
    (lambda: sign_request(payload(issued_at=NOW + 301), META_SECRET), SignedRequestForged),
    (lambda: sign_request(payload(algorithm="HMAC-SHA1"), META_SECRET), SignedRequestMalformed),
    (lambda: sign_request(payload(algorithm="none"), META_SECRET), SignedRequestMalformed),
    (lambda: sign_request(payload(user_id="12 34"), META_SECRET), SignedRequestMalformed),
    (lambda: sign_request(payload(user_id="1" * 65), META_SECRET), SignedRequestMalformed),
    (lambda: sign_request(payload(user_id=None), META_SECRET), SignedRequestMalformed),
    (lambda: sign_request(payload(issued_at="yesterday"), META_SECRET), SignedRequestMalformed),
    (lambda: sign_request(payload(issued_at=True), META_SECRET), SignedRequestMalformed),
    (lambda: "no-dot-here", SignedRequestMalformed),
    (lambda: "a.b.c", SignedRequestMalformed),
    (lambda: "!!!." + sign_request(payload(), META_SECRET).split(".")[1], SignedRequestMalformed),
    (lambda: "YWJj." + sign_request(payload(), META_SECRET).split(".")[1], SignedRequestMalformed),  # 3-byte sig
    (lambda: "x" * 5000, SignedRequestMalformed),
    (lambda: "", SignedRequestMalformed),
])
def test_signed_requests_out_of_shape_forged_or_stale_are_refused(make, error):
    # Then each is refused with the right kind of error
    with pytest.raises(error):
        parse_signed_request(make(), META_SECRET, NOW)


def test_the_payload_must_be_a_json_object_under_a_valid_signature():
    # Given correctly signed payloads that are not a JSON object, or hold NaN
    import hashlib
    import hmac as hmac_

    for raw in (b"[1]", b"not json", b'{"issued_at": NaN}', b"\xff\xfe"):
        body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        sig = base64.urlsafe_b64encode(hmac_.new(META_SECRET.encode(), body.encode(), hashlib.sha256).digest())
        # Then they are malformed, not accepted
        with pytest.raises(SignedRequestMalformed):
            parse_signed_request(sig.decode().rstrip("=") + "." + body, META_SECRET, NOW)


# --- the callback -----------------------------------------------------------------------------------------


def test_a_valid_request_erases_the_person_on_every_meta_channel_and_answers_url_and_code(
        service, store, eraser, requests_store):
    # Given a comment by the person on Facebook and a Messenger message from someone else
    store_meta(service, "meta/page_feed_comment.json")
    store_meta(service, "meta/messenger_message.json")
    # When Meta calls with the person's signed request
    status, body = call(service, sign_request(payload(), META_SECRET))
    # Then the answer is the status page's URL and the code, and the person's comment is erased, the other kept
    assert status == 200 and set(body) == {"url", "confirmation_code"}
    code = body["confirmation_code"]
    assert body["url"] == f"https://api.example.test{PATH}/{code}"
    assert eraser.authors == [(("facebook", "instagram", "messenger", "whatsapp"), PERSON, "meta.data_deletion")]
    assert store.mentions[("facebook", "6100000000000001_7100000000000001")]["status"] == "deleted"
    assert store.mentions[("messenger", "m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789exampleMid1")]["text"]
    # And the request keeps a keyed digest of the user id, never the id
    item = requests_store.items[code]
    assert item["user_digest"] == user_digest(META_SECRET, PERSON) and PERSON not in json.dumps(item)
    # And its status page says it is completed, with counts and dates and nothing personal
    page_status, page = status_page(service, code)
    assert page_status == 200 and page["status"] == "completed" and page["erased"]["mentions"] == 1
    assert page["confirmation_code"] == code and PERSON not in json.dumps(page) and page["found"] is True


def test_a_replayed_signed_request_is_one_request(service, eraser, requests_store):
    # Given the same signed request delivered twice
    signed = sign_request(payload(), META_SECRET)
    first, second = call(service, signed), call(service, signed)
    # Then both answers give the same code, and only one request exists, erased once
    assert first == second and first[0] == 200
    assert len(requests_store.items) == 1 and len(eraser.authors) == 1


def test_a_request_that_could_not_finish_is_resumed_by_its_retry(service, eraser, requests_store):
    # Given a request recorded while the erasure fails
    signed = sign_request(payload(), META_SECRET)
    eraser.down = True
    # Then Meta is asked to retry, and the status page (truthfully) says received
    assert call(service, signed)[0] == 503
    (code,) = requests_store.items
    assert status_page(service, code)[1]["status"] == "received"
    # When the same signed request comes again
    eraser.down = False
    status, body = call(service, signed)
    # Then it finishes under the same code
    assert (status, body["confirmation_code"]) == (200, code)
    assert status_page(service, code)[1]["status"] == "completed"


def test_a_request_that_cannot_be_recorded_is_503_and_erases_nothing(service, eraser, requests_store):
    # Given the table down when the request arrives
    requests_store.down = True
    # Then it is 503 (Meta retries) and nothing was erased
    assert call(service, sign_request(payload(), META_SECRET))[0] == 503
    assert eraser.authors == [] and requests_store.items == {}


@pytest.mark.parametrize("signed, expected", [
    (sign_request(payload(), "forged-secret"), 403),
    (sign_request(payload(issued_at=NOW - 7200), META_SECRET), 403),
    (sign_request(payload(algorithm="HMAC-SHA1"), META_SECRET), 400),
    ("garbage", 400),
])
def test_forged_stale_or_malformed_requests_erase_nothing(service, store, eraser, requests_store, signed, expected):
    # Given a stored comment by the person
    store_meta(service, "meta/page_feed_comment.json")
    # When a request that is forged, stale, of another algorithm or malformed comes
    status, _ = call(service, signed)
    # Then it is refused, nothing is recorded and nothing erased
    assert status == expected and eraser.authors == [] and requests_store.items == {}
    assert store.mentions[("facebook", "6100000000000001_7100000000000001")]["text"]


@pytest.mark.parametrize("form, content_type", [
    ("", "application/x-www-form-urlencoded"),
    ("other=1", "application/x-www-form-urlencoded"),
    ("signed_request=a.b&signed_request=c.d", "application/x-www-form-urlencoded"),
    ("signed_request=" + "a" * 9000, "application/x-www-form-urlencoded"),
    (b"signed_request=\xff", "application/x-www-form-urlencoded"),
    ('{"signed_request": "a.b"}', "application/json"),
])
def test_bodies_that_are_not_one_signed_request_form_are_400(service, eraser, form, content_type):
    assert call(service, form=form, content_type=content_type)[0] == 400
    assert eraser.authors == []


def test_the_status_page_of_an_unknown_or_malformed_code_is_404_and_get_changes_nothing(service, requests_store):
    # Given one completed request
    _, body = call(service, sign_request(payload(), META_SECRET))
    before = json.dumps(requests_store.items, sort_keys=True)
    # Then unknown and malformed codes are 404, a GET on the callback itself is 405
    assert status_page(service, new_code())[0] == 404
    assert status_page(service, "../../review")[0] == 404
    assert status_page(service, body["confirmation_code"].upper())[0] == 404
    assert service.handle(api_event("GET", PATH))["statusCode"] == 405
    # And reading the page twice changes nothing
    status_page(service, body["confirmation_code"])
    assert json.dumps(requests_store.items, sort_keys=True) == before


def test_codes_are_unguessable_and_url_safe():
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000 and all(len(c) == 26 and c.isalnum() and c.islower() for c in codes)


def test_a_browser_gets_the_status_as_a_page_with_nothing_personal(service, requests_store):
    # Given a completed request
    _, body = call(service, sign_request(payload(), META_SECRET))
    # When a browser opens its URL
    answer = service.handle(api_event("GET", f"{PATH}/{body['confirmation_code']}",
                                      headers={"accept": "text/html,application/xhtml+xml"}))
    # Then it is an HTML page with the code and the state, no script allowed, and no user id
    assert answer["statusCode"] == 200 and answer["headers"]["content-type"].startswith("text/html")
    assert body["confirmation_code"] in answer["body"] and "Completed" in answer["body"]
    assert "default-src 'none'" in answer["headers"]["content-security-policy"] and PERSON not in answer["body"]


def test_a_request_that_found_nothing_says_so_instead_of_claiming_a_deletion(service, requests_store):
    # Given nothing stored under the id Meta sends (its app-scoped id; Messenger stores a Page-scoped one)
    _, body = call(service, sign_request(payload(), META_SECRET))
    # When the person opens the status page, as JSON and in a browser
    _, page = status_page(service, body["confirmation_code"])
    html = service.handle(api_event("GET", f"{PATH}/{body['confirmation_code']}", headers={"accept": "text/html"}))
    # Then it is completed, and says that nothing was stored under that id rather than that data was deleted
    assert page["status"] == "completed" and page["found"] is False
    assert "nothing was stored under the id" in html["body"] and "has been deleted" not in html["body"]
