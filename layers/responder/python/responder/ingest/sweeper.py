"""Nothing stays `received` forever: mentions stored but never handed to triage are found and enqueued again.

The webhook stores a mention, then sends its triage message, then marks it `queued`. A crash between the write and
the send (a Lambda timeout, a killed container, a 400 answered after part of a batch was written) would leave the
mention stored but unknown to triage; the platform's retry usually repairs it, but nothing guarantees a retry.
Every stored mention carries a marker in a sparse index (`gsi3`) until it is handed to triage; the sweeper,
run on a schedule (deployed: an EventBridge rule every few minutes; locally: a thread of `responder local`),
enqueues whatever has carried the marker for longer than a grace period. Enqueuing twice is harmless: triage
claims each mention with a conditional write, so a mention is triaged and paged once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from responder.core.model import MentionKey, log_ref
from responder.aws.triage_queue import TriageQueue

# Longer than the webhook's own timeout (10 s) with room to spare, so a delivery still being processed is not swept.
DEFAULT_GRACE_SECONDS = 60
# One run's work is bounded; a larger backlog is drained by the next runs.
DEFAULT_BATCH_LIMIT = 500


class StrandedStore(Protocol):
    """The storage the sweeper needs."""

    def stranded(self, received_before: datetime, limit: int = DEFAULT_BATCH_LIMIT) -> list[MentionKey]: ...
    def mark_queued(self, mention: MentionKey) -> None: ...


def requeue_stranded(store: StrandedStore, queue: TriageQueue, now: datetime | None = None,
                     grace_seconds: int = DEFAULT_GRACE_SECONDS, limit: int = DEFAULT_BATCH_LIMIT,
                     log: Any = None) -> int:
    """Enqueue the mentions stranded for longer than `grace_seconds` and mark them queued; return how many."""
    now = now or datetime.now(timezone.utc)
    stranded = store.stranded(now - timedelta(seconds=grace_seconds), limit=limit)
    if not stranded:
        return 0
    queue.enqueue(stranded)
    for key in stranded:
        store.mark_queued(key)
    if log is not None:
        log.warning("stranded mentions enqueued again", count=len(stranded),
                    mentions=[log_ref(k.channel, k.mention_id) for k in stranded[:20]])
    return len(stranded)
