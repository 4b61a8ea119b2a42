"""The webhook's HTTP contract, with in-memory ports: every answer a platform can get."""

from __future__ import annotations

import json

import pytest

from responder.core.config import CredentialsUnavailable
from responder.ingest.signatures import sign_meta, sign_x
from responder.ingest.webhook import WebhookService
from tests.conftest import api_event, META_SECRET, META_VERIFY, X_SECRET, StaticCredentials, fixture_bytes, meta_headers, x_headers


def event(method, path, body=b"", headers=None, query="", b64=False):
    return api_event(method, path, body, headers, query, b64)


@pytest.fixture
def service(store, queue):
    return WebhookService(StaticCredentials(), store, queue)


def post_x(service, name, headers=None):
    body = fixture_bytes(name)
    return service.handle(event("POST", "/webhooks/x", body, headers if headers is not None else x_headers(body)))


def post_meta(service, name, headers=None):
    body = fixture_bytes(name)
    return service.handle(event("POST", "/webhooks/meta", body,
                                headers if headers is not None else meta_headers(body)))


# --- handshakes ---------------------------------------------------------------------------------------


def test_x_crc_answers_with_the_url_decoded_token(service):
    # Given a token with characters that arrive percent-encoded
    answer = service.handle(event("GET", "/webhooks/x", query="crc_token=a%2Bb%2Fc%3D%3D"))
    # Then the HMAC is over the decoded token
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"response_token": sign_x(X_SECRET, b"a+b/c==")}


def test_x_crc_without_token_is_400(service):
    assert service.handle(event("GET", "/webhooks/x"))["statusCode"] == 400


def test_meta_verification_echoes_the_challenge(service):
    answer = service.handle(event("GET", "/webhooks/meta",
                                  query=f"hub.mode=subscribe&hub.verify_token={META_VERIFY}&hub.challenge=1158201444"))
    assert (answer["statusCode"], answer["body"]) == (200, "1158201444")
    assert answer["headers"]["content-type"] == "text/plain"


def test_meta_verification_with_the_wrong_token_is_403(service):
    answer = service.handle(event("GET", "/webhooks/meta",
                                  query="hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"))
    assert answer["statusCode"] == 403 and "1" != answer["body"]


def test_meta_verification_without_challenge_is_400(service):
    answer = service.handle(event("GET", "/webhooks/meta", query=f"hub.mode=subscribe&hub.verify_token={META_VERIFY}"))
    assert answer["statusCode"] == 400


# --- deliveries ---------------------------------------------------------------------------------------


def test_x_delivery_is_stored_enqueued_and_acknowledged(service, store, queue):
    answer = post_x(service, "x/xaa_post_mention_create.json")
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"stored": 1, "duplicates": 0, "ignored": 0}
    assert store.mentions[("x", "3200000000000000001")]["status"] == "received"  # until triage claims it
    assert [m.mention_id for m in queue.sent] == ["3200000000000000001"]


def test_repeated_delivery_is_stored_and_enqueued_once(service, store, queue):
    for _ in range(3):
        assert post_x(service, "x/xaa_post_mention_create.json")["statusCode"] == 200
    assert len(store.mentions) == 1 and len(queue.sent) == 1


def test_meta_batch_stores_every_entry(service, store):
    answer = post_meta(service, "meta/page_batch.json")
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["stored"] == 4
    assert len(store.mentions) == 4


def test_ignored_event_types_are_acknowledged_without_storing(service, store, queue):
    for name in ("x/xaa_like_create.json", "x/aaa_favorite_events.json"):
        assert post_x(service, name)["statusCode"] == 200
    for name in ("meta/messenger_echo_and_receipts.json", "meta/whatsapp_statuses.json"):
        assert post_meta(service, name)["statusCode"] == 200
    assert store.mentions == {} and queue.sent == []


def test_base64_encoded_body_is_verified_on_its_decoded_bytes(service, store):
    body = fixture_bytes("meta/whatsapp_text.json")
    answer = service.handle(event("POST", "/webhooks/meta", body, meta_headers(body), b64=True))
    assert answer["statusCode"] == 200 and len(store.mentions) == 1


# --- refusals -----------------------------------------------------------------------------------------


def test_missing_signature_is_401_and_stores_nothing(service, store):
    assert post_x(service, "x/xaa_post_mention_create.json", headers={})["statusCode"] == 401
    assert post_meta(service, "meta/page_feed_comment.json", headers={})["statusCode"] == 401
    assert store.mentions == {}


