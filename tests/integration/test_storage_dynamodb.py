"""The DynamoDB adapter against DynamoDB Local: idempotency, concurrency, thread stitching, outages."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from responder.ingest.intake import ingest
from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from responder.aws.json_api import AwsJsonClient
from responder.aws.storage import FIRST_ATTEMPT_OVER_SECONDS, DynamoMentionStore, StorageUnavailable
from responder.ingest.webhook import WebhookService
from responder_cli.local.dynamodb_local import DynamoDBLocal
from tests.conftest import StaticCredentials, fixture_bytes, fixture_json, x_headers
from tests.fakes import FakeQueue


@pytest.fixture(params=["boto3", "json"])
def store(request, dynamodb_local, table_name, monkeypatch):
    """The store on boto3's client (everywhere but Lambda) and on the webhook's JSON-protocol client (Lambda)."""
    if request.param == "boto3":
        return DynamoMentionStore(table_name, raw_event_ttl_days=30, client=dynamodb_local.client())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    client = AwsJsonClient("dynamodb", region="us-east-1", endpoint_url=dynamodb_local.endpoint, connect_timeout=1,
                           read_timeout=5)
    return DynamoMentionStore(table_name, raw_event_ttl_days=30, client=client)


def x_mentions(name):
    return normalize_x(fixture_json(name))


def test_mention_raw_event_and_thread_are_written_together(store):
    # Given one XAA mention
    (mention,) = x_mentions("x/xaa_post_mention_create.json").mentions
    received = datetime(2026, 10, 2, 9, 15, 31, tzinfo=timezone.utc)
    # When it is saved
    result = store.save(mention, received)
    # Then the mention, its raw copy with a TTL and its thread exist
    assert result.created and result.status == "received"
    stored = store.get_mention("x", mention.mention_id)
    assert stored["text"] == mention.text and stored["author"]["handle"] == "dana_k"
    assert stored["thread_id"] == "3200000000000000001" and stored["status"] == "received"
    raw = store.get_raw("x", mention.mention_id)
    assert json.loads(raw["raw"])["data"]["event_uuid"] == "3100000000000000001"
    assert raw["expires_at"] == int(received.timestamp()) + 30 * 86_400
    thread = store.get_thread("x", "3200000000000000001")
    assert thread["mention_count"] == 1 and thread["account_id"] == "1000000000000000001"
    assert thread["last_activity_at"] == "2026-10-02T09:15:30Z"


def test_same_mention_saved_again_is_a_duplicate_and_counted_once(store):
    (mention,) = x_mentions("x/xaa_post_mention_create.json").mentions
    assert store.save(mention).created
    again = store.save(mention)
    assert not again.created and again.status == "received"
    assert store.get_thread("x", mention.thread_id)["mention_count"] == 1


def test_five_concurrent_deliveries_of_one_mention_store_one(store):
    # Given the same delivery arriving five times at once
    (mention,) = x_mentions("x/xaa_post_mention_create.json").mentions
    barrier = threading.Barrier(5)

    def save():
        barrier.wait()
        return store.save(mention)

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: save(), range(5)))
    # Then exactly one call created it and the thread counts it once
    assert sum(r.created for r in results) == 1
    assert store.get_thread("x", mention.thread_id)["mention_count"] == 1
    assert len(store.thread_mentions("x", mention.thread_id)) == 1


def test_concurrent_different_mentions_of_one_thread_are_all_counted(store):
    # Given ten distinct comments on the same post arriving at once (transactions conflict on the thread)
    base = fixture_json("meta/page_feed_comment.json")
    mentions = []
    for i in range(10):
        body = json.loads(json.dumps(base))
        value = body["entry"][0]["changes"][0]["value"]
        value["comment_id"] = f"6100000000000001_80000000000000{i:02d}"
        value["from"]["id"] = f"53000000000000{i:02d}"
        mentions.extend(normalize_meta(body).mentions)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(store.save, mentions))
    # Then all ten are stored and counted
    assert all(r.created for r in results)
    thread = store.get_thread("facebook", mentions[0].thread_id)
    assert thread["mention_count"] == 10
    assert len({m["author"]["id"] for m in store.thread_mentions("facebook", mentions[0].thread_id)}) == 10


def test_aaa_reply_to_a_brand_reply_joins_the_original_thread(store):
    # Given a customer mention, the brand's reply to it, then the customer's reply to the brand
    queue = FakeQueue()
    for name in ("x/aaa_tweet_create_mention.json", "x/aaa_tweet_create_brand_reply.json",
                 "x/aaa_tweet_create_reply.json"):
        delivery = x_mentions(name)
        ingest(delivery.mentions, store, queue, links=delivery.links)
    # Then both customer tweets are in one thread rooted at the first mention
    thread = store.get_thread("x", "3500000000000000001")
    assert thread["mention_count"] == 2
    assert [m["mention_id"] for m in store.thread_mentions("x", "3500000000000000001")] == [
        "3500000000000000001", "3500000000000000002"]
    assert store.get_thread("x", "3500000000000000009") is None


def test_first_and_last_activity_only_move_outwards_whatever_the_arrival_order(store):
    queue = FakeQueue()
    (reply,) = x_mentions("x/xaa_post_reply_create.json").mentions  # 09:40:12, conversation ...001
    (root,) = x_mentions("x/xaa_post_mention_create.json").mentions  # 09:15:30, same conversation
    middle = replace(reply, mention_id="3200000000000000099", created_at="2026-10-02T09:20:00Z")
    # Given the newest arrives first, then the oldest, then one in between
    for mention in (reply, root, middle):
        ingest([mention], store, queue)
    # Then the bounds are the true oldest and newest, and every mention is counted once
    thread = store.get_thread("x", "3200000000000000001")
    assert thread["mention_count"] == 3
    assert thread["first_seen_at"] == "2026-10-02T09:15:30Z"
    assert (thread["last_activity_at"], thread["last_mention_id"]) == ("2026-10-02T09:40:12Z", reply.mention_id)


def test_a_repeat_does_not_enqueue_again_and_nothing_is_written_after_the_send(store, meter):
    # Given a Meta batch stored and enqueued
    queue = FakeQueue()
    delivery = normalize_meta(fixture_json("meta/page_batch.json"))
    first = ingest(delivery.mentions, store, queue)
    before = {key: entry[0] for key, entry in meter.writes.items()}
    # When Meta repeats it at once (the first attempt may still be sending)
    second = ingest(delivery.mentions, store, queue)
    # Then nothing is stored, enqueued or written again (the only writes billed are the four puts whose condition
    # failed), and the mentions stay `received` until triage claims them
    assert len(first.stored) == 4 and len(second.duplicates) == 4
    grown = {key: entry[0] - before.get(key, 0) for key, entry in meter.writes.items() if entry[0] != before.get(key, 0)}
    # (the meter wraps both clients: boto3's and the JSON-protocol one)
    assert len(queue.sent) == 4 and list(grown.values()) == [4]
    assert all(caller.endswith("(condition failed)") for _, _, caller in grown)
    assert {store.get_mention(m.channel, m.mention_id)["status"] for m in delivery.mentions} == {"received"}
    # And a repeat once the first attempt is over (it crashed before its send) enqueues what is still `received`
    later = datetime.now(timezone.utc) + timedelta(seconds=FIRST_ATTEMPT_OVER_SECONDS)
    assert len(ingest(delivery.mentions, store, queue, received_at=later).enqueued) == 4


def test_unreachable_dynamodb_raises_storage_unavailable(table_specs):
    # Given a store pointing at a port where nothing listens
    ddb = DynamoDBLocal()
    store = DynamoMentionStore("missing", client=ddb.client())
    (mention,) = x_mentions("x/xaa_post_mention_create.json").mentions
    with pytest.raises(StorageUnavailable):
        store.save(mention)


def test_webhook_answers_503_while_dynamodb_is_down_and_stores_once_after(table_specs):
    # Given a webhook whose DynamoDB Local is stopped
    ddb = DynamoDBLocal()
    client = ddb.client()
    queue = FakeQueue()
    (spec,) = table_specs
    body = fixture_bytes("x/xaa_post_mention_create.json")
    event = {"rawPath": "/webhooks/x", "requestContext": {"http": {"method": "POST"}},
             "headers": x_headers(body), "body": body.decode()}
    service = WebhookService(StaticCredentials(), DynamoMentionStore(spec.logical_id, client=client), queue)
    # When X delivers, Then the answer is 503 so X retries
    assert service.handle(event)["statusCode"] == 503
    # When DynamoDB is back and X retries twice, Then the mention is stored once and enqueued once
    with ddb:
        client.create_table(**spec.create_args)
        assert service.handle(event)["statusCode"] == 200
        assert service.handle(event)["statusCode"] == 200
        store = DynamoMentionStore(spec.logical_id, client=client)
        assert store.get_mention("x", "3200000000000000001")["status"] == "received"
        assert len(store.list_items("mention")) == 1 and len(queue.sent) == 1


def test_a_large_meta_batch_is_stored_completely_in_parallel(store):
    # Given one delivery with 300 comments on the same post (Meta batches up to 1,000)
    base = fixture_json("meta/page_feed_comment.json")
    entries = []
    for i in range(300):
        entry = json.loads(json.dumps(base["entry"][0]))
        entry["changes"][0]["value"]["comment_id"] = f"6100000000000001_9{i:015d}"
        entries.append(entry)
    delivery = normalize_meta({"object": "page", "entry": entries})
    queue = FakeQueue()
    # When it is ingested, Then every comment is stored, counted and enqueued once
    result = ingest(delivery.mentions, store, queue)
    assert len(result.stored) == 300 and len(queue.sent) == 300
    assert store.get_thread("facebook", delivery.mentions[0].thread_id)["mention_count"] == 300


def stored_with_status(store, status):
    """An X mention stored, then given `status` as triage, replies or erasure would have left it."""
    (mention,) = x_mentions("x/xaa_post_mention_create.json").mentions
    store.save(mention)
    store.client.update_item(TableName=store._table, Key=store._item({"pk": f"MENTION#x#{mention.mention_id}",
                                                                      "sk": "MENTION"}),
                             UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues=store._item({":s": status}))
    return mention


@pytest.mark.parametrize("status", ["received", "queued", "triaging", "triage_failed"])
def test_triage_reads_a_mention_awaiting_it_and_writes_nothing(store, meter, status):
    # Given a stored mention awaiting triage (`queued` and `triaging`: as earlier versions left them)
    mention = stored_with_status(store, status)
    before = meter.write_units
    # When triage reads it, Then it gets the mention, at no write unit (the outcome's conditional write is the guard)
    assert store.awaiting_triage("x", mention.mention_id)["mention_id"] == mention.mention_id
    assert meter.write_units == before


@pytest.mark.parametrize("status", ["notified", "incident", "archived", "answered", "handled", "deleted"])
def test_triage_finds_nothing_to_do_on_a_mention_triaged_or_closed(store, status):
    mention = stored_with_status(store, status)
    assert store.awaiting_triage("x", mention.mention_id) is None
    assert store.awaiting_triage("x", "3999999999999999999") is None  # never stored


# --- stranded mentions and storage refusals, on the real engine -----------------------------------------


class Backlog:
    """The triage queue's oldest message age, as its CloudWatch metric reports it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def oldest_age_seconds(self) -> float:
        return self.seconds


