"""Hostile input on the webhook path: the CRC signing oracle closed, signed but hostile bodies refused whole (400)
before any write, storage refusals never taken for outages, and no value of a refused body in answers or logs."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from responder.ingest.signatures import CRC_TOKEN_PATTERN, sign_meta, sign_x
from responder.aws.storage import StorageRejected
from responder.ingest.webhook import WebhookService
from tests.conftest import api_event, META_SECRET, X_SECRET, StaticCredentials, fixture_json, meta_headers, x_headers
from tests.fakes import InMemoryStore

SECRET_TEXT = "my card number is 4111"  # stands for private text: it must never come back in an answer or a log


class RecordingLog:
    """Collects every log call, so a test can look for private text in any of them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message, **keys):
        self.lines.append(json.dumps([message, keys], default=str, ensure_ascii=False))

    warning = info


def event(method, path, body=b"", headers=None, query=""):
    return api_event(method, path, body, headers, query, b64=True)  # base64, so any bytes can be sent


@pytest.fixture
def log():
    return RecordingLog()


@pytest.fixture
def service(store, queue, log):
    return WebhookService(StaticCredentials(), store, queue, log=log)


def post(service, platform: str, body: bytes):
    headers = x_headers(body) if platform == "x" else meta_headers(body)
    return service.handle(event("POST", f"/webhooks/{platform}", body, headers))


# --- 1. the CRC endpoint is not a signing oracle -------------------------------------------------------


def test_crc_refuses_to_sign_a_delivery_body(service, store):
    # Given an attacker who asks the CRC endpoint to sign a forged mention
    forged = json.dumps({"data": {"event_uuid": "1", "filter": {"user_id": "100"}, "event_type": "post.mention.create",
                                  "payload": {"id": "9", "author_id": "7", "conversation_id": "9", "text": "fire!",
                                              "created_at": "2026-10-02T09:15:30.000Z"}}}).encode()
    answer = service.handle(event("GET", "/webhooks/x", query="crc_token=" + quote(forged)))
    # Then nothing is signed
    assert answer["statusCode"] == 400
    assert sign_x(X_SECRET, forged).split("=", 1)[1] not in answer["body"]
    # And the forged body is still refused when posted with any header the attacker could compute without the key
    assert post(service, "x", forged)["statusCode"] == 200  # correctly signed by the key holder: accepted
    assert service.handle(event("POST", "/webhooks/x", forged, {"x-twitter-webhooks-signature": "sha256=AAAA"}))[
        "statusCode"] == 403


@pytest.mark.parametrize("token", ["9b4507b3-9040-4669-9ca3-6b94edb50553", "ZmQ3NjhhNzMtZmMyOS00Yjk4LWE2NjQ=",
                                   "a+b/c==", "x" * 256])
def test_crc_still_answers_tokens_shaped_like_xs(service, token):
    answer = service.handle(event("GET", "/webhooks/x", query="crc_token=" + quote(token, safe="")))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"response_token": sign_x(X_SECRET, token.encode())}


@pytest.mark.parametrize("token", ["{}", "[1]", '"s"', " 1", "a b", "x" * 257, "é" * 10, "a\nb", "{\"data\":{}}"])
def test_crc_refuses_tokens_not_shaped_like_xs(service, token):
    answer = service.handle(event("GET", "/webhooks/x", query="crc_token=" + quote(token, safe="")))
    assert answer["statusCode"] == 400 and "response_token" not in answer["body"]


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.text(max_size=10), json_values, max_size=5), indent=st.sampled_from([None, 0, 2]),
       separators=st.sampled_from([None, (",", ":")]), ascii_only=st.booleans())
def test_no_json_object_is_shaped_like_a_crc_token(body, indent, separators, ascii_only):
    # However a delivery is serialised, it cannot be a token the CRC endpoint would sign
    text = json.dumps(body, indent=indent, separators=separators, ensure_ascii=ascii_only)
    assert not CRC_TOKEN_PATTERN.fullmatch(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.from_regex(CRC_TOKEN_PATTERN, fullmatch=True))
