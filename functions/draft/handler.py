"""Draft step of the triage workflow: a reply draft in the brand's voice, with the thread's context."""

from __future__ import annotations

from typing import Any

from responder.core.config import TriageSettings
from responder.core.model import log_ref
from responder.core.observability import logger
from responder.triage.steps import draft_step
from responder.triage.runtime import runtime


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Step Functions task entry point."""
    rt = runtime(TriageSettings.from_env)
    result = draft_step(event, rt.store, rt.voice, drafter=rt.drafter)
    logger.info("drafted", mention=log_ref(event["mention"]["channel"], event["mention"]["mention_id"]),
                template=result["draft"].get("template"),
                length=result["draft"].get("length"), drafted_by=result["draft"].get("drafted_by", "template"))
    return result
