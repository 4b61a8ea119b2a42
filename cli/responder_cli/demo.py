"""`responder demo`: the whole system on this machine, end to end, with a report.

Starts the local stack in memory, replays seeded traffic with a small viral surge (signed X and Meta
deliveries, a tenth of them repeated as platforms do), waits for triage to finish, approves a share of the drafts
through their review pages as agents would (the reply goes to the platform stand-ins), prints a summary, the
billable operations per mention and their cost next to a naive design's, writes the first-response report
(`responder report`'s files) ending with its headline, and stops cleanly.
"""

from __future__ import annotations

import html
import os
import random
import re
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from responder_cli.local.stack import DEFAULT_SECRETS, LocalStack
from responder_cli.local.metering import Meter, format_cost_table
from responder_cli.replay import Replayer, build_deliveries, percentile

# `answered` and `handled` follow `notified`: a mention may be answered natively while the demo still waits.
TERMINAL = {"notified", "archived", "triage_failed", "incident", "answered", "handled"}
# Triaged: a final good status. `triage_failed` is final too (until a redrive) but is a failure, not triage.
TRIAGED = TERMINAL - {"triage_failed"}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def wait_for_triage(stack: LocalStack, expected: int, timeout: float) -> list[dict[str, Any]]:
    """Poll the stored mentions until `expected` of them reached a terminal status, or the timeout."""
    deadline = time.monotonic() + timeout
    mentions: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        mentions = stack.mentions()
        if len(mentions) >= expected and all(m.get("status") in TERMINAL for m in mentions):
            break
        time.sleep(0.5)
    return mentions


def problems(mentions: list[dict[str, Any]], unique: set[tuple[str, str]]) -> list[str]:
    """Why the run falls short of the README's promise (every unique delivery stored once and triaged); empty
    when it keeps it."""
    keys = [(m.get("channel"), m.get("mention_id")) for m in mentions]
    found = []
    repeated = len(keys) - len(set(keys))
    if repeated:
        found.append(f"{repeated} mention(s) stored more than once")
    missing = unique - set(keys)
    if missing:
        found.append(f"{len(missing)} unique deliveries not stored")
    unexpected = set(keys) - unique
    if unexpected:
        found.append(f"{len(unexpected)} stored mention(s) that were not sent")
    statuses = Counter(str(m.get("status")) for m in mentions if m.get("status") not in TRIAGED)
    if statuses:
        found.append("not triaged: " + _counts(list(statuses.elements())))
    return found


_FORM_NONCE = re.compile(r'name="nonce"\s+value="([^"]+)"|value="([^"]+)"\s+name="nonce"')
_FORM_TEXT = re.compile(r'<textarea[^>]*name="text"[^>]*>(.*?)</textarea>', re.S)


def approve(base: str, notifications: list[dict[str, Any]], share: float, seed: int) -> list[dict[str, Any]]:
    """Approve `share` of the agents' notifications as an agent would: open the review link, keep the draft,
    press Send. Returns one record per approval (mention, when it was sent, the page's answer)."""
    import requests

    links = []
    for n in notifications:
        message = n["message"] if isinstance(n["message"], dict) else {}
        url = (message.get("actions") or {}).get("review_url")
        if url:
            links.append(((message.get("mention") or {}).get("channel"),
                          (message.get("mention") or {}).get("mention_id"), url))
    chosen = random.Random(seed).sample(links, round(len(links) * share)) if links else []
    approvals = []
    with requests.Session() as session:
        for channel, mention_id, url in chosen:
            page = session.get(url, timeout=10)
            nonce, text = _FORM_NONCE.search(page.text), _FORM_TEXT.search(page.text)
            if page.status_code != 200 or not nonce or not text:
                approvals.append({"channel": channel, "mention_id": mention_id, "status": page.status_code})
                continue
            at = time.time()
            answer = session.post(url, timeout=10, data={"nonce": nonce.group(1) or nonce.group(2), "action": "send",
                                                         "text": html.unescape(text.group(1)).strip(),
                                                         "agent": "demo-agent"})
            approvals.append({"channel": channel, "mention_id": mention_id, "status": answer.status_code,
                              "approved_at": at})
    return approvals