def test_forged_signature_is_403_and_stores_nothing(service, store):
    body = fixture_bytes("x/xaa_post_mention_create.json")
    forged_x = {"x-twitter-webhooks-signature": sign_x("not-the-secret", body)}
    assert post_x(service, "x/xaa_post_mention_create.json", headers=forged_x)["statusCode"] == 403
    meta_body = fixture_bytes("meta/page_feed_comment.json")
    forged_meta = {"x-hub-signature-256": sign_meta("not-the-secret", meta_body)}
    assert post_meta(service, "meta/page_feed_comment.json", headers=forged_meta)["statusCode"] == 403
    assert store.mentions == {}


def test_signature_of_another_body_is_403(service, store):
    other = fixture_bytes("x/xaa_post_reply_create.json")
    answer = post_x(service, "x/xaa_post_mention_create.json", headers=x_headers(other))
    assert answer["statusCode"] == 403 and store.mentions == {}


def test_malformed_json_with_valid_signature_is_400(service, store):
    body = b'{"for_user_id": "1", "tweet_create_events": [ '
    answer = service.handle(event("POST", "/webhooks/x", body, x_headers(body)))
    assert answer["statusCode"] == 400 and store.mentions == {}


def test_structurally_malformed_delivery_is_400_and_nothing_is_half_written(service, store):
    # Given a Meta batch whose second entry lacks its comment id
    good = json.loads(fixture_bytes("meta/page_feed_comment.json"))
    bad = json.loads(fixture_bytes("meta/page_feed_comment_reply.json"))["entry"][0]
    del bad["changes"][0]["value"]["comment_id"]
    body = json.dumps({"object": "page", "entry": [good["entry"][0], bad]}).encode()
    # When it is delivered, Then it is refused as a whole
    answer = service.handle(event("POST", "/webhooks/meta", body, meta_headers(body)))
    assert answer["statusCode"] == 400 and store.mentions == {}


def test_non_utf8_body_is_400(service):
    body = b"\xff\xfe{}"
    answer = service.handle(event("POST", "/webhooks/x", body, x_headers(body), b64=True))
    assert answer["statusCode"] == 400


# --- outages ------------------------------------------------------------------------------------------


def test_storage_outage_is_503_and_the_retry_stores_once(service, store, queue):
    store.down = True
    assert post_x(service, "x/xaa_post_mention_create.json")["statusCode"] == 503
    store.down = False
    assert post_x(service, "x/xaa_post_mention_create.json")["statusCode"] == 200
    assert len(store.mentions) == 1 and len(queue.sent) == 1


def test_queue_outage_is_503_and_the_retry_enqueues_the_stored_mention(service, store, queue):
    # Given SQS refuses the message after the mention was stored
    queue.down = True
    assert post_meta(service, "meta/whatsapp_text.json")["statusCode"] == 503
    (record,) = store.mentions.values()
    assert record["status"] == "received"
    assert record["unsent"]  # marked, so the retry need not wait for the first attempt to be over
    # When the platform retries at once, Then the stored mention is enqueued (once)
    queue.down = False
    answer = post_meta(service, "meta/whatsapp_text.json")
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["duplicates"] == 1
    assert len(queue.sent) == 1 and record["status"] == "received"


def test_ignored_events_never_get_a_5xx_even_during_an_outage(service, store):
    store.down = True
    assert post_x(service, "x/xaa_like_create.json")["statusCode"] == 200


def test_unconfigured_credentials_are_503(store, queue):
    service = WebhookService(StaticCredentials(x=None, meta=None, verify=None), store, queue)
    assert post_x(service, "x/xaa_post_mention_create.json")["statusCode"] == 503
    assert service.handle(event("GET", "/webhooks/x", query="crc_token=t"))["statusCode"] == 503


def test_unreadable_credentials_are_503(store, queue):
    class Broken:
        def get(self):
            raise CredentialsUnavailable("secrets manager down")
    service = WebhookService(Broken(), store, queue)
    assert post_meta(service, "meta/page_feed_comment.json")["statusCode"] == 503


# --- routing ------------------------------------------------------------------------------------------


def test_unknown_path_is_404_and_wrong_method_is_405(service):
    assert service.handle(event("GET", "/webhooks/tiktok"))["statusCode"] == 404
    assert service.handle(event("DELETE", "/webhooks/x"))["statusCode"] == 405


def test_brand_post_then_reply_to_it_share_the_thread(service, store):
    # Given the brand's AAA reply (not a mention) and then a customer's reply to it
    assert post_x(service, "x/aaa_tweet_create_mention.json")["statusCode"] == 200
    assert post_x(service, "x/aaa_tweet_create_brand_reply.json")["statusCode"] == 200
    assert post_x(service, "x/aaa_tweet_create_reply.json")["statusCode"] == 200
    # Then the customer's reply joins the thread rooted at the original mention
    assert store.mentions[("x", "3500000000000000002")]["thread_id"] == "3500000000000000001"
    assert len(store.mentions) == 2


