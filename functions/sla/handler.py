"""SLA function: an EventBridge Scheduler timer fired; escalate the mention (or incident) once if still unanswered.

An exception makes Scheduler retry the invocation (its retry policy); an event that is not a timer of this project
is refused without a retry being of any use, so it is logged and answered, not raised.
"""

from __future__ import annotations

from typing import Any

from responder.core.observability import logger
from responder.sla.escalate import InvalidTimer, SlaEscalator, SlaStore, SnsSlaAlerts
from responder.sla.settings import SlaSettings

_escalator: SlaEscalator | None = None


def configure(escalator: SlaEscalator | None) -> None:
    """Inject an escalator (tests)."""
    global _escalator
    _escalator = escalator


def _build(settings: SlaSettings) -> SlaEscalator:
    from responder.aws.storage import DynamoMentionStore

    return SlaEscalator(SlaStore(DynamoMentionStore(settings.table_name)),
                        SnsSlaAlerts(settings.escalation_topic_arn, settings.agent_topic_arn))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler target entry point (the schedule's Input is the event)."""
    global _escalator
    if _escalator is None:
        _escalator = _build(SlaSettings.from_env())
    try:
        result = _escalator.fire(event)
    except InvalidTimer as exc:
        logger.warning("not an sla timer", reason=str(exc))
        return {"outcome": "invalid"}
    logger.info("sla timer fired", kind=event.get("kind"), **result)
    return result
