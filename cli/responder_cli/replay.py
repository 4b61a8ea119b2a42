"""`responder replay`: send correctly signed deliveries to a local or deployed Responder, at a rate.

Behaves like the platforms: every delivery is signed over its exact bytes; a 5xx or a connection error is
retried with backoff (X and Meta both retry); a share of deliveries can be sent twice, as platforms do.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from responder.ingest.signatures import sign_meta, sign_x
from responder_cli.traffic import Delivery, TrafficGenerator, from_jsonl_line

ENV_DEFAULTS = {
    "x": ("RESPONDER_X_CONSUMER_SECRET", "local-x-consumer-secret"),
    "meta": ("RESPONDER_META_APP_SECRET", "local-meta-app-secret"),
}


@dataclass
class Sent:
    """What happened to one delivery."""

    delivery: Delivery
    status: int | None
    attempts: int
    sent_at: float  # epoch seconds of the first attempt
    ack_ms: float  # latency of the final attempt
    error: str | None = None


@dataclass
class ReplayReport:
    sent: list[Sent] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.sent:
            key = str(s.status) if s.status is not None else "error"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def ack_latencies(self) -> list[float]:
        return [s.ack_ms for s in self.sent if s.status == 200]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


class RateLimiter:
    """An open-loop schedule: the i-th send is due `i / rate` seconds after the first, as events happen on a
    platform whether or not the receiver keeps up. A sender that falls behind (every sender busy waiting for
    slow answers) sends the overdue deliveries at once instead of dropping their slots, so a slow patch delays
    sends rather than lowering the overall rate. No limit when rate is 0."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            if self._next is None:
                self._next = time.monotonic()
            slot = self._next
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Replayer:
    """Signs and sends deliveries with N concurrent senders."""

    def __init__(self, base_url: str, x_secret: str, meta_secret: str, rate: float = 0.0, concurrency: int = 8,
                 retries: int = 5, retry_base_seconds: float = 0.2, timeout: float = 10.0) -> None:
        self.base = base_url.rstrip("/")
        self.secrets = {"x": x_secret, "meta": meta_secret}
        self.limiter = RateLimiter(rate)
        self.concurrency = concurrency
        self.retries = retries
        self.retry_base = retry_base_seconds
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def headers(self, delivery: Delivery) -> dict[str, str]:
        body = delivery.encoded()
        if delivery.platform == "x":
            return {"content-type": "application/json", "x-twitter-webhooks-signature": sign_x(self.secrets["x"], body)}
        return {"content-type": "application/json", "x-hub-signature-256": sign_meta(self.secrets["meta"], body)}

    def send(self, delivery: Delivery) -> Sent:
        """One delivery, retried like a platform retries (5xx and connection errors), with backoff."""
        self.limiter.wait()
        url = f"{self.base}/webhooks/{delivery.platform}"
        body, headers = delivery.encoded(), self.headers(delivery)
        first = time.time()
        status, error, attempts, elapsed = None, None, 0, 0.0
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            started = time.perf_counter()
            try:
                answer = self._session().post(url, data=body, headers=headers, timeout=self.timeout)
                status, error = answer.status_code, None if answer.status_code < 500 else answer.text[:200]
            except requests.RequestException as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"[:200]
            elapsed = (time.perf_counter() - started) * 1000
            if status is not None and status < 500:
                break
            time.sleep(self.retry_base * 2 ** attempt)
        return Sent(delivery, status, attempts, first, elapsed, error)

    def run(self, deliveries: Iterable[Delivery]) -> ReplayReport:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            sent = list(pool.map(self.send, deliveries))
        return ReplayReport(sent=sent, wall_seconds=time.perf_counter() - started)


def with_duplicates(deliveries: list[Delivery], share: float, seed: int) -> list[Delivery]:
    """Insert repeats of a share of the deliveries shortly after their originals, as platforms redeliver."""
    import random

    rng = random.Random(seed + 1)
    out: list[Delivery] = []
    for delivery in deliveries:
        out.append(delivery)
        if rng.random() < share:
            out.append(delivery)
    return out


