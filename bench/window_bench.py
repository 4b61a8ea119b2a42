"""What one refresh of the clustering window costs: gsi2 Queries, read units and the client's CPU time, for the
brand's listing in its current shards against the layout before (16 shards and the unsharded partition, all read).

Run: `.venv/bin/python -m bench.window_bench [--sizes 20 100 500] [--repeat 30]` (DynamoDB Local).

For each window size, stores that many mentions received within the window (the demo's seeded texts) in a table
written as the current code writes it, and in one written as the layout before wrote it (ACCOUNT_SHARDS 16), then
refreshes the window (`IncidentStore.recent_mentions`, as responder.surge.correlate does every CLUSTER_CACHE_SECONDS
per container) `--repeat` times on each and prints, per refresh: Queries, read units (the meter of
cli/responder_cli/local/metering.py, from DynamoDB Local's consumed capacity) and this process's CPU time (botocore
building, signing and parsing the calls; DynamoDB Local runs in its own process), with the ratios. The demo makes
about one refresh per three mentions (`responder demo`'s read breakdown, `recent_mentions`).
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from typing import Iterator

from responder.aws import incident_store, storage
from responder.aws.incident_store import IncidentStore
from responder.aws.storage import DynamoMentionStore
from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from responder.surge.incidents import BRAND_KEY
from responder_cli.local.dynamodb_local import DynamoDBLocal
from responder_cli.local.metering import PRICE, Meter
from responder_cli.local.template import load_template, tables
from responder_cli.replay import build_deliveries

AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
EARLIER_SHARDS = 16


@contextmanager
def layout_before() -> Iterator[None]:
    """The code as it was: mentions written to 16 shards, and the window reading those and the unsharded partition."""
    saved = storage.ACCOUNT_SHARDS, incident_store.ACCOUNT_SHARDS, incident_store.current_account_partitions
    storage.ACCOUNT_SHARDS = incident_store.ACCOUNT_SHARDS = EARLIER_SHARDS
    incident_store.current_account_partitions = storage.account_partitions
    try:
        yield
    finally:
        storage.ACCOUNT_SHARDS, incident_store.ACCOUNT_SHARDS, incident_store.current_account_partitions = saved


def _mentions(count: int, seed: int) -> list:
    found = []
    for delivery in build_deliveries(None, count, max(count // 4, 1), seed, 0.0):
        normalize = normalize_x if delivery.platform == "x" else normalize_meta
        found += normalize(json.loads(delivery.encoded())).mentions
    return found[:count]


def _refreshes(store: DynamoMentionStore, repeat: int) -> dict[str, float]:
    """`repeat` window refreshes: Queries, read units and CPU milliseconds per refresh, and the mentions read."""
    incidents = IncidentStore(store)
    incidents.recent_mentions(BRAND_KEY, AT - timedelta(minutes=3))  # warm: connections, parsers
    meter = Meter()
    meter.install()
    try:
        started = time.process_time()
        for _ in range(repeat):
            read = incidents.recent_mentions(BRAND_KEY, AT - timedelta(minutes=3))
        cpu = time.process_time() - started
    finally:
        meter.uninstall()
    return {"queries": meter.operations[("dynamodb", "Query")] / repeat, "read_units": meter.read_units / repeat,
            "cpu_ms": cpu * 1000 / repeat, "read": len(read)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    (spec,) = tables(load_template())
    print(f"one refresh of the clustering window (gsi2, {storage.ACCOUNT_SHARDS} current shards against "
          f"{EARLIER_SHARDS} + the unsharded partition before), mean of {args.repeat}")
    print(f"{'mentions':>9}{'layout':>9}{'queries':>9}{'read units':>12}{'$/M refreshes':>15}{'CPU ms':>9}{'read':>6}")
    with DynamoDBLocal() as ddb:
        for size in args.sizes:
            mentions = _mentions(size, args.seed)
            results = {}
            for layout in ("before", "now"):
                client = ddb.client()
                name = f"bwin{layout}{size}"
                client.create_table(**{**spec.create_args, "TableName": name})
                store = DynamoMentionStore(name, client=client)
                with layout_before() if layout == "before" else nullcontext():
                    for i, mention in enumerate(mentions):
                        store.save(mention, AT - timedelta(seconds=150 * i / size))
                    results[layout] = _refreshes(store, args.repeat)
                r = results[layout]
                print(f"{size:>9}{layout:>9}{r['queries']:>9.1f}{r['read_units']:>12.1f}"
                      f"{r['read_units'] * PRICE['dynamodb_read_unit'] * 1e6:>15.2f}{r['cpu_ms']:>9.2f}{r['read']:>6}")
            before, now = results["before"], results["now"]
            print(f"{size:>9}{'ratio':>9}{before['queries'] / now['queries']:>9.2f}"
                  f"{before['read_units'] / now['read_units']:>12.2f}{'':>15}{before['cpu_ms'] / now['cpu_ms']:>9.2f}")


if __name__ == "__main__":
    main()
