"""Waiting for the local stack to be done, on positive signals only: a test that asserts "nothing else happened"
(no second page, no second alert) must first know that everything that could happen has happened. A fixed
sleep only hopes so."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

# A mention in one of these statuses changes no further without a redrive.
FINAL = {"notified", "archived", "triage_failed", "incident", "deleted"}
_QUEUE_COUNTS = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]


def is_marker(notification: dict[str, Any]) -> bool:
    return isinstance(notification["message"], dict) and "settled_marker" in notification["message"]


def settle(stack: Any, expected: int | None = None, timeout: float = 150.0) -> list[dict[str, Any]]:
    """Wait until the stack is quiet, then return its notifications (markers left out).

    1. every stored mention is in a final status (and at least `expected` are stored);
    2. the triage queue is empty, nothing in flight or delayed: the dispatcher deletes a message only once its
       execution has ended, so every page and alert of those executions has been published;
    3. a marker published on every topic after that has been recorded: each topic's outbox queue is read in
       order, so whatever was published before the marker has been recorded too.
    """
    import boto3

    deadline = time.monotonic() + timeout
    sqs = boto3.client("sqs", region_name="us-east-1")
    while True:
        mentions = stack.mentions()
        counts = sqs.get_queue_attributes(QueueUrl=stack.triage.triage_queue_url, AttributeNames=_QUEUE_COUNTS)
        waiting = sum(int(v) for v in counts["Attributes"].values())
        if len(mentions) >= (expected or 0) and all(m["status"] in FINAL for m in mentions) and waiting == 0:
            break
        assert time.monotonic() < deadline, (f"not settled after {timeout:.0f}s: "
                                             f"{dict(Counter(m['status'] for m in mentions))}, {len(mentions)} "
                                             f"stored of {expected}, {waiting} triage messages waiting")
        time.sleep(0.2)
    marker = str(uuid.uuid4())
    sns = boto3.client("sns", region_name="us-east-1")
    for arn in stack.triage.topic_arns.values():
        sns.publish(TopicArn=arn, Message=json.dumps({"settled_marker": marker}))
    while True:
        notes = stack.triage.notifications()
        seen = {n["topic"] for n in notes if is_marker(n) and n["message"]["settled_marker"] == marker}
        if seen == set(stack.triage.topic_arns):
            return [n for n in notes if not is_marker(n)]
        assert time.monotonic() < deadline, f"markers recorded on {sorted(seen)} only"
        time.sleep(0.1)
