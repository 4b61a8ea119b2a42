"""The webhook applies delete notices in the delivery that carries them: erased, never triaged, never half-done."""

from __future__ import annotations

import json
import logging

import pytest

from responder.ingest.webhook import WebhookService
from tests.conftest import StaticCredentials, api_event, fixture_bytes, fixture_json, meta_headers, x_headers
from tests.fakes import FakeEraser

POST = "3200000000000000001"
DANA = "2000000000000000002"


@pytest.fixture
def eraser(store):
    return FakeEraser(store)


@pytest.fixture
def service(store, queue, eraser):
    return WebhookService(StaticCredentials(), store, queue, eraser=eraser)


def post(service, platform, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = x_headers(raw) if platform == "x" else meta_headers(raw)
    answer = service.handle(api_event("POST", f"/webhooks/{platform}", raw, headers))
    return answer["statusCode"], json.loads(answer["body"])


@pytest.mark.parametrize("notice", ["x/aaa_tweet_delete_events.json", "x/xaa_post_delete.json"])
def test_an_x_delete_notice_erases_the_stored_post_and_enqueues_nothing(service, store, queue, eraser, notice):
    # Given a stored X mention
    assert post(service, "x", fixture_bytes("x/xaa_post_mention_create.json"))[0] == 200
    queue.sent.clear()
    # When its author deletes it
    status, body = post(service, "x", fixture_bytes(notice))
    # Then it is erased in that request (with the author to check), and nothing goes to triage
    assert status == 200 and body["deleted"] == 1
    assert eraser.calls == [("x", POST, "x.tweet_delete" if "aaa" in notice else "x.post_delete", DANA)]
    assert store.mentions[("x", POST)]["status"] == "deleted" and "text" not in store.mentions[("x", POST)]
    assert queue.sent == []


@pytest.mark.parametrize("platform, create, notice, key", [
    ("meta", "meta/page_feed_comment.json", "meta/page_feed_comment_remove.json",
     ("facebook", "6100000000000001_7100000000000001")),
    ("meta", "meta/messenger_message.json", "meta/messenger_unsend.json",
     ("messenger", "m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789exampleMid1")),
    ("meta", "meta/instagram_messaging.json", "meta/instagram_unsend.json",
     ("instagram", "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx")),
])
def test_meta_removals_and_unsends_erase_the_stored_item(service, store, eraser, platform, create, notice, key):
    # Given a stored comment or message
    assert post(service, platform, fixture_bytes(create))[0] == 200
    assert store.mentions[key]["status"] == "received"
    # When Meta says it was removed or unsent
    status, body = post(service, platform, fixture_bytes(notice))
    # Then it is erased
    assert (status, body["deleted"]) == (200, 1)
    assert store.mentions[key]["status"] == "deleted" and "text" not in store.mentions[key]


@pytest.mark.parametrize("order", ["create first", "delete first"])
def test_a_batch_creating_and_deleting_one_post_ends_deleted_whatever_the_order(service, store, queue, order):
    # Given one Account Activity delivery holding the post and its deletion, in either order
    body = fixture_json("x/aaa_tweet_create_mention.json")
    tweet_id = body["tweet_create_events"][0]["id_str"]
    author = body["tweet_create_events"][0]["user"]["id_str"]
    body["tweet_delete_events"] = [{"status": {"id": tweet_id, "user_id": author}, "timestamp_ms": "1790940900123"}]
    if order == "delete first":
        body = {"for_user_id": body["for_user_id"], "tweet_delete_events": body["tweet_delete_events"],
                "tweet_create_events": body["tweet_create_events"]}
    status, answer = post(service, "x", body)
    # Then the post is a tombstone, never stored with its text, and never triaged
    assert status == 200 and answer["stored"] == 0 and answer["deleted"] == 1
    assert store.mentions[("x", tweet_id)]["status"] == "deleted" and "text" not in store.mentions[("x", tweet_id)]
    assert queue.sent == []


def test_a_delete_before_its_create_wins(service, store, queue):
    # Given a delete notice for a post never stored
    assert post(service, "x", fixture_bytes("x/xaa_post_delete.json"))[0] == 200
    # When the post's create arrives afterwards (a late or repeated delivery)
    status, body = post(service, "x", fixture_bytes("x/xaa_post_mention_create.json"))
    # Then it is not stored again and not triaged
    assert status == 200 and body["stored"] == 0
    assert store.mentions[("x", POST)]["status"] == "deleted" and queue.sent == []


def test_storage_down_during_an_erasure_is_503_and_the_retry_erases(service, store, queue, eraser):
    # Given a delivery mixing a new mention and a delete notice, while the storage is down
    body = fixture_json("x/aaa_tweet_create_mention.json")
    body["tweet_delete_events"] = fixture_json("x/aaa_tweet_delete_events.json")["tweet_delete_events"]
    eraser.down = True
    # Then the platform is asked to retry and nothing of the delivery is stored
    assert post(service, "x", body)[0] == 503
    assert store.mentions == {} and queue.sent == []
    # When the retry comes with the storage back
    eraser.down = False
    status, answer = post(service, "x", body)
    # Then both are applied once
    assert status == 200 and answer["stored"] == 1 and answer["deleted"] == 1
    assert store.mentions[("x", POST)]["status"] == "deleted"


def test_without_an_eraser_a_delete_notice_is_never_acknowledged(store, queue):
    # Given a webhook built without an eraser
    service = WebhookService(StaticCredentials(), store, queue)
    # Then a delete notice is answered 503 (the platform retries), not 200 and forgotten
    assert post(service, "x", fixture_bytes("x/xaa_post_delete.json"))[0] == 503


def test_a_forged_delete_notice_erases_nothing(service, store, eraser):
    # Given a stored mention and a delete notice signed with another secret
    post(service, "x", fixture_bytes("x/xaa_post_mention_create.json"))
    raw = fixture_bytes("x/xaa_post_delete.json")
    answer = service.handle(api_event("POST", "/webhooks/x", raw, x_headers(raw, secret="not-the-secret")))
    # Then it is refused and the mention keeps its text
    assert answer["statusCode"] == 403 and eraser.calls == []
    assert store.mentions[("x", POST)]["text"]


def test_a_malformed_delete_notice_writes_nothing(service, store, eraser):
    # Given a signed batch holding a valid mention and a delete notice whose id is not X's
    body = fixture_json("x/aaa_tweet_create_mention.json")
    body["tweet_delete_events"] = [{"status": {"id": "12ab", "user_id": DANA}, "timestamp_ms": "1"}]
    # Then the whole delivery is refused and nothing is stored or erased
    assert post(service, "x", body)[0] == 400
    assert store.mentions == {} and eraser.calls == []


def test_the_log_names_ids_and_source_only(store, queue, eraser, caplog):
    # Given a logger capturing the webhook's lines
    class Log:
        def info(self, message, **keys):
            logging.getLogger("t").info("%s %s", message, keys)

        warning = info

    service = WebhookService(StaticCredentials(), store, queue, eraser=eraser, log=Log())
    post(service, "meta", fixture_bytes("meta/instagram_messaging.json"))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        post(service, "meta", fixture_bytes("meta/instagram_unsend.json"))
    # Then the line names the erased message by channel, id and source, and no text of the conversation
    text = caplog.text
    assert "instagram:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDAx meta.unsend" in text
    assert "sale" not in text
