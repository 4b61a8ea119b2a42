"""X deliveries → Mentions: every event type the webhook accepts, and the ones it ignores."""

from __future__ import annotations

import pytest

from responder.core.model import MalformedDelivery
from responder.ingest.normalize_x import dm_conversation_id, normalize_x
from tests.conftest import fixture_json

BRAND = "1000000000000000001"
DANA = "2000000000000000002"


def only(name):
    delivery = normalize_x(fixture_json(name))
    assert len(delivery.mentions) == 1, delivery
    return delivery.mentions[0]


def test_xaa_mention_carries_ids_author_media_and_language():
    m = only("x/xaa_post_mention_create.json")
    assert (m.platform, m.channel, m.kind, m.source) == ("x", "x", "mention", "xaa")
    assert m.mention_id == "3200000000000000001" and m.thread_id == "3200000000000000001"
    assert m.parent_id is None and m.account_id == BRAND and m.event_id == "3100000000000000001"
    assert m.author.id == DANA and m.author.handle == "dana_k" and m.author.name == "Dana K"
    assert m.author.followers == 2380 and m.author.verified is False
    assert m.text.startswith("@AcmeSupport my order #4411") and m.lang == "en"
    assert m.created_at == "2026-10-02T09:15:30Z"
    assert [(a.type, a.id) for a in m.attachments] == [("photo", "3_3300000000000000001")]
    assert m.raw["data"]["event_uuid"] == "3100000000000000001"


def test_xaa_long_post_uses_note_tweet_full_text():
    m = only("x/xaa_post_mention_create_note_tweet.json")
    assert m.text.endswith("Can someone from the returns team please get in touch?")
    assert "…" not in m.text
    assert m.author.verified is True and m.author.followers == 150000


def test_xaa_reply_joins_the_conversation_root_and_keeps_its_parent():
    m = only("x/xaa_post_reply_create.json")
    assert m.kind == "reply"
    assert m.thread_id == "3200000000000000001"  # conversation_id
    assert m.parent_id == "3200000000000000010"  # the brand's reply it answers
    assert m.author.id == DANA and m.author.handle is None  # no includes in this delivery


def test_xaa_quote_points_at_the_quoted_post():
    m = only("x/xaa_post_quote_create.json")
    assert m.kind == "quote" and m.parent_id == "3200000000000000020"
    assert ("quoted_post", "3200000000000000020") in [(a.type, a.id) for a in m.attachments]


def test_xaa_dm_received_is_a_private_dm_in_the_pair_conversation():
    m = only("x/xaa_dm_received.json")
    assert (m.kind, m.mention_id, m.is_private) == ("dm", "3400000000000000001", True)
    assert m.thread_id == f"{BRAND}-{DANA}"
    assert m.author.handle == "dana_k" and m.author.followers == 2380
    assert m.created_at == "2026-09-21T14:13:20Z"  # created_timestamp is epoch milliseconds


@pytest.mark.parametrize("name", ["x/xaa_like_create.json", "x/xaa_post_mention_by_brand.json"])
def test_xaa_events_that_are_not_inbound_mentions_are_ignored(name):
    delivery = normalize_x(fixture_json(name))
    assert delivery.mentions == () and delivery.ignored and delivery.answers == ()


def test_xaa_brand_post_is_kept_as_a_thread_link():
    delivery = normalize_x(fixture_json("x/xaa_post_create_by_brand.json"))
    assert [(link.post_id, link.thread_id) for link in delivery.links] == [
        ("3200000000000000010", "3200000000000000001")]


def test_aaa_mention_with_media():
    m = only("x/aaa_tweet_create_mention.json")
    assert (m.kind, m.source, m.mention_id, m.thread_id) == ("mention", "aaa", "3500000000000000001",
                                                             "3500000000000000001")
    assert m.created_at == "2026-10-02T11:00:00Z" and m.author.handle == "dana_k"
    assert [(a.type, a.id) for a in m.attachments] == [("photo", "3600000000000000001")]


def test_aaa_extended_tweet_full_text_replaces_the_truncated_text():
    m = only("x/aaa_tweet_create_extended.json")
    assert m.text.endswith("I'd like a refund for the broken items please.")


