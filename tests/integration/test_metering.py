"""The demo's meter against DynamoDB Local: write units per table and index, and transactions billed once."""

from __future__ import annotations

from datetime import datetime, timezone


from responder.ingest.normalize_x import normalize_x
from tests.conftest import fixture_json


def test_a_transactional_write_is_counted_as_dynamodb_bills_it_once(dynamodb_local, table_name, meter):
    # Given a 1.5 KB item, written once with PutItem and once inside TransactWriteItems
    client = dynamodb_local.client()
    item = {"sk": {"S": "NOTE"}, "body": {"S": "x" * 1500}}
    client.put_item(TableName=table_name, Item={"pk": {"S": "A"}, **item})
    plain = meter.write_units
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table_name,
                                                        "Item": {"pk": {"S": "B"}, **item}}}])
    # Then the put is 2 units (two started KB) and the transaction 4 (DynamoDB bills transactional writes
    # twice and DynamoDB Local already reports them so), not doubled again
    assert plain == 2.0
    assert meter.write_units - plain == 4.0


def test_write_units_are_split_per_item_kind_and_index(store, meter):
    # Given a stored X mention
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    store.save(mention, datetime(2026, 10, 2, 9, 15, 31, tzinfo=timezone.utc))
    # When the meter's breakdown is read
    places = meter.index_write_units()
    # Then the units are attributed to the ingest's items and caller, and to the indexes the mention is written to
    assert sum(places.values()) == meter.write_units > 0
    assert {"gsi1", "gsi2", "gsi4"} <= set(places)
    (kinds, operation, caller), = [key for key in meter.writes if "mention" in key[0]]
    assert caller == "save" and "mention" in kinds.split("+")
    assert "write units per mention" in meter.detail(1)
