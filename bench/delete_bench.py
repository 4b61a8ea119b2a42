"""Platform delete notices and Meta's data deletion callback, measured (a benchmark, never a test).

1. Acknowledgement latency of a delete delivery: `responder local` as a process; N X mentions are posted and left to
   triage, then N Account Activity `tweet_delete_events` deliveries (one post each) erase them, one at a time; each
   round trip is timed on the client (HTTP, signature, normalisation, erasure on DynamoDB Local). The same for N
   delete notices of posts never stored (a tombstone each), and for N creates as the yardstick. X acknowledges a
   delivery within 3 s (X's webhook docs): the figures say how far inside that a delete stays.
2. Write and read units: the erasure in-process on DynamoDB Local with ReturnConsumedCapacity=TOTAL (what DynamoDB
   Local reports for these items; transactions counted double, as DynamoDB bills them), for one stored mention, one
   unknown mention, and one data deletion request erasing a person's K mentions; their price at us-east-1 list prices
   ($0.625 per million write units, $0.125 per million read units, DESIGN.md "Prices for the cost model").

Run: `python -m bench.delete_bench [--count 100] [--person-mentions 20]` (needs Java for DynamoDB Local).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import wait_for_local, xaa_mention

REPO = Path(__file__).resolve().parents[1]
DDB_PER_M_WRU = 0.625
DDB_PER_M_RRU = 0.125
SECRET = "bench-delete-x-secret"
BRAND = "1000000000000000001"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _delete(post_id: str, author: str) -> bytes:
    return json.dumps({"for_user_id": BRAND, "tweet_delete_events": [
        {"status": {"id": post_id, "user_id": author}, "timestamp_ms": str(int(time.time() * 1000))}]}).encode()


def latency(count: int) -> None:
    import requests

    from responder.ingest.signatures import sign_x
    from responder_cli.local.dynamodb_local import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "responder_cli.main", "local", "--port", str(port),
                                "--in-memory", "--outbox", "", "--quiet"], cwd=REPO,
                               env={**os.environ, "RESPONDER_X_CONSUMER_SECRET": SECRET},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()

    def post(raw: bytes) -> float:
        started = time.perf_counter()
        answer = session.post(f"{base}/webhooks/x", data=raw, timeout=10, headers={
            "content-type": "application/json", "x-twitter-webhooks-signature": sign_x(SECRET, raw)})
        elapsed = (time.perf_counter() - started) * 1000
        answer.raise_for_status()
        return elapsed

    try:
        wait_for_local(base, session)
        posts = [(f"48{uuid.uuid4().int % 10**17:017d}", f"3{i:018d}") for i in range(count)]
        creates = [post(xaa_mention(p, a, f"@AcmeSupport order {i} is late")) for i, (p, a) in enumerate(posts)]
        # Let triage finish, so the deletes are timed on a quiet stack, as the creates' first ones were.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            stored = {m["mention_id"]: m["status"] for m in session.get(f"{base}/local/mentions", timeout=30).json()}
            if all(stored.get(p) in ("notified", "archived", "incident") for p, _ in posts):
                break
            time.sleep(1.0)
        deletes = [post(_delete(p, a)) for p, a in posts]
        stored = {m["mention_id"]: m for m in session.get(f"{base}/local/mentions", timeout=30).json()}
        erased = sum(stored[p]["status"] == "deleted" and "text" not in stored[p] for p, _ in posts)
        unknown = [post(_delete(f"49{uuid.uuid4().int % 10**17:017d}", "3" + "0" * 18)) for _ in range(count)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    print(f"\nacknowledgement, responder local, one delivery at a time ({count} each; X's deadline 3,000 ms)")
    for name, values in (("create (store + enqueue)", creates), ("delete of a stored mention", deletes),
                         ("delete before its create", unknown)):
        print(f"  {name:28s} p50 {_pct(values, 0.5):7.1f} ms   p99 {_pct(values, 0.99):7.1f} ms   "
              f"max {max(values):7.1f} ms")
    print(f"  erased: {erased} of {count} (status deleted, no text)")


def units(person_mentions: int) -> None:
    from responder.aws.storage import DynamoMentionStore
    from responder.core.model import Author, Mention
    from responder.privacy.deletion_requests import DynamoDeletionRequests
    from responder.privacy.erasure import Eraser
    from responder_cli.local.dynamodb_local import DynamoDBLocal
    from responder_cli.local.metering import Meter
    from responder_cli.local.template import load_template, tables

    (spec,) = tables(load_template())
    meter = Meter()
    with DynamoDBLocal() as ddb:
        client = ddb.client()
        client.create_table(**{**spec.create_args, "TableName": "bench"})
        store = DynamoMentionStore("bench", client=client)
        eraser = Eraser("bench", client=client)
        requests_store = DynamoDeletionRequests("bench", client=client)

        def mention(channel: str, mention_id: str, author: str) -> Mention:
            return Mention(platform="x" if channel == "x" else "meta", channel=channel,  # type: ignore[arg-type]
                           kind="mention" if channel == "x" else "comment", mention_id=mention_id,
                           thread_id=mention_id, author=Author(id=author, handle="someone", name="Some One"),
                           text="my order is late " * 8, created_at="2026-10-02T09:15:30Z", account_id=BRAND,
                           source="xaa", raw={"data": {"text": "my order is late " * 8}})

        def measure(fn: Any) -> tuple[float, float]:
            meter.install()
            before = (meter.write_units, meter.read_units)
            try:
                fn()
            finally:
                meter.uninstall()
            return meter.write_units - before[0], meter.read_units - before[1]

        now = datetime.now(timezone.utc)
        stored = mention("x", "4800000000000000001", "3000000000000000001")
        store.save(store.resolve_thread(stored), now)
        rows = [("store one mention (for scale)", measure(lambda: store.save(mention("x", "4800000000000000009",
                                                                                      "3000000000000000001"), now))),
                ("erase a stored mention", measure(lambda: eraser.erase_mention(
                    "x", stored.mention_id, source="x.tweet_delete", at=now, author_id="3000000000000000001"))),
                ("the same notice again", measure(lambda: eraser.erase_mention(
                    "x", stored.mention_id, source="x.tweet_delete", at=now, author_id="3000000000000000001"))),
                ("delete before its create", measure(lambda: eraser.erase_mention(
                    "x", "4800000000000000002", source="x.tweet_delete", at=now)))]
        for i in range(person_mentions):
            store.save(mention("facebook", f"61_{i}", "5100000000000001"), now)
        rows.append((f"data deletion request, {person_mentions} mentions", measure(lambda: (
            requests_store.record("a" * 64, "u", int(now.timestamp()), now),
            eraser.erase_author(("facebook", "instagram", "messenger", "whatsapp"), "5100000000000001",
                                source="meta.data_deletion", at=now)))))
    print("\nDynamoDB units, as DynamoDB Local reports them (ReturnConsumedCapacity=TOTAL)")
    for name, (write, read) in rows:
        cost = (write * DDB_PER_M_WRU + read * DDB_PER_M_RRU)
        print(f"  {name:40s} write {write:6.1f}   read {read:6.1f}   ${cost:8.3f} per million")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--person-mentions", type=int, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    units(args.person_mentions)
    if not args.skip_latency:
        latency(args.count)


if __name__ == "__main__":
    main()