def test_aaa_reply_to_the_brand_is_a_reply_whose_thread_storage_resolves():
    m = only("x/aaa_tweet_create_reply.json")
    assert m.kind == "reply" and m.parent_id == "3500000000000000009"
    assert m.thread_from_parent and m.thread_id == "3500000000000000009"


def test_aaa_quote_of_the_brand():
    m = only("x/aaa_tweet_create_quote.json")
    assert m.kind == "quote" and m.author.verified is True


def test_aaa_brand_tweet_and_retweet_create_no_mention():
    brand = normalize_x(fixture_json("x/aaa_tweet_create_brand_reply.json"))
    assert brand.mentions == () and [link.post_id for link in brand.links] == ["3500000000000000009"]
    # And the brand's reply answers the Tweet it replies to
    (answer,) = brand.answers
    assert (answer.channel, answer.reply_id, answer.mention_id) == ("x", "3500000000000000009", "3500000000000000001")
    assert answer.text.startswith("@dana_k We're sorry!") and answer.at == "2026-10-02T11:05:00Z"
    assert not answer.private
    assert normalize_x(fixture_json("x/aaa_tweet_create_retweet.json")).mentions == ()


def test_aaa_dms_keep_inbound_and_skip_the_brands_own():
    delivery = normalize_x(fixture_json("x/aaa_direct_message_events.json"))
    assert [(m.mention_id, m.author.handle) for m in delivery.mentions] == [("3700000000000000001", "dana_k")]
    assert delivery.mentions[0].thread_id == dm_conversation_id(DANA, BRAND)
    # And the brand's own DM is a native answer to that conversation, never a mention
    (answer,) = delivery.answers
    assert (answer.reply_id, answer.thread_id, answer.mention_id) == ("3700000000000000002",
                                                                     dm_conversation_id(DANA, BRAND), None)
    assert answer.private and answer.text == "Thanks, we're checking the double charge now."
    assert answer.at == "2026-10-02T11:11:00Z"


@pytest.mark.parametrize("name", ["x/aaa_favorite_events.json", "x/aaa_typing_and_read.json"])
def test_aaa_other_activity_is_ignored(name):
    delivery = normalize_x(fixture_json(name))
    assert delivery.mentions == () and delivery.ignored


def test_dm_conversation_id_orders_numerically():
    assert dm_conversation_id("99", "100") == "99-100" == dm_conversation_id("100", "99")


@pytest.mark.parametrize("body", [
    [],
    {"for_user_id": "1", "tweet_create_events": "nope"},
    {"for_user_id": "1", "tweet_create_events": [{"id_str": "5", "text": "hi"}]},  # no user
    {"for_user_id": "1", "tweet_create_events": [{"id_str": "5", "text": "x", "user": {"id_str": "2"},
                                                  "created_at": "yesterday"}]},
    {"data": {"event_type": "post.mention.create", "filter": {"user_id": "1"}, "payload": {"id": "5"}}},
    {"data": {"event_type": "dm.received", "filter": {"user_id": "1"}, "payload": {"direct_message_events": {}}}},
])
def test_malformed_recognised_events_raise(body):
    with pytest.raises(MalformedDelivery):
        normalize_x(body)


def test_unrecognised_object_is_ignored_not_rejected():
    assert normalize_x({"hello": "world"}).ignored


def test_aaa_tweet_with_numeric_ids_only_keeps_exact_ids():
    body = fixture_json("x/aaa_tweet_create_mention.json")
    tweet = body["tweet_create_events"][0]
    del tweet["id_str"], tweet["user"]["id_str"]
    (m,) = normalize_x(body).mentions
    assert m.mention_id == "3500000000000000001" and m.author.id == DANA


def test_included_users_wrapped_in_data_still_give_the_author():
    body = fixture_json("x/xaa_post_mention_create.json")
    body["data"]["includes"]["users"] = [{"data": u} for u in body["data"]["includes"]["users"]]
    (m,) = normalize_x(body).mentions
    assert (m.author.handle, m.author.followers) == ("dana_k", 2380)


def test_text_longer_than_any_platform_allows_is_refused_without_quoting_it():
    # Given a post 500,000 characters long (X's own limit is 25,000)
    body = fixture_json("x/xaa_post_mention_create.json")
    body["data"]["payload"]["text"] = "secret " * 70_000
    # Then the delivery is malformed, and the error names the field and the bound, not the text
    with pytest.raises(MalformedDelivery) as refused:
        normalize_x(body)
    assert "text" in str(refused.value) and "60000" in str(refused.value) and "secret" not in str(refused.value)