def test_a_brand_post_during_a_storage_outage_is_still_acknowledged(service, store):
    # Given DynamoDB is down and X delivers the brand's own post (no mention, only a thread link)
    store.down = True
    # Then the ignorable event is acknowledged, not answered 503
    assert post_x(service, "x/xaa_post_create_by_brand.json")["statusCode"] == 200
    assert store.links == {}


@pytest.mark.parametrize("mutate", [
    lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].update(text="hello"),
    lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].update(type="interactive",
                                                                        interactive={"button_reply": "yes"}),
    lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].update(timestamp="99999999999999999999"),
])
def test_signed_bodies_with_fields_of_the_wrong_type_are_400_not_500(service, store, mutate):
    body = json.loads(fixture_bytes("meta/whatsapp_text.json"))
    mutate(body)
    raw = json.dumps(body).encode()
    answer = service.handle(event("POST", "/webhooks/meta", raw, meta_headers(raw)))
    assert answer["statusCode"] == 400 and store.mentions == {}


@pytest.mark.parametrize("mutate", [
    lambda p: p.update(created_at="0001-01-01T00:00:00+01:00"),
    lambda p: p.update(referenced_tweets=[{"type": [], "id": "1"}]),
])
def test_signed_x_bodies_with_impossible_values_are_400(service, store, mutate):
    body = json.loads(fixture_bytes("x/xaa_post_mention_create.json"))
    mutate(body["data"]["payload"])
    raw = json.dumps(body).encode()
    assert service.handle(event("POST", "/webhooks/x", raw, x_headers(raw)))["statusCode"] == 400


def test_deeply_nested_json_is_400(service):
    raw = b"[" * 100_000 + b"]" * 100_000
    assert service.handle(event("POST", "/webhooks/meta", raw, meta_headers(raw)))["statusCode"] == 400


# --- native answers ---------------------------------------------------------------------------------------


class RecordingAnswers:
    """A NativeAnswerPort that notes what was stored when each answer arrived, or fails like DynamoDB down."""

    def __init__(self, store, down=False):
        self.store, self.down, self.seen = store, down, []

    def apply(self, answer, received_at):
        from responder.aws.storage import StorageUnavailable

        if self.down:
            raise StorageUnavailable("ThrottlingException")
        self.seen.append((answer.mention_id, answer.thread_id, set(self.store.mentions)))
        return "answered"


def test_native_answers_are_applied_after_the_mentions_of_the_same_delivery(store, queue):
    # Given a webhook with a native-answer port, and one delivery holding a mention and the brand's reply to it
    answers = RecordingAnswers(store)
    service = WebhookService(StaticCredentials(), store, queue, answers=answers)
    mention = json.loads(fixture_bytes("x/aaa_tweet_create_mention.json"))
    reply = json.loads(fixture_bytes("x/aaa_tweet_create_brand_reply.json"))
    body = json.dumps({"for_user_id": reply["for_user_id"], "tweet_create_events":
                       reply["tweet_create_events"] + mention["tweet_create_events"]}).encode()
    # When it is delivered
    answer = service.handle(event("POST", "/webhooks/x", body, x_headers(body)))
    # Then the answer was applied once the mention it answers was stored, and the platform is told
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["answered"] == {"answered": 1}
    ((mention_id, thread_id, stored_then),) = answers.seen
    assert mention_id == "3500000000000000001" and thread_id is None and ("x", mention_id) in stored_then


class RecordingLog:
    def __init__(self):
        self.lines = []

    def info(self, message, **keys):
        self.lines.append(repr((message, keys)))

    warning = info


def test_a_native_answer_that_cannot_be_recorded_is_503_so_the_platform_retries(store, queue):
    # Given DynamoDB refusing the answer's write
    log = RecordingLog()
    service = WebhookService(StaticCredentials(), store, queue, log=log, answers=RecordingAnswers(store, down=True))
    # When X delivers the brand's DMs (a private text), Then the answer is 503
    assert post_x(service, "x/aaa_direct_message_events.json")["statusCode"] == 503
    # And the outcome is logged, but the brand's private words reach no log line
    assert any("asking the platform to retry" in line for line in log.lines)
    assert not any("checking the double charge" in line for line in log.lines)


def test_native_answers_are_logged_as_counts_only(store, queue):
    log = RecordingLog()
    service = WebhookService(StaticCredentials(), store, queue, log=log, answers=RecordingAnswers(store))
    assert post_x(service, "x/aaa_direct_message_events.json")["statusCode"] == 200
    assert any("'native_answers': {'answered': 1}" in line for line in log.lines), log.lines
    assert not any("checking the double charge" in line for line in log.lines)


def test_without_an_answer_port_native_answers_are_counted_as_ignored(service):
    answer = post_x(service, "x/xaa_post_create_by_brand.json")
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"stored": 0, "duplicates": 0,
                                                                          "ignored": 1}