def load_file(path: Path, generator: TrafficGenerator) -> list[Delivery]:
    deliveries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            deliveries.append(from_jsonl_line(json.loads(line), generator))
        except (json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return deliveries


def build_deliveries(file: Path | None, count: int, surge: int, seed: int, duplicates: float,
                     rate: float | None = None) -> list[Delivery]:
    """From a file, or from the seeded generator (normal traffic, then a surge in the middle of it).

    With `rate` (deliveries per second, as they will be sent from now on) each generated post is dated no later than
    it is sent, as a platform delivers it: the n-th post of the sending order at most n / rate seconds from now.
    Without it the posts are a second apart (the surge's 0.05 s) from now, as a timeline for tools that replay them
    on a clock of their own."""
    generator = TrafficGenerator(seed)
    if file is not None:
        deliveries = load_file(file, generator)
    else:
        spacing = 1.0 / rate if rate else 1.0
        normal = list(generator.normal(count, spacing=spacing))
        # (The second half of the everyday posts is sent after the surge, so later than it is dated.)
        surge_part = (list(generator.surge(surge, offset_seconds=count // 2 * spacing, spacing=spacing)) if rate
                      else list(generator.surge(surge, offset_seconds=count / 2))) if surge else []
        half = len(normal) // 2
        deliveries = normal[:half] + surge_part + normal[half:]
    return with_duplicates(deliveries, duplicates, seed) if duplicates else deliveries


def summarize(report: ReplayReport) -> str:
    latencies = report.ack_latencies()
    rate = len(report.sent) / report.wall_seconds if report.wall_seconds else 0.0
    return (f"sent {len(report.sent)} deliveries in {report.wall_seconds:.1f}s ({rate:.0f}/s); "
            f"answers {report.statuses}; retried {sum(1 for s in report.sent if s.attempts > 1)}; "
            f"ack p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms, "
            f"p99 {percentile(latencies, 99):.1f} ms")


def add_parser(commands: Any) -> None:
    """Register `responder replay`."""
    import os

    replay = commands.add_parser("replay", help="send signed X and Meta deliveries to a local or deployed URL")
    replay.add_argument("--url", default="http://127.0.0.1:8787", help="base URL (default the local stack)")
    source = replay.add_mutually_exclusive_group()
    source.add_argument("--file", type=Path, help="JSON lines: bodies, or posts {\"text\": ...} to wrap")
    source.add_argument("--count", type=int, default=200, help="generated everyday deliveries (default 200)")
    replay.add_argument("--surge", type=int, default=0, help="add a viral surge of this many mentions")
    replay.add_argument("--seed", type=int, default=7)
    replay.add_argument("--rate", type=float, default=50.0, help="deliveries per second (0: as fast as possible)")
    replay.add_argument("--concurrency", type=int, default=8)
    replay.add_argument("--duplicates", type=float, default=0.0, help="share of deliveries sent twice (0-1)")
    replay.add_argument("--retries", type=int, default=5, help="retries after a 5xx or connection error")
    replay.add_argument("--x-secret", default=os.environ.get(*ENV_DEFAULTS["x"]))
    replay.add_argument("--meta-secret", default=os.environ.get(*ENV_DEFAULTS["meta"]))
    replay.add_argument("--truth", type=Path, help="write each delivery's ground truth here (JSON lines)")
    replay.set_defaults(func=run)


def run(args: Any) -> int:
    deliveries = build_deliveries(args.file, args.count, args.surge, args.seed, args.duplicates)
    replayer = Replayer(args.url, args.x_secret, args.meta_secret, rate=args.rate, concurrency=args.concurrency,
                        retries=args.retries)
    report = replayer.run(deliveries)
    print(summarize(report), flush=True)
    if args.truth:
        with args.truth.open("w", encoding="utf-8") as out:
            for s in report.sent:
                out.write(json.dumps({"mention_id": s.delivery.mention_id, "channel": s.delivery.channel,
                                      "status": s.status, "truth": s.delivery.truth}) + "\n")
    failed = [s for s in report.sent if s.status != 200]
    for s in failed[:5]:
        print(f"  not accepted: {s.delivery.channel} {s.delivery.mention_id}: {s.status} {s.error or ''}", flush=True)
    return 0 if not failed else 1
