"""The demo's meter against DynamoDB Local: write units per table and index, and transactions as DynamoDB bills them."""

from __future__ import annotations

from datetime import datetime, timezone


from responder.ingest.normalize_x import normalize_x
from tests.conftest import fixture_json


def test_a_transactional_write_is_counted_as_dynamodb_bills_it_once(table_client, table_name, meter):
    # Given a 1.5 KB item, written once with PutItem and once inside TransactWriteItems
    client = table_client  # boto3's, and the JSON-protocol client the functions use (conftest)
    item = {"sk": {"S": "NOTE"}, "body": {"S": "x" * 1500}}
    client.put_item(TableName=table_name, Item={"pk": {"S": "A"}, **item})
    plain = meter.write_units
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table_name,
                                                        "Item": {"pk": {"S": "B"}, **item}}}])
    # Then the put is 2 units (two started KB) and the transaction 4 (DynamoDB bills transactional writes
    # twice and DynamoDB Local already reports them so), not doubled again
    assert plain == 2.0
    assert meter.write_units - plain == 4.0


def test_every_item_of_a_transaction_is_billed_two_units_per_started_kb(table_client, table_name, meter):
    # Given a counter item of a few bytes that exists already
    client = table_client  # boto3's, and the JSON-protocol client the functions use (conftest)
    counter = {"pk": {"S": "COUNTER"}, "sk": {"S": "MINUTE"}}
    client.update_item(TableName=table_name, Key=counter, UpdateExpression="ADD n :one",
                       ExpressionAttributeValues={":one": {"N": "1"}})
    before = meter.write_units
    # When one transaction puts two small items and increments the counter
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": table_name, "Item": {"pk": {"S": "A"}, "sk": {"S": "NOTE"}, "v": {"S": "x" * 10}}}},
        {"Put": {"TableName": table_name, "Item": {"pk": {"S": "B"}, "sk": {"S": "NOTE"}, "v": {"S": "x" * 10}}}},
        {"Update": {"TableName": table_name, "Key": counter, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])
    # Then each of the three items is 2 units, as DynamoDB bills it (DynamoDB Local reports 2 for the whole call)
    assert meter.write_units - before == 6.0
    # And an update that grows an item past 1 KB is billed on its size after the write
    client.transact_write_items(TransactItems=[
        {"Update": {"TableName": table_name, "Key": counter, "UpdateExpression": "SET body = :b",
                    "ExpressionAttributeValues": {":b": {"S": "y" * 1500}}}}])
    assert meter.write_units - before == 10.0


def test_a_write_whose_condition_fails_is_billed_on_the_existing_items_size(table_client, table_name, meter):
    import pytest
    from botocore.exceptions import ClientError

    # Given a 1.5 KB item that exists already
    client = table_client  # boto3's, and the JSON-protocol client the functions use (conftest)
    key = {"pk": {"S": "DUP"}, "sk": {"S": "NOTE"}}
    client.put_item(TableName=table_name, Item={**key, "body": {"S": "x" * 1500}})
    before = meter.write_units
    # When a put guarded by attribute_not_exists and an update whose condition is false both fail
    with pytest.raises(ClientError):
        client.put_item(TableName=table_name, Item={**key, "body": {"S": "y"}},
                        ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError):
        client.update_item(TableName=table_name, Key=key, UpdateExpression="SET n = :one",
                           ConditionExpression="attribute_not_exists(body)", ExpressionAttributeValues={":one": {"N": "1"}})
    # Then each is billed as DynamoDB bills a failed conditional write: the existing item's size, 2 units each
    assert meter.write_units - before == 4.0
    # And an update of an item that does not exist, whose condition fails, is one unit
    with pytest.raises(ClientError):
        client.update_item(TableName=table_name, Key={"pk": {"S": "NONE"}, "sk": {"S": "NOTE"}},
                           UpdateExpression="SET n = :one", ConditionExpression="attribute_exists(pk)",
                           ExpressionAttributeValues={":one": {"N": "1"}})
    assert meter.write_units - before == 5.0


def test_a_conditional_write_that_times_out_raises_its_own_error(table_name, meter):
    import socket

    import boto3
    import pytest
    from botocore.config import Config
    from botocore.exceptions import ReadTimeoutError

    # Given a DynamoDB that accepts connections and never answers (botocore's timeouts carry `response = None`)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                              region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local",
                              config=Config(connect_timeout=1, read_timeout=0.3, retries={"max_attempts": 0}))
        # When a conditional put times out, Then the caller sees the timeout, and nothing is billed
        with pytest.raises(ReadTimeoutError):
            client.put_item(TableName=table_name, Item={"pk": {"S": "X"}, "sk": {"S": "NOTE"}},
                            ConditionExpression="attribute_not_exists(pk)")
    assert meter.write_units == 0


