"""What composing an agents' notification per protocol costs, and how large its parts are.

The Route step composes, for every paged mention, the JSON document (`default`), the e-mail text, the SMS line and
the subject, and signs the review link. This times that composition (the link signed each time, with a local key)
for an ordinary complaint and for the worst the workflow carries (5,000 characters of 4-byte emoji, a hostile
author name, a 2,000-character draft), prints the medians and their ratio, and the sizes that the quotas bound:
the SMS in UTF-8 bytes (SNS: 1,600 per publish), the subject (under 100 characters), the whole message, and Route's
output in the state (Step Functions: 256 KiB, UTF-8).

Run: `python -m bench.notify_bench [--runs 2000]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from responder.replies.tokens import generate_key
from responder.triage.notify import review_link
from responder.triage.steps import NOTIFIED_TEXT_MAX_CHARS, TRUNCATION_MARKER

ENV = {"RESPONDER_REVIEW_BASE_URL": "https://abc123.execute-api.us-east-1.amazonaws.com",
       "RESPONDER_REVIEW_KEY": generate_key()}
CLASSIFICATION = {"language": "en", "sentiment": "negative", "intent": "complaint", "topic": "delivery",
                  "priority": "p2", "team": "logistics", "reasons": ["complaint", "topic delivery"]}
ROUTE = {"team": "logistics", "priority": "p2", "sla_due": "2026-12-01T11:00:00Z",
         "reasons": ["topic delivery → logistics", "complaint from a customer: 60 min"]}
ACTIONS = {"reply": {"method": "POST", "url": "https://api.x.com/2/tweets",
                     "body": {"text": "<draft>", "reply": {"in_reply_to_tweet_id": "1790000000000000001"}}},
           "open": "https://x.com/i/web/status/1790000000000000001"}


def mention(text: str, name: str) -> dict[str, Any]:
    return {"platform": "x", "channel": "x", "kind": "mention", "mention_id": "1790000000000000001",
            "thread_id": "1790000000000000001", "account_id": "42", "created_at": "2026-12-01T10:00:00Z",
            "author": {"id": "5000000123", "handle": "casey_q", "name": name, "followers": 120}, "text": text}


CASES = {
    "ordinary complaint": (mention("@AcmeSupport my order #55120 still hasn't arrived after two weeks, this is "
                                   "ridiculous", "Casey Quinn"),
                           {"text": "@casey_q Sorry, Casey! Please DM us your order number.", "language": "en"}),
    "worst carried": ({**mention("😡" * (NOTIFIED_TEXT_MAX_CHARS - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER,
                                 "\u202eevil\r\nBcc: x " + "😡" * 200),
                       "text_truncated": True, "text_length": 60_000},
                      {"text": "d" * 2_000, "language": "en"}),
}


def route_output(case: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    from responder.triage.routing import load_rules
    from responder.triage.steps import route_step

    text, draft = case
    event = {"mention": text, "classification": CLASSIFICATION, "draft": draft, "thread": {"mention_count": 3},
             "actions": ACTIONS}
    rules = load_rules()
    return route_step(event, rules, review_link=lambda m: review_link(m, ENV))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2_000)
    args = parser.parse_args()
    from responder.triage import notify

    medians = {}
    for name, (text, draft) in CASES.items():
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            notify.compose(text, CLASSIFICATION, ROUTE, draft, {"mention_count": 3}, ACTIONS, review_link(text, ENV))
            timings.append((time.perf_counter() - started) * 1e6)
        medians[name] = statistics.median(timings)
        out = route_output((text, draft))
        message, subject = out["message"], out["subject"]
        state = {"classified": {"mention": text, "classification": CLASSIFICATION}, "drafted": {"draft": draft},
                 "route": out}
        print(f"{name}: compose + sign {medians[name]:.0f} µs (median of {args.runs}); "
              f"default {len(message['default'].encode()):,} B, e-mail {len(message['email'].encode()):,} B, "
              f"SMS {len(message['sms'].encode()):,} B (limit 1,600), subject {len(subject)} chars (limit 99); "
              f"Route's state {len(json.dumps(state, ensure_ascii=False).encode()):,} B UTF-8, "
              f"{len(json.dumps(state).encode()):,} B all escaped (limit 262,144)")
    worst, ordinary = medians["worst carried"], medians["ordinary complaint"]
    print(f"worst / ordinary: {worst / ordinary:.1f}x")


if __name__ == "__main__":
    main()
