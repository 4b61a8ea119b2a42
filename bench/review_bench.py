"""The review page's latency and the review function's cold import, measured (a benchmark, never a test).

1. Time to first byte of GET /review/{token}: the review Lambda's handler, in-process, against DynamoDB Local, for
   a mention with a thread of 20 earlier messages (one GetItem and one gsi1 Query per page; the handler returns the
   whole page at once, so its first byte is its last). Also the POST that approves a reply (the conditional claim
   and the queue message to an in-memory outbox) to its 303.
2. The handler module's cold import against `import boto3`, each in fresh interpreters (wall and CPU medians, and
   the ratio): what a new container pays before the first request.

Run: `python -m bench.review_bench [--requests 300] [--runs 9]` (needs Java for DynamoDB Local).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
HANDLER_DIR = REPO / "functions" / "review"
LAYER_DIR = REPO / "layers" / "responder" / "python"
_PROBE = ("import os, sys, time, importlib; sys.path[:0] = sys.argv[1].split(os.pathsep); "
          "t, c = time.perf_counter(), time.process_time(); importlib.import_module(sys.argv[2]); "
          "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _import_ms(path: str, module: str) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", _PROBE, path, module], env=env, capture_output=True, text=True,
                          check=True, cwd=HANDLER_DIR)
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def cold_imports(runs: int) -> None:
    rows = {"review handler": (f"{LAYER_DIR}{os.pathsep}{HANDLER_DIR}", "handler"), "import boto3": ("", "boto3")}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
    for _ in range(runs):  # alternated, so a busy moment of the shared machine hits both
        for name, (path, module) in rows.items():
            samples[name].append(_import_ms(path, module))
    print(f"\ncold import, median of {runs} fresh interpreters      wall ms     cpu ms")
    medians = {}
    for name, values in samples.items():
        wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        medians[name] = (wall, cpu)
        print(f"  {name:<48}{wall:>8.1f}{cpu:>11.1f}")
    handler, boto3 = medians["review handler"], medians["import boto3"]
    print(f"  ratio handler / boto3 (wall, cpu)                   {handler[0] / boto3[0]:>5.2f}x"
          f"{handler[1] / boto3[1]:>10.2f}x")


def page_latency(requests: int) -> None:
    from responder.aws.storage import DynamoMentionStore
    from responder.core.model import Author, Mention
    from responder.replies.claims import DynamoReplyStore
    from responder.replies.review import ReviewService
    from responder.replies.tokens import ReviewSigner
    from responder_cli.local.dynamodb_local import DynamoDBLocal
    from responder_cli.local.stack import LambdaContext
    from responder_cli.local.template import load_template, tables
    from responder_cli.local.triage import load_module

    class ListOutbox:
        def __init__(self) -> None:
            self.sent: list[dict] = []

        def send(self, message: dict) -> None:
            self.sent.append(message)

    signer = ReviewSigner(b"bench-review-key-0123456789abcdef", 3600)
    with DynamoDBLocal() as ddb:
        client = ddb.client()
        (spec,) = tables(load_template())
        table = f"bench{uuid.uuid4().hex[:8]}"
        client.create_table(**{**spec.create_args, "TableName": table})
        store = DynamoMentionStore(table, client=client)
        thread = "1900000000000000000"
        for i in range(21 + requests):
            mention = Mention(platform="x", channel="x", kind="mention", mention_id=f"19{i:017d}", thread_id=thread,
                              author=Author(id=str(i), handle=f"user{i}", name=f"User {i}"),
                              text=f"Message {i} " + "about my order " * 15, account_id="brand",
                              created_at=f"2026-12-{1 + i // 3600:02d}T17:{i // 60 % 60:02d}:{i % 60:02d}Z")
            store.save(mention)
            client.update_item(TableName=table, Key={"pk": {"S": f"MENTION#x#19{i:017d}"}, "sk": {"S": "MENTION"}},
                               UpdateExpression="SET #s = :n, draft_text = :d, priority = :p, team = :t",
                               ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":n": {"S": "notified"}, ":d": {"S": "Sorry, we are on it."},
                                                          ":p": {"S": "p2"}, ":t": {"S": "orders"}})
        outbox = ListOutbox()
        module = load_module(HANDLER_DIR / "handler.py", "responder_review_handler_bench")
        module.configure(ReviewService(store=DynamoReplyStore(table, client=client), signer=lambda: signer,
                                       outbox=outbox, configured_channels=lambda: {"x"}))
        token = signer.token("x", f"19{20:017d}")  # 20 earlier messages in its thread
        event = {"version": "2.0", "rawPath": f"/review/{token}", "pathParameters": {"token": token},
                 "headers": {}, "requestContext": {"http": {"method": "GET"}}, "isBase64Encoded": False}
        context = LambdaContext(function_name="responder-review-bench")
        for _ in range(20):  # warm: connections open, code paths loaded
            module.handler(event, context)
        gets = []
        for _ in range(requests):
            started = time.perf_counter()
            answer = module.handler(event, context)
            gets.append((time.perf_counter() - started) * 1000)
            assert answer["statusCode"] == 200
        posts = []
        for i in range(21, 21 + requests):
            target = signer.token("x", f"19{i:017d}")
            body = urlencode({"nonce": signer.nonce(target), "action": "send", "text": "Refunded, sorry.",
                              "agent": "bench"}).encode()
            post = {**event, "rawPath": f"/review/{target}", "pathParameters": {"token": target},
                    "headers": {"content-type": "application/x-www-form-urlencoded"},
                    "requestContext": {"http": {"method": "POST"}}, "body": body.decode()}
            started = time.perf_counter()
            answer = module.handler(post, context)
            posts.append((time.perf_counter() - started) * 1000)
            assert answer["statusCode"] == 303
        assert len(outbox.sent) == requests
        size = len(module.handler(event, context)["body"].encode())
    print(f"review page against DynamoDB Local, {requests} requests each     p50 ms   p99 ms   max ms")
    print(f"  GET  (form, 20 earlier messages, {size:,} bytes)     {_percentile(gets, .5):>9.2f}"
          f"{_percentile(gets, .99):>9.2f}{max(gets):>9.2f}")
    print(f"  POST Send (claim + queue message, 303)                {_percentile(posts, .5):>9.2f}"
          f"{_percentile(posts, .99):>9.2f}{max(posts):>9.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    page_latency(args.requests)
    cold_imports(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
