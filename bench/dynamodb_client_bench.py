"""DynamoDB client benchmark: the CPU time one call costs the calling function, boto3's client against the project's
JSON-protocol client (responder.aws.json_api), on DynamoDB Local.

Run: `.venv/bin/python -m bench.dynamodb_client_bench [--calls 400]`.

Lambda bills a function's duration, and below 1,769 MB a function's CPU is a fraction of a core (metering.py): the
CPU a client spends building, signing, sending and parsing a call is billed on every call. This starts DynamoDB Local,
then for each operation the functions make (a conditional PutItem, GetItem, UpdateItem with ReturnValues, a gsi Query,
BatchGetItem, TransactWriteItems), alternately through each client, measures the calling thread's CPU time
(`time.thread_time()`: the client's work, not DynamoDB Local's, which runs in its own JVM) and prints the median per
call and the ratio boto3 / JSON.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from typing import Any, Callable


def _operations(table: str) -> dict[str, Callable[[Any, int], Any]]:
    def key(n: int) -> dict[str, Any]:
        return {"pk": {"S": f"MENTION#x#{n}"}, "sk": {"S": "MENTION"}}

    def item(n: int) -> dict[str, Any]:
        return {**key(n), "type": {"S": "mention"}, "text": {"S": "@AcmeSupport my order still hasn't shipped " * 3},
                "status": {"S": "received"}, "received_at": {"S": "2026-12-01T12:00:00.000000Z"},
                "gsi2pk": {"S": "ACCOUNT#brand#01"}, "gsi2sk": {"S": f"2026-12-01T12:00:00Z#{n}"}}

    return {
        "PutItem (conditional)": lambda c, n: c.put_item(TableName=table, Item=item(n),
                                                         ConditionExpression="attribute_not_exists(pk)"),
        "GetItem": lambda c, n: c.get_item(TableName=table, Key=key(n), ConsistentRead=True),
        "UpdateItem (ALL_NEW)": lambda c, n: c.update_item(
            TableName=table, Key=key(n), UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "notified"}}, ReturnValues="ALL_NEW"),
        "Query (gsi2, 20)": lambda c, n: c.query(
            TableName=table, IndexName="gsi2", KeyConditionExpression="gsi2pk = :p", Limit=20,
            ExpressionAttributeValues={":p": {"S": "ACCOUNT#brand#01"}}),
        "BatchGetItem (10)": lambda c, n: c.batch_get_item(
            RequestItems={table: {"Keys": [key(n - i) for i in range(10)]}}),
        "TransactWriteItems (2)": lambda c, n: c.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": key(n), "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Update": {"TableName": table, "Key": key(n - 1), "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per operation and client (default 400)")
    args = parser.parse_args()

    from responder.aws.json_api import AwsJsonClient
    from responder_cli.local.dynamodb_local import LOCAL_CREDENTIALS, DynamoDBLocal
    from responder_cli.local.template import load_template, tables

    os.environ.update(LOCAL_CREDENTIALS)
    (spec,) = tables(load_template())
    with DynamoDBLocal() as ddb:
        table = f"bench{uuid.uuid4().hex[:8]}"
        ddb.client().create_table(**{**spec.create_args, "TableName": table})
        import boto3
        from botocore.config import Config

        # Both as the functions build them (responder.aws.storage.default_client / lambda_json_client)
        config = Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 0, "mode": "standard"},
                        max_pool_connections=50)
        clients = {"boto3": boto3.client("dynamodb", endpoint_url=ddb.endpoint, region_name="us-east-1",
                                         config=config),
                   "json": AwsJsonClient("dynamodb", region="us-east-1", endpoint_url=ddb.endpoint,
                                         connect_timeout=1, read_timeout=5)}
        print(f"CPU time per call on the calling thread, median of {args.calls} calls per client "
              f"(DynamoDB Local at {ddb.endpoint})")
        print(f"  {'operation':<26}{'boto3 ms':>10}{'json ms':>10}{'boto3/json':>12}")
        totals = {"boto3": 0.0, "json": 0.0}
        for name, call in _operations(table).items():
            cpu: dict[str, list[float]] = {"boto3": [], "json": []}
            for label, client in clients.items():  # warm up: connections, botocore's loaders and caches
                for n in range(10):
                    call(client, 10_000_000 + n + (0 if label == "boto3" else 1_000))  # ids of its own
            for n in range(args.calls):
                for label in (("boto3", "json") if n % 2 == 0 else ("json", "boto3")):
                    ident = n * 2 + (0 if label == "boto3" else 1) + 20
                    started = time.thread_time()
                    call(clients[label], ident)
                    cpu[label].append((time.thread_time() - started) * 1000)
            medians = {label: statistics.median(values) for label, values in cpu.items()}
            totals["boto3"] += medians["boto3"]
            totals["json"] += medians["json"]
            print(f"  {name:<26}{medians['boto3']:>10.3f}{medians['json']:>10.3f}"
                  f"{medians['boto3'] / medians['json']:>12.2f}")
        print(f"  {'all six, summed':<26}{totals['boto3']:>10.3f}{totals['json']:>10.3f}"
              f"{totals['boto3'] / totals['json']:>12.2f}")
        ddb.client().delete_table(TableName=table)


if __name__ == "__main__":
    main()
