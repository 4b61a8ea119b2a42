"""Where the raw event's audit copy costs least: its own RAW item, or an attribute of the mention item.

Run: `.venv/bin/python -m bench.raw_inline_bench` (DynamoDB Local; the deliveries of `responder demo`, seed 7).

Each mention of the demo's traffic is stored as `responder.aws.storage` stores it, then written twice more on
DynamoDB Local with ReturnConsumedCapacity: as today (the mention item, then the RAW item) and with the
compressed raw event (`raw_z`) on the mention item itself. The mention's later writes, billed on the whole item's
size (DynamoDB developer guide, "Read/write capacity mode": one write unit per 1 KB of the item), are then
replayed on both: the workflow's RecordMention (its update expression with a typical draft; triage takes no claim),
and, for the share of mentions the demo answers (45 of 210), the reply's three updates.
It prints the item sizes and the write units per mention of both layouts and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime, timezone

from responder.aws.storage import DynamoMentionStore
from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from responder_cli.local.dynamodb_local import DynamoDBLocal
from responder_cli.local.metering import item_size
from responder_cli.local.template import load_template, tables
from responder_cli.replay import build_deliveries

# The demo's share of mentions answered through the review page (45 of 210 in `responder demo`, seed 7).
REPLY_SHARE = 45 / 210
DRAFT = ("Hi, we are sorry about the trouble with your order. We have passed it to our team and will get back "
         "to you here within the hour with an update. Thanks for your patience.")


def _units(answer: dict) -> float:
    return float((answer.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--surge", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    deliveries = build_deliveries(None, args.count, args.surge, args.seed, 0.0)
    (spec,) = tables(load_template())
    with DynamoDBLocal() as ddb:
        client = ddb.client()
        for name in ("bsource", "bseparate", "binline"):
            client.create_table(**{**spec.create_args, "TableName": name})
        store = DynamoMentionStore("bsource", raw_event_ttl_days=30, client=client)  # with audit copies (opt-in)
        now = datetime.now(timezone.utc)
        rows = []
        for delivery in deliveries:
            normalize = normalize_x if delivery.platform == "x" else normalize_meta
            for mention in normalize(json.loads(delivery.encoded())).mentions:
                store.save(mention, now)
                key = {"pk": {"S": f"MENTION#{mention.channel}#{mention.mention_id}"}}
                item = client.get_item(TableName="bsource", Key={**key, "sk": {"S": "MENTION"}})["Item"]
                raw = client.get_item(TableName="bsource", Key={**key, "sk": {"S": "RAW"}})["Item"]
                separate = (_units(client.put_item(TableName="bseparate", Item=item, ReturnConsumedCapacity="TOTAL"))
                            + _units(client.put_item(TableName="bseparate", Item=raw,
                                                     ReturnConsumedCapacity="TOTAL")))
                inline_item = {**item, "raw_z": raw["raw_z"], "raw_truncated": raw["raw_truncated"]}
                inline = _units(client.put_item(TableName="binline", Item=inline_item, ReturnConsumedCapacity="TOTAL"))
                later = {}
                for table in ("bseparate", "binline"):
                    units = 0.0
                    units += _units(client.update_item(
                        TableName=table, Key={**key, "sk": {"S": "MENTION"}}, ReturnConsumedCapacity="TOTAL",
                        UpdateExpression=("SET #s = :n, triaged_at = :at, triaged_by = :by, intent = :i, "
                                          "sentiment = :se, topic = :to, #lang = :l, priority = :p, team = :team, "
                                          "sla_due = :due, draft_text = :d"),
                        ExpressionAttributeNames={"#s": "status", "#lang": "language"},
                        ExpressionAttributeValues={":n": {"S": "notified"}, ":at": {"S": now.isoformat()},
                                                   ":by": {"S": "5f1c0e9a2b7d"},
                                                   ":i": {"S": "complaint"}, ":se": {"S": "negative"},
                                                   ":to": {"S": "delivery"}, ":l": {"S": "en"}, ":p": {"S": "p2"},
                                                   ":team": {"S": "orders"}, ":due": {"S": now.isoformat()},
                                                   ":d": {"S": DRAFT}}))
                    reply = 0.0
                    for state in ("queued", "sending", "sent"):
                        reply += _units(client.update_item(
                            TableName=table, Key={**key, "sk": {"S": "MENTION"}}, ReturnConsumedCapacity="TOTAL",
                            UpdateExpression="SET reply_state = :s, reply_text = :d, reply_nonce = :n",
                            ExpressionAttributeValues={":s": {"S": state}, ":d": {"S": DRAFT},
                                                       ":n": {"S": "n" * 32}}))
                    later[table] = units + REPLY_SHARE * reply
                rows.append({"mention_bytes": item_size(item), "raw_bytes": item_size(raw), "inline_bytes": item_size(inline_item),
                             "separate": separate + later["bseparate"], "inline": inline + later["binline"],
                             "put_separate": separate, "put_inline": inline})
    n = len(rows)
    over = sum(1 for r in rows if r["inline_bytes"] > 1024)
    print(f"{n} mentions of `responder demo` (seed {args.seed}), write units per mention on DynamoDB Local")
    for name in ("mention_bytes", "raw_bytes", "inline_bytes"):
        values = sorted(r[name] for r in rows)
        print(f"  {name:14s} median {statistics.median(values):6.0f} B, p90 {values[int(0.9 * n)]:6.0f} B, "
              f"max {values[-1]:6.0f} B")
    print(f"  mention items over 1 KB with the raw copy inline: {over} of {n} ({100 * over / n:.0f}%)")
    sep = sum(r["separate"] for r in rows) / n
    inl = sum(r["inline"] for r in rows) / n
    print(f"  ingest put(s):          separate {sum(r['put_separate'] for r in rows) / n:.2f}, "
          f"inline {sum(r['put_inline'] for r in rows) / n:.2f}")
    print(f"  ingest + triage + {REPLY_SHARE:.2f} x reply updates: separate {sep:.2f}, inline {inl:.2f}, "
          f"inline/separate {inl / sep:.2f}")


if __name__ == "__main__":
    main()