def wait_for_replies(stack: LocalStack, approvals: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Poll until every accepted approval's mention is answered or its reply ended otherwise (refused, failed)."""
    wanted = {(a["channel"], a["mention_id"]) for a in approvals if a.get("approved_at")}
    deadline = time.monotonic() + timeout
    mentions: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        mentions = stack.mentions()
        pending = [m for m in mentions if (m.get("channel"), m.get("mention_id")) in wanted
                   and m.get("status") != "answered" and m.get("reply_state") not in ("refused", "failed", "unconfirmed")]
        if not pending:
            break
        time.sleep(0.25)
    return mentions


def reply_problems(stack: LocalStack, approvals: list[dict[str, Any]], mentions: list[dict[str, Any]]) -> list[str]:
    """Why the replies fall short: an approval whose mention is not answered (nor refused with a reason), or a
    mention that reached a platform more than once."""
    found = []
    by_key = {(m.get("channel"), m.get("mention_id")): m for m in mentions}
    lost = [a for a in approvals if a.get("approved_at") and (m := by_key.get((a["channel"], a["mention_id"])))
            is not None and m.get("status") != "answered" and m.get("reply_state") not in ("refused", "failed")]
    if lost:
        found.append(f"{len(lost)} approved repl(y/ies) neither sent nor refused")
    # A private reply (Messenger, X DMs) names its recipient, not the message it answers: two approved messages of one
    # person are two replies to the same recipient, not one reply sent twice.
    expected = Counter(_reply_key(by_key[(a["channel"], a["mention_id"])]) for a in approvals
                       if a.get("approved_at") and (a["channel"], a["mention_id"]) in by_key)
    sent = Counter((s.get("channel"), s.get("in_reply_to") or f"to:{s.get('recipient')}") for s in stack.sent())
    twice = [key for key, count in sent.items() if count > max(expected.get(key, 0), 1)]
    if twice:
        found.append(f"{len(twice)} mention(s) answered more than once at the platform")
    return found


def _reply_key(mention: dict[str, Any]) -> tuple[Any, str]:
    """How the platform stand-ins record a reply to this mention: under the post it answers, or its recipient."""
    if mention.get("kind") in ("dm", "message") and mention.get("channel") != "whatsapp":
        return mention.get("channel"), f"to:{(mention.get('author') or {}).get('id')}"
    return mention.get("channel"), str(mention.get("mention_id"))


def reply_report(stack: LocalStack, approvals: list[dict[str, Any]], mentions: list[dict[str, Any]]) -> list[str]:
    """Replies sent, approve-to-platform latency, and first-response times of the answered mentions."""
    sent = stack.sent()
    by_key = {(s.get("channel"), s.get("in_reply_to")): s for s in sent}
    latency = []
    for a in approvals:
        record = by_key.get((a["channel"], a["mention_id"]))
        if record and a.get("approved_at") and record.get("sent_at"):
            latency.append((_epoch(record["sent_at"]) - a["approved_at"]) * 1000)
    answered = [m for m in mentions if m.get("status") == "answered"]
    first = [(_epoch(m["first_response_at"]) - _epoch(m["received_at"])) for m in answered
             if m.get("first_response_at") and m.get("received_at")]
    ended = Counter(str(m.get("reply_state")) for m in mentions if m.get("reply_state") in
                    ("refused", "failed", "unconfirmed"))
    return [
        f"  approvals               {len([a for a in approvals if a.get('approved_at')])} drafts sent from their "
        f"review pages (of {len(approvals)} opened)",
        f"  replies at platforms    {len(sent)} ({_counts([str(s.get('channel')) for s in sent])})"
        + (f"; not sent: {_counts(list(ended.elements()))}" if ended else ""),
        f"  approve→platform        p50 {percentile(latency, 50):.0f} ms, p99 {percentile(latency, 99):.0f} ms",
        f"  first response          {len(answered)} answered, p50 {percentile(first, 50):.1f} s, "
        f"p90 {percentile(first, 90):.1f} s after delivery",
    ]


def _counts(values: list[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in Counter(values).most_common()) or "none"


def incident_scores(sent: Any, incidents: list[dict[str, Any]]) -> list[str]:
    """Incident precision and recall per surge, against the generated traffic's ground truth."""
    from responder_cli.traffic import score_incidents

    truth = {(s.delivery.channel, s.delivery.mention_id): s.delivery.truth for s in sent.sent}
    score = score_incidents(truth, incidents)
    lines = [f"  incident precision      {v['precision']:.3f}, recall {v['recall']:.3f} for the {name} surge "
             f"({v['mentions']} mentions, {v['incidents']} incident(s))" for name, v in score["surges"].items()]
    if score["false_incidents"] or score["in_two_incidents"]:
        lines.append(f"  incidents not a surge   {score['false_incidents']}; mentions in two incidents "
                     f"{score['in_two_incidents']}")
    return lines


def report(stack: LocalStack, sent: Any, mentions: list[dict[str, Any]], started: float, finished: float) -> str:
    """The demo's summary, from what the local stack stored and published."""
    notifications = stack.triage.notifications() if stack.triage else []
    agent = [n for n in notifications if n["topic"] == "agent-notifications"]
    escalations = [n for n in notifications if n["topic"] == "escalations"]
    received = {(m["channel"], m["mention_id"]): _epoch(m["received_at"]) for m in mentions if m.get("received_at")}
    lag = []
    for n in agent:
        mention = (n["message"] or {}).get("mention", {}) if isinstance(n["message"], dict) else {}
        at = received.get((mention.get("channel"), mention.get("mention_id")))
        if at is not None:
            lag.append((n["published_at"] - at) * 1000)
    acks = sent.ack_latencies()
    unique = {(s.delivery.channel, s.delivery.mention_id) for s in sent.sent}
    statuses = Counter(m.get("status") for m in mentions)
    triaged = [m for m in mentions if m.get("status") in TRIAGED]
    incidents = stack.incidents()
    lines = [
        "",
        "Responder demo: seeded traffic through the local stack",
        f"  deliveries sent         {len(sent.sent)} ({len(sent.sent) - len(unique)} repeats), answers {sent.statuses}",
        f"  mentions stored         {len(mentions)} (unique deliveries: {len(unique)})",
        f"  triage outcome          {_counts([str(m.get('status')) for m in mentions])}",
        f"  intents                 {_counts([m['intent'] for m in mentions if m.get('intent')])}",
        f"  topics                  {_counts([m['topic'] for m in mentions if m.get('topic')])}",
        f"  routed per team         {_counts([n['attributes'].get('team', '?') for n in agent])}",
        f"  priorities              {_counts([n['attributes'].get('priority', '?') for n in agent])}",
        f"  notifications           agents {len(agent)}, escalations {len(escalations)}, "
        f"incident alerts {len([n for n in notifications if n['topic'] == 'incidents'])}",
        f"  incidents               " + (", ".join(f"{i['incident_id']} ({i['size']} mentions: "
                                                    f"{' '.join(i['top_terms'][:5])})" for i in incidents)
                                      or "none"),
        *incident_scores(sent, incidents),
        f"  acknowledgement         p50 {percentile(acks, 50):.0f} ms, p95 {percentile(acks, 95):.0f} ms, "
        f"p99 {percentile(acks, 99):.0f} ms",
        f"  delivery→notification   p50 {percentile(lag, 50):.0f} ms, p95 {percentile(lag, 95):.0f} ms, "
        f"p99 {percentile(lag, 99):.0f} ms",
        f"  throughput              {len(triaged) / max(finished - started, 1e-9):.1f} mentions/s "
        f"through the whole pipeline ({len(triaged)} in {finished - started:.1f} s)",
    ]
    if statuses.get("triage_failed"):
        lines.append(f"  WARNING: {statuses['triage_failed']} mention(s) failed triage; see GET /local/mentions")
    return "\n".join(lines)


def run(args: Any) -> int:
    meter = Meter()
    meter.install()
    outbox = Path(args.outbox) if args.outbox else None
    if outbox:
        outbox.parent.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(port=0, data_dir=None, outbox=outbox, echo=print if args.verbose else None, meter=meter,
                       log_level="ERROR")
    server: threading.Thread | None = None
    try:
        stack.start()
        server = threading.Thread(target=stack.serve_forever, name="local-http", daemon=True)
        server.start()
        base = f"http://127.0.0.1:{stack.port}"
        print(f"Local stack up at {base} (DynamoDB Local in memory, state machine from cdk.out in moto)", flush=True)
        # Dated as they are sent: a platform never delivers a post before it was posted (due times, SLA buckets and
        # first-response times count from the post's time).
        deliveries = build_deliveries(None, args.count, args.surge, args.seed, args.duplicates, rate=args.rate)
        print(f"Replaying {len(deliveries)} signed deliveries ({args.count} everyday, {args.surge} surge, "
              f"{args.duplicates:.0%} repeated) at {args.rate:g}/s ...", flush=True)
        secrets = {k: os.environ.get(k, v) for k, v in DEFAULT_SECRETS.items()}
        replayer = Replayer(base, secrets["RESPONDER_X_CONSUMER_SECRET"], secrets["RESPONDER_META_APP_SECRET"],
                            rate=args.rate, concurrency=8)
        started = time.time()
        sent = replayer.run(deliveries)
        unique = {(s.delivery.channel, s.delivery.mention_id) for s in sent.sent}
        mentions = wait_for_triage(stack, len(unique), timeout=args.timeout)
        finished = time.time()
        agent = [n for n in (stack.triage.notifications() if stack.triage else [])
                 if n["topic"] == "agent-notifications"]
        approvals = approve(base, agent, args.approve, args.seed)
        mentions = wait_for_replies(stack, approvals, timeout=args.timeout)
        if stack.triage:
            stack.triage.flush_metering()
        print(report(stack, sent, mentions, started, finished), flush=True)
        print("\n".join(reply_report(stack, approvals, mentions)), flush=True)
        print("", flush=True)
        print(format_cost_table(meter.breakdown(), meter.naive_breakdown(), max(len(mentions), 1)), flush=True)
        print(meter.detail(max(len(mentions), 1)), flush=True)
        print(meter.read_detail(max(len(mentions), 1)), flush=True)
        if outbox:
            print(f"\nNotifications were appended to {outbox}", flush=True)
        if args.report_dir:
            from responder_cli import report as first_response

            written = first_response.write(mentions, Path(args.report_dir))
            print(f"\n{first_response.headline(written)}\nReport written to "
                  f"{Path(args.report_dir) / 'report.html'} ({len(written['plots'])} plots)", flush=True)
        found = problems(mentions, unique) + reply_problems(stack, approvals, mentions)
        for problem in found:
            print(f"FAILED: {problem}", flush=True)
        return 1 if found else 0
    finally:
        stack.stop()
        meter.uninstall()
        print("Local stack stopped.", flush=True)


def add_parser(commands: Any) -> None:
    """Register `responder demo`."""
    demo = commands.add_parser("demo", help="run seeded traffic with a small surge through the local stack")
    demo.add_argument("--count", type=int, default=150, help="everyday deliveries (default 150)")
    demo.add_argument("--surge", type=int, default=60, help="surge mentions (default 60)")
    demo.add_argument("--rate", type=float, default=40.0, help="deliveries per second (default 40)")
    demo.add_argument("--duplicates", type=float, default=0.1, help="share of deliveries repeated (default 0.1)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--approve", type=float, default=0.3,
                      help="share of the agents' notifications approved through their review pages (default 0.3)")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for triage to finish")
    demo.add_argument("--outbox", default=".local/outbox.jsonl", help="append notifications here ('' for none)")
    demo.add_argument("--verbose", action="store_true", help="print every notification as it is published")
    demo.add_argument("--report-dir", default=".local/report",
                      help="write `responder report`'s files here at the end ('' for none; default .local/report)")
    demo.set_defaults(func=run)
