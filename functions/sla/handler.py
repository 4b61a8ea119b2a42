"""SLA function: an EventBridge Scheduler timer fired; escalate the mention (or incident, or the mentions of a minute
bucket) once if still unanswered.

An exception makes Scheduler retry the invocation (its retry policy); an event that is not a timer of this project
is refused without a retry being of any use, so it is logged and answered, not raised.
"""

from __future__ import annotations

import os
from typing import Any

from responder.core.observability import logger
from responder.sla.escalate import InvalidTimer, SlaEscalator, SlaStore, SnsSlaAlerts
from responder.sla.settings import SlaSettings

_escalator: SlaEscalator | None = None


def configure(escalator: SlaEscalator | None) -> None:
    """Inject an escalator (tests)."""
    global _escalator
    _escalator = escalator


def _build(settings: SlaSettings, context: Any) -> SlaEscalator:
    from responder.aws.storage import DynamoMentionStore
    from responder.sla.timers import ENV_TARGET_ARN, SlaTimers, TimerSettings

    # A bucket with more members than one invocation escalates continues on a timer of its own, invoking this
    # function: its ARN comes from the invocation (the stack cannot name a function in its own environment).
    env = {**os.environ}
    env.setdefault(ENV_TARGET_ARN, str(getattr(context, "invoked_function_arn", "") or ""))
    timer_settings = TimerSettings.from_env(env)
    timers = SlaTimers(timer_settings) if timer_settings is not None else None
    return SlaEscalator(SlaStore(DynamoMentionStore(settings.table_name)),
                        SnsSlaAlerts(settings.escalation_topic_arn, settings.agent_topic_arn),
                        continuation=timers.soon if timers is not None else None,
                        own_timer=timers.create if timers is not None else None)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler target entry point (the schedule's Input is the event)."""
    global _escalator
    if _escalator is None:
        _escalator = _build(SlaSettings.from_env(), context)
    try:
        result = _escalator.fire(event)
    except InvalidTimer as exc:
        logger.warning("not an sla timer", reason=str(exc))
        return {"outcome": "invalid"}
    logger.info("sla timer fired", kind=event.get("kind"), **result)
    return result
