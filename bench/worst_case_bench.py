"""Worst-case triage cost: the most expensive mentions we can construct against an ordinary one.

Run: `.venv/bin/python -m bench.worst_case_bench [--rounds 15] [--bound 10]`
     `.venv/bin/python -m bench.worst_case_bench --e2e [--acks 50]` (also through the local stack)

Each hostile mention is as long as a mention can be (`model.MAX_TEXT_CHARS`, 60,000 characters): emoji (mixed,
one repeated, the one VADER describes with the most words, ZWJ families, skin tones), no spaces, `!` and `?`,
booster words, ALL-CAPS words, hashtags, URLs, @handles, combining marks (Zalgo) and right-to-left marks,
punctuation, negations, sentences, distinct words, "but" with sentiment words, emoticon look-alikes. For each it
times the whole triage CPU path in process (classify, draft, surge salient terms): the least CPU time of
`--rounds` interleaved runs, and prints the ratio to an ordinary mention (the median of five everyday complaints,
questions and praise, 68-86 characters, the size of the evaluation's texts: 83 on average).
Exits 1 when a ratio exceeds `--bound`: a check to run by hand or in CI, not a timed test in the suite.

`--e2e` (or `--e2e-only`) also starts `responder local` in process (DynamoDB Local and the synthesized state
machine), sends `--acks` ordinary signed WhatsApp deliveries, then one whose text is 59,000 emoji and `--acks`
ordinary ones right behind it, and prints the acknowledgement latencies (p50, p99) of both batches and how long the
long mention took to leave `triaging` (exit 1 when it did not within `--timeout` seconds, or failed).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from responder.classification.classify import classify, warm_up
from responder.triage.drafting import draft_reply
from responder.surge.incidents import salient_terms
from responder.core.model import MAX_TEXT_CHARS

ORDINARY = (
    "@AcmeSupport my order #48213 never arrived and nobody answers my emails. Can you help?",
    "I was charged twice for my subscription this month, please refund one of the payments",
    "how do I change the delivery address on an order I placed yesterday?",
    "Love the new app update, checkout is so much faster now! Thanks team 🙌",
    "Still waiting for a reply from support after 3 days... really disappointed 😡",
)


def _fill(unit: str, size: int = MAX_TEXT_CHARS) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _vader_emoji() -> dict[str, str]:
    from responder.classification.sentiment_model import vader

    analyser = vader()
    emoji = analyser.emojis if analyser is not None else {"😂": "face with tears of joy"}
    return {char: description for char, description in emoji.items() if len(char) == 1}  # VADER reads one at a time


def hostile_mentions(size: int = MAX_TEXT_CHARS, seed: int = 11) -> dict[str, str]:
    """The hostile texts, each `size` characters long."""
    rng = random.Random(seed)
    emoji = _vader_emoji()
    wordiest = max(emoji, key=lambda char: (len(emoji[char].split()), char))
    described = sorted(emoji)
    return {
        "emoji, mixed": "".join(rng.choice(described) for _ in range(size)),
        "emoji, one repeated 😂": _fill("😂", size),
        f"emoji, wordiest ({len(emoji[wordiest].split())} words)": _fill(wordiest, size),
        "emoji, ZWJ families": _fill("👨‍👩‍👧‍👦", size),
        "emoji, skin tones": _fill("👍🏽👋🏿", size),
        "emoji and words": _fill("terrible 😡 service 👎 ", size),
        "no spaces (letters)": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(size)),
        "!!!": _fill("!", size),
        "???": _fill("?", size),
        "booster words": _fill("very ", size),
        "ALL-CAPS words": _fill("TERRIBLE service AWFUL ", size),
        "10,000 hashtags": _fill("#fail ", size),
        "10,000 URLs": _fill("www.a ", size),
        "10,000 @handles": _fill("@acme ", size),
        "Zalgo (combining marks)": "a" + _fill("\u0316\u0301\u0489\u0334", size - 1),
        "RTL and marks": _fill("\u202eשלום\u200f עולם\u0591 ", size),
        "punctuation line": _fill(".,;:-=_+*/\\|", size),
        "emoticon look-alikes": "8" + _fill("(", size - 2) + "a",
        "negations": _fill("not ", size),
        "sentences": _fill("Bad. Why? ", size),
        "distinct words": " ".join(f"w{i}" for i in range(size))[:size],
        "but with sentiment": _fill("good bad but ", size),
        "long complaint": _fill(ORDINARY[0] + " " + ORDINARY[4] + " ", size),
    }


def _mention(text: str) -> dict[str, Any]:
    return {"text": text, "channel": "whatsapp", "kind": "message", "author": {"id": "1", "name": "Jo Doe"}}


def triage_cpu(mention: dict[str, Any]) -> None:
    """What triage computes from a mention's text in process: classification, draft, surge terms."""
    classification = classify(mention["text"], channel=mention["channel"], author=mention["author"])
    draft_reply(mention, classification)
    salient_terms(mention["text"])


def _cpu_ms(work: Callable[[], None]) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1000


