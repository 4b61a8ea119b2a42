"""Meta deliveries → Mentions: Page feed and mentions, Messenger, Instagram, WhatsApp, batches."""

from __future__ import annotations

import pytest

from responder.core.model import MalformedDelivery
from responder.ingest.normalize_meta import normalize_meta
from tests.conftest import fixture_json

PAGE = "4100000000000001"
IG = "17841400000000001"


def mentions(name):
    return normalize_meta(fixture_json(name)).mentions


def test_page_feed_comment():
    (m,) = mentions("meta/page_feed_comment.json")
    assert (m.platform, m.channel, m.kind) == ("meta", "facebook", "comment")
    assert m.mention_id == "6100000000000001_7100000000000001"
    assert m.thread_id == f"{PAGE}_6100000000000001" and m.parent_id == f"{PAGE}_6100000000000001"
    assert m.author.id == "5100000000000001" and m.author.name == "Priya Natarajan"
    assert m.text.startswith("Ordered the blue one") and m.account_id == PAGE
    assert m.created_at == "2026-10-02T11:20:00Z"


def test_page_comment_reply_stays_in_the_post_thread():
    (m,) = mentions("meta/page_feed_comment_reply.json")
    assert m.thread_id == f"{PAGE}_6100000000000001" and m.parent_id == "6100000000000001_7100000000000001"


def test_page_own_comment_answers_the_comment_it_replies_to_and_reactions_are_ignored():
    delivery = normalize_meta(fixture_json("meta/page_feed_comment_by_page_and_reaction.json"))
    assert delivery.mentions == () and delivery.ignored == ("meta page feed reaction add",)
    # The Page's comment under Priya's comment is a native answer to it
    (answer,) = delivery.answers
    assert (answer.channel, answer.mention_id, answer.reply_id) == (
        "facebook", "6100000000000001_7100000000000001", "6100000000000001_7100000000000003")
    assert answer.text == "Hi Priya, we've sent you a private message." and answer.at == "2026-10-02T11:26:40Z"
    assert not answer.private


def test_a_page_comment_without_a_parent_and_a_page_post_answer_nothing():
    # Given the Page's own top-level post (no parent) in its feed
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1790940400, "changes": [{"field": "feed", "value": {
        "from": {"id": PAGE, "name": "Acme"}, "message": "New store hours", "post_id": f"{PAGE}_6100000000000009",
        "created_time": 1790940400, "item": "status", "verb": "add"}}]}]}
    delivery = normalize_meta(body)
    assert delivery.mentions == () and delivery.answers == () and delivery.ignored


def test_page_mention():
    (m,) = mentions("meta/page_mention.json")
    assert (m.kind, m.mention_id, m.author.name) == ("mention", "5100000000000003_6200000000000001", "Lena Fischer")
    assert m.text.startswith("Shout-out")


def test_messenger_message_is_private_and_threaded_per_person():
    (m,) = mentions("meta/messenger_message.json")
    assert (m.channel, m.kind, m.is_private) == ("messenger", "message", True)
    assert m.mention_id.startswith("m_AbCd") and m.thread_id == f"{PAGE}:8100000000000001"
    assert m.created_at == "2026-10-02T11:30:00Z"  # milliseconds
    assert [a.type for a in m.attachments] == ["image"]


def test_messenger_echoes_answer_the_conversation_and_receipts_are_ignored():
    delivery = normalize_meta(fixture_json("meta/messenger_echo_and_receipts.json"))
    assert delivery.mentions == ()
    assert {"meta page messaging delivery", "meta page messaging read"} == set(delivery.ignored)
    # The echo (the Page's message to the person, from any app) answers that person's conversation, privately
    (answer,) = delivery.answers
    assert (answer.channel, answer.thread_id, answer.reply_id) == ("messenger", f"{PAGE}:8100000000000001",
                                                                   "m_echoExampleMid2")
    assert answer.private and answer.mention_id is None and answer.at == "2026-10-02T11:31:40Z"


def test_an_instagram_reply_by_the_account_answers_the_comment():
    # Given Instagram's comments webhook for the account's own reply to a customer's comment
    body = {"object": "instagram", "entry": [{"id": IG, "time": 1790940950, "changes": [{"field": "comments", "value": {
        "from": {"id": IG, "username": "acme"}, "media": {"id": "18000000000000001", "media_product_type": "FEED"},
        "id": "18100000000000003", "parent_id": "18100000000000001", "text": "@sofia.travels it does!"}}]}]}
    delivery = normalize_meta(body)
    # Then it is no mention but an answer to that comment
    assert delivery.mentions == ()
    (answer,) = delivery.answers
    assert (answer.channel, answer.mention_id, answer.reply_id) == ("instagram", "18100000000000001",
                                                                    "18100000000000003")
    assert answer.at is None  # no timestamp in the update: the time it was received is used


