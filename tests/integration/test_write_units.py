"""What storing and triaging a mention costs in DynamoDB write units, measured on DynamoDB Local, and the
guarantees the cheaper writes keep (a mention stored once, counted in its thread at most once)."""

from __future__ import annotations

import dataclasses
import zlib
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from responder.aws.storage import StorageUnavailable
from responder.ingest.normalize_x import normalize_x
from tests.conftest import fixture_json

RECEIVED = datetime(2026, 10, 2, 9, 15, 31, tzinfo=timezone.utc)


def x_mention():
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    return mention


def test_storing_a_mention_writes_each_item_and_index_entry_once(store, meter):
    # Given an X mention of about 1 KB of platform JSON
    mention = x_mention()
    # When it is stored
    store.save(mention, RECEIVED)
    # Then the mention and its compressed raw copy cost one unit each, and each index one entry: no item is billed
    # twice as in a transaction. The mention opens its thread and is its only message: no thread item (the mention
    # is read as a thread of one) and no thread listing entry (gsi1)
    assert mention.thread_id == mention.mention_id
    places = meter.index_write_units()
    assert places["table"] == 2.0
    assert {name: units for name, units in places.items() if name != "table"} == {"gsi2": 1.0, "gsi4": 1.0}
    thread = store.get_thread("x", mention.thread_id)
    assert thread["mention_count"] == 1 and thread["last_mention_id"] == mention.mention_id


def test_by_default_no_raw_copy_is_written_and_no_read_follows_the_put(dynamodb_local, table_name, meter):
    # Given a store as the webhook builds it by default (no `rawEventTtlDays`)
    from responder.aws.storage import DynamoMentionStore

    store = DynamoMentionStore(table_name, client=dynamodb_local.client())
    mention = x_mention()
    # When a mention is stored, and its delivery repeated
    assert store.save(mention, RECEIVED).created
    assert not store.save(mention, RECEIVED).created
    # Then the mention is one unit and each of its two index entries one, its repeat one refused put: no raw item. The
    # reads are the thread's bounds (half a unit) and the repeat's consistent status read (one): no read for the
    # erasure race a raw copy must check (one unit), none for a missing raw copy on the repeat (half)
    places = meter.index_write_units()
    assert places["table"] == 2.0 and places["gsi2"] == 1.0 and places["gsi4"] == 1.0
    assert dict(meter.reads) == {("GetItem", "save"): 1.5}
    assert store.get_raw("x", mention.mention_id) is None


def test_a_later_message_of_a_thread_enters_the_thread_listing(store, meter):
    # Given a stored mention that opened its thread
    opener = x_mention()
    store.save(opener, RECEIVED)
    before = meter.index_write_units()
    # When a reply in that conversation is stored
    reply = dataclasses.replace(opener, mention_id="3500000000000000009", created_at="2026-10-02T09:20:00Z")
    store.save(reply, RECEIVED)
    # Then it has a gsi1 entry, one unit, and the thread item is created, counting the opener too
    after = meter.index_write_units()
    assert after["gsi1"] - before.get("gsi1", 0) == 1.0 and after["table"] - before["table"] == 3.0
    assert [m["mention_id"] for m in store.thread_mentions("x", opener.thread_id)] == [opener.mention_id,
                                                                                       reply.mention_id]
    thread = store.get_thread("x", opener.thread_id)
    assert (thread["mention_count"], thread["first_seen_at"], thread["last_mention_id"]) == (
        2, opener.created_at, reply.mention_id)


def test_the_raw_copy_is_stored_compressed_and_read_back_whole(store, dynamodb_local, table_name):
    # Given a stored mention
    mention = x_mention()
    store.save(mention, RECEIVED)
    # When its RAW item is read as stored, and through the store
    item = dynamodb_local.client().get_item(TableName=table_name, Key={
        "pk": {"S": f"MENTION#x#{mention.mention_id}"}, "sk": {"S": "RAW"}})["Item"]
    # Then it holds zlib bytes, and get_raw gives the event's JSON text back
    assert "raw" not in item and zlib.decompress(item["raw_z"]["B"]).startswith(b"{")
    assert '"event_uuid":"3100000000000000001"' in store.get_raw("x", mention.mention_id)["raw"]


