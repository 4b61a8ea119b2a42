"""Write-sharded hot keys on DynamoDB Local: the brand's minute counters and its gsi2 listing are spread over
several partitions, read whole, and a mention still counts once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from responder.aws.incident_store import COUNTER_SHARDS, IncidentStore
from responder.aws.storage import current_account_partitions
from responder.core.model import Author, Mention
from responder.surge.incidents import BRAND_KEY, SurgeSettings, bucket


@pytest.fixture
def store(store_on_both_clients):
    """The store on boto3's client and on the JSON-protocol client the functions use deployed (conftest)."""
    return store_on_both_clients

AT = datetime(2026, 12, 1, 12, 0, 30, tzinfo=timezone.utc)


def _mention(i):
    return Mention(platform="x", channel="x", kind="mention", mention_id=str(1800000000000000000 + i), thread_id=str(i),
                   author=Author(id="5", handle="casey_q"), text=f"app down {i}", created_at="2026-12-01T12:00:00Z",
                   account_id="42")


def test_a_surges_counts_are_spread_over_the_counter_shards_summed_and_once_per_mention(store, table_name):
    # Given 48 stored mentions counted in one minute
    incidents = IncidentStore(store)
    mentions = [{"channel": "x", "mention_id": str(1800000000000000000 + i)} for i in range(48)]
    for i, mention in enumerate(mentions):
        assert incidents.count(BRAND_KEY, "payment" if i % 2 else "delivery", AT, mention=mention)
    # When one of them is counted again by a retried triage attempt (the claim counts the attempts)
    assert not incidents.count(BRAND_KEY, "payment", AT, mention={**mentions[1], "triage_attempts": 2})
    # Then the minute reads 48 in all, 24 per topic, from several counter items (none holds more than half)
    counts = incidents.counts(BRAND_KEY, AT, SurgeSettings())
    minute = bucket(AT)
    assert counts["all"][minute] == 48 and counts["payment"][minute] == counts["delivery"][minute] == 24
    per_shard = []
    for shard in range(COUNTER_SHARDS):
        item = store.client.get_item(TableName=table_name, Key={"pk": {"S": f"COUNTER#{BRAND_KEY}#{shard}"},
                                                                 "sk": {"S": f"MINUTE#{minute:012d}"}}).get("Item")
        per_shard.append(int(item["total"]["N"]) if item else 0)
    assert sum(per_shard) == 48 and max(per_shard) <= 24 and sum(1 for n in per_shard if n) >= COUNTER_SHARDS // 2


def test_counts_written_before_sharding_are_still_read(store, table_name):
    # Given a minute counted on the single counter item of the layout before sharding, and one mention after
    minute = bucket(AT)
    store.client.put_item(TableName=table_name, Item={"pk": {"S": f"COUNTER#{BRAND_KEY}"},
                                                      "sk": {"S": f"MINUTE#{minute:012d}"}, "total": {"N": "5"}})
    incidents = IncidentStore(store)
    incidents.count(BRAND_KEY, "payment", AT, mention={"channel": "x", "mention_id": "1"})
    # When the minute is read, Then both count
    assert incidents.counts(BRAND_KEY, AT, SurgeSettings())["all"][minute] == 6


def test_recent_mentions_come_from_every_gsi2_shard_newest_first(store):
    # Given 40 mentions received a second apart (spread over the brand's gsi2 shards)
    for i in range(40):
        store.save(_mention(i), AT + timedelta(seconds=i))
    # When the surge detector reads the recent ones, all and at most 20
    incidents = IncidentStore(store)
    everything = incidents.recent_mentions(BRAND_KEY, AT - timedelta(minutes=1))
    limited = incidents.recent_mentions(BRAND_KEY, AT - timedelta(minutes=1), limit=20)
    # Then all 40 are found, newest first, and the limit holds
    assert [int(m["mention_id"]) - 1800000000000000000 for m in everything] == list(range(39, -1, -1))
    assert len(limited) <= 20 and {m["gsi2pk"] for m in everything} == set(current_account_partitions(BRAND_KEY))


def _list_as_before(store, table_name, i, partition):
    """A mention listed in gsi2 as an earlier version listed it: under one of 16 shards, or unsharded."""
    store.client.update_item(TableName=table_name, Key={"pk": {"S": f"MENTION#x#{1800000000000000000 + i}"},
                                                        "sk": {"S": "MENTION"}},
                             UpdateExpression="SET gsi2pk = :p", ExpressionAttributeValues={":p": {"S": partition}})


def test_the_clustering_window_queries_only_the_four_current_gsi2_shards(store, table_name, monkeypatch):
    from responder.surge import correlate

    # Given a surge's 40 mentions received a second apart, and two more of the same seconds listed as earlier
    # versions listed them: under shard 09 of 16, and in the unsharded partition
    for i in range(42):
        store.save(_mention(i), AT + timedelta(seconds=i % 40))
    _list_as_before(store, table_name, 40, f"ACCOUNT#{BRAND_KEY}#09")
    _list_as_before(store, table_name, 41, f"ACCOUNT#{BRAND_KEY}")
    queried: list[tuple[str, str]] = []
    query = store.client.query

    def recorded(**params):
        queried.append((params.get("IndexName"), params["ExpressionAttributeValues"][":pk"]["S"]))
        return query(**params)

    monkeypatch.setattr(store.client, "query", recorded, raising=False)  # either client: boto3's or the JSON one
    # When Classify refreshes its clustering window
    correlate.forget_clusters()
    window = correlate._recent_window(BRAND_KEY, AT + timedelta(seconds=40), IncidentStore(store), SurgeSettings())
    correlate.forget_clusters()
    # Then it makes one gsi2 Query per current shard, four in all (17 with every partition ever written, at least
    # half a read unit each), and holds the surge's 40 mentions; the two listed as before are the at most one
    # window's worth an upgrade leaves out
    assert sorted(queried) == [("gsi2", f"ACCOUNT#{BRAND_KEY}#{shard:02d}") for shard in range(4)]
    assert sorted(int(m["mention_id"]) - 1800000000000000000 for m in window.recent) == list(range(40))


def test_a_dispatchers_batch_is_counted_in_one_write_per_minute(store, meter):
    # Given the results of a batch of ten triaged mentions: seven in one minute over two topics, three in the next
    from responder.triage.dispatch import record_counts

    minute = bucket(AT)

    def succeeded(b, topic):
        return {"claim": "m", "failed": False, "count": {"account": BRAND_KEY, "bucket": b, "topic": topic}}

    outcomes = [succeeded(minute, "payment")] * 5 + [succeeded(minute, "delivery")] * 2 + \
        [succeeded(minute + 1, "payment")] * 3
    incidents = IncidentStore(store)
    before = meter.write_units
    # When the dispatcher records them
    assert record_counts(outcomes, incidents) == 10
    # Then two small increments were written (one per minute), and the minutes read back exactly
    assert meter.write_units - before == 2.0
    counts = incidents.counts(BRAND_KEY, AT + timedelta(minutes=1), SurgeSettings())
    assert counts["all"] == {minute: 7, minute + 1: 3}
    assert counts["payment"] == {minute: 5, minute + 1: 3} and counts["delivery"] == {minute: 2}
