"""Surge benchmark: a seeded viral surge through the local stack, scored against its ground truth.

Run: `make bench-surge` or
`.venv/bin/python -m bench.surge_bench --background 2000 --surge 8000 --minutes 5 [--outage 3]`

With `--twcs FILE` (and without `--clustering`), the everyday traffic is the file's inbound support tweets and the
surge is the held-out one: `.venv/bin/python -m bench.surge_bench --twcs ../shared/data/twcs/FILE.csv --background
600 --surge 300 --minutes 2 [--crises 12]`). `--crises N` puts N more surge mentions among them that are also
crises (a legal threat, fraud, a data leak, unauthorized charges, a regulator): each must be paged even once the
incident holds the rest. Their sentences are the bench's own, written with the crisis lexicon in view.

Clustering alone, scenario by scenario (held-out wordings; two simultaneous surges; a bilingual surge; busy
unrelated traffic only; and, with `--twcs FILE`, real inbound support tweets as the background of a held-out
surge), each mention classified and correlated as the Classify step does it, against DynamoDB Local, on the
generator's clock: `.venv/bin/python -m bench.surge_bench --clustering [--twcs ../shared/data/twcs/FILE.csv]`.
It prints precision and recall per surge, false incidents, clustering latency p50/p99 per mention, and the
surge state's DynamoDB requests per mention.

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
from typing import Any

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


_READS = {"get_item", "query", "batch_get_item", "scan"}
_WRITES = {"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"}


class CountingClient:
    """A DynamoDB client that counts the requests made through it (reads, writes, and items written)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reads = self.writes = self.items_written = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in _READS | _WRITES:
            return attr

        def counted(**kwargs: Any) -> Any:
            if name in _READS:
                self.reads += 1
            else:
                self.writes += 1
                self.items_written += len(kwargs.get("TransactItems") or [None])
            return attr(**kwargs)
        return counted


# One container's pace through a queue that is behind: about the clustering's measured p50 per mention (21-35 ms).
REPLAY_SECONDS_PER_MENTION = 0.025


def correlate_stream(deliveries: list, dynamodb: Any) -> dict[str, Any]:
    """Each delivery normalised, stored, classified and correlated with the brand's surges as the Classify step
    does it, on the generator's clock, against a fresh table in `dynamodb` (a DynamoDBLocal). Returns the truth,
    the incidents with their members, what each mention's correlation answered, its clustering time and the
    surge state's DynamoDB requests."""
    import uuid

    from responder.aws.incident_store import IncidentStore
    from responder.aws.storage import DynamoMentionStore
    from responder.classification.classify import classify
    from responder.ingest.normalize_meta import normalize_meta
    from responder.ingest.normalize_x import normalize_x
    from responder.surge.correlate import correlate, forget_clusters
    from responder.surge.incidents import BRAND_KEY
    from responder.triage.routing import load_rules
    from responder_cli.local.template import load_template, tables

    (spec,) = tables(load_template())
    name = f"surge{uuid.uuid4().hex[:10]}"
    client = dynamodb.client()
    client.create_table(**{**spec.create_args, "TableName": name})
    store = DynamoMentionStore(name, raw_event_ttl_days=30, client=client)
    counting = CountingClient(client)
    incidents = IncidentStore(DynamoMentionStore(name, raw_event_ttl_days=30, client=counting))
    rules = load_rules()
    forget_clusters()
    # The caches age on a replay clock that moves REPLAY_SECONDS_PER_MENTION per mention, not on this machine's
    # speed, so a replay gives the same answer on a loaded machine as on an idle one.
    from responder.surge import correlate as correlate_module

    ticks = [0.0]
    correlate_module.clock = incidents.clock = lambda: ticks[0]
    truth, results, timings, correlated = {}, {}, [], 0
    costs: dict[str, list[tuple[int, int, int]]] = {}
    try:
        for d in deliveries:
            normalize = normalize_x if d.platform == "x" else normalize_meta
            (mention,) = normalize(d.body).mentions
            key = (mention.channel, mention.mention_id)
            if key in truth:
                continue
            truth[key] = d.truth
            store.save(mention, d.at)
            stored = store.get_mention(*key)
            classification = classify(stored.get("text") or "", lang=stored.get("lang"), author=stored.get("author"),
                                      channel=stored.get("channel"), rules=rules).to_dict()
            if classification.get("noise"):
                results[key] = {"noise": True, "page": False, "crisis": classification.get("crisis")}
                continue
            before = (counting.reads, counting.writes, counting.items_written)
            started = time.perf_counter()
            answer = correlate(stored, classification, incidents, rules, None, now=d.at)
            timings.append((time.perf_counter() - started) * 1000)
            ticks[0] += REPLAY_SECONDS_PER_MENTION
            correlated += 1
            kind = "member" if answer["member"] else "other"
            costs.setdefault(kind, []).append((counting.reads - before[0], counting.writes - before[1],
                                               counting.items_written - before[2]))
            results[key] = {**answer, "crisis": classification.get("crisis")}
            if answer["member"] and not answer["page"]:
                # What the workflow's RecordIncidentMember step writes on the mention (not surge state: uncounted).
                store.client.update_item(TableName=name, Key=store._item({"pk": f"MENTION#{key[0]}#{key[1]}",
                                                                          "sk": "MENTION"}),
                                         UpdateExpression="SET incident_id = :i",
                                         ExpressionAttributeValues={":i": {"S": answer["incident_id"]}})
        found = incidents._client().query(TableName=name, KeyConditionExpression="pk = :pk",
                                          ExpressionAttributeValues={":pk": {"S": f"INCIDENT#{BRAND_KEY}"}})
        listed = [incidents._plain(i) for i in found.get("Items", []) if i.get("type", {}).get("S") == "incident"]
        for incident in listed:
            incident["members"] = incidents.members(incident["incident_id"])
    finally:
        correlate_module.clock = time.monotonic
        client.delete_table(TableName=name)
    return {"truth": truth, "incidents": listed, "results": results, "timings": timings,
            "correlated": correlated, "reads": counting.reads, "writes": counting.writes,
            "items_written": counting.items_written, "costs": costs}


