"""Store a delivery's mentions exactly once and hand each one to triage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from responder.core.model import Mention, NativeAnswer, ThreadLink
from responder.aws.storage import MentionStore, SaveResult, StorageUnavailable
from responder.aws.triage_queue import QueueUnavailable, TriageQueue


# Meta batches up to 1,000 updates in one delivery and Messenger gives up after 20 s: store them in parallel.
MAX_PARALLEL_WRITES = 16


def each(fn: Callable[[Any], object], mentions: Iterable[Any]) -> list[object]:
    """Apply `fn` to every item, in parallel when there are several; the first error propagates."""
    items = list(mentions)
    if len(items) <= 1:
        return [fn(m) for m in items]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_WRITES, len(items))) as pool:
        return list(pool.map(fn, items))


@dataclass(frozen=True)
class IngestResult:
    """What happened to a delivery's mentions."""

    stored: tuple[Mention, ...]  # newly stored by this call
    duplicates: tuple[Mention, ...]  # already stored by an earlier delivery
    enqueued: tuple[Mention, ...]  # handed to triage by this call (new ones, and earlier ones never enqueued)
    links_failed: int = 0  # brand posts whose thread link could not be stored


def ingest(mentions: Sequence[Mention], store: MentionStore, queue: TriageQueue,
           received_at: datetime | None = None, links: Sequence[ThreadLink] = ()) -> IngestResult:
    """Store each mention idempotently and enqueue the new ones (and repeats a failed first attempt never sent).

    Nothing is written after the send: a mention stays `received` until triage claims it (recording `queued` cost
    a write unit and an index write per mention). Raises StorageUnavailable or QueueUnavailable; the platform's
    retry of the same delivery, or else the sweeper (responder.ingest.sweeper), then finishes the job.
    """
    received_at = received_at or datetime.now(timezone.utc)
    links_failed = 0
    for link in links:  # first, so a reply in the same delivery already finds the brand's post
        try:
            store.save_link(link)
        except StorageUnavailable:
            # A brand post is not a mention: losing its link only risks a later legacy reply starting its own
            # thread, which must not turn an acknowledged, ignorable event into a 503. Counted and logged.
            links_failed += 1
    unique: dict[tuple[str, str], Mention] = {}
    for mention in mentions:  # Meta batches may repeat an update inside one delivery
        unique.setdefault((mention.channel, mention.mention_id), mention)

    def save(mention: Mention) -> tuple[Mention, SaveResult]:
        mention = store.resolve_thread(mention)
        return mention, store.save(mention, received_at)

    stored, duplicates, to_enqueue = [], [], []
    for mention, result in each(save, unique.values()):  # type: ignore[misc]
        (stored if result.created else duplicates).append(mention)
        if result.needs_enqueue:
            to_enqueue.append(mention)
    try:
        queue.enqueue(to_enqueue)
    except QueueUnavailable:
        # Answered 503: the platform's retry finds these still `received` and, marked, sends them at once. If the
        # marks fail too, the retry leaves them to the sweeper; the 503 stands either way.
        try:
            each(store.mark_unsent, to_enqueue)
        except StorageUnavailable as exc:
            _log_unmarked(len(to_enqueue), exc)
        raise
    return IngestResult(stored=tuple(stored), duplicates=tuple(duplicates), enqueued=tuple(to_enqueue),
                        links_failed=links_failed)


def _log_unmarked(count: int, exc: Exception) -> None:
    from responder.core.observability import logger

    logger.warning("unsent mentions not marked: the sweeper will enqueue them", count=count,
                   error=type(exc).__name__)


def apply_answers(answers: Sequence[NativeAnswer], port: Any, received_at: datetime | None = None) -> dict[str, int]:
    """Mark the mentions the brand answered natively, after the delivery's mentions are stored (a reply and the post
    it answers may arrive in one delivery). Outcomes counted by name (responder.replies.native); StorageUnavailable
    propagates, and the platform's retry applies them again (each mark is idempotent)."""
    received_at = received_at or datetime.now(timezone.utc)
    counts: dict[str, int] = {}
    for outcome in each(lambda answer: port.apply(answer, received_at), answers):
        counts[str(outcome)] = counts.get(str(outcome), 0) + 1
    return counts