def test_item_size_follows_dynamodbs_rules():
    # Given items of known size (Developer Guide, "Item sizes and formats")
    from responder_cli.local.metering import item_size

    # Then names and string values count their UTF-8 bytes, numbers a byte per two digits plus one
    assert item_size({"pk": {"S": "abc"}, "é": {"S": "é"}}) == 2 + 3 + 2 + 2
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"m": {"M": {"a": {"S": "xy"}}, }}) == 1 + 3 + 1 + 1 + 2


def test_write_units_are_split_per_item_kind_and_index(store, meter):
    # Given a stored X mention
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    store.save(mention, datetime(2026, 10, 2, 9, 15, 31, tzinfo=timezone.utc))
    # When the meter's breakdown is read
    places = meter.index_write_units()
    # Then the units are attributed to the ingest's items and caller, and to the indexes the mention is written to
    assert sum(places.values()) == meter.write_units > 0
    assert {"gsi2", "gsi4"} <= set(places)  # (it opens its thread: no gsi1 entry)
    (kinds, operation, caller), = [key for key in meter.writes if "mention" in key[0]]
    assert caller == "save" and "mention" in kinds.split("+")
    assert "write units per mention" in meter.detail(1)


def _adapter_calls(store):
    """A mention stored, stored again (its condition fails), read, and found by the sweeper's window."""
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    at = datetime(2026, 10, 2, 9, 15, 31, tzinfo=timezone.utc)
    store.save(mention, at)
    store.save(mention, at)
    store.get_mention(mention.channel, mention.mention_id)
    store.stranded(at.replace(minute=0), at.replace(minute=30))  # a gsi2 window Query, then BatchGetItem


def test_a_json_client_call_is_counted_and_billed_exactly_like_boto3s(dynamodb_local, table_specs, monkeypatch):
    import uuid

    from responder.aws.json_api import AwsJsonClient
    from responder.aws.storage import DynamoMentionStore
    from responder_cli.local.metering import Meter

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    (spec,) = table_specs
    seen = {}
    # Given the same adapter calls made once through boto3's client and once through the JSON-protocol client,
    # each on a fresh table and under a meter of its own
    for name, client in (("boto3", dynamodb_local.client()),
                         ("json", AwsJsonClient("dynamodb", region="us-east-1", endpoint_url=dynamodb_local.endpoint,
                                                connect_timeout=1, read_timeout=5))):
        table = f"t{uuid.uuid4().hex[:12]}"
        dynamodb_local.client().create_table(**{**spec.create_args, "TableName": table})
        meter = Meter()
        meter.install()
        try:
            store = DynamoMentionStore(table, raw_event_ttl_days=30, client=client)
            _adapter_calls(store)
        finally:
            meter.uninstall()
            dynamodb_local.client().delete_table(TableName=table)
        seen[name] = meter
    boto3_meter, json_meter = seen["boto3"], seen["json"]
    # Then the JSON client's calls were counted: the same operations, the same units
    assert json_meter.operations == boto3_meter.operations
    assert {op for _, op in json_meter.operations} >= {"PutItem", "GetItem", "Query", "BatchGetItem"}
    assert (json_meter.write_units, json_meter.read_units) == (boto3_meter.write_units, boto3_meter.read_units)
    assert json_meter.write_units > 0 and json_meter.read_units > 0
    # And attributed alike: the item written, the operation, the project function that called (not the client's own)
    assert json_meter.writes == boto3_meter.writes
    assert json_meter.reads == boto3_meter.reads
    assert {caller for _, _, caller in json_meter.writes} == {"save", "save (condition failed)"}
    assert {caller for _, caller in json_meter.reads} >= {"get_mention", "stranded"}
    assert json_meter.detail(1) == boto3_meter.detail(1)


def test_a_json_client_marked_unmetered_is_not_counted(dynamodb_local, table_name, meter, monkeypatch):
    from responder.aws.json_api import AwsJsonClient

    # Given a JSON client marked as the local stack marks its own reads (the /local endpoints, the sweeper)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    client = AwsJsonClient("dynamodb", region="us-east-1", endpoint_url=dynamodb_local.endpoint)
    client._responder_unmetered = True
    # When it writes and reads
    client.put_item(TableName=table_name, Item={"pk": {"S": "A"}, "sk": {"S": "NOTE"}})
    client.get_item(TableName=table_name, Key={"pk": {"S": "A"}, "sk": {"S": "NOTE"}})
    # Then nothing is counted
    assert (meter.write_units, meter.read_units, sum(meter.operations.values())) == (0, 0, 0)


def test_dynamodb_locals_start_and_warm_up_are_not_billed_to_the_run(meter):
    from responder_cli.local.dynamodb_local import DynamoDBLocal

    # Given the meter installed before DynamoDB Local starts, as `responder demo` installs it
    # When DynamoDB Local starts and warms up (a table of its own, concurrent transactions, reads)
    with DynamoDBLocal():
        pass
    # Then none of it is counted: it is not a call the product makes (it was 0.3 write units per demo mention)
    assert (meter.write_units, meter.read_units, sum(meter.operations.values())) == (0, 0, 0)
