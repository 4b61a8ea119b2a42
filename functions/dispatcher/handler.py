"""Dispatcher Lambda: SQS triage messages in, one Express triage execution for the batch, partial batch failures out;
the batch's triaged mentions added to the minute counters in one write per minute."""

from __future__ import annotations

from typing import Any

from responder.core.config import DispatcherSettings
from responder.triage.dispatch import ExecutionRunner, SyncExpressRunner, delay_retries, dispatch, record_counts
from responder.core.observability import logger

_settings: DispatcherSettings | None = None
_runner: ExecutionRunner | None = None
_sqs: Any = None
_counters: Any = None


def configure(runner: ExecutionRunner, sqs_client: Any, settings: DispatcherSettings | None = None,
              counters: Any = None) -> None:
    """Inject the runner, the SQS client and the counters' store (the local stack runs executions in moto)."""
    global _runner, _sqs, _settings, _counters
    _runner, _sqs, _settings, _counters = runner, sqs_client, settings, counters


def _counter_store(settings: DispatcherSettings) -> Any:
    """The minute counters' store (responder.aws.incident_store.IncidentStore), built on first use."""
    global _counters
    if _counters is None and settings.table_name:
        from responder.aws.incident_store import IncidentStore
        from responder.aws.storage import DynamoMentionStore

        _counters = IncidentStore(DynamoMentionStore(settings.table_name))
    return _counters


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
    succeeded: list[dict[str, Any]] = []  # the triaged mentions' results
    failures = dispatch(records, _runner, log=logger,
                        remaining_seconds=(lambda: remaining() / 1000) if remaining is not None else None,
                        execution_seconds=_settings.workflow_timeout_seconds,
                        max_parallel=_settings.max_parallel_executions, succeeded=succeeded)
    delay_retries(failures, _settings.queue_url, _sqs, log=logger, base_seconds=_settings.retry_base_seconds)
    counters = _counter_store(_settings) if succeeded else None
    counted = record_counts(succeeded, counters, log=logger) if counters is not None else 0
    logger.info("dispatched", records=len(records), failed=len(failures), counted=counted)
    return {"batchItemFailures": [{"itemIdentifier": f.message_id} for f in failures]}
