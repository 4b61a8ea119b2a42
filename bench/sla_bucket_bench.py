"""What an SLA timer costs when it fires: one bucket for N mentions of a minute against N timers of their own.

Run: `.venv/bin/python -m bench.sla_bucket_bench [--sizes 1 2 10 50 200]` (DynamoDB Local; needs Java).

For each size N, stores N notified mentions received in one minute under one rule, all answered (the common case:
the timer fires and finds nothing to do), then fires (a) the minute's bucket once and (b) each mention's own timer,
with the sla function's code in-process and the meter of cli/responder_cli/local/metering.py reading DynamoDB
Local's consumed capacity. DynamoDB Local reports nothing for a Query that finds nothing, where DynamoDB bills half a
read unit at least: each Query is counted at max(reported, 0.5). Prints per mention: scheduled invocations, Lambda
requests, read units, this process's CPU time (botocore building, signing and parsing the calls) and the Lambda
duration it becomes at the sla function's 512 MB (metering.deployed_ms), and the cost at us-east-1 list prices
(Scheduler $1.00/M invocations, Lambda $0.20/M requests and its GB-seconds, DynamoDB $0.125/M read units), with the
ratio.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime, timedelta, timezone

from responder.aws.storage import DynamoMentionStore, account_partition, mention_key
from responder.sla.escalate import SlaEscalator, SlaStore
from responder_cli.local.dynamodb_local import DynamoDBLocal
from responder_cli.local.metering import PRICE, Meter, deployed_ms
from responder_cli.local.template import load_template, tables

MINUTE = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)
RULE_MINUTES = 60
SLA_MEMORY_MB = 512  # infra/constants.py FUNCTION_MEMORY_MB (the sla function sets no memory of its own)
QUERY_MIN_UNITS = 0.5  # DynamoDB developer guide, "Read consumption for Query": at least 0.5 (eventually consistent)
FIRED = MINUTE + timedelta(minutes=RULE_MINUTES + 1, seconds=5)


class NoAlerts:
    def escalate(self, doc, message, subject):
        raise AssertionError("an answered mention escalated")

    remind = escalate


def put_answered(store: DynamoMentionStore, n: int) -> list[str]:
    ids = []
    for i in range(n):
        mention_id = f"{1860000000000000000 + i}"
        received = MINUTE + timedelta(seconds=i * 59 / max(n, 1))
        stamp = received.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        item = {**mention_key("x", mention_id), "type": "mention", "platform": "x", "channel": "x",
                "kind": "mention", "mention_id": mention_id, "thread_id": mention_id,
                "author": {"id": "42", "handle": "ana"}, "text": "My order never arrived " * 4,
                "created_at": stamp[:19] + "Z", "received_at": stamp, "status": "answered",
                "first_response_at": stamp, "team": "support", "priority": "p2",
                "sla_due": (received + timedelta(minutes=RULE_MINUTES)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "gsi2pk": account_partition("brand", "x", mention_id), "gsi2sk": f"{stamp[:19]}Z#x#{mention_id}"}
        store.client.put_item(TableName=store._table, Item=store._item(item))
        ids.append(mention_id)
    return ids


def measured(fire) -> dict[str, float]:
    meter = Meter()
    meter.install()
    cpu = time.process_time()
    try:
        fire()
    finally:
        cpu = time.process_time() - cpu
        meter.uninstall()
    reported = sum(units for (operation, _), units in meter.reads.items() if operation == "Query")
    queries = meter.operations[("dynamodb", "Query")]
    return {"read_units": meter.read_units - reported + max(reported, QUERY_MIN_UNITS * queries),
            "queries": queries, "cpu_ms": cpu * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 10, 50, 200])
    args = parser.parse_args()
    (spec,) = tables(load_template())
    print(f"{'mentions':>9}{'timer':>8}{'sched/m':>9}{'λ req/m':>9}{'Query/m':>9}{'RRU/m':>8}{'CPU ms/m':>10}"
          f"{'λ ms/m':>8}{'$/M':>8}")
    with DynamoDBLocal() as ddb:
        for n in args.sizes:
            client = ddb.client()
            name = f"b{uuid.uuid4().hex[:12]}"
            client.create_table(**{**spec.create_args, "TableName": name})
            store = DynamoMentionStore(name, client=client)
            ids = put_answered(store, n)
            escalator = SlaEscalator(SlaStore(store), NoAlerts(), review_link=lambda m: None,
                                     metric=lambda *a: None)
            bucket = {"v": 1, "kind": "bucket", "account_id": "brand", "minute": MINUTE.strftime("%Y-%m-%dT%H:%M"),
                      "sla_minutes": RULE_MINUTES}
            escalator.fire(bucket, now=FIRED)  # warm the client (connection, endpoint) outside the measurement
            rows = {"bucket": (1, measured(lambda: escalator.fire(bucket, now=FIRED))),
                    "own": (n, measured(lambda: [escalator.fire({"v": 1, "kind": "mention", "channel": "x",
                                                                 "mention_id": i}, now=FIRED) for i in ids]))}
            cost = {}
            for timer, (fires, r) in rows.items():
                per = {"sched": fires / n, "req": fires / n, "rru": r["read_units"] / n, "cpu": r["cpu_ms"] / n,
                       "queries": r["queries"] / n}
                lambda_ms = deployed_ms(per["cpu"], SLA_MEMORY_MB)
                cost[timer] = (per["sched"] * PRICE["scheduler_invocation"] + per["req"] * PRICE["lambda_request"]
                               + per["rru"] * PRICE["dynamodb_read_unit"]
                               + lambda_ms / 1000 * SLA_MEMORY_MB / 1024 * PRICE["lambda_gb_second"]) * 1e6
                print(f"{n:>9}{timer:>8}{per['sched']:>9.3f}{per['req']:>9.3f}{per['queries']:>9.2f}{per['rru']:>8.2f}"
                      f"{per['cpu']:>10.2f}{lambda_ms:>8.1f}{cost[timer]:>8.3f}")
            print(f"{n:>9}{'own/bucket':>17}{'':>52}{cost['own'] / cost['bucket']:>8.2f}")
            client.delete_table(TableName=name)


if __name__ == "__main__":
    main()
