"""`responder report`'s deployed read path on DynamoDB Local, on the table shaped by the synthesized template: the
period's mentions through gsi2, their fields through BatchGetItem, never a Scan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from responder.aws.storage import EARLIER_ACCOUNT_SHARDS, account_partitions, current_account_partitions
from responder.core.model import Author, Mention
from responder.surge.incidents import BRAND_KEY
from responder_cli import report

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


class NoScan:
    """The DynamoDB Local client, refusing Scan and recording the calls made."""

    def __init__(self, client) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name):
        assert name != "scan", "the report must never scan the table"
        self.calls.append(name)
        return getattr(self._client, name)


def test_the_period_is_read_through_gsi2_and_batch_get(store, table_name, dynamodb_local):
    # Given 250 mentions received a minute apart from 10:00 (more than two BatchGetItem calls), one answered
    for i in range(250):
        mention = Mention(platform="x", channel="x", kind="mention", mention_id=str(1900000000000000000 + i),
                          thread_id=str(1900000000000000000 + i), author=Author(id="5", handle="casey_q"),
                          text="private words", created_at=(T0 + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          account_id="42")
        store.save(mention, T0 + timedelta(minutes=i))
    store.client.update_item(
        TableName=table_name, Key={"pk": {"S": "MENTION#x#1900000000000000010"}, "sk": {"S": "MENTION"}},
        UpdateExpression="SET first_response_at = :at, #s = :answered", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":at": {"S": "2026-12-01T10:30:00Z"}, ":answered": {"S": "answered"}})
    client = NoScan(dynamodb_local.client())
    progress: list[str] = []
    # When the report reads [10:05, 14:05): 240 of them
    found = report.TableReader(table_name, client=client, progress=progress.append).mentions(
        T0 + timedelta(minutes=5), T0 + timedelta(minutes=245))
    # Then exactly those, with the report's fields and never the text, through one Query per gsi2 partition the
    # brand's mentions were ever listed in (the 16 shards of earlier versions, which hold today's four, and the
    # partition used before sharding) and three BatchGetItem
    ids = sorted(int(m["mention_id"]) - 1900000000000000000 for m in found)
    assert ids == list(range(5, 245))
    assert all("text" not in m for m in found)
    assert client.calls.count("query") == len(account_partitions(BRAND_KEY)) == EARLIER_ACCOUNT_SHARDS + 1
    assert client.calls.count("batch_get_item") == 3
    assert set(client.calls) == {"query", "batch_get_item"}
    assert progress == ["read 240 mentions"]
    # And the figures follow: one answered, 20 minutes after its post, within the hour
    figures = report.compute(found)
    assert (figures["mentions"], figures["answered"], figures["answered_within_1h"]) == (240, 1, 1)
    assert figures["first_response_seconds"]["p50"] == 1200.0


def test_mentions_are_spread_over_the_brands_gsi2_shards_and_all_are_read(store, table_name, dynamodb_local):
    # Given 64 mentions of the brand, one of them listed as before write sharding (the single ACCOUNT# partition) and
    # one under shard 09 of the 16 an earlier version wrote
    for i in range(64):
        mention = Mention(platform="x", channel="x", kind="mention", mention_id=str(1900000000000001000 + i),
                          thread_id="1", author=Author(id="5", handle="casey_q"), text="words",
                          created_at=(T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), account_id="42")
        store.save(mention, T0 + timedelta(seconds=i))
    for i, partition in ((0, f"ACCOUNT#{BRAND_KEY}"), (1, f"ACCOUNT#{BRAND_KEY}#09")):
        store.client.update_item(
            TableName=table_name, Key={"pk": {"S": f"MENTION#x#{1900000000000001000 + i}"}, "sk": {"S": "MENTION"}},
            UpdateExpression="SET gsi2pk = :p", ExpressionAttributeValues={":p": {"S": partition}})
    # When the index partitions are counted and the report reads the period
    partitions = [store.get_mention("x", str(1900000000000001000 + i))["gsi2pk"] for i in range(2, 64)]
    found = report.TableReader(table_name, client=dynamodb_local.client()).mentions(T0, T0 + timedelta(minutes=5))
    # Then the others are spread over the four current shards, none holding more than a third of them (one partition
    # held all before), and all 64 are read
    assert set(partitions) == set(current_account_partitions(BRAND_KEY))
    assert max(partitions.count(p) for p in set(partitions)) <= 62 // 3
    assert len(found) == 64