def recorded(store, mention) -> None:
    """What triage's outcome leaves on a mention: it is no longer `received`."""
    store.client.update_item(TableName=store._table,
                             Key=store._item({"pk": f"MENTION#{mention.channel}#{mention.mention_id}", "sk": "MENTION"}),
                             UpdateExpression="SET #s = :n", ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues=store._item({":n": "notified"}))


def test_the_sweeper_enqueues_once_what_was_never_enqueued_and_leaves_what_waits_in_a_queue_behind(store):
    from responder.ingest.sweeper import requeue_stranded

    # Given a surge: the queue's oldest message is 20 minutes old; a mention stored 30 minutes ago was never
    # enqueued (the webhook died after the write), one enqueued 10 minutes ago still waits in the queue, and one
    # stored 40 minutes ago was triaged
    now = datetime(2026, 12, 1, 12, 0, 30, 500_000, tzinfo=timezone.utc)
    stranded, waiting, claimed = (x_mentions(n).mentions[0] for n in (
        "x/xaa_post_mention_create.json", "x/xaa_post_reply_create.json", "x/xaa_dm_received.json"))
    store.save(stranded, now - timedelta(minutes=30))
    ingest([waiting], store, FakeQueue(), received_at=now - timedelta(minutes=10))
    store.save(claimed, now - timedelta(minutes=40))
    recorded(store, claimed)
    backlog, queue = Backlog(20 * 60), FakeQueue()
    # When the sweeper runs, and again every two minutes while the queue stays behind
    assert requeue_stranded(store, queue, backlog, now=now) == 1
    for minutes in (2, 4, 6):
        backlog.seconds += 120
        assert requeue_stranded(store, queue, backlog, now=now + timedelta(minutes=minutes)) == 0
    # Then only the one never enqueued was sent, once; the waiting one is left to its own message
    assert [m.mention_id for m in queue.sent] == [stranded.mention_id]
    # And once the queue drained and triage recorded the waiting one, nothing more is sent
    recorded(store, waiting)
    assert requeue_stranded(store, queue, Backlog(0), now=now + timedelta(minutes=30)) == 0
    assert [m.mention_id for m in queue.sent] == [stranded.mention_id]
    # And the watermark, one item, is where the last sweep's window ended
    assert store.sweep_watermark() == datetime(2026, 12, 1, 12, 27, 30, tzinfo=timezone.utc)


