"""Nothing stays `received` forever: mentions stored but never handed to triage are found and enqueued again.

The webhook stores a mention, then sends its triage message. A crash between the write and the send (a Lambda
timeout, a killed container, a 400 answered after part of a batch was written) would leave the mention stored but
unknown to triage; the platform's retry usually repairs it, but nothing guarantees a retry.

No mention carries a marker for this (a sparse index entry written at ingest and removed when the mention was
enqueued cost three write units per mention). The sweeper, run on a schedule (deployed: an EventBridge rule every
few minutes; locally: a thread of `responder local`), reads the brand's mentions by received time (gsi2) over the
window it has not examined yet, up to a watermark item (one write per sweep), and re-enqueues those still
`received`: half a read unit per mention.

A mention is `received` until triage records its outcome, so one merely waiting in the triage queue looks stranded
too. The window therefore ends before the oldest message still in the queue was sent (its ApproximateAgeOfOldestMessage)
minus a grace period: a mention received earlier than that and still `received` was never enqueued, or its message
is gone. During a surge the window simply waits for the queue to drain. A mention enqueued twice anyway (the age
is a metric, published once a minute) is triaged and paged once: triage records the outcome with a conditional
write before any page, and the extra message costs one execution whose write is refused (about $2 per million such
duplicates: an SQS message, a dispatcher share, an Express execution and three Lambda invocations, one refused
write).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

from responder.core.model import MentionKey, log_ref
from responder.aws.triage_queue import TriageQueue

# Longer than the webhook's own timeout (10 s) and than the age metric's staleness (SQS publishes
# ApproximateAgeOfOldestMessage every minute; Amazon SQS developer guide, "Available CloudWatch metrics for Amazon
# SQS"), so neither a delivery still being processed nor a message the metric does not show yet is swept.
DEFAULT_GRACE_SECONDS = 180
# The first sweep (no watermark yet) looks this far back. A run reads at most MAX_WINDOWS windows of at most
# MAX_WINDOW_SECONDS each, oldest first, moving the watermark after each: a longer gap (a surge's backlog draining,
# the sweeper disabled for a day) is caught up over the next runs, every run's work bounded.
FIRST_LOOKBACK_SECONDS = 3_600
MAX_WINDOW_SECONDS = 900
MAX_WINDOWS = 4
# Time kept for one more piece (its reads, its send, its watermark) before the function's timeout (60 s deployed).
WINDOW_BUDGET_SECONDS = 20.0


class StrandedStore(Protocol):
    """The storage the sweeper needs."""

    def stranded(self, since: datetime, until: datetime) -> tuple[list[MentionKey], datetime]: ...
    def sweep_watermark(self) -> datetime | None: ...
    def advance_sweep_watermark(self, previous: datetime | None, until: datetime) -> bool: ...


class QueueAge(Protocol):
    """How long the oldest message still in the triage queue (waiting or in flight) has been there."""

    def oldest_age_seconds(self) -> float: ...


def _second(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(microsecond=0)


def sweep_lag_seconds(store: StrandedStore, now: datetime | None = None) -> float | None:
    """How far behind `now` the watermark is (None before the first sweep). It stays about the grace period plus
    the triage queue's age; more means stranded mentions wait longer to be found (the SweeperBehind alarm)."""
    watermark = store.sweep_watermark()
    if watermark is None:
        return None
    return max(0.0, ((now or datetime.now(timezone.utc)) - watermark).total_seconds())


def requeue_stranded(store: StrandedStore, queue: TriageQueue, backlog: QueueAge | None = None,
                     now: datetime | None = None, grace_seconds: int = DEFAULT_GRACE_SECONDS,
                     log: Any = None, seconds_left: Callable[[], float] | None = None) -> int:
    """Enqueue the mentions of the window not swept yet that are still `received`; return how many.

    The window is [watermark, now - grace - the queue's oldest age), read in at most MAX_WINDOWS pieces. The
    watermark moves only after each piece's send, so a crash in between sweeps that piece again (harmless, see
    above) and no mention is skipped. `seconds_left` (the Lambda context's remaining time) stops the sweep between
    pieces when less than WINDOW_BUDGET_SECONDS remain, so a timeout never cuts a piece whose send is done but whose
    watermark is not moved (which would make every run send that piece again); the next run goes on from there.
    """
    now = now or datetime.now(timezone.utc)
    age = backlog.oldest_age_seconds() if backlog is not None else 0.0
    until = _second(now - timedelta(seconds=grace_seconds + max(0.0, age)))
    watermark = store.sweep_watermark()
    since = watermark or until - timedelta(seconds=FIRST_LOOKBACK_SECONDS)
    requeued = 0
    for _ in range(MAX_WINDOWS):
        if until <= since:
            break  # caught up, or the queue is further behind than the last sweep reached: wait for it
        if seconds_left is not None and seconds_left() < WINDOW_BUDGET_SECONDS:
            if log is not None:
                log.warning("sweep stopped before its time ran out", swept_until=since.isoformat())
            break
        stranded, reached = store.stranded(since, min(until, since + timedelta(seconds=MAX_WINDOW_SECONDS)))
        if stranded:
            queue.enqueue(stranded)
            requeued += len(stranded)
            if log is not None:
                log.warning("stranded mentions enqueued again", count=len(stranded),
                            mentions=[log_ref(k.channel, k.mention_id) for k in stranded[:20]])
        if not store.advance_sweep_watermark(watermark, reached):
            if log is not None:
                log.info("another sweep moved the watermark first", since=since.isoformat())
            break
        watermark = since = reached
    return requeued
