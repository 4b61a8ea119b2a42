"""The JSON-protocol client against DynamoDB Local on the calls the functions make beyond the webhook's: the same
answers as boto3's client, item for item (binary values as bytes), and the same errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from responder.aws.json_api import AwsJsonClient


@pytest.fixture
def clients(dynamodb_local, monkeypatch):
    """(boto3's client, the JSON-protocol client) on the same DynamoDB Local."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    json_client = AwsJsonClient("dynamodb", region="us-east-1", endpoint_url=dynamodb_local.endpoint,
                                connect_timeout=1, read_timeout=5)
    yield dynamodb_local.client(), json_client
    json_client.close()


def _answer(answer):
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def _key(n):
    return {"pk": {"S": "BUCKET#brand"}, "sk": {"S": f"MEMBER#{n:03d}"}}


def _fill(client, table, count=7):
    for n in range(count):
        client.put_item(TableName=table, Item={**_key(n), "n": {"N": str(n)}, "raw": {"B": bytes([n, 0, 255])},
                                               "nested": {"M": {"zipped": {"B": b"\x1f\x8b" + bytes([n])},
                                                                "parts": {"L": [{"B": b"\x00"}, {"S": "x"}]}}}})


def test_batch_get_answers_as_boto3_with_binary_values_as_bytes(clients, table_name):
    # Given items holding binary values, also inside maps and lists (a compressed raw event is one)
    ours_boto3, ours_json = clients
    _fill(ours_boto3, table_name)
    request = {table_name: {"Keys": [_key(n) for n in range(7)], "ProjectionExpression": "pk, sk, #r, nested",
                            "ExpressionAttributeNames": {"#r": "raw"}}}
    # When both clients read them with BatchGetItem (the sweeper and the SLA buckets do)
    theirs, ours = ours_boto3.batch_get_item(RequestItems=request), ours_json.batch_get_item(RequestItems=request)
    # Then the JSON client's answer is boto3's, binary values as bytes
    by_key = lambda answer: sorted(answer["Responses"][table_name], key=lambda i: i["sk"]["S"])  # noqa: E731
    assert by_key(ours) == by_key(theirs) and len(by_key(ours)) == 7
    assert by_key(ours)[3]["raw"] == {"B": bytes([3, 0, 255])}
    assert by_key(ours)[3]["nested"]["M"]["parts"]["L"][0] == {"B": b"\x00"}
    assert ours.get("UnprocessedKeys") == theirs.get("UnprocessedKeys") == {}
    # And TransactGetItems' answer, one item per request, is boto3's too
    gets = [{"Get": {"TableName": table_name, "Key": _key(n)}} for n in (2, 5)]
    ours, theirs = ours_json.transact_get_items(TransactItems=gets), ours_boto3.transact_get_items(TransactItems=gets)
    assert ours["Responses"] == theirs["Responses"] and ours["Responses"][1]["Item"]["raw"] == {"B": bytes([5, 0, 255])}


def test_query_pages_with_exclusive_start_key_are_boto3s(clients, table_name):
    # Given seven items under one key
    ours_boto3, ours_json = clients
    _fill(ours_boto3, table_name)

    def pages(client):
        start, read = None, []
        while True:
            kwargs = {"ExclusiveStartKey": start} if start else {}
            page = client.query(TableName=table_name, KeyConditionExpression="pk = :p", Limit=3,
                                ExpressionAttributeValues={":p": {"S": "BUCKET#brand"}}, **kwargs)
            read.append(_answer(page))
            start = page.get("LastEvaluatedKey")
            if not start:
                return read

    # When both read them three at a time, each next page from the last one's LastEvaluatedKey
    ours, theirs = pages(ours_json), pages(ours_boto3)
    # Then the pages, their keys and their items are the same
    assert ours == theirs
    assert [len(p["Items"]) for p in ours] == [3, 3, 1]
    # And the paginators of Query and Scan (the erasure's and the local stack's) give the same items
    for operation, params in (("query", {"KeyConditionExpression": "pk = :p",
                                         "ExpressionAttributeValues": {":p": {"S": "BUCKET#brand"}}}),
                              ("scan", {})):
        read = [[i for p in c.get_paginator(operation).paginate(TableName=table_name, PaginationConfig={"PageSize": 2},
                                                                **params) for i in p["Items"]]
                for c in (ours_json, ours_boto3)]
        assert read[0] == read[1] and len(read[0]) == 7