def run_in_process(rounds: int, bound: float) -> int:
    """Time every mention `rounds` times, interleaved (one round runs each once), so that ordinary and hostile
    mentions see the same load on a shared machine; each figure is the least CPU time of its runs."""
    warm_up()
    ordinary = [_mention(text) for text in ORDINARY]
    hostile = {name: _mention(text) for name, text in hostile_mentions().items()}
    for mention in ordinary:  # first calls load the brand voice and the routing rules
        triage_cpu(mention)
    ordinary_ms = [float("inf")] * len(ordinary)
    hostile_ms = dict.fromkeys(hostile, float("inf"))
    for _ in range(rounds):
        for i, mention in enumerate(ordinary):
            ordinary_ms[i] = min(ordinary_ms[i], _cpu_ms(lambda m=mention: triage_cpu(m)))
        for name, mention in hostile.items():
            hostile_ms[name] = min(hostile_ms[name], _cpu_ms(lambda m=mention: triage_cpu(m)))
    base = statistics.median(ordinary_ms)
    print(f"ordinary mention: {base:.2f} ms (median of {len(ordinary)} everyday texts of "
          f"{min(map(len, ORDINARY))}-{max(map(len, ORDINARY))} characters; least CPU time of {rounds} runs each)")
    print(f"{'hostile mention':34s} {'chars':>7s} {'ms':>8s} {'ratio':>6s}  classification")
    worst = 0.0
    for name, mention in hostile.items():
        ratio = hostile_ms[name] / base
        worst = max(worst, ratio)
        c = classify(mention["text"])
        print(f"{name:34s} {len(mention['text']):7d} {hostile_ms[name]:8.2f} {ratio:6.1f}  "
              f"{c.sentiment}/{c.intent}/{c.priority}{' noise: ' + c.noise_reason if c.noise_reason else ''}")
    verdict = "within" if worst <= bound else "ABOVE"
    print(f"worst/ordinary: {worst:.1f}x ({verdict} the {bound:g}x bound)")
    return 0 if worst <= bound else 1


def run_end_to_end(acks: int, emoji: int, timeout: float) -> int:
    """One 59,000-emoji WhatsApp message, then ordinary deliveries behind it, through the local stack."""
    import threading
    import urllib.request
    from datetime import datetime, timezone

    from responder_cli.local.stack import LocalStack
    from responder_cli.replay import percentile
    from responder_cli.traffic import TrafficGenerator

    from responder.ingest.signatures import sign_meta

    stack = LocalStack(port=0, data_dir=None, outbox=None, log_level="ERROR")
    stack.start()
    secret = stack.secrets.get("RESPONDER_META_APP_SECRET", "local-meta-app-secret")
    threading.Thread(target=stack.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{stack.port}"
    generator = TrafficGenerator(29)

    def send(body: bytes) -> tuple[int, float]:
        request = urllib.request.Request(f"{base}/webhooks/meta", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sign_meta(secret, body)})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status, (time.perf_counter() - started) * 1000

    def stored(mention_id: str) -> dict[str, Any]:
        return next((m for m in stack.mentions() if m.get("mention_id") == mention_id), {})

    def ordinary_acks(count: int) -> list[float]:
        latencies = []
        for i in range(count):
            delivery = generator.whatsapp_message(ORDINARY[i % len(ORDINARY)], None, author, datetime.now(timezone.utc))
            code, ms = send(delivery.encoded())
            if code != 200:
                print(f"ordinary delivery {i}: HTTP {code}")
            latencies.append(ms)
        return latencies

    def figures(latencies: list[float]) -> str:
        return (f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, "
                f"max {max(latencies):.0f} ms")

    author = {"id": "15550001111", "name": "Jo Doe"}
    try:
        ordinary_acks(5)  # the first requests warm the webhook up (imports, connections)
        before = ordinary_acks(acks)
        print(f"{acks} ordinary WhatsApp deliveries before it: ack {figures(before)}")
        long_delivery = generator.whatsapp_message(_fill("😂", emoji), None, author, datetime.now(timezone.utc))
        status, long_ack = send(long_delivery.encoded())
        sent_at = time.perf_counter()
        print(f"{emoji:,}-emoji WhatsApp delivery ({len(long_delivery.encoded()):,} bytes): HTTP {status} "
              f"in {long_ack:.0f} ms")
        left: dict[str, Any] = {}

        def watch() -> None:  # when the long mention leaves triage, whatever the acknowledgements are doing
            while time.perf_counter() - sent_at < timeout:
                record = stored(long_delivery.mention_id)
                if record.get("status") not in (None, "received", "queued", "triaging"):
                    left.update(record=record, seconds=time.perf_counter() - sent_at)
                    return
                time.sleep(0.25)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        behind = ordinary_acks(acks)
        print(f"{acks} ordinary WhatsApp deliveries sent right behind it: ack {figures(behind)}")
        watcher.join()
        record = left.get("record") or stored(long_delivery.mention_id)
        final = record.get("status")
        ok = final not in (None, "received", "queued", "triaging", "triage_failed")
        where = f"status {final!r} after {left['seconds']:.1f} s" if left else f"still {final!r} after {timeout:g} s"
        error = f"; triage error: {record['triage_error']}" if record.get("triage_error") else ""
        print(f"long mention: {where} ({'triaged' if ok else 'NOT triaged'} within {timeout:g} s){error}")
        return 0 if ok else 1
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="runs per mention (the least CPU time is shown)")
    parser.add_argument("--bound", type=float, default=10.0, help="largest acceptable worst/ordinary ratio")
    parser.add_argument("--e2e", action="store_true", help="also send a 59,000-emoji message through the stack")
    parser.add_argument("--acks", type=int, default=50, help="ordinary deliveries sent behind it (--e2e)")
    parser.add_argument("--emoji", type=int, default=59_000, help="emoji in the long message (--e2e)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds it may take to leave triaging (--e2e)")
    parser.add_argument("--e2e-only", action="store_true", help="only the local-stack check")
    args = parser.parse_args(argv)
    status = 0 if args.e2e_only else run_in_process(args.rounds, args.bound)
    if args.e2e or args.e2e_only:
        status = max(status, run_end_to_end(args.acks, args.emoji, args.timeout))
    return status


if __name__ == "__main__":
    sys.exit(main())
