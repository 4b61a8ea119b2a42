"""Webhook Lambda: X and Meta deliveries in, stored mentions and triage messages out.

Thin by design: it wires configuration and adapters once per container and hands each event to
`responder.ingest.webhook.WebhookService`. It imports nothing it does not use (no tweepy, no event handler router).
"""

from __future__ import annotations

from typing import Any

from responder.core.config import EnvCredentials, SecretsManagerCredentials, Settings
from responder.core.metrics import metrics
from responder.core.observability import logger
from responder.aws.storage import DynamoMentionStore, lambda_json_client
from responder.aws.triage_queue import SqsTriageQueue
from responder.ingest.webhook import WebhookService, response
from responder.privacy.deletion_requests import DataDeletionRequests, DynamoDeletionRequests
from responder.privacy.erasure import Eraser
from responder.replies.native import DynamoNativeAnswers

_service: WebhookService | None = None


def build_service() -> WebhookService:
    """Adapters from the environment: Secrets Manager when SECRET_ARN is set, else RESPONDER_* variables."""
    settings = Settings.from_env()
    # In Lambda, JSON-protocol clients (no boto3 before the first answer); elsewhere None: boto3 on first use.
    credentials = (SecretsManagerCredentials(settings.secret_arn, client=lambda_json_client("secretsmanager"))
                   if settings.secret_arn else EnvCredentials())
    dynamodb = lambda_json_client("dynamodb")  # one client (and connection) for every adapter on the table
    store = DynamoMentionStore(settings.table_name, settings.raw_event_ttl_days,
                               retention_days=settings.retention_days, client=dynamodb)
    eraser = Eraser(settings.table_name, client=dynamodb, retention_days=settings.retention_days)
    requests = DynamoDeletionRequests(settings.table_name, client=dynamodb, retention_days=settings.retention_days)
    return WebhookService(
        credentials=credentials,
        store=store,
        queue=SqsTriageQueue(settings.queue_url, client=lambda_json_client("sqs")),
        log=logger,
        answers=DynamoNativeAnswers(store, metrics=metrics),
        metrics=metrics,
        eraser=eraser,
        # The status page's address: the API's public URL (read per request: `responder local` sets it once serving).
        deletion_requests=DataDeletionRequests(requests, eraser, base_url=public_base_url, log=logger),
    )


def public_base_url() -> str:
    """Where the API is reached from outside (RESPONDER_REVIEW_BASE_URL: the review pages are on the same API)."""
    import os

    return os.environ.get("RESPONDER_REVIEW_BASE_URL", "")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) entry point."""
    global _service
    try:
        if _service is None:
            _service = build_service()
        return _service.handle(event)
    except Exception:
        # Unexpected: log with the stack trace and answer 500, so the platform retries the delivery.
        logger.exception("webhook failed")
        return response(500, {"error": "internal error"})
    finally:
        metrics.flush()