def test_a_sweep_that_crashed_before_moving_its_watermark_reads_the_same_window_again(store):
    from responder.ingest.sweeper import requeue_stranded

    # Given a mention never enqueued, and a sweep that sent it but died before moving the watermark
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    (mention,) = x_mentions("x/xaa_post_mention_create.json").mentions
    store.save(mention, now - timedelta(minutes=55))  # in the first sweep's first window (an hour back)
    original = store.advance_sweep_watermark
    store.advance_sweep_watermark = lambda previous, until: (_ for _ in ()).throw(StorageUnavailable("died"))
    queue = FakeQueue()
    with pytest.raises(StorageUnavailable):
        requeue_stranded(store, queue, Backlog(0), now=now)
    # When the next sweep runs
    store.advance_sweep_watermark = original
    assert requeue_stranded(store, queue, Backlog(0), now=now + timedelta(minutes=2)) == 1
    # Then the mention is sent again (triage's claim makes the second message harmless), never lost
    assert [m.mention_id for m in queue.sent] == [mention.mention_id] * 2


def test_the_sweeper_finds_mentions_listed_under_the_gsi2_partitions_of_earlier_versions(store):
    from responder.ingest.sweeper import requeue_stranded
    from responder.surge.incidents import BRAND_KEY

    # Given three mentions stored 30 minutes ago and never enqueued: one listed under shard 09 of the 16 an earlier
    # version wrote, one in the unsharded partition of the version before it, one as mentions are listed now
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    mentions = [x_mentions(n).mentions[0] for n in (
        "x/xaa_post_mention_create.json", "x/xaa_post_reply_create.json", "x/xaa_dm_received.json")]
    for mention in mentions:
        store.save(mention, now - timedelta(minutes=30))
    for mention, partition in zip(mentions, (f"ACCOUNT#{BRAND_KEY}#09", f"ACCOUNT#{BRAND_KEY}")):
        store.client.update_item(TableName=store._table, Key=store._item(
            {"pk": f"MENTION#{mention.channel}#{mention.mention_id}", "sk": "MENTION"}),
            UpdateExpression="SET gsi2pk = :p", ExpressionAttributeValues=store._item({":p": partition}))
    queue = FakeQueue()
    # When the sweeper runs
    assert requeue_stranded(store, queue, Backlog(0), now=now) == 3
    # Then all three are handed to triage: an upgrade strands none of those stored before it
    assert sorted(m.mention_id for m in queue.sent) == sorted(m.mention_id for m in mentions)


