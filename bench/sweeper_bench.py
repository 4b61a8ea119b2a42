"""What the sweeper costs per mention: the read units of one sweep over a window of stored mentions.

Run: `.venv/bin/python -m bench.sweeper_bench [--count 600]` (DynamoDB Local; the demo's seeded deliveries).

Stores the deliveries of `responder replay` (seed 7, a surge of 60 in the middle) as the webhook does, received
0.2 s apart, none claimed by triage (the worst case: every mention in the window is still `received` and is read
and re-enqueued), then runs one sweep (responder.ingest.sweeper) over them with the meter installed and prints its
DynamoDB read and write units: the gsi2 query over the window and the BatchGetItem of each candidate's status,
against the three write units per mention of the sparse pending index and `queued` update it replaced.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone

from responder.aws.storage import DynamoMentionStore
from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from responder.ingest.sweeper import requeue_stranded
from responder_cli.local.dynamodb_local import DynamoDBLocal
from responder_cli.local.metering import PRICE, Meter
from responder_cli.local.template import load_template, tables
from responder_cli.replay import build_deliveries


class _Sent:
    """A queue that only counts what the sweep sends."""

    def __init__(self) -> None:
        self.count = 0

    def enqueue(self, mentions) -> None:
        self.count += len(mentions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--surge", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    (spec,) = tables(load_template())
    with DynamoDBLocal() as ddb:
        client = ddb.client()
        client.create_table(**{**spec.create_args, "TableName": "bsweep"})
        store = DynamoMentionStore("bsweep", client=client)
        start = datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc)
        stored = 0
        for i, delivery in enumerate(build_deliveries(None, args.count, args.surge, args.seed, 0.0)):
            normalize = normalize_x if delivery.platform == "x" else normalize_meta
            for mention in normalize(json.loads(delivery.encoded())).mentions:
                store.save(mention, start + timedelta(seconds=i * 0.2))
                stored += 1
        meter, queue = Meter(), _Sent()
        meter.install()
        try:
            # The first sweep: no watermark yet, so it reads the last hour in windows of 15 minutes.
            requeue_stranded(store, queue, None, now=start + timedelta(minutes=20))
        finally:
            meter.uninstall()
    per_mention = meter.read_units / stored
    print(f"one sweep over {stored} stored mentions, {queue.count} re-enqueued")
    print(f"  read units  {meter.read_units:.1f} ({per_mention:.3f} per mention, "
          f"${per_mention * PRICE['dynamodb_read_unit'] * 1e6:.3f} per million mentions)")
    print(f"  write units {meter.write_units:.1f} (the watermark: one put per window read, not per mention)")
    replaced = 3 * PRICE["dynamodb_write_unit"] * 1e6
    print(f"  replaced: 3 write units per mention (${replaced:.2f} per million); "
          f"ratio {replaced / (per_mention * PRICE['dynamodb_read_unit'] * 1e6):.0f}x")


if __name__ == "__main__":
    main()
