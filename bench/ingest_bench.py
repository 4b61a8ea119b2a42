"""Ingest benchmark: acknowledgement latency through `responder local`, and the webhook's cold import cost.

Run: `make bench` (or `.venv/bin/python -m bench.ingest_bench --deliveries 1000 --concurrency 8`).

1. Acknowledgement latency: starts `responder local` in memory as a separate process, then sends signed
   X Activity API mentions (unique ids, realistic text), legacy Account Activity tweets and Meta comments
   from a seeded generator, sequentially and then with N concurrent senders, and reports p50/p95/p99 of the
   time from sending the request to receiving the 200 (which the webhook only answers once the mention is in
   DynamoDB Local and its message in the queue). A tenth of deliveries are repeats, as platforms retry.
2. Cold start: in fresh interpreters, alternately, the time to `import boto3` alone, to import the webhook
   handler module, and to be ready for a first answer (handler imported, adapters and clients built, serializer
   loaded) with boto3's clients and as in Lambda with the JSON-protocol clients; each as a ratio to
   `import boto3`. `--cold-only` prints only these.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from responder.ingest.signatures import sign_meta, sign_x
from responder_cli.replay import percentile

REPO = Path(__file__).resolve().parents[1]
SECRETS = {"RESPONDER_X_CONSUMER_SECRET": "bench-x-secret", "RESPONDER_META_APP_SECRET": "bench-meta-secret",
           "RESPONDER_META_VERIFY_TOKEN": "bench-verify"}
BRAND = "1000000000000000001"
TEXTS = [
    "@AcmeSupport my order #{n} still hasn't shipped, any update?",
    "@AcmeSupport the app logs me out every time I open it",
    "@AcmeSupport thanks for the quick refund, great service!",
    "@AcmeSupport is the store open on Sunday?",
    "@AcmeSupport charged twice for order {n}, please help",
]


def deliveries(count: int, seed: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """Seeded signed deliveries: 60% XAA mentions, 20% AAA tweets, 20% Meta comments; 10% repeats."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 2, 9, 0, tzinfo=timezone.utc)
    out: list[tuple[str, bytes, dict[str, str]]] = []
    for i in range(count):
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))
            continue
        n = 4_000_000_000_000_000_000 + seed * 1_000_000 + i
        text = rng.choice(TEXTS).format(n=rng.randint(1000, 9999))
        at = start + timedelta(seconds=i)
        kind = rng.random()
        if kind < 0.6:
            body = {"data": {"event_uuid": str(n), "filter": {"user_id": BRAND}, "event_type": "post.mention.create",
                             "tag": "mentions", "payload": {
                                 "id": str(n), "author_id": str(5_000_000 + rng.randint(0, 5000)),
                                 "conversation_id": str(n), "created_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                                 "text": text, "lang": "en"},
                             "includes": {"users": []}}}
            raw = json.dumps(body).encode()
            out.append(("x", raw, {"x-twitter-webhooks-signature": sign_x(SECRETS["RESPONDER_X_CONSUMER_SECRET"], raw)}))
        elif kind < 0.8:
            uid = str(5_000_000 + rng.randint(0, 5000))
            body = {"for_user_id": BRAND, "tweet_create_events": [{
                "id_str": str(n), "text": text, "created_at": at.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "user": {"id_str": uid, "screen_name": f"user{uid}", "followers_count": rng.randint(0, 10_000)},
                "lang": "en"}]}
            raw = json.dumps(body).encode()
            out.append(("x", raw, {"x-twitter-webhooks-signature": sign_x(SECRETS["RESPONDER_X_CONSUMER_SECRET"], raw)}))
        else:
            body = {"object": "page", "entry": [{"id": "4100000000000001", "time": int(at.timestamp()), "changes": [{
                "field": "feed", "value": {"from": {"id": str(6_000_000 + i), "name": "Customer"}, "item": "comment",
                                           "verb": "add", "post_id": "4100000000000001_1", "comment_id": f"1_{n}",
                                           "parent_id": "4100000000000001_1", "message": text[13:],
                                           "created_time": int(at.timestamp())}}]}]}
            raw = json.dumps(body).encode()
            out.append(("meta", raw, {"x-hub-signature-256": sign_meta(SECRETS["RESPONDER_META_APP_SECRET"], raw)}))
    return out


def start_local(port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "responder_cli.main", "local", "--port", str(port),
                                "--in-memory"], cwd=REPO, env={**os.environ, **SECRETS},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"responder local exited: {process.stderr.read()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/local/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("responder local did not start")


def send_all(base: str, items: list[tuple[str, bytes, dict[str, str]]], concurrency: int) -> list[float]:
    session_per_thread: dict[int, requests.Session] = {}

    def send(item: tuple[str, bytes, dict[str, str]]) -> float:
        import threading

        session = session_per_thread.setdefault(threading.get_ident(), requests.Session())
        platform, body, headers = item
        t0 = time.perf_counter()
        answer = session.post(f"{base}/webhooks/{platform}", data=body, timeout=10,
                              headers={"content-type": "application/json", **headers})
        elapsed = time.perf_counter() - t0
        if answer.status_code != 200:
            raise SystemExit(f"unexpected {answer.status_code}: {answer.text}")
        return elapsed * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(send, items))


