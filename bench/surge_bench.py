"""Surge benchmark: a seeded viral surge through the local stack, scored against its ground truth.

Run: `make bench-surge` or
`.venv/bin/python -m bench.surge_bench --background 2000 --surge 8000 --minutes 5 [--outage 3]`

Sends everyday traffic with a surge of one complaint (worded many ways, on X and Meta) in the middle, a tenth
of the deliveries repeated, at the rate that fits everything into `--minutes`; optionally stops DynamoDB Local
for `--outage` seconds in the middle of the surge (the webhook answers 503 and the replayer retries, as the
platforms do). Then waits for triage to drain and prints: lost and doubled mentions, agent pages per mention
(overall and among surge mentions), incident precision and recall, crisis mentions paged, acknowledgement
latency, the time from the first surge delivery to the first incident alert, and the cost per million mentions
from the operations counted during the run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from responder_cli.demo import TERMINAL as TERMINAL_STATES
from responder_cli.local.stack import LocalStack
from responder_cli.local.metering import Meter, format_cost_table
from responder_cli.replay import ReplayReport, Replayer, percentile, with_duplicates
from responder_cli.traffic import TrafficGenerator



def _replay(base: str, deliveries: list, rate: float) -> ReplayReport:
    """The platforms' side, in a process of its own (as they are): signs, sends and retries."""
    replayer = Replayer(base, "local-x-consumer-secret", "local-meta-app-secret", rate=rate, concurrency=16,
                        retries=8, retry_base_seconds=0.5)
    return replayer.run(deliveries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--background", type=int, default=2000)
    parser.add_argument("--surge", type=int, default=8000)
    parser.add_argument("--minutes", type=float, default=5.0, help="send everything within this many minutes")
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--outage", type=float, default=0.0, help="seconds of DynamoDB outage mid-surge")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--drain-timeout", type=float, default=3600)
    parser.add_argument("--pollers", type=int, default=2, help="local triage pollers (event source concurrency)")
    args = parser.parse_args(argv)

    generator = TrafficGenerator(args.seed)
    background = list(generator.normal(args.background))
    surge = list(generator.surge(args.surge))
    # The surge starts a fifth of the way in and is interleaved with the rest of the everyday traffic.
    head = len(background) // 5
    rest = background[head:]
    mixed, step = [], max(1, len(surge) // max(len(rest), 1))
    for i, delivery in enumerate(surge):
        mixed.append(delivery)
        if i % step == 0 and rest:
            mixed.append(rest.pop(0))
    deliveries = with_duplicates(background[:head] + mixed + rest, args.duplicates, args.seed)
    rate = len(deliveries) / (args.minutes * 60)
    truth = {(d.channel, d.mention_id): d.truth for d in deliveries}

    meter = Meter()
    meter.install()
    data_dir = Path(tempfile.mkdtemp(prefix="responder-surge-")) if args.outage else None
    stack = LocalStack(port=0, data_dir=data_dir, outbox=None, log_level="ERROR", meter=meter,
                       triage_pollers=args.pollers)
    finished = threading.Event()
    try:
        stack.start()
        threading.Thread(target=stack.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{stack.port}"
        print(f"{len(deliveries)} deliveries ({len(truth)} unique: {args.background} everyday, {args.surge} surge) "
              f"at {rate:.0f}/s over {args.minutes:g} min; machine: 2 cores", flush=True)
        first_surge_index = next(i for i, d in enumerate(deliveries) if d.truth.get("surge"))
        if args.outage:
            def outage() -> None:
                time.sleep(args.minutes * 60 / 2)
                print(f"-- DynamoDB Local stopped for {args.outage:g} s --", flush=True)
                port = stack.dynamodb.port
                stack.dynamodb.stop()
                time.sleep(args.outage)
                stack.dynamodb.port = port
                stack.dynamodb.start()
                print("-- DynamoDB Local back --", flush=True)
                # DynamoDB Local dies with the thread that started it (PR_SET_PDEATHSIG): keep this one alive.
                finished.wait()
            threading.Thread(target=outage, daemon=True).start()
        with multiprocessing.get_context("spawn").Pool(1) as senders:
            report = senders.apply(_replay, (base, deliveries, rate))
        sent_done = time.time()
        surge_started = report.sent[first_surge_index].sent_at
        print(f"sent in {report.wall_seconds:.1f} s ({len(deliveries) / report.wall_seconds:.1f}/s); "
              f"answers {report.statuses}; "
              f"{sum(1 for s in report.sent if s.attempts > 1)} deliveries needed retries", flush=True)
        deadline = time.monotonic() + args.drain_timeout
        progress, progressed_at = -1, time.monotonic()
        while time.monotonic() < deadline:
            mentions = stack.mentions()
            done = sum(1 for m in mentions if m.get("status") in TERMINAL_STATES)
            if len(mentions) >= len(truth) and done == len(mentions):
                break
            if done != progress:
                progress, progressed_at = done, time.monotonic()
            elif time.monotonic() - progressed_at > 300:
                print("  triage: no progress for 5 minutes; reporting what is there", flush=True)
                break
            print(f"  triage: {done}/{len(truth)} done", flush=True)
            time.sleep(15)
        drained = time.time()
        time.sleep(2)
        stack.triage.flush_metering()
        mentions = stack.mentions()
        incidents = stack.incidents()
        notes = stack.triage.notifications()
    finally:
        stack.stop()
        finished.set()
        meter.uninstall()

    keys = Counter((m["channel"], m["mention_id"]) for m in mentions)
    lost = len(set(truth) - set(keys))
    doubled = sum(n - 1 for n in keys.values() if n > 1)
    pages = [n for n in notes if n["topic"] == "agent-notifications"]
    paged = Counter((n["message"]["mention"]["channel"], n["message"]["mention"]["mention_id"]) for n in pages)
    surge_keys = {k for k, t in truth.items() if t.get("surge")}
    crisis = {k for k, t in truth.items() if t.get("crisis")}
    alerts = [n for n in notes if n["topic"] == "incidents"]
    members = {(m["channel"], m["mention_id"]) for i in incidents for m in i["members"]}
    true_positive = len(members & surge_keys)
    first_alert = min((n["published_at"] for n in alerts if n["message"].get("alert") == "opened"), default=None)
    acks = report.ack_latencies()
    statuses = Counter(m.get("status") for m in mentions)

    print("\nSurge benchmark")
    print(f"  unique mentions        {len(truth)}; stored {len(keys)}; lost {lost}; stored twice {doubled}")
    untriaged = sum(1 for m in mentions if m.get("status") not in TERMINAL_STATES)
    print(f"  not triaged            {untriaged}")
    print(f"  triage outcome         {dict(statuses)}; drained {drained - sent_done:.0f} s after the last delivery")
    print(f"  incidents              {len(incidents)}; alerts {Counter(n['message'].get('alert') for n in alerts)}")
    print(f"  incident precision     {true_positive / max(len(members), 1):.3f}   recall "
          f"{true_positive / max(len(surge_keys), 1):.3f}")
    print(f"  agent pages            {sum(paged.values())} for {len(truth)} mentions "
          f"({sum(paged.values()) / len(truth):.3f} per mention); surge mentions paged "
          f"{sum(paged[k] for k in surge_keys)} of {len(surge_keys)} "
          f"({sum(paged[k] for k in surge_keys) / max(len(surge_keys), 1):.4f} per surge mention, "
          f"1 in {len(surge_keys) / max(sum(paged[k] for k in surge_keys), 1):.0f})")
    print(f"  crisis mentions paged  {len(crisis & set(paged))} of {len(crisis)}")
    print(f"  acknowledgement        p50 {percentile(acks, 50):.0f} ms, p95 {percentile(acks, 95):.0f} ms, "
          f"p99 {percentile(acks, 99):.0f} ms, max {max(acks, default=0):.0f} ms")
    if first_alert is not None:
        print(f"  first incident alert   {first_alert - surge_started:.1f} s after the first surge delivery")
    print()
    print(format_cost_table(meter.breakdown(), meter.naive_breakdown(), max(len(keys), 1)))
    return 0 if lost == 0 and doubled == 0 and untriaged == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