def test_instagram_comment_and_reply_share_the_media_thread():
    (top,) = mentions("meta/instagram_comment.json")
    (reply,) = mentions("meta/instagram_comment_reply.json")
    assert (top.channel, top.kind, top.author.handle) == ("instagram", "comment", "sofia.travels")
    assert top.thread_id == reply.thread_id == "18000000000000001"
    assert reply.parent_id == top.mention_id == "18100000000000001"


def test_instagram_mention_has_ids_only():
    (m,) = mentions("meta/instagram_mention.json")
    assert (m.kind, m.mention_id, m.thread_id, m.text) == ("mention", "18100000000000099", "18000000000000099", "")


def test_instagram_dm_keeps_the_inbound_message_and_skips_the_echo():
    delivery = normalize_meta(fixture_json("meta/instagram_messaging.json"))
    (m,) = delivery.mentions
    assert (m.channel, m.kind, m.thread_id) == ("instagram", "dm", f"{IG}:9200000000000001")
    (answer,) = delivery.answers
    assert (answer.channel, answer.thread_id, answer.private) == ("instagram", m.thread_id, True)


def test_whatsapp_text():
    (m,) = mentions("meta/whatsapp_text.json")
    assert (m.channel, m.kind, m.account_id) == ("whatsapp", "message", "106500000000001")
    assert m.mention_id.startswith("wamid.") and m.thread_id == "106500000000001:15550002222"
    assert m.author.name == "Amara Okafor" and m.text.endswith("Order 88231.")
    assert m.created_at == "2026-10-02T11:40:00Z"


def test_whatsapp_image_reply_uses_caption_and_context():
    (m,) = mentions("meta/whatsapp_image_reply.json")
    assert m.text == "This is the doorstep photo the courier sent"
    assert m.parent_id.startswith("wamid.") and [a.type for a in m.attachments] == ["image"]


def test_whatsapp_statuses_are_ignored():
    delivery = normalize_meta(fixture_json("meta/whatsapp_statuses.json"))
    assert delivery.mentions == () and delivery.ignored


def test_batched_delivery_yields_every_entry():
    delivery = normalize_meta(fixture_json("meta/page_batch.json"))
    assert [m.channel for m in delivery.mentions] == ["facebook"] * 3 + ["messenger"]
    assert len({m.mention_id for m in delivery.mentions}) == 4


def test_raw_copy_holds_only_its_own_update():
    delivery = normalize_meta(fixture_json("meta/page_batch.json"))
    for m in delivery.mentions:
        (entry,) = m.raw["entry"]
        updates = entry.get("changes") or entry.get("messaging")
        assert len(updates) == 1


def test_unknown_object_is_ignored():
    assert normalize_meta({"object": "user", "entry": [{"id": "1", "changes": []}]}).ignored


@pytest.mark.parametrize("body", [
    [],
    {"object": "page"},
    {"object": "page", "entry": [{"changes": []}]},
    {"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed", "value": "x"}]}]},
    {"object": "page", "entry": [{"id": "1", "changes": [{"field": "feed", "value": {
        "item": "comment", "verb": "add", "from": {"id": "2"}, "post_id": "1_3"}}]}]},  # no comment_id
    {"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {"id": "2"}, "message": {"text": "hi"}}]}]},
    {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "9"}, "messages": [{"from": "5", "id": "wamid.x", "type": "text"}]}}]}]},
])
def test_malformed_recognised_updates_raise(body):
    with pytest.raises(MalformedDelivery):
        normalize_meta(body)


def test_comment_without_from_is_kept_with_an_unknown_author():
    body = fixture_json("meta/page_feed_comment.json")
    del body["entry"][0]["changes"][0]["value"]["from"]
    (m,) = normalize_meta(body).mentions
    assert m.author.id == "unknown" and m.text.startswith("Ordered the blue one")