def ack_latency(count: int, concurrency: int, seed: int, port: int) -> dict[str, object]:
    from responder_cli.local.dynamodb_local import free_port

    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_local(port)
    try:
        items = deliveries(count, seed)
        send_all(base, deliveries(20, seed + 1), 1)  # warm-up: connection pools, first imports
        sequential = send_all(base, items[: count // 2], 1)
        t0 = time.perf_counter()
        concurrent = send_all(base, items[count // 2:], concurrency)
        wall = time.perf_counter() - t0
        stored = requests.get(f"{base}/local/mentions", timeout=60).json()
        expected = len({body for _, body, _ in items + deliveries(20, seed + 1)})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return {"sequential": sequential, "concurrent": concurrent, "concurrent_wall_s": wall,
            "stored": len(stored), "expected_unique": expected}


# What a cold container pays before its first answer: the handler's import, its adapters built, their clients
# ready and the attribute serializer loaded (the first write needs all of them; only the network is left out).
_READY = "import handler; s = handler.build_service(); s._store.client; s._queue.client; s._store._item({'n': 1})"
# Inside Lambda the runtime sets these (fake credentials here: nothing is sent), and the webhook builds its
# JSON-protocol clients; without them it builds boto3's, as everywhere else.
_LAMBDA_ENV = {"AWS_LAMBDA_FUNCTION_NAME": "responder-webhook", "AWS_ACCESS_KEY_ID": "AKIDBENCH",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench"}


def cold_import(runs: int) -> dict[str, list[float]]:
    layer = REPO / "layers" / "responder" / "python"
    function = REPO / "functions" / "webhook"
    probes = {
        "import boto3": ("import boto3", {}),
        "import webhook handler": ("import handler", {}),
        "ready, boto3 clients": (_READY, {}),
        "ready, Lambda (JSON)": (_READY, _LAMBDA_ENV),
    }
    base = {k: v for k, v in os.environ.items() if k not in _LAMBDA_ENV and not k.startswith("AWS_ENDPOINT_URL")}
    env = {**base, "PYTHONPATH": f"{layer}{os.pathsep}{function}", "POWERTOOLS_SERVICE_NAME": "bench",
           "TABLE_NAME": "bench", "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/bench",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    timings: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(runs):
        for name, (statement, extra) in probes.items():  # alternate, so drift affects all alike
            code = f"import time; t=time.perf_counter(); {statement}; print((time.perf_counter()-t)*1000)"
            done = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                                  check=True, cwd=REPO / "bench")
            timings[name].append(float(done.stdout.strip()))
    return timings


def print_cold_import(runs: int) -> None:
    timings = cold_import(runs)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"\nCold start, median of {runs} fresh interpreters each (alternating)")
    for name, values in timings.items():
        print(f"{name:<26}{medians[name]:>8.1f} ms   (min {min(values):.1f}, max {max(values):.1f})")
    boto = medians["import boto3"]
    for label, name in (("import handler", "import webhook handler"), ("ready, boto3 clients", "ready, boto3 clients"),
                        ("ready in Lambda, JSON clients", "ready, Lambda (JSON)")):
        print(f"ratio {label} / import boto3: {medians[name] / boto:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--import-runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cold-only", action="store_true", help="only the cold start figures")
    args = parser.parse_args(argv)
    if args.cold_only:
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print_cold_import(args.import_runs)
        return 0

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    result = ack_latency(args.deliveries, args.concurrency, args.seed, args.port)
    print(f"\nAcknowledgement latency through responder local (DynamoDB Local + in-process SQS), "
          f"{args.deliveries} signed deliveries, ~10% repeats")
    print(f"{'mode':<26}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for mode, values in (("sequential", result["sequential"]), (f"{args.concurrency} concurrent senders",
                                                                 result["concurrent"])):
        print(f"{mode:<26}{len(values):>6}{percentile(values, 50):>10.1f}{percentile(values, 95):>10.1f}"
              f"{percentile(values, 99):>10.1f}{max(values):>10.1f}")
    rate = len(result["concurrent"]) / result["concurrent_wall_s"]
    print(f"throughput with {args.concurrency} senders: {rate:.0f} deliveries/s")
    print(f"stored mentions: {result['stored']} (unique deliveries sent: {result['expected_unique']})")

    print_cold_import(args.import_runs)
    return 0 if result["stored"] == result["expected_unique"] else 1


if __name__ == "__main__":
    sys.exit(main())
