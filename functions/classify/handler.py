"""Classify step of the triage workflow: read the mention (no claim: the outcome's conditional write decides which
execution pages), classify it (language, sentiment, intent, topic, priority, team). Raised errors reach Step
Functions as the exception's class name, which the workflow retries."""

from __future__ import annotations

from typing import Any

from responder.core.config import TriageSettings
from responder.core.model import log_ref
from responder.core.observability import logger
from responder.sla.timers import set_incident_timer, timers_from_env
from responder.triage.steps import classify_step
from responder.triage.runtime import runtime


_mention_text = None


def _instagram_text():
    """The Instagram @mention text fetcher, built on first use (requests is imported only when it fetches)."""
    global _mention_text
    if _mention_text is None:
        from responder.platforms.meta import instagram_text_from_env

        _mention_text = instagram_text_from_env()
    return _mention_text


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task entry point."""
    rt = runtime(TriageSettings.from_env)
    result = classify_step(event, rt.store, rt.rules, incidents=rt.incidents, voice=rt.voice, sentiment=rt.sentiment,
                           mention_text=_instagram_text())
    c = result.get("classification") or {}
    _incident_timer(result, rt.rules)
    logger.info("classified", mention=log_ref(event["key"]["channel"], event["key"]["mention_id"]),
                skip=result["skip"], intent=c.get("intent"), topic=c.get("topic"), priority=c.get("priority"), team=c.get("team"),
                incident=(result.get("incident") or {}).get("incident_id"),
                alert=((result.get("incident") or {}).get("alert") or {}).get("alert"))
    return result


def _incident_timer(result: dict[str, Any], rules: Any) -> None:
    """An incident that opens gets one SLA timer (its members get none): due the p1 SLA after it opened."""
    alert = (result.get("incident") or {}).get("alert") or {}
    incident = alert.get("incident") or {}
    if alert.get("alert") != "opened" or not incident.get("opened_at"):
        return
    from datetime import timedelta

    from responder.sla.timers import parse_due
    from responder.triage.routing import format_utc

    try:
        minutes = rules.sla_minutes.get("p1", rules.sla_minutes["default"])
        due = format_utc(parse_due(incident["opened_at"]) + timedelta(minutes=minutes))
    except (ValueError, KeyError, TypeError) as exc:
        logger.error("sla timer not set", incident=str(incident.get("incident_id"))[:100], error=type(exc).__name__)
        return
    set_incident_timer(timers_from_env(), incident.get("account_id"), incident.get("incident_id"), due)