def test_text_of_the_maximum_length_is_kept_whole():
    body = fixture_json("x/xaa_post_mention_create.json")
    body["data"]["payload"]["text"] = "\U0001F600" * 60_000
    (m,) = normalize_x(body).mentions
    assert len(m.text) == 60_000


# --- native answers: the brand's own replies ---------------------------------------------------------------


def test_xaa_post_create_replying_is_a_native_answer_and_keeps_its_thread_link():
    # Given X Activity API post.create for the filtered user's reply to a customer's post
    delivery = normalize_x(fixture_json("x/xaa_post_create_by_brand.json"))
    # Then it is no mention, still links its thread, and answers the post it replies to
    assert delivery.mentions == ()
    assert [(link.post_id, link.thread_id) for link in delivery.links] == [("3200000000000000010",
                                                                            "3200000000000000001")]
    (answer,) = delivery.answers
    assert (answer.mention_id, answer.reply_id, answer.at) == ("3200000000000000001", "3200000000000000010",
                                                               "2026-10-02T09:30:00Z")
    assert answer.text.startswith("@dana_k Sorry about the wait")


def xaa(event_type, payload):
    return {"data": {"event_uuid": "3100000000000000099", "filter": {"user_id": BRAND}, "event_type": event_type,
                     "tag": "brand", "payload": payload, "includes": {}}}


def test_xaa_reply_named_only_by_referenced_tweets_is_an_answer_and_a_standalone_post_is_not():
    # Given the brand's post replying through referenced_tweets (no in_reply_to_tweet_id), and a standalone post
    reply = xaa("post.create", {"id": "3200000000000000020", "author_id": BRAND, "text": "@dana_k on it",
                                "created_at": "2026-10-02T09:40:00.000Z", "conversation_id": "3200000000000000001",
                                "referenced_tweets": [{"type": "replied_to", "id": "3200000000000000005"}]})
    standalone = xaa("post.create", {"id": "3200000000000000021", "author_id": BRAND, "text": "Store hours",
                                     "created_at": "2026-10-02T09:41:00.000Z"})
    # Then the reply answers the referenced post; the standalone post answers nothing
    assert [a.mention_id for a in normalize_x(reply).answers] == ["3200000000000000005"]
    quiet = normalize_x(standalone)
    assert quiet.answers == () and quiet.ignored and len(quiet.links) == 1


def test_xaa_dm_sent_answers_the_conversation_privately():
    # Given X Activity API dm.sent: the brand's DM to a customer (the documented message_create shape)
    body = xaa("dm.sent", {"direct_message_events": [{
        "type": "message_create", "id": "3800000000000000001", "created_timestamp": "1790939520000",
        "message_create": {"target": {"recipient_id": DANA}, "sender_id": BRAND,
                           "message_data": {"text": "Refund issued, Dana."}}}], "users": {}})
    delivery = normalize_x(body)
    # Then it is no mention but an answer to the conversation with Dana, marked private
    assert delivery.mentions == ()
    (answer,) = delivery.answers
    assert (answer.thread_id, answer.reply_id, answer.private) == (dm_conversation_id(DANA, BRAND),
                                                                   "3800000000000000001", True)
    assert answer.at == "2026-10-02T11:12:00Z"


def test_a_brand_reply_with_a_hostile_parent_id_is_refused_whole():
    body = xaa("post.create", {"id": "3200000000000000030", "author_id": BRAND, "text": "x",
                               "in_reply_to_tweet_id": "not an id with spaces"})
    with pytest.raises(MalformedDelivery):
        normalize_x(body)


def test_a_brand_dm_without_text_still_answers_and_is_not_refused():
    # Given the brand's DM carrying only an attachment (no text)
    body = xaa("dm.sent", {"direct_message_events": [{
        "type": "message_create", "id": "3800000000000000002", "created_timestamp": "1790939520000",
        "message_create": {"target": {"recipient_id": DANA}, "sender_id": BRAND, "message_data": {}}}]})
    # Then it answers the conversation with an empty text, as before it was never a reason to refuse the delivery
    (answer,) = normalize_x(body).answers
    assert (answer.text, answer.thread_id) == ("", dm_conversation_id(DANA, BRAND))