def test_visitor_post_on_the_page_is_a_mention_and_the_pages_own_post_is_not():
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1790950000, "changes": [
        {"field": "feed", "value": {"from": {"id": "5100000000000009", "name": "Ana Ruiz"}, "item": "status",
                                    "verb": "add", "post_id": f"{PAGE}_6300000000000001",
                                    "message": "Your Main Street store was closed during opening hours today",
                                    "created_time": 1790950000}},
        {"field": "feed", "value": {"from": {"id": PAGE, "name": "Acme Outfitters"}, "item": "status", "verb": "add",
                                    "post_id": f"{PAGE}_6300000000000002", "message": "New season!",
                                    "created_time": 1790950100}}]}]}
    delivery = normalize_meta(body)
    (m,) = delivery.mentions
    assert (m.kind, m.mention_id, m.thread_id) == ("mention", f"{PAGE}_6300000000000001", f"{PAGE}_6300000000000001")
    assert "meta page feed status by the page" in delivery.ignored


def test_whatsapp_reactions_are_ignored():
    body = fixture_json("meta/whatsapp_text.json")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(type="reaction", reaction={"message_id": "wamid.abc", "emoji": "\U0001f44d"})
    message.pop("text")
    delivery = normalize_meta(body)
    assert delivery.mentions == () and delivery.ignored


# --- shapes seen in real deliveries -------------------------------------------------------------------


def test_page_mention_without_sender_id_is_kept():
    body = fixture_json("meta/page_mention.json")
    value = body["entry"][0]["changes"][0]["value"]
    del value["sender_id"], value["sender_name"]
    (m,) = normalize_meta(body).mentions
    assert (m.kind, m.author.id) == ("mention", "unknown")


def test_fields_without_value_are_ignored_and_do_not_refuse_the_batch():
    body = fixture_json("meta/page_feed_comment.json")
    body["entry"][0]["changes"].insert(0, {"field": "parking"})
    body["entry"].append({"id": PAGE, "time": 1, "changes": [{"field": "payment_options"}]})
    delivery = normalize_meta(body)
    assert len(delivery.mentions) == 1 and "meta page parking" in delivery.ignored


def test_legacy_feed_sender_fields_identify_the_page_itself():
    body = fixture_json("meta/page_feed_comment.json")
    value = body["entry"][0]["changes"][0]["value"]
    del value["from"]
    value.update(sender_id=int(PAGE), sender_name="Acme Outfitters")
    assert normalize_meta(body).mentions == ()


def test_messenger_sender_known_only_by_user_ref():
    body = fixture_json("meta/messenger_message.json")
    body["entry"][0]["messaging"][0]["sender"] = {"user_ref": "ref-8842"}
    (m,) = normalize_meta(body).mentions
    assert m.author.id == "ref:ref-8842" and m.thread_id == f"{PAGE}:ref:ref-8842"


def test_a_user_ref_never_passes_for_a_person_or_the_page():
    # Given plugin senders whose user_ref equals a person's page-scoped id, or the Page's own id
    for ref in ("8100000000000001", PAGE):
        body = fixture_json("meta/messenger_message.json")
        body["entry"][0]["messaging"][0]["sender"] = {"user_ref": ref}
        (m,) = normalize_meta(body).mentions
        # Then each is its own author and thread, not the person's (and not dropped as the Page's own message)
        assert m.author.id == f"ref:{ref}" and m.thread_id == f"{PAGE}:ref:{ref}"


def test_whatsapp_sender_known_only_by_business_scoped_id():
    body = fixture_json("meta/whatsapp_text.json")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["from_user_id"] = "US.13491208655302741918"
    del message["from"]
    (m,) = normalize_meta(body).mentions
    assert m.author.id == "US.13491208655302741918"


def test_messenger_message_in_the_changes_shape():
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1790940600, "changes": [{"field": "messages", "value": {
        "sender": {"id": "8100000000000005"}, "recipient": {"id": PAGE}, "timestamp": 1790940600000,
        "message": {"mid": "m_changesShapeMid", "text": "Are you open today?"}}}]}]}
    (m,) = normalize_meta(body).mentions
    assert (m.channel, m.kind, m.mention_id) == ("messenger", "message", "m_changesShapeMid")


def test_names_that_arrive_as_numbers_become_strings():
    body = fixture_json("meta/whatsapp_text.json")
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = 2.5
    (m,) = normalize_meta(body).mentions
    assert m.author.name == "2.5"


def test_out_of_range_timestamps_are_malformed():
    body = fixture_json("meta/page_feed_comment.json")
    body["entry"][0]["changes"][0]["value"]["created_time"] = 1e30
    with pytest.raises(MalformedDelivery):
        normalize_meta(body)
