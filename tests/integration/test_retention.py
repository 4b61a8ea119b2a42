"""Retention: mentions, threads and incidents carry the table's TTL attribute, set once (DynamoDB Local)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from responder.aws.incident_store import IncidentStore
from responder.aws.storage import DynamoMentionStore
from responder.ingest.normalize_x import normalize_x
from responder.surge.incidents import BRAND_KEY, SurgeSettings
from tests.conftest import fixture_json

RECEIVED = datetime(2026, 10, 2, 9, 15, 31, tzinfo=timezone.utc)
DAY = 86_400


def short_store(dynamodb_local, table_name) -> DynamoMentionStore:
    return DynamoMentionStore(table_name, raw_event_ttl_days=3, retention_days=90, client=dynamodb_local.client())


def x_mention(name: str = "x/xaa_post_mention_create.json"):
    (mention,) = normalize_x(fixture_json(name)).mentions
    return mention


def test_mention_and_thread_expire_after_the_retention_and_the_raw_event_sooner(dynamodb_local, table_name):
    # Given a store keeping mentions 90 days and raw events 3 days
    store = short_store(dynamodb_local, table_name)
    mention = x_mention()
    # When a mention is saved
    assert store.save(mention, RECEIVED).created
    # Then the mention and its thread expire 90 days after receipt, the raw copy after 3
    at = int(RECEIVED.timestamp())
    assert store.get_mention("x", mention.mention_id)["expires_at"] == at + 90 * DAY
    assert store.get_thread("x", mention.thread_id)["expires_at"] == at + 90 * DAY
    assert store.get_raw("x", mention.mention_id)["expires_at"] == at + 3 * DAY


def test_the_default_retention_is_400_days(store):
    # Given the store as the webhook builds it without RETENTION_DAYS
    mention = x_mention()
    # When a mention is saved
    store.save(mention, RECEIVED)
    # Then it expires 400 days after receipt
    assert store.get_mention("x", mention.mention_id)["expires_at"] == int(RECEIVED.timestamp()) + 400 * DAY


def test_redeliveries_and_triage_never_move_a_mentions_expiry(dynamodb_local, table_name):
    # Given a stored mention
    store = short_store(dynamodb_local, table_name)
    mention = x_mention()
    store.save(mention, RECEIVED)
    first = store.get_mention("x", mention.mention_id)["expires_at"]
    # When the platform redelivers it a month later and triage updates it
    later = RECEIVED + timedelta(days=30)
    assert not store.save(mention, later).created
    store.client.update_item(TableName=store._table, Key=store._item({"pk": f"MENTION#x#{mention.mention_id}",
                                                                      "sk": "MENTION"}),
                             UpdateExpression="SET #s = :n, triaged_at = :at", ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues=store._item({":n": "notified", ":at": later.isoformat()}))
    # Then its expiry is still the one set at creation
    assert store.get_mention("x", mention.mention_id)["expires_at"] == first


def test_a_thread_lives_as_long_as_its_last_mention(dynamodb_local, table_name):
    # Given a thread whose root was stored, and a reply stored ten days later
    store = short_store(dynamodb_local, table_name)
    root, reply = x_mention(), x_mention("x/xaa_post_reply_create.json")
    assert root.thread_id == reply.thread_id
    store.save(root, RECEIVED)
    store.save(reply, RECEIVED + timedelta(days=10))
    # Then the thread expires with the reply, not with the root
    expected = int((RECEIVED + timedelta(days=10)).timestamp()) + 90 * DAY
    assert store.get_thread("x", root.thread_id)["expires_at"] == expected


def test_incidents_and_their_members_expire_after_the_retention(dynamodb_local, table_name):
    # Given the surge store on a table keeping 90 days
    store = short_store(dynamodb_local, table_name)
    incidents = IncidentStore(store)
    at = RECEIVED.strftime("%Y-%m-%dT%H:%M:%SZ")
    incident = {"incident_id": "inc-ttl", "account_id": BRAND_KEY, "scope": "all", "incident_status": "open",
                "signature": {"outage": 1.0}, "opened_at": at, "first_seen_at": at, "last_seen_at": at, "size": 0,
                "next_digest": 25, "sample_mention_ids": [], "alerts": [], "language": "en"}
    # When an incident opens and a mention joins it
    assert incidents.try_open(BRAND_KEY, "all", incident, RECEIVED, SurgeSettings())
    joined = RECEIVED + timedelta(minutes=3)
    assert incidents.join(incident, {"channel": "x", "mention_id": "m-1"}, "negative", joined,
                          SurgeSettings()) is not None
    # Then both carry the table's TTL: 90 days after they were written
    assert incidents.get(BRAND_KEY, "inc-ttl")["expires_at"] == int(RECEIVED.timestamp()) + 90 * DAY
    (member,) = incidents.members("inc-ttl")
    assert member["expires_at"] == int(joined.timestamp()) + 90 * DAY