# Sentences that make a surge complaint a crisis as well (priority p1: paged however the incident groups the rest).
CRISIS_SENTENCES = ("and now there are unauthorized charges on my card", "this is fraud, I'm calling my lawyer",
                    "I'm reporting you to the BBB", "was my account hacked at checkout??",
                    "I will sue if my money is not back today", "I can see another customer's address, a data leak?")


def with_crises(surge: list, count: int, seed: int) -> list:
    """The surge with `count` more of its mentions that are crises too, spread evenly through it: held-out wordings
    of the same failure, each with one of CRISIS_SENTENCES after it, posted when its neighbour was."""
    from responder_cli.traffic import SURGE_INCIDENT

    generator = TrafficGenerator(seed + 2000, start=surge[0].at if surge else None)
    out = list(surge)
    for i in reversed(range(count)):
        at_index = (i + 1) * len(surge) // (count + 1)
        at = surge[at_index].at if surge else generator.start
        text = f"{generator.surge_text('checkout')} {CRISIS_SENTENCES[i % len(CRISIS_SENTENCES)]}"
        delivery = generator.xaa_mention(text, "en", generator._author(), at)
        delivery.truth = {"surge": True, "surge_id": SURGE_INCIDENT["checkout"], "failure": "checkout",
                          "crisis": True, "crisis_sentence": True}
        delivery.at = at
        out.insert(at_index, delivery)
    return out


def twcs_background(path: Path, count: int, seed: int, start: Any, seconds: float) -> list:
    """Inbound customer tweets from a twcs-style CSV (text only; handles and ids are the file's, authors are
    generated), spread over `seconds` from `start`: real support traffic as a background. Never stored."""
    import csv
    import random
    from datetime import timedelta

    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row.get("inbound") == "True" and row.get("text")]
    rng = random.Random(seed)
    rng.shuffle(texts)
    generator = TrafficGenerator(seed + 1000, start=start)
    out = []
    for i, text in enumerate(texts[:count]):
        at = start + timedelta(seconds=i * seconds / max(count, 1))
        delivery = generator.xaa_mention(text, "en", generator._author(), at)
        delivery.truth = {"surge": False, "twcs": True}
        delivery.at = at
        out.append(delivery)
    return out


