"""Erasure, measured (a benchmark, never a test): DynamoDB read and write units per erasure, as DynamoDB Local counts
them with ReturnConsumedCapacity=INDEXES, and wall time.

Scenarios, each on a fresh table shaped by the synthesized template:
1. storing one mention with and without the author index (gsi4): what the index adds to every stored mention;
2. a platform delete notice on a triaged, answered mention (draft, reply, raw event, thread's last reply);
3. the same notice delivered again (platforms retry);
4. a delete before its create (a tombstone), then the late create (refused);
5. `forget` of a person with N mentions, with M incidents in the table (their partition is read once);
6. `export` of that person before the erasure.

A conditional write that fails returns no ConsumedCapacity; DynamoDB still bills it (one unit per KB of the item), so
failed conditions are counted apart. Run: `python -m bench.erasure_bench [--mentions 10 --incidents 20]`.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime, timezone
from typing import Any

# us-east-1 on-demand list prices (DESIGN.md "Prices for the cost model").
DDB_PER_M_WRU = 0.625
DDB_PER_M_RRU = 0.125


class Meter:
    """Sums the ConsumedCapacity of every DynamoDB call of one client (table and indexes apart)."""

    def __init__(self, client: Any) -> None:
        self.read = self.write = self.index_write = 0.0
        self.failed_conditions = self.calls = 0
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._ask)
        events.register("after-call.dynamodb.*", self._count)

    def reset(self) -> None:
        self.read = self.write = self.index_write = 0.0
        self.failed_conditions = self.calls = 0

    @staticmethod
    def _ask(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls += 1
        if model.name in ("DescribeTable", "CreateTable", "DeleteTable"):
            return
        error = (parsed.get("Error") or {}).get("Code", "")
        if "ConditionalCheckFailed" in error or error == "TransactionCanceledException":
            self.failed_conditions += 1
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            writes = model.name in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
            table = (entry.get("Table") or {}).get("CapacityUnits")
            total = entry.get("CapacityUnits", 0.0)
            indexes = sum(i.get("CapacityUnits", 0.0) for i in (entry.get("GlobalSecondaryIndexes") or {}).values())
            if writes:
                self.write += total
                self.index_write += indexes if table is not None else 0.0
            else:
                self.read += total

    def line(self, label: str, seconds: float) -> str:
        cost = (self.write * DDB_PER_M_WRU + self.read * DDB_PER_M_RRU)
        return (f"  {label:<52} {self.write:6.1f} WRU ({self.index_write:4.1f} in indexes) {self.read:6.1f} RRU  "
                f"{self.failed_conditions} failed cond.  {seconds * 1000:7.1f} ms  ${cost:.2f}/M")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=10, help="mentions by the forgotten person")
    parser.add_argument("--incidents", type=int, default=20, help="incidents in the table")
    args = parser.parse_args()

    from responder.aws.incident_store import IncidentStore
    from responder.aws.storage import DynamoMentionStore
    from responder.core.model import Attachment, Author, Mention
    from responder.privacy.erasure import Eraser
    from responder.surge.incidents import BRAND_KEY, SurgeSettings
    from responder_cli.local.dynamodb_local import DynamoDBLocal
    from responder_cli.local.template import load_template, tables

    (spec,) = tables(load_template())
    at = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    dana = Author(id="2000000000000000001", handle="dana_k", name="Dana Kowalski", followers=120)
    # A typical X complaint: 220 characters, one photo, the raw event as X delivers it (~2.5 KB).
    text = ("@AcmeSupport my order 55120 still hasn't arrived after two weeks, the tracking page says delivered but "
            "nothing is at my door; I have asked three times in DMs and nobody answers. Refund or reship please!")

    def mention(mid: str, author: Author = dana) -> Mention:
        return Mention(platform="x", channel="x", kind="mention", mention_id=mid, thread_id=mid, author=author,
                       text=text, created_at="2026-12-01T11:00:00Z", account_id="1000000000000000001",
                       attachments=(Attachment(type="photo", id="77", url="https://pbs.twimg.com/media/x.jpg"),),
                       source="xaa", raw={"data": {"payload": {"id": mid, "text": text, "entities": "x" * 2_000}}})

    def triage(store: DynamoMentionStore, mid: str) -> None:
        store.client.update_item(
            TableName=store._table, Key={"pk": {"S": f"MENTION#x#{mid}"}, "sk": {"S": "MENTION"}},
            UpdateExpression="SET #s = :a, draft_text = :d, classification_json = :c, reply_text = :r, reply_id = :i",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":a": {"S": "answered"}, ":d": {"S": "Sorry Dana! " + "x" * 200},
                                       ":c": {"S": "{" + "x" * 600 + "}"}, ":r": {"S": "Sorry Dana, refunded"},
                                       ":i": {"S": f"9{mid}"}})
        store.client.update_item(
            TableName=store._table, Key={"pk": {"S": f"THREAD#x#{mid}"}, "sk": {"S": "THREAD"}},
            UpdateExpression="SET last_reply_id = :i, last_reply_text = :r",
            ExpressionAttributeValues={":i": {"S": f"9{mid}"}, ":r": {"S": "Sorry Dana, refunded"}})

    with DynamoDBLocal() as ddb:
        client = ddb.client()
        meter = Meter(client)

        def table(with_author_index: bool = True) -> str:
            name = f"b{uuid.uuid4().hex[:12]}"
            create = {**spec.create_args, "TableName": name}
            if not with_author_index:
                create["GlobalSecondaryIndexes"] = [g for g in create["GlobalSecondaryIndexes"]
                                                    if g["IndexName"] != "gsi4"]
                create["AttributeDefinitions"] = [a for a in create["AttributeDefinitions"]
                                                  if not a["AttributeName"].startswith("gsi4")]
            client.create_table(**create)
            return name

        def measure(label: str, action: Any) -> Any:
            meter.reset()
            started = time.perf_counter()
            result = action()
            print(meter.line(label, time.perf_counter() - started))
            return result

        print(f"DynamoDB units per operation (DynamoDB Local, ReturnConsumedCapacity=INDEXES); "
              f"list prices ${DDB_PER_M_WRU}/M WRU, ${DDB_PER_M_RRU}/M RRU")
        plain = DynamoMentionStore(table(with_author_index=False), client=client)
        measure("store one mention, without gsi4", lambda: plain.save(mention("3300000000000000001"), at))
        name = table()
        store, eraser = DynamoMentionStore(name, client=client), Eraser(name, client=client)
        measure("store one mention, with gsi4", lambda: store.save(mention("3300000000000000001"), at))

        triage(store, "3300000000000000001")
        measure("erase a mention (delete notice)", lambda: eraser.erase_mention(
            "x", "3300000000000000001", source="x.tweet_delete", at=at, author_id=dana.id))
        measure("the same notice again", lambda: eraser.erase_mention(
            "x", "3300000000000000001", source="x.tweet_delete", at=at, author_id=dana.id))
        measure("delete before create: the tombstone", lambda: eraser.erase_mention(
            "x", "3300000000000000002", source="x.tweet_delete", at=at))
        measure("delete before create: the late create, refused", lambda: store.save(
            mention("3300000000000000002"), at))

        incidents = IncidentStore(store)
        settings = SurgeSettings()
        for i in range(args.incidents):
            incident = {"incident_id": f"inc-20261201T{i:04d}-all-0001", "account_id": BRAND_KEY, "scope": "all",
                        "incident_status": "closed", "signature": {f"term{j}": 0.1 for j in range(20)}, "size": 0,
                        "next_digest": 50, "sample_mention_ids": [], "alerts": [], "last_seen_at": "2026-12-01"}
            incidents.try_open(BRAND_KEY, f"s{i}", incident, at, settings)
        ids = [f"34000000000000{i:05d}" for i in range(args.mentions)]
        for mid in ids:
            store.save(mention(mid), at)
            triage(store, mid)
        incidents.join({"incident_id": "inc-20261201T0000-all-0001", "account_id": BRAND_KEY},
                       {"channel": "x", "mention_id": ids[0]}, "negative", at, settings)
        export = measure(f"export a person ({args.mentions} mentions, {args.incidents} incidents)",
                         lambda: eraser.export_author(["x"], dana.id))
        done = measure(f"forget a person ({args.mentions} mentions, {args.incidents} incidents)",
                       lambda: eraser.erase_author(["x"], dana.id, source="forget", at=at))
        print(f"  forget erased {done.mentions} mentions, {done.raw_events} raw events, {done.threads} threads, "
              f"{done.replies} replies, {done.incidents} incident samples; export held "
              f"{len(export['mentions'])} mentions")


if __name__ == "__main__":
    main()