def test_a_signature_from_the_crc_endpoint_never_verifies_a_stored_delivery(service, store, queue, token):
    # Given the CRC answer for a token, used as the signature of a POST whose body is that token
    answer = service.handle(event("GET", "/webhooks/x", query="crc_token=" + quote(token, safe="")))
    assert answer["statusCode"] == 200
    signature = json.loads(answer["body"])["response_token"]
    delivered = service.handle(event("POST", "/webhooks/x", token.encode(),
                                     {"x-twitter-webhooks-signature": signature}))
    # Then the delivery verifies (it is the same HMAC) but is refused as a delivery, and nothing is stored
    assert delivered["statusCode"] == 400
    assert store.mentions == {} and queue.sent == []


# --- 2. signed hostile bodies get 400 and store nothing --------------------------------------------------


def _xaa(**payload_changes):
    body = fixture_json("x/xaa_post_mention_create.json")
    body["data"]["payload"].update(payload_changes)
    return body


def _raw_number(body: dict, field: str, literal: str) -> bytes:
    """The body with a placeholder replaced by a raw JSON literal json.dumps would never write."""
    return json.dumps(body).replace(f'"{field}"', literal, 1).encode()


HOSTILE_X_BODIES = {
    "5,000-digit integer": _raw_number(_xaa(lang="@NUM@"), "@NUM@", "9" * 5000),
    "lone surrogate escape in the text": json.dumps(_xaa(text="hi \ud800 there")).encode(),
    "lone surrogate escape in a key": json.dumps({**_xaa(), "\udfff": 1}).encode(),
    "NaN literal": _raw_number(_xaa(lang="@NUM@"), "@NUM@", "NaN"),
    "Infinity literal": _raw_number(_xaa(lang="@NUM@"), "@NUM@", "Infinity"),
    "-Infinity literal": _raw_number(_xaa(lang="@NUM@"), "@NUM@", "-Infinity"),
    "float overflowing to infinity": _raw_number(_xaa(lang="@NUM@"), "@NUM@", "1e400"),
    "a 2 KB id": json.dumps(_xaa(id="1" * 2048)).encode(),
    "an id with a space": json.dumps(_xaa(id="12 34")).encode(),
    "a text longer than any platform allows": json.dumps(_xaa(text=SECRET_TEXT * 5000)).encode(),
    "deep nesting, 40 levels": json.dumps(_xaa(entities=json.loads("[" * 40 + "]" * 40))).encode(),
    "deep nesting, 100,000 levels": b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "invalid UTF-8": json.dumps(_xaa(text="x")).encode().replace(b'"x"', b'"\xff\xfe"'),
    "a JSON array": b"[1, 2, 3]",
    "a JSON string": b'"hello"',
    "a secret in a timestamp": json.dumps(_xaa(created_at=SECRET_TEXT)).encode(),
}


def _with_includes_user(**user):
    body = _xaa()
    body["data"]["includes"] = {"users": [{"id": body["data"]["payload"]["author_id"], "username": "casey",
                                           "name": "Casey", **user}]}
    return body


HOSTILE_X_BODIES.update({
    "a 40-digit follower count": _raw_number(_with_includes_user(public_metrics={"followers_count": "@N@"}), "@N@",
                                             "1" * 40),
    "a follower count past DynamoDB's numbers": _raw_number(
        _with_includes_user(public_metrics={"followers_count": "@N@"}), "@N@", "1e300"),
    "a huge author name": json.dumps(_with_includes_user(name="A" * 100_000)).encode(),
    "a huge author handle": json.dumps(_with_includes_user(username="a" * 5_000)).encode(),
})


@pytest.mark.parametrize("case", sorted(HOSTILE_X_BODIES))
def test_signed_hostile_x_body_is_400_and_stores_nothing(service, store, queue, log, case):
    body = HOSTILE_X_BODIES[case]
    answer = post(service, "x", body)
    assert answer["statusCode"] == 400, answer
    assert store.mentions == {} and queue.sent == []
    assert "4111" not in answer["body"] and not any("4111" in line for line in log.lines)
    assert len(answer["body"]) < 400


def test_the_hostile_follower_count_bodies_are_real_x_bodies_otherwise(service, store):
    # Guards the cases above: with a plausible count the same body is stored, so the 400 is the number's doing
    body = _raw_number(_with_includes_user(public_metrics={"followers_count": "@N@"}), "@N@", "1200")
    assert post(service, "x", body)["statusCode"] == 200
    (record,) = store.mentions.values()
    assert record["author"]["followers"] == 1200