def test_dynamodb_validation_errors_are_refusals_not_outages(store):
    from responder.aws.storage import StorageRejected

    # Given items DynamoDB itself refuses: a key past 2,048 bytes, a number past 38 digits
    too_long_key = store._item({"pk": "MENTION#x#" + "1" * 3000, "sk": "MENTION"})
    too_many_digits = store._item({"pk": "p", "sk": "s"}) | {"followers": {"N": "1" * 40}}
    for item in (too_long_key, too_many_digits):
        # Then the adapter raises StorageRejected (answered 400), never StorageUnavailable (503)
        with pytest.raises(StorageRejected):
            store._call(store.client.put_item, TableName=store._table, Item=item)


def test_a_number_the_serializer_cannot_store_is_a_refusal(store):
    from responder.aws.storage import StorageRejected

    with pytest.raises(StorageRejected):
        store._item({"followers": 10**40})


def test_an_opener_a_reply_counted_while_it_was_stored_is_not_counted_again(store):
    # Given a mention that opens its thread, and a reply to it stored by another invocation between the opener's put
    # and the opener's own count (the reply creates the thread item, counting the opener it reads)
    (reply,) = x_mentions("x/xaa_post_reply_create.json").mentions
    (root,) = x_mentions("x/xaa_post_mention_create.json").mentions
    assert root.mention_id == root.thread_id == reply.thread_id
    other = DynamoMentionStore(store._table, raw_event_ttl_days=30, client=store.client)
    put_raw = store._put_raw

    def reply_meanwhile(mention, received_at):
        put_raw(mention, received_at)
        assert other.save(reply).created

    store._put_raw = reply_meanwhile
    # When the opener's save then counts it in its thread
    assert store.save(root).created
    # Then the thread holds two messages, each counted once
    thread = store.get_thread("x", root.thread_id)
    assert thread["mention_count"] == 2
    assert (thread["first_seen_at"], thread["last_mention_id"]) == (root.created_at, reply.mention_id)


