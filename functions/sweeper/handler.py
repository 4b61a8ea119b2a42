"""Sweeper Lambda, on a schedule: mentions stored but never handed to triage are enqueued again."""

from __future__ import annotations

from typing import Any

from responder.core.config import Settings
from responder.core.observability import logger
from responder.ingest.sweeper import DEFAULT_GRACE_SECONDS, QueueAge, StrandedStore, requeue_stranded, \
    sweep_lag_seconds
from responder.aws.triage_queue import TriageQueue

_store: StrandedStore | None = None
_queue: TriageQueue | None = None
_backlog: QueueAge | None = None
_grace_seconds = DEFAULT_GRACE_SECONDS


def configure(store: StrandedStore, queue: TriageQueue, backlog: QueueAge,
              grace_seconds: int = DEFAULT_GRACE_SECONDS) -> None:
    """Inject the adapters (the local stack passes its own, and a shorter grace period in tests)."""
    global _store, _queue, _backlog, _grace_seconds
    _store, _queue, _backlog, _grace_seconds = store, queue, backlog, grace_seconds


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge scheduled event entry point; the event carries nothing the sweep needs."""
    global _store, _queue, _backlog
    if _store is None or _queue is None or _backlog is None:
        from responder.aws.storage import DynamoMentionStore
        from responder.aws.triage_queue import SqsQueueAge, SqsTriageQueue

        settings = Settings.from_env()
        _store = DynamoMentionStore(settings.table_name, settings.raw_event_ttl_days)
        _queue = SqsTriageQueue(settings.queue_url)
        _backlog = SqsQueueAge(settings.queue_url)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    requeued = requeue_stranded(_store, _queue, _backlog, grace_seconds=_grace_seconds, log=logger,
                                seconds_left=(lambda: remaining() / 1000) if remaining is not None else None)
    lag = sweep_lag_seconds(_store)
    if lag is not None:
        from responder.core.metrics import SWEEP_LAG_SECONDS, metrics

        metrics.seconds(SWEEP_LAG_SECONDS, lag)
        metrics.flush()
    logger.info("sweep done", requeued=requeued, lag_seconds=lag)
    return {"requeued": requeued, "lag_seconds": lag}