# --- 3. a Meta batch is stored whole or not at all --------------------------------------------------------


def _poison(change: dict, how: str) -> dict:
    value = change["value"]
    if how == "2 KB comment id":
        value["comment_id"] = "c" * 2048
    elif how == "huge author name":
        value["from"]["name"] = "N" * 50_000
    elif how == "secret in a timestamp":
        value["created_time"] = SECRET_TEXT
    elif how == "message not a string":
        value["message"] = {"text": SECRET_TEXT}
    return change


@pytest.mark.parametrize("how", ["2 KB comment id", "huge author name", "secret in a timestamp",
                                 "message not a string"])
def test_meta_batch_with_one_poisoned_entry_stores_none_of_it(service, store, queue, log, how):
    # Given a Page batch of 300 comments whose 150th is poisoned
    base = fixture_json("meta/page_feed_comment.json")
    template = base["entry"][0]["changes"][0]
    changes = []
    for i in range(300):
        change = json.loads(json.dumps(template))
        change["value"]["comment_id"] = f"{change['value']['post_id']}_{i}"
        changes.append(_poison(change, how) if i == 150 else change)
    base["entry"][0]["changes"] = changes
    answer = post(service, "meta", json.dumps(base).encode())
    # Then the whole batch is refused and nothing of it is stored or enqueued
    assert answer["statusCode"] == 400
    assert store.mentions == {} and queue.sent == []
    assert not any("4111" in line for line in log.lines + [answer["body"]])
    # And the same batch without the poison is stored whole
    base["entry"][0]["changes"][150] = json.loads(json.dumps(template))
    base["entry"][0]["changes"][150]["value"]["comment_id"] = "fixed"
    answer = post(service, "meta", json.dumps(base).encode())
    assert answer["statusCode"] == 200 and len(store.mentions) == 300


# --- storage refusals are the sender's 400; outages stay 503 --------------------------------------------


class RejectingStore(InMemoryStore):
    def save(self, mention, received_at=None):
        raise StorageRejected("DynamoDB refused the request as invalid")


def test_a_storage_validation_refusal_is_a_400_not_an_outage(queue, log):
    service = WebhookService(StaticCredentials(), RejectingStore(), queue, log=log)
    answer = post(service, "x", json.dumps(_xaa()).encode())
    assert answer["statusCode"] == 400 and queue.sent == []


def test_an_outage_is_still_a_503(store, queue, log):
    store.down = True
    service = WebhookService(StaticCredentials(), store, queue, log=log)
    assert post(service, "x", json.dumps(_xaa()).encode())["statusCode"] == 503


# --- 9. no value of a refused body in errors or logs -----------------------------------------------------


def test_a_dm_text_in_a_timestamp_field_never_reaches_answer_or_log(service, log):
    body = fixture_json("meta/messenger_message.json")
    body["entry"][0]["messaging"][0]["timestamp"] = SECRET_TEXT
    answer = post(service, "meta", json.dumps(body).encode())
    assert answer["statusCode"] == 400
    assert "timestamp" in answer["body"]  # the field is named
    assert "4111" not in answer["body"] and not any("4111" in line for line in log.lines)


def test_an_unknown_field_name_carrying_text_is_not_logged(service, log):
    body = fixture_json("meta/page_feed_comment.json")
    body["entry"][0]["changes"].append({"field": SECRET_TEXT, "value": {}})
    assert post(service, "meta", json.dumps(body).encode())["statusCode"] == 200
    assert log.lines and not any("4111" in line for line in log.lines)


def test_meta_signature_is_checked_before_the_body_is_parsed(service, store):
    body = b"[" * 100_000
    answer = service.handle(event("POST", "/webhooks/meta", body, {"x-hub-signature-256": sign_meta("wrong", body)}))
    assert answer["statusCode"] == 403 and store.mentions == {}
    assert post(service, "meta", body)["statusCode"] == 400
    assert sign_meta(META_SECRET, body)  # the secret used above is the service's


# --- found by review: raw copies, item size, ids in logs, undecodable event bodies ------------------------


