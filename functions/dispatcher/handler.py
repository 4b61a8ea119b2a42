"""Dispatcher Lambda: SQS triage messages in, one Express triage execution each, partial batch failures out."""

from __future__ import annotations

from typing import Any

from responder.core.config import DispatcherSettings
from responder.triage.dispatch import ExecutionRunner, SyncExpressRunner, delay_retries, dispatch
from responder.core.observability import logger

_settings: DispatcherSettings | None = None
_runner: ExecutionRunner | None = None
_sqs: Any = None


def configure(runner: ExecutionRunner, sqs_client: Any, settings: DispatcherSettings | None = None) -> None:
    """Inject the runner and SQS client (the local stack runs executions in moto and polls them)."""
    global _runner, _sqs, _settings
    _runner, _sqs, _settings = runner, sqs_client, settings


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS event source entry point (ReportBatchItemFailures is on)."""
    global _settings, _runner, _sqs
    if _settings is None:
        _settings = DispatcherSettings.from_env()
    if _runner is None:
        _runner = SyncExpressRunner(_settings.state_machine_arn, execution_seconds=_settings.workflow_timeout_seconds)
    if _sqs is None:
        from responder.aws.storage import default_client

        _sqs = default_client("sqs")
    records = event.get("Records", [])
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    failures = dispatch(records, _runner, log=logger,
                        remaining_seconds=(lambda: remaining() / 1000) if remaining is not None else None,
                        execution_seconds=_settings.workflow_timeout_seconds,
                        max_parallel=_settings.max_parallel_executions)
    delay_retries(failures, _settings.queue_url, _sqs, log=logger, base_seconds=_settings.retry_base_seconds)
    logger.info("dispatched", records=len(records), failed=len(failures))
    return {"batchItemFailures": [{"itemIdentifier": f.message_id} for f in failures]}
