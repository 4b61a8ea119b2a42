"""Native brand replies on DynamoDB Local: the answered mention is marked once, first_response_at is kept on
redelivery, Responder's own echoes are no-ops, a DM answers its conversation's latest message, and the webhook
applies them after storing the delivery's mentions."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from responder.core.model import NativeAnswer
from responder.ingest.normalize_x import dm_conversation_id, normalize_x
from responder.ingest.webhook import WebhookService
from responder.replies.native import ALREADY, MARKED, NOT_STORED, DynamoNativeAnswers
from tests.conftest import StaticCredentials, api_event, fixture_bytes, fixture_json, x_headers
from tests.fakes import FakeQueue

BRAND = "1000000000000000001"
DANA = "2000000000000000002"
RECEIVED = datetime(2026, 10, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def answers(store):
    return DynamoNativeAnswers(store)


def save(store, name):
    delivery = normalize_x(fixture_json(name))
    for mention in delivery.mentions:
        store.save(store.resolve_thread(mention), RECEIVED)
    return delivery


def set_fields(store, channel, mention_id, **fields):
    """Put the mention in a given state, as triage or the sender would have left it."""
    names = {f"#{k}": k for k in fields}
    store.client.update_item(
        TableName=store._table, Key={"pk": {"S": f"MENTION#{channel}#{mention_id}"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields), ExpressionAttributeNames=names,
        ExpressionAttributeValues={f":{k}": {"S": v} for k, v in fields.items()})


def brand_reply(reply_id="3200000000000000010", at="2026-10-02T09:30:00Z", mention_id="3200000000000000001",
                text="@dana_k Sorry about the wait"):
    return NativeAnswer(channel="x", reply_id=reply_id, text=text, at=at, mention_id=mention_id)


def test_a_native_reply_marks_the_mention_answered_once(store, answers):
    # Given Dana's notified mention
    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status="notified")
    # When the brand's reply on X arrives (X Activity API post.create, replying to it)
    (answer,) = normalize_x(fixture_json("x/xaa_post_create_by_brand.json")).answers
    assert answers.apply(answer, RECEIVED) == MARKED
    # Then the mention is answered by the platform, with its first-response time and the reply
    stored = store.get_mention("x", "3200000000000000001")
    assert (stored["status"], stored["answered_by"], stored["reply_state"]) == ("answered", "platform", "native")
    assert stored["first_response_at"] == "2026-10-02T09:30:00Z" and stored["reply_id"] == "3200000000000000010"
    assert stored["reply_text"].startswith("@dana_k Sorry about the wait")
    # And the thread records its last reply
    thread = store.get_thread("x", "3200000000000000001")
    assert (thread["last_reply_id"], thread["last_reply_at"]) == ("3200000000000000010", "2026-10-02T09:30:00Z")
    # When the same event is redelivered, and a second reply by the brand follows later
    assert answers.apply(answer, RECEIVED) == ALREADY
    assert answers.apply(brand_reply(reply_id="3200000000000000011", at="2026-10-02T10:00:00Z"), RECEIVED) == ALREADY
    # Then nothing changes: the first response stays the first
    again = store.get_mention("x", "3200000000000000001")
    assert (again["first_response_at"], again["reply_id"]) == ("2026-10-02T09:30:00Z", "3200000000000000010")


def test_the_echo_of_a_reply_responder_sent_is_a_no_op(store, answers):
    # Given a mention answered through the review page (the sender recorded its reply)
    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status="answered", reply_state="sent", answered_by="agent@example",
               reply_id="3200000000000000050", first_response_at="2026-10-02T09:20:00Z")
    # When X echoes that reply back as the brand's post
    outcome = answers.apply(brand_reply(reply_id="3200000000000000050", at="2026-10-02T09:20:01Z"), RECEIVED)
    # Then it changes nothing: still answered by the agent, at the time the sender recorded
    stored = store.get_mention("x", "3200000000000000001")
    assert outcome == ALREADY
    assert (stored["answered_by"], stored["reply_state"], stored["first_response_at"]) == (
        "agent@example", "sent", "2026-10-02T09:20:00Z")


def test_an_echo_arriving_while_responder_sends_leaves_the_send_to_finish(store, answers):
    # Given a reply the sender is handing to the platform, not yet recorded
    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status="notified", reply_state="sending", reply_nonce="n1")
    # When its echo (or any native reply) arrives first
    assert answers.apply(brand_reply(), RECEIVED) == ALREADY
    # Then the sender's claim is left as it was
    stored = store.get_mention("x", "3200000000000000001")
    assert (stored["status"], stored["reply_state"]) == ("notified", "sending") and "answered_by" not in stored


def test_a_native_answer_wins_over_an_approved_reply_still_waiting_in_the_queue(store, answers):
    # Given an approved reply still `queued` (waiting out a rate limit: nothing reached the platform)
    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status="notified", reply_state="queued", reply_nonce="n1")
    # When the brand answers on the platform itself
    assert answers.apply(brand_reply(), RECEIVED) == MARKED
    # Then the mention is answered by the platform, and the queued approval's nonce is gone (its message is stale)
    stored = store.get_mention("x", "3200000000000000001")
    assert (stored["status"], stored["answered_by"], stored["reply_state"]) == ("answered", "platform", "native")
    assert "reply_nonce" not in stored


@pytest.mark.parametrize("status", ["handled", "deleted"])
def test_a_handled_or_deleted_mention_is_not_reopened_as_answered(store, answers, status):
    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status=status)
    assert answers.apply(brand_reply(), RECEIVED) == ALREADY
    assert store.get_mention("x", "3200000000000000001")["status"] == status


def test_an_answer_to_a_mention_not_stored_is_ignored_and_writes_nothing(store, answers):
    # Given no stored mention 3200000000000000999 (the brand replied to a post nobody addressed to it)
    # When its reply arrives, Then it is ignored, and no item appears
    assert answers.apply(brand_reply(mention_id="3200000000000000999"), RECEIVED) == NOT_STORED
    assert store.get_mention("x", "3200000000000000999") is None


def dm(mention_id, created_ms, text, sender=DANA):
    return {"type": "message_create", "id": mention_id, "created_timestamp": str(created_ms),
            "message_create": {"target": {"recipient_id": BRAND if sender == DANA else DANA}, "sender_id": sender,
                               "message_data": {"text": text}}}


def test_a_dm_answers_the_conversations_latest_message_before_it(store, answers):
    # Given two DMs from Dana (11:10, 11:11) and a third at 11:20, after the brand's DM at 11:15
    save_dms = {"for_user_id": BRAND, "direct_message_events": [
        dm("3700000000000000011", 1790939400000, "charged twice"),
        dm("3700000000000000012", 1790939460000, "order 4411"),
        dm("3700000000000000013", 1790940000000, "hello?")], "users": {}}
    for mention in normalize_x(save_dms).mentions:
        store.save(mention, RECEIVED)
    # When the brand's DM of 11:15 arrives (Account Activity: a direct_message_event sent by for_user_id)
    (answer,) = normalize_x({"for_user_id": BRAND, "direct_message_events": [
        dm("3700000000000000020", 1790939700000, "Refund on its way", sender=BRAND)]}).answers
    assert answer.thread_id == dm_conversation_id(DANA, BRAND)
    assert answers.apply(answer, RECEIVED) == MARKED
    # Then the latest message before it is answered; the earlier one and the later one are not
    status = {m: store.get_mention("x", m)["status"] for m in
              ("3700000000000000011", "3700000000000000012", "3700000000000000013")}
    assert status == {"3700000000000000011": "received", "3700000000000000012": "answered",
                      "3700000000000000013": "received"}
    assert store.get_mention("x", "3700000000000000012")["first_response_at"] == "2026-10-02T11:15:00Z"
    # And a redelivery, or another DM of the brand right after it, changes nothing
    assert answers.apply(answer, RECEIVED) == ALREADY
    follow_up = NativeAnswer(channel="x", reply_id="3700000000000000021", text="Anything else?",
                             at="2026-10-02T11:16:00Z", thread_id=answer.thread_id, private=True)
    assert answers.apply(follow_up, RECEIVED) == ALREADY
    assert store.get_mention("x", "3700000000000000012")["reply_id"] == "3700000000000000020"


def test_a_dm_to_a_conversation_without_mentions_is_ignored(store, answers):
    answer = NativeAnswer(channel="messenger", reply_id="m_1", text="Hi!", at="2026-10-02T11:15:00Z",
                          thread_id="4100000000000001:8100000000000001", private=True)
    assert answers.apply(answer, RECEIVED) == NOT_STORED


def test_a_dm_answers_the_conversations_first_message_when_it_is_the_only_one(store, answers):
    # Given a conversation whose one stored message opens it (its id is the conversation's: no thread listing entry)
    from responder.core.model import Author, Mention

    opener = Mention(platform="meta", channel="messenger", kind="message", mention_id="m_100", thread_id="m_100",
                     author=Author(id="8100000000000001"), text="is anyone there?", created_at="2026-10-02T11:10:00Z",
                     account_id="4100000000000001")
    store.save(opener, RECEIVED)
    assert "gsi1pk" not in store.get_mention("messenger", "m_100")
    # When the brand answers in that conversation after it, Then the opener is answered (read by its key)
    answer = NativeAnswer(channel="messenger", reply_id="m_200", text="Yes, how can we help?",
                          at="2026-10-02T11:15:00Z", thread_id="m_100", private=True)
    assert answers.apply(answer, RECEIVED) == MARKED
    assert store.get_mention("messenger", "m_100")["status"] == "answered"
    assert answers.apply(answer, RECEIVED) == ALREADY
    # And an answer dated before it answers nothing
    early = NativeAnswer(channel="messenger", reply_id="m_050", text="Hello", at="2026-10-02T11:00:00Z",
                         thread_id="m_100", private=True)
    assert answers.apply(early, RECEIVED) == NOT_STORED


def post(service, name, body=None):
    body = body if body is not None else fixture_bytes(name)
    return service.handle(api_event("POST", "/webhooks/x", body, x_headers(body)))


def test_the_webhook_applies_native_answers_after_storing_and_is_idempotent(store):
    # Given the webhook on DynamoDB Local with native answers on
    service = WebhookService(StaticCredentials(), store, FakeQueue(), answers=DynamoNativeAnswers(store))
    # When one Account Activity delivery carries Dana's mention and the brand's reply to it (in that order or not)
    mention = fixture_json("x/aaa_tweet_create_mention.json")
    reply = fixture_json("x/aaa_tweet_create_brand_reply.json")
    body = json.dumps({"for_user_id": BRAND, "tweet_create_events": reply["tweet_create_events"]
                       + mention["tweet_create_events"]}).encode()
    answer = post(service, None, body)
    # Then the mention is stored and answered by the platform, and the answer says so
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["answered"] == {"answered": 1}
    stored = store.get_mention("x", "3500000000000000001")
    assert (stored["status"], stored["reply_id"], stored["first_response_at"]) == (
        "answered", "3500000000000000009", "2026-10-02T11:05:00Z")
    # And the brand's reply became no mention of its own
    assert store.get_mention("x", "3500000000000000009") is None
    # When X redelivers it, Then it is a no-op
    again = post(service, None, body)
    assert again["statusCode"] == 200 and json.loads(again["body"])["answered"] == {"already": 1}
    assert store.get_mention("x", "3500000000000000001")["first_response_at"] == "2026-10-02T11:05:00Z"


def test_a_first_response_already_recorded_is_kept(store, answers):
    # Given a mention whose first response is recorded but whose status a late triage step set back to notified
    # (triage's RecordMention does not know about answers; see the README's limits)
    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status="notified", first_response_at="2026-10-02T09:25:00Z")
    # When a native reply arrives, Then the mention is answered again, its first response time unchanged
    assert answers.apply(brand_reply(at="2026-10-02T09:40:00Z"), RECEIVED) == MARKED
    stored = store.get_mention("x", "3200000000000000001")
    assert (stored["status"], stored["first_response_at"]) == ("answered", "2026-10-02T09:25:00Z")


def test_a_redelivered_native_answer_puts_no_text_back_on_the_thread_of_an_erased_mention(store, answers):
    # Given Dana's mention answered natively by the brand, then erased (the thread's copy of the reply goes)
    from responder.privacy.erasure import Eraser

    save(store, "x/xaa_post_mention_create.json")
    set_fields(store, "x", "3200000000000000001", status="notified")
    (answer,) = normalize_x(fixture_json("x/xaa_post_create_by_brand.json")).answers
    assert answers.apply(answer, RECEIVED) == MARKED
    Eraser(store._table, client=store.client).erase_mention("x", "3200000000000000001", source="forget",
                                                             at=RECEIVED)
    assert "last_reply_text" not in store.get_thread("x", "3200000000000000001")
    # When the platform redelivers the brand's answer
    assert answers.apply(answer, RECEIVED) == ALREADY
    # Then the thread still holds no copy of the reply's text, and the mention stays a tombstone
    assert "last_reply_text" not in store.get_thread("x", "3200000000000000001")
    assert store.get_mention("x", "3200000000000000001")["status"] == "deleted"
