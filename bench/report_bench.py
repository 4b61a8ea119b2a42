"""`responder report` on 100,000 synthetic mentions, measured (a benchmark, never a test).

1. Compute: the figures (`report.compute`) over the mentions, in memory.
2. Write: compute + report.json + report.html + the four PNG plots (`report.write`), into a temporary folder.
3. Local read: `GET /local/mentions` of the same mentions from a loopback HTTP server (the JSON `responder local`
   serves), then write: what `responder report --url` costs end to end.
4. Deployed read path: the gsi2 Query of keys and BatchGetItem calls against an in-process stand-in counting the
   calls (the number of requests and read units the period costs; DynamoDB itself is not timed here).

Run: `python -m bench.report_bench [--mentions 100000] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from responder_cli import report

TEAMS = ("support", "billing", "logistics", "social")
PRIORITIES = ("p1", "p2", "p3")
CHANNELS = ("x", "facebook", "instagram", "messenger", "whatsapp")
SENTIMENTS = ("negative", "neutral", "positive")
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def synthetic(count: int, seed: int = 7) -> list[dict]:
    """A month of mentions: 5% archived noise, 80% answered (log-normal delays around 30 minutes), breaches on the
    unanswered, a few incidents."""
    rng = random.Random(seed)
    mentions = []
    for i in range(count):
        received = START + timedelta(seconds=rng.uniform(0, 30 * 86400))
        mention = {"channel": rng.choice(CHANNELS), "mention_id": str(10**18 + i), "team": rng.choice(TEAMS),
                   "priority": rng.choice(PRIORITIES), "sentiment": rng.choice(SENTIMENTS),
                   "created_at": _iso(received - timedelta(seconds=rng.uniform(0, 5))), "received_at": _iso(received),
                   "status": "notified", "text": "x" * 120}
        roll = rng.random()
        if roll < 0.05:
            mention.update(status="archived", archive_reason="spam")
        elif roll < 0.85:
            delay = math.exp(rng.gauss(math.log(1800), 1.0))
            mention.update(status="answered", first_response_at=_iso(received + timedelta(seconds=delay)))
        else:
            mention["sla_breached_at"] = _iso(received + timedelta(hours=1))
        if rng.random() < 0.01:
            mention["incident_id"] = f"inc-{int(received.timestamp()) // 86400 % 5}"
        mentions.append(mention)
    return mentions


def _timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class _Mentions(BaseHTTPRequestHandler):
    body = b"[]"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        return


class _CountingDynamoDB:
    """Answers gsi2 Queries in 1 MB-like pages of keys and BatchGetItem from memory; counts the calls."""

    PAGE = 5000  # keys of ~100 bytes: a 1 MB Query page holds several thousand

    def __init__(self, mentions: list[dict]) -> None:
        ordered = sorted(mentions, key=lambda m: m["received_at"])
        self.items = {f"MENTION#{m['channel']}#{m['mention_id']}": m for m in ordered}
        self.keys = [{"pk": {"S": k}, "sk": {"S": "MENTION"}} for k in self.items]
        self.calls = {"query": 0, "batch_get_item": 0, "scan": 0}

    def query(self, **request):
        self.calls["query"] += 1
        start = int(request.get("ExclusiveStartKey", {}).get("offset", {"N": "0"})["N"])
        page = self.keys[start:start + self.PAGE]
        answer = {"Items": page}
        if start + self.PAGE < len(self.keys):
            answer["LastEvaluatedKey"] = {"offset": {"N": str(start + self.PAGE)}}
        return answer

    def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's name
        self.calls["batch_get_item"] += 1
        (table, request), = RequestItems.items()
        wanted = set(request["ExpressionAttributeNames"].values())
        found = [{k: {"S": str(v)} for k, v in self.items[key["pk"]["S"]].items() if k in wanted}
                 for key in request["Keys"]]
        return {"Responses": {table: found}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    mentions = synthetic(args.mentions)
    print(f"responder report on {args.mentions:,} synthetic mentions (median of {args.runs} runs)")
    compute = _timed(lambda: report.compute(mentions), args.runs)
    with tempfile.TemporaryDirectory() as folder:
        write = _timed(lambda: report.write(mentions, Path(folder)), args.runs)
        sizes = {p.name: p.stat().st_size for p in Path(folder).iterdir()}
        figures = json.loads((Path(folder) / "report.json").read_text())
    _Mentions.body = json.dumps(mentions).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mentions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as folder:
        local = _timed(lambda: report.write(report.read_local(url), Path(folder)), args.runs)
    server.shutdown()
    table = _CountingDynamoDB(mentions)
    reader = report.TableReader("T", client=table)
    read = _timed(lambda: reader.mentions(None, None), 1)
    print(f"  compute (figures only)        {compute * 1000:8.0f} ms   ({args.mentions / compute:,.0f} mentions/s)")
    print(f"  compute + JSON + HTML + plots {write * 1000:8.0f} ms   plots are {1 - compute / write:.0%} of it")
    print(f"  local: GET /local/mentions ({len(_Mentions.body) / 1e6:.1f} MB) + write {local * 1000:8.0f} ms")
    print(f"  deployed read path: {table.calls['query']} Query pages + {table.calls['batch_get_item']} BatchGetItem "
          f"calls, {table.calls['scan']} Scan; stand-in time {read * 1000:.0f} ms")
    # BatchGetItem reads cost one read unit per 4 KB item strongly consistent, half eventually consistent (DynamoDB
    # pricing: $0.125 per million read units on demand); a mention item is under 4 KB.
    units = args.mentions * 0.5 + table.calls["query"] * 0.5 * 256
    print(f"  deployed read cost: ~{units:,.0f} read units = ${units * 0.125 / 1e6:.4f} for the period")
    print(f"  files: " + ", ".join(f"{k} {v / 1024:.0f} KB" for k, v in sorted(sizes.items())))
    print(f"  headline: {report.headline(figures)}")


if __name__ == "__main__":
    main()