def test_a_retry_after_a_crash_before_the_thread_update_never_counts_twice(store):
    # Given a reply whose first attempt stored it and its raw copy, then failed on its thread's update
    mention = dataclasses.replace(x_mention(), mention_id="3500000000000000009")
    client = store.client
    original = client.update_item

    def thread_down(**kwargs):
        if kwargs["Key"]["sk"]["S"] == "THREAD":
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "UpdateItem")
        return original(**kwargs)

    client.update_item = thread_down
    try:
        with pytest.raises(StorageUnavailable):
            store.save(mention, RECEIVED)
    finally:
        del client.update_item
    # When the platform delivers it again, twice
    results = [store.save(mention, RECEIVED), store.save(mention, RECEIVED)]
    # Then nothing is created again and the thread counts the mention at most once (here: the count was lost)
    assert [r.created for r in results] == [False, False]
    assert (store.get_thread("x", mention.thread_id) or {}).get("mention_count", 0) <= 1


def test_a_retry_after_a_crash_before_the_raw_copy_writes_it(store):
    # Given a first attempt that stored the mention, then failed writing its raw copy
    mention = x_mention()
    client = store.client
    original = client.put_item

    def raw_down(**kwargs):
        if kwargs["Item"]["sk"]["S"] == "RAW":
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "PutItem")
        return original(**kwargs)

    client.put_item = raw_down
    try:
        with pytest.raises(StorageUnavailable):
            store.save(mention, RECEIVED)
    finally:
        del client.put_item
    assert store.get_raw("x", mention.mention_id) is None
    # When the platform delivers it again
    again = store.save(mention, RECEIVED)
    # Then the mention is not created twice, and the audit copy is there now
    assert not again.created and store.get_raw("x", mention.mention_id) is not None


def test_triage_s_update_of_a_mention_writes_no_index_entry(store, meter, table_name):
    # Given a stored mention handed to triage
    mention = x_mention()
    store.save(mention, RECEIVED)
    before = meter.index_write_units()
    # When triage records its labels, draft and status, as the workflow's RecordMention does
    store.client.update_item(
        TableName=table_name, Key={"pk": {"S": f"MENTION#x#{mention.mention_id}"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET #s = :s, sentiment = :sentiment, topic = :topic, intent = :intent, draft_text = :d",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "notified"}, ":sentiment": {"S": "negative"},
                                   ":topic": {"S": "payment"}, ":intent": {"S": "complaint"},
                                   ":d": {"S": "We are sorry, we are looking into it."}})
    # Then only the table item is written: no index projects what triage sets
    after = meter.index_write_units()
    assert {name: after[name] - before.get(name, 0) for name in after if name != "table"} == {
        name: 0 for name in after if name != "table"}
    assert after["table"] > before["table"]


def test_an_incident_reads_a_recent_mention_s_sentiment_from_the_mention(store, table_name):
    # Given a stored mention whose triage recorded a negative sentiment, and its gsi2 entry (no sentiment)
    from responder.aws.incident_store import IncidentStore

    mention = x_mention()
    store.save(mention, RECEIVED)
    store.client.update_item(
        TableName=table_name, Key={"pk": {"S": f"MENTION#x#{mention.mention_id}"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET sentiment = :s", ExpressionAttributeValues={":s": {"S": "negative"}})
    incidents = IncidentStore(store)
    (recent,) = incidents.recent_mentions("brand", datetime(2026, 10, 2, 9, 0, tzinfo=timezone.utc))
    # When the incident asks for its sentiment
    # Then it is the recorded one, and a mention not stored is `unknown`
    assert "sentiment" not in recent
    assert incidents.sentiment(recent) == "negative"
    assert incidents.sentiment({"channel": "x", "mention_id": "404"}) == "unknown"


def test_a_repeated_delivery_writes_nothing(store, meter):
    # Given a stored mention (status received: not yet handed to triage)
    mention = x_mention()
    store.save(mention, RECEIVED)
    written = meter.write_units
    # When the platform delivers it again
    again = store.save(mention, RECEIVED)
    # Then it is found, and nothing is written: its raw copy is there already. Only the put whose condition failed is
    # billed, as DynamoDB bills it: the stored mention's size in started KB
    import math

    from responder_cli.local.metering import item_size

    stored = store.client.get_item(TableName=store._table, Key={"pk": {"S": f"MENTION#x#{mention.mention_id}"},
                                                                "sk": {"S": "MENTION"}})["Item"]
    assert not again.created
    assert meter.write_units - written == max(1, math.ceil(item_size(stored) / 1024))