def clustering_main(args: argparse.Namespace) -> int:
    from responder_cli.local.dynamodb_local import DynamoDBLocal
    from responder_cli.traffic import SCENARIOS, score_incidents, surge_scenario

    runs = [(name, surge_scenario(name, seed=args.seed, wordings=args.wordings, surge=args.surge,
                                  background=args.background)) for name in args.scenarios or SCENARIOS]
    if args.twcs:
        from datetime import datetime, timezone

        start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
        seconds = 60 + args.surge * 0.2 + 60
        tweets = twcs_background(Path(args.twcs), args.twcs_count, args.seed, start, seconds)
        runs.append(("twcs+held_out", surge_scenario("held_out", seed=args.seed, wordings=args.wordings,
                                                      surge=args.surge, background=0, extra_background=tweets)))
        only = twcs_background(Path(args.twcs), args.twcs_count, args.seed, start, seconds)
        runs.append(("twcs only", only))
    failed = False
    print(f"Clustering on {args.wordings} wordings (seed {args.seed}); each mention classified and correlated "
          "against DynamoDB Local")
    with DynamoDBLocal() as dynamodb:
        for name, deliveries in runs:
            run = correlate_stream(deliveries, dynamodb)
            score = score_incidents(run["truth"], run["incidents"])
            n = max(run["correlated"], 1)
            crisis = [k for k, t in run["truth"].items() if t.get("crisis")]
            crisis_paged = sum(1 for k in crisis if run["results"].get(k, {}).get("page"))
            print(f"\n  {name}: {len(run['truth'])} mentions, {len(run['incidents'])} incident(s), "
                  f"false incidents {score['false_incidents']}, in two incidents {score['in_two_incidents']}, "
                  f"crises paged {crisis_paged} of {len(crisis)}")
            for surge_id, s in score["surges"].items():
                print(f"    surge {surge_id:<9} {s['mentions']} mentions, {s['incidents']} incident(s): "
                      f"precision {s['precision']:.3f}, recall {s['recall']:.3f}")
                failed |= s["precision"] < 0.95 or s["recall"] < 0.95 or s["incidents"] != 1
            failed |= score["false_incidents"] > 0 or score["in_two_incidents"] > 0
            print(f"    clustering per mention p50 {percentile(run['timings'], 50):.2f} ms, "
                  f"p99 {percentile(run['timings'], 99):.2f} ms (with DynamoDB Local round trips); "
                  f"surge state per correlated mention: {run['reads'] / n:.2f} reads, {run['writes'] / n:.2f} "
                  f"write requests ({run['items_written'] / n:.2f} items)")
            for kind, rows in sorted(run["costs"].items()):
                reads = sum(r[0] for r in rows) / len(rows)
                print(f"      {kind + ' mentions':<15} {len(rows)}: per mention {reads:.2f} "
                      f"reads, {sum(r[1] for r in rows) / len(rows):.2f} write requests "
                      f"({sum(r[2] for r in rows) / len(rows):.2f} items)")
            for incident in run["incidents"]:
                sig = {t: float(w) for t, w in (incident.get("signature") or {}).items()}
                print(f"    {incident['incident_id']} size {incident['size']}: "
                      f"{' '.join(sorted(sig, key=lambda t: -sig[t])[:8])}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clustering", action="store_true", help="score the clustering, scenario by scenario")
    parser.add_argument("--wordings", default="held_out", choices=("held_out", "tuning"))
    parser.add_argument("--twcs", help="a twcs-style CSV whose inbound tweets become the background (with "
                                       "--clustering, of its held-out scenario)")
    parser.add_argument("--twcs-count", type=int, default=600)
    parser.add_argument("--crises", type=int, default=0,
                        help="with --twcs: this many more surge mentions that are crises too (each must be paged)")
    parser.add_argument("--scenarios", nargs="*", help="only these scenarios (--clustering)")
    parser.add_argument("--background", type=int, help="background mentions (default 2000; --clustering 300)")
    parser.add_argument("--surge", type=int, help="surge mentions (default 8000; --clustering 300)")
    parser.add_argument("--minutes", type=float, default=5.0, help="send everything within this many minutes")
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--outage", type=float, default=0.0, help="seconds of DynamoDB outage mid-surge")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--drain-timeout", type=float, default=3600)
    parser.add_argument("--pollers", type=int, default=2, help="local triage pollers (event source concurrency)")
    args = parser.parse_args(argv)
    if args.clustering:
        args.surge, args.background = args.surge or 300, args.background or 300
        return clustering_main(args)
    args.surge, args.background = args.surge or 8000, args.background or 2000

    generator = TrafficGenerator(args.seed)
    if args.twcs:
        # The check: a held-out surge (wordings the clustering was not written on) in real support traffic.
        from datetime import datetime, timezone

        from responder_cli.traffic import surge_scenario

        background = twcs_background(Path(args.twcs), args.background, args.seed, datetime.now(timezone.utc),
                                     args.minutes * 60)
        surge = [d for d in surge_scenario("held_out", seed=args.seed, wordings=args.wordings, surge=args.surge,
                                           background=0) if d.truth.get("surge")]
        surge = with_crises(surge, args.crises, args.seed)
    else:
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
        print(f"{len(deliveries)} deliveries ({len(truth)} unique: {len(truth) - len(surge)} everyday, "
              f"{len(surge)} surge) at {rate:.0f}/s over {args.minutes:g} min; machine: 2 cores", flush=True)
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
