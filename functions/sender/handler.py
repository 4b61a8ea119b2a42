"""Sender Lambda: approved replies from the outbound queue to X and Meta, exactly once, partial batch failures out.

tweepy is imported only when an X reply is sent, requests only for a platform call (see responder.platforms)."""

from __future__ import annotations

from typing import Any

from responder.core.config import SenderSettings, credentials_from_env
from responder.core.metrics import metrics
from responder.core.observability import logger
from responder.replies.sender import Sender

_sender: Sender | None = None


def configure(sender: Sender | None) -> None:
    """Inject a sender (the local stack and the tests build theirs on DynamoDB Local and the stand-ins)."""
    global _sender
    _sender = sender


def _build(settings: SenderSettings) -> Sender:
    from responder.replies.alerts import SnsReplyAlerts
    from responder.replies.ledger import ReplyLedger
    from responder.replies.sender import SqsOutboundQueue, client_for_channel

    return Sender(ReplyLedger(settings.table_name),
                  client_for_channel(credentials_from_env(settings.secret_arn), settings.endpoints),
                  SqsOutboundQueue(settings.outbound_queue_url),
                  alerts=SnsReplyAlerts(settings.agent_topic_arn) if settings.agent_topic_arn else None,
                  max_receive_count=settings.max_receive_count, log=logger, metrics=metrics)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS event source entry point (ReportBatchItemFailures is on)."""
    global _sender
    if _sender is None:
        _sender = _build(SenderSettings.from_env())
    records = event.get("Records", [])
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        failed = _sender.process(records, remaining_seconds=(lambda: remaining() / 1000) if remaining else None)
    finally:
        metrics.flush()
    logger.info("replies handled", records=len(records), failed=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