def test_each_dm_of_a_batch_keeps_only_its_own_raw_event():
    from responder.ingest.normalize_meta import normalize_meta
    from responder.ingest.normalize_x import normalize_x

    # Given an X Activity API delivery with two DMs from two people
    body = fixture_json("x/xaa_dm_received.json")
    payload = body["data"]["payload"]
    first = payload["direct_message_events"][0]
    second = json.loads(json.dumps(first))
    second["id"], second["message_create"]["sender_id"] = "second-dm", "77"
    second["message_create"]["message_data"]["text"] = SECRET_TEXT
    payload["direct_message_events"].append(second)
    payload.setdefault("users", {})["77"] = {"data": {"id": "77", "username": "other", "name": "Other"}}
    one, two = normalize_x(body).mentions
    # Then the first DM's audit copy holds neither the second DM's text nor its sender
    assert "4111" not in json.dumps(one.raw) and '"77"' not in json.dumps(one.raw)
    assert "4111" in json.dumps(two.raw)
    # And on WhatsApp, a message's copy holds only its own sender's contact
    body = fixture_json("meta/whatsapp_text.json")
    value = body["entry"][0]["changes"][0]["value"]
    value["contacts"].append({"wa_id": "15550009999", "profile": {"name": "Somebody Else"}})
    (message,) = normalize_meta(body).mentions
    assert "Somebody Else" not in json.dumps(message.raw) and "15550009999" not in json.dumps(message.raw)


def test_a_mention_too_large_to_store_refuses_its_whole_batch(service, store, queue):
    # Given 20 Messenger messages, one of which carries 60 attachments with 7,000-character URLs (each within its
    # own bound, 420 KB together: more than DynamoDB stores in one item)
    body = fixture_json("meta/messenger_message.json")
    template = body["entry"][0]["messaging"][0]
    events = []
    for i in range(20):
        event_ = json.loads(json.dumps(template))
        event_["message"]["mid"] = f"m_{i}"
        if i == 7:
            event_["message"]["attachments"] = [{"type": "image", "payload": {"url": "https://e.example/" + "u" * 7000}}
                                                for _ in range(60)]
        events.append(event_)
    body["entry"][0]["messaging"] = events
    answer = post(service, "meta", json.dumps(body).encode())
    # Then the batch is refused before any write
    assert answer["statusCode"] == 400 and "bytes" in answer["body"]
    assert store.mentions == {} and queue.sent == []


def test_whatsapp_message_ids_are_not_logged_as_they_are(service, log):
    # A wamid is base64 that carries the customer's phone number
    body = fixture_json("meta/whatsapp_text.json")
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert post(service, "meta", json.dumps(body).encode())["statusCode"] == 200
    assert log.lines and not any(wamid in line for line in log.lines)
    assert any("whatsapp:#" in line for line in log.lines)


def test_an_event_body_that_cannot_be_encoded_is_refused_not_a_500(service, store):
    answer = service.handle({"version": "2.0", "rawPath": "/webhooks/x", "rawQueryString": "",
                             "headers": {"x-twitter-webhooks-signature": "sha256=AAAA"},
                             "requestContext": {"http": {"method": "POST", "path": "/webhooks/x"}},
                             "body": '{"text": "\ud800"}', "isBase64Encoded": False})
    assert answer["statusCode"] == 403 and store.mentions == {}


def test_an_envelope_no_platform_would_send_is_refused_even_when_its_events_are_ignored(service, store):
    # Given a Meta delivery whose entry id is 3 KB long, carrying only events that are ignored (receipts)
    body = fixture_json("meta/messenger_echo_and_receipts.json")
    body["entry"][0]["id"] = "9" * 3000
    # Then it is refused rather than acknowledged
    assert post(service, "meta", json.dumps(body).encode())["statusCode"] == 400
    # And so is an X Account Activity body addressed to an account id no platform has
    body = fixture_json("x/aaa_favorite_events.json")
    body["for_user_id"] = "1 OR 1=1"
    assert post(service, "x", json.dumps(body).encode())["statusCode"] == 400
    body = fixture_json("x/aaa_tweet_create_mention.json")
    body["for_user_id"] = "1 OR 1=1"
    assert post(service, "x", json.dumps(body).encode())["statusCode"] == 400
    assert store.mentions == {}
