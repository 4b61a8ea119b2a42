"""Draft step of the triage workflow: a reply draft in the brand's voice, with the thread's context.

For a mention the agents are paged for (the workflow's `notify: true`) the same invocation applies the routing rules:
team, priority and SLA due time, the agents' notification (per-protocol message with the review link, and its
subject), and the mention's SLA timer. An incident member, recorded without a page, is only drafted.
"""

from __future__ import annotations

from typing import Any

from responder.core.config import TriageSettings
from responder.core.model import log_ref
from responder.core.metrics import MENTIONS_NOTIFIED, metrics
from responder.core.observability import logger
from responder.sla.timers import set_route_timer, timers_from_env
from responder.triage.steps import draft_and_route_step, draft_step
from responder.triage.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task entry point."""
    rt = runtime(TriageSettings.from_env)
    mention = event["mention"]
    notify = event.get("notify") is True
    if notify:
        result = draft_and_route_step(event, rt.store, rt.voice, rt.rules, drafter=rt.drafter)
    else:
        result = draft_step(event, rt.store, rt.voice, drafter=rt.drafter)
    logger.info("drafted", mention=log_ref(mention["channel"], mention["mention_id"]),
                template=result["draft"].get("template"),
                length=result["draft"].get("length"), drafted_by=result["draft"].get("drafted_by", "template"))
    if notify:
        route = result["route"]
        # The SLA timer (the mention's minute bucket's, or its own) is set before the notification goes out: its name
        # is deterministic, so a Draft run again finds it set; a failure is logged and never fails triage
        # (responder.sla.timers).
        set_route_timer(timers_from_env(), mention, route)
        logger.info("routed", mention=log_ref(mention["channel"], mention["mention_id"]), team=route.get("team"),
                    priority=route.get("priority"), sla_due=route.get("sla_due"))
        metrics.count(MENTIONS_NOTIFIED, team=route.get("team"), priority=route.get("priority"))
        metrics.flush()
    return result