def test_a_tombstone_of_a_mention_never_stored_is_not_counted_in_its_thread(store):
    # Given a delete notice for a thread's first post that arrived before the post (a tombstone, never stored)
    from responder.privacy.erasure import Eraser

    (reply,) = x_mentions("x/xaa_post_reply_create.json").mentions
    Eraser(store._table, client=store.client).erase_mention("x", reply.thread_id, source="x-delete",
                                                            at=datetime(2026, 10, 2, 9, 16, tzinfo=timezone.utc))
    # When a reply in that conversation is stored
    assert store.save(reply).created
    # Then the thread counts the reply only: the deleted post was never one of its stored messages
    thread = store.get_thread("x", reply.thread_id)
    assert thread["mention_count"] == 1 and thread["first_seen_at"] == reply.created_at


def test_a_thread_item_holding_only_a_reply_is_completed_by_the_threads_next_message(store):
    # Given a mention alone in its thread, and a thread item with nothing but its reply: what the reply ledger wrote
    # before it required the item to exist (a sender still running the previous version during an upgrade)
    (reply,) = x_mentions("x/xaa_post_reply_create.json").mentions
    (root,) = x_mentions("x/xaa_post_mention_create.json").mentions
    store.save(root)
    store.client.update_item(TableName=store._table, Key=store._item({"pk": f"THREAD#x#{root.thread_id}",
                                                                      "sk": "THREAD"}),
                             UpdateExpression="SET last_reply_id = :rid, last_reply_at = :at, last_reply_text = :t",
                             ExpressionAttributeValues=store._item({":rid": "9001", ":at": "2026-10-02T09:30:00Z",
                                                                    ":t": "We are on it"}))
    # When the thread's next message is stored
    assert store.save(reply).created
    # Then the thread counts both messages, with their bounds, and keeps its reply
    thread = store.get_thread("x", root.thread_id)
    assert (thread["mention_count"], thread["first_seen_at"], thread["last_mention_id"]) == (
        2, root.created_at, reply.mention_id)
    assert thread["last_reply_id"] == "9001" and thread["expires_at"]


class StaleReplica:
    """A DynamoDB client whose eventually consistent reads of one item keep answering an older copy of it, as a
    replica that has not caught up does; consistent reads and every write reach the table."""

    def __init__(self, client, key, old_item):
        self._client, self._key, self._old = client, key, old_item

    def get_item(self, **kwargs):
        if kwargs["Key"] == self._key and not kwargs.get("ConsistentRead"):
            return {"Item": self._old}
        return self._client.get_item(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_message_counted_after_a_stale_read_of_its_thread_reads_it_again_consistently(store):
    queue = FakeQueue()
    (newest,) = x_mentions("x/xaa_post_reply_create.json").mentions  # 09:40:12
    (root,) = x_mentions("x/xaa_post_mention_create.json").mentions  # 09:15:30, same conversation
    first = replace(newest, mention_id="3200000000000000091", created_at="2026-10-02T09:20:00Z")
    middle = replace(newest, mention_id="3200000000000000092", created_at="2026-10-02T09:30:00Z")
    # Given a thread of two messages, whose item a replica still answers after a newer message was counted
    ingest([root, first], store, queue)
    key = store._item({"pk": f"THREAD#x#{root.thread_id}", "sk": "THREAD"})
    old = store.client.get_item(TableName=store._table, Key=key, ConsistentRead=True)["Item"]
    ingest([newest], store, queue)
    lagging = DynamoMentionStore(store._table, raw_event_ttl_days=30,
                                 client=StaleReplica(store.client, key, old))
    # When a message created between the last two is stored through that replica
    assert lagging.save(middle).created
    # Then its refused write sent it to the table itself, and every message is counted once within true bounds
    thread = store.get_thread("x", root.thread_id)
    assert thread["mention_count"] == 4
    assert (thread["first_seen_at"], thread["last_mention_id"]) == (root.created_at, newest.mention_id)