def test_a_cancelled_transaction_is_boto3s_error_with_the_items_that_failed(clients, table_name):
    # Given an item that exists
    ours_boto3, ours_json = clients
    _fill(ours_boto3, table_name, count=1)
    items = [{"Put": {"TableName": table_name, "Item": {**_key(0), "n": {"N": "9"}},
                      "ConditionExpression": "attribute_not_exists(pk)",
                      "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
             {"Put": {"TableName": table_name, "Item": {**_key(1), "n": {"N": "1"}}}}]

    def refused(client):
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=items)
        return caught.value.response

    # When a transaction whose first condition fails is sent by both (the incident store opens incidents so)
    ours, theirs = refused(ours_json), refused(ours_boto3)
    # Then both raise the same cancellation, with the reasons and the failed item as it is stored (bytes as bytes)
    assert ours["Error"]["Code"] == theirs["Error"]["Code"] == "TransactionCanceledException"
    assert ours["CancellationReasons"] == theirs["CancellationReasons"]
    assert ours["CancellationReasons"][0]["Item"]["raw"] == {"B": bytes([0, 0, 255])}
    # And nothing of it was written
    assert "Item" not in ours_json.get_item(TableName=table_name, Key=_key(1))


def test_a_refused_conditional_update_returns_the_stored_item_as_boto3(clients, table_name):
    # Given an item that exists
    ours_boto3, ours_json = clients
    _fill(ours_boto3, table_name, count=1)
    update = {"TableName": table_name, "Key": _key(0), "UpdateExpression": "SET n = :n",
              "ConditionExpression": "n = :old", "ExpressionAttributeValues": {":n": {"N": "5"}, ":old": {"N": "4"}},
              "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}

    def refused(client):
        with pytest.raises(ClientError) as caught:
            client.update_item(**update)
        return caught.value.response

    # When an update whose condition is false asks for the item it found
    ours, theirs = refused(ours_json), refused(ours_boto3)
    # Then both raise ConditionalCheckFailedException with that item
    assert ours["Error"]["Code"] == theirs["Error"]["Code"] == "ConditionalCheckFailedException"
    assert ours["Item"] == theirs["Item"] and ours["Item"]["raw"] == {"B": bytes([0, 0, 255])}
    # And an update whose condition holds returns the new item as boto3 does (ReturnValues ALL_NEW)
    allowed = {**update, "ExpressionAttributeValues": {":n": {"N": "5"}, ":old": {"N": "0"}}, "ReturnValues": "ALL_NEW"}
    allowed.pop("ReturnValuesOnConditionCheckFailure")
    assert _answer(ours_json.update_item(**allowed))["Attributes"]["n"] == {"N": "5"}
    again = {**allowed, "ExpressionAttributeValues": {":n": {"N": "6"}, ":old": {"N": "5"}}}
    assert _answer(ours_boto3.update_item(**again))["Attributes"] == {
        **_answer(ours_json.get_item(TableName=table_name, Key=_key(0), ConsistentRead=True))["Item"]}


def test_threads_share_the_kept_connections_rather_than_one_each(clients, table_name):
    import threading

    # Given the JSON client, used by one thread after another (the local stack runs each invocation on a new thread)
    _, ours_json = clients
    opened = []
    original = ours_json._connection

    def counting(fresh=False):
        connection, reused = original(fresh)
        if not reused:
            opened.append(connection)
        return connection, reused

    ours_json._connection = counting
    # When ten threads each make a call, one after the other
    for n in range(10):
        thread = threading.Thread(target=ours_json.get_item, kwargs={"TableName": table_name, "Key": _key(n)})
        thread.start()
        thread.join()
    # Then one connection served them all, as it serves a Lambda container's invocations
    assert len(opened) == 1
