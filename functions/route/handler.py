"""Route step of the triage workflow: team, priority and SLA due time from the routing rules, and the agents'
notification (per-protocol message with the review link, and its subject); sets the mention's SLA timer."""

from __future__ import annotations

from typing import Any

from responder.core.config import TriageSettings
from responder.core.model import log_ref
from responder.core.metrics import MENTIONS_NOTIFIED, metrics
from responder.core.observability import logger
from responder.sla.timers import set_route_timer, timers_from_env
from responder.triage.steps import route_step
from responder.triage.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task entry point."""
    rt = runtime(TriageSettings.from_env)
    result = route_step(event, rt.rules)
    # The SLA timer (the mention's minute bucket's, or its own) is set before the notification goes out: its name
    # is deterministic, so a Route run again finds it set; a failure is logged and never fails triage
    # (responder.sla.timers).
    set_route_timer(timers_from_env(), event["mention"], result)
    logger.info("routed", mention=log_ref(event["mention"]["channel"], event["mention"]["mention_id"]),
                team=result.get("team"),
                priority=result.get("priority"), sla_due=result.get("sla_due"))
    metrics.count(MENTIONS_NOTIFIED, team=result.get("team"), priority=result.get("priority"))
    metrics.flush()
    return result
