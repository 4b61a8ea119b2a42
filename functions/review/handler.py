"""Review Lambda: `GET|POST /review/{token}` in, an HTML page out.

Thin by design: it wires the table, the outbound queue, the review key and the platform credentials once per
container and hands each event to `responder.replies.review.ReviewService`. No tweepy, no requests: this function
never talks to a platform, it only queues an approved reply for the sender.
"""

from __future__ import annotations

from typing import Any

from responder.core.observability import logger
from responder.replies.page import UNAVAILABLE, message_page
from responder.replies.review import ReviewService, ReviewSettings

_service: ReviewService | None = None

# A person is waiting on the page: fail fast rather than hold it (DynamoDB and SQS answer in milliseconds). One
# retry: a repeated claim finds its own nonce already recorded and is answered as the same approval.
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0
SDK_RETRIES = 1


def configure(service: ReviewService | None) -> None:
    """Inject a service (the local stack and tests); None rebuilds it from the environment on the next event."""
    global _service
    _service = service


def build_service() -> ReviewService:
    """Adapters from the environment: the table, the outbound queue, the review key and the platform secret."""
    from responder.core.config import EnvCredentials, SecretsManagerCredentials, reply_channels_configured
    from responder.replies.claims import DynamoReplyStore, SqsOutbox
    from responder.replies.tokens import signer_from_env

    settings = ReviewSettings.from_env()
    credentials = SecretsManagerCredentials(settings.secret_arn) if settings.secret_arn else EnvCredentials()
    timeouts = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": READ_TIMEOUT_SECONDS,
                "attempts": SDK_RETRIES}
    return ReviewService(
        store=DynamoReplyStore(settings.table_name, client_options=timeouts),
        signer=signer_from_env,
        outbox=SqsOutbox(settings.queue_url, client_options=timeouts),
        configured_channels=lambda: reply_channels_configured(credentials.get()),
        log=logger,
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) entry point."""
    global _service
    try:
        if _service is None:
            _service = build_service()
        return _service.handle_event(event)
    except Exception:
        # Unexpected: the stack trace goes to the log (ids only), the person gets a page, never a stack trace.
        logger.exception("review failed")
        return message_page(*UNAVAILABLE).response()
