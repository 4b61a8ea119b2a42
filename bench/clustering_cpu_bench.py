"""The clustering's own CPU per mention, without DynamoDB: what Classify computes over the recent window once a spike
is on (responder.surge.correlate._maybe_open), and the window's refresh.

Run: `.venv/bin/python -m bench.clustering_cpu_bench [--sizes 160 500] [--seed 23]`

For each window size, builds a window of the demo's seeded traffic (three eighths of it one surge, received over
the window's three minutes) served by a store held in memory, and prints this process's CPU time (process_time):
- a refresh of the window that computes every mention's terms (the first read after an incident opens), and one
  whose texts were read before;
- per mention, the passes over the window that decide whether it opens an incident (every mention of the window
  in turn, the window cached as it is between refreshes), with no incident open and with one (the surge's);
- `salient_terms` per mention, first read and read again.
Run it on two commits to compare them: the figures are CPU, so a loaded machine changes them less than wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from responder.ingest.normalize_meta import normalize_meta
from responder.ingest.normalize_x import normalize_x
from responder.surge import correlate
from responder.surge import incidents
from responder.surge.incidents import SurgeSettings, bucket, cluster_model, match_score, salient_terms, signature
from responder_cli.traffic import TrafficGenerator

AT = datetime(2026, 12, 1, 12, 3, tzinfo=timezone.utc)
SETTINGS = SurgeSettings()


class SpikingStore:
    """The recent window a test gives, a minute counter that is a spike, and no incident that can open."""

    def __init__(self, recent: list[dict[str, Any]]) -> None:
        self.recent = recent

    def recent_mentions(self, account: str, since: datetime, limit: int = 500) -> list[dict[str, Any]]:
        return list(self.recent)

    def counts(self, account: str, received: datetime, settings: SurgeSettings) -> dict[str, dict[int, int]]:
        return {"all": {bucket(received): 100}}

    def open_incidents(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return []

    def try_open(self, *args: Any, **kwargs: Any) -> bool:
        return False


def window_of(size: int, seed: int) -> list[dict[str, Any]]:
    """`size` mentions as gsi2 lists them: everyday traffic and a surge, received over the last three minutes."""
    generator = TrafficGenerator(seed)
    surge = size * 3 // 8
    deliveries = list(generator.normal(size - surge)) + list(generator.surge(surge))
    random.Random(seed).shuffle(deliveries)
    recent = []
    for i, d in enumerate(deliveries):
        normalize = normalize_x if d.platform == "x" else normalize_meta
        (m,) = normalize(json.loads(d.encoded())).mentions
        at = (AT - timedelta(seconds=170 * (size - i) / size)).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent.append({"channel": m.channel, "mention_id": m.mention_id, "text": m.text, "gsi2sk": f"{at}#x#{i}"})
    return list(reversed(recent))


def cpu_ms(fn: Callable[[], Any], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - started) / repeat * 1000


def forget_terms() -> None:
    remembered = getattr(incidents, "_remembered_terms", None)  # commits before it had no memory of terms
    if remembered is not None:
        remembered.cache_clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[160, 500])
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    saved = correlate.clock
    correlate.clock = lambda: 0.0  # the window stays cached between the mentions, as between two refreshes
    try:
        for size in args.sizes:
            recent = window_of(size, args.seed)
            store = SpikingStore(recent)
            terms = [salient_terms(m["text"]) for m in recent]
            sig = signature([t for t in terms if "~pay" in t], SETTINGS)
            fits = [match_score(t, sig, SETTINGS) >= SETTINGS.join_threshold for t in terms]
            model = cluster_model([t for t, f in zip(terms, fits) if f], [t for t, f in zip(terms, fits) if not f],
                                  SETTINGS)
            surge_incident = {"incident_id": "inc-bench", "signature": sig, "model": model}

            def refresh(new_texts: bool) -> None:
                if new_texts:
                    forget_terms()
                correlate.forget_clusters()
                correlate._recent_window("brand", AT, store, SETTINGS)

            cold = cpu_ms(lambda: refresh(True), args.repeat)
            warm = cpu_ms(lambda: refresh(False), args.repeat)
            per_mention = {}
            for label, open_now in (("no incident open", []), ("one incident open", [surge_incident])):
                correlate.forget_clusters()
                correlate._recent_window("brand", AT, store, SETTINGS)
                started = time.process_time()
                for m, t in zip(recent, terms):
                    correlate._maybe_open(m, {"topic": "other"}, t, "brand", "other", AT, AT, store, SETTINGS,
                                          open_now)
                per_mention[label] = (time.process_time() - started) / len(recent) * 1000
            forget_terms()
            first = cpu_ms(lambda: [salient_terms(m["text"]) for m in recent], 1) / len(recent)
            again = cpu_ms(lambda: [salient_terms(m["text"]) for m in recent], args.repeat) / len(recent)
            print(f"window of {size} mentions (seed {args.seed}), CPU ms:")
            print(f"  refresh, every text new          {cold:8.3f}")
            print(f"  refresh, texts read before       {warm:8.3f}")
            for label, ms in per_mention.items():
                print(f"  passes per mention, {label:<18}{ms:8.3f}")
            print(f"  salient_terms per mention, first {first:8.4f}, again {again:.4f}")
    finally:
        correlate.clock = saved
        correlate.forget_clusters()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
