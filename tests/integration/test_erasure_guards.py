"""Writers that run after an erasure (DynamoDB Local): the sender, the Instagram text fetch, the SLA bookkeeping.
None may send to, or put text back on, a tombstone, nor recreate an item that expired."""

from __future__ import annotations

from datetime import datetime, timezone

from responder.privacy.erasure import Eraser
from responder.sla.escalate import SlaStore
from tests.integration.test_sender import approved, record, rig, standins  # noqa: F401

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def test_a_reply_queued_before_the_erasure_is_never_sent(rig, dynamodb_local, table_name):
    # Given an approved reply waiting on the outbound queue
    message = approved(rig.store, "x", "mention", "1850000000000000091")
    # When the mention is erased before the sender takes the message
    done = Eraser(table_name, client=dynamodb_local.client()).erase_mention(
        "x", message["mention_id"], source="x.tweet_delete", at=AT)
    failed = rig.sender.process([record(message)])
    # Then nothing reaches the platform, nothing is retried or alerted, and the reply's text is gone
    assert done.replies == 1 and failed == [] and rig.standins.sent() == []
    assert rig.alerts.alerts == [] and rig.queue.resent == []
    item = rig.store.get_mention("x", message["mention_id"])
    assert item["status"] == "deleted" and "reply_text" not in item and "reply_nonce" not in item


def test_the_sender_refuses_a_deleted_mention_even_when_its_claim_survived(rig):
    # Given an approved reply whose mention became deleted with its claim still on it (a tombstone from any writer)
    message = approved(rig.store, "x", "mention", "1850000000000000092")
    rig.store.client.update_item(
        TableName=rig.store._table, Key={"pk": {"S": "MENTION#x#1850000000000000092"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET #s = :d", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":d": {"S": "deleted"}})
    # When the sender handles the message
    assert rig.sender.process([record(message)]) == []
    # Then it refuses for good, saying why, and sends nothing
    item = rig.store.get_mention("x", message["mention_id"])
    assert item["reply_state"] == "refused" and item["reply_error"]["code"] == "already_deleted"
    assert rig.standins.sent() == []


def test_a_fetched_instagram_text_is_not_written_onto_a_tombstone(store, dynamodb_local, table_name):
    # Given an Instagram mention erased while its text was being fetched
    Eraser(table_name, client=dynamodb_local.client()).erase_mention("instagram", "17900000000000001",
                                                                     source="meta.feed.remove", at=AT)
    # When the fetch records the text, or its error
    written = store.record_fetched_text("instagram", "17900000000000001", text="my address is 4B Elm Street")
    error = store.record_fetched_text("instagram", "17900000000000001", error={"code": "x", "reason": "y"})
    # Then neither is written, and the caller is told
    assert (written, error) == (False, False)
    tombstone = store.get_mention("instagram", "17900000000000001")
    assert "text" not in tombstone and "text_fetch_error" not in tombstone


def test_sla_bookkeeping_never_recreates_an_item_that_is_gone(store):
    # Given a mention key whose item expired (TTL) before its SLA timer's bookkeeping ran
    key = {"pk": "MENTION#x#1850000000000000093", "sk": "MENTION"}
    sla = SlaStore(store)
    # When the escalation records that it alerted, escalated, and releases its claim
    sla.alerted(key, AT)
    sla.escalated(key, AT)
    sla.release(key)
    # Then no stub item (without expires_at, so never expiring) appears
    assert store.get_mention("x", "1850000000000000093") is None
