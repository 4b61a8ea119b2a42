"""What the triage functions build once per container: settings, the store, the routing rules, the voice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from responder.core.config import TriageSettings


@dataclass(frozen=True)
class TriageRuntime:
    settings: TriageSettings
    store: Any
    rules: Any
    voice: Any
    incidents: Any
    sentiment: Any = None  # responder.aws.managed.ComprehendSentiment when RESPONDER_SENTIMENT_BACKEND=comprehend
    drafter: Any = None  # responder.aws.managed.BedrockDrafter when RESPONDER_DRAFT_BACKEND=bedrock


TRIAGE_CONNECT_TIMEOUT_SECONDS = 2.0
TRIAGE_READ_TIMEOUT_SECONDS = 5.0
TRIAGE_RETRIES = 2

_cached: TriageRuntime | None = None


def runtime(read_settings: Callable[[], TriageSettings]) -> TriageRuntime:
    """The container's runtime, built on first use and reused by every later invocation."""
    global _cached
    if _cached is None:
        from responder.triage.drafting import load_voice
        from responder.triage.routing import load_rules
        from responder.aws.storage import DynamoMentionStore

        from responder.aws.incident_store import IncidentStore

        settings = read_settings()
        # Triage has no platform deadline to meet: a patient client (a slow call retried inside the step) saves a
        # whole retry of the step, which would redo its classification. Still well inside Classify's 60 s.
        store = DynamoMentionStore(settings.table_name, client_options={
            "connect_timeout": TRIAGE_CONNECT_TIMEOUT_SECONDS, "read_timeout": TRIAGE_READ_TIMEOUT_SECONDS,
            "attempts": TRIAGE_RETRIES}, retention_days=settings.retention_days)
        sentiment, drafter = _managed(settings)
        _cached = TriageRuntime(settings=settings, store=store, rules=load_rules(settings.routing_rules),
                                voice=load_voice(settings.brand_voice), incidents=IncidentStore(store),
                                sentiment=sentiment, drafter=drafter)
    return _cached


def _managed(settings: TriageSettings) -> tuple[Any, Any]:
    """The managed backends the settings ask for; nothing is imported when none is (the default)."""
    if not settings.backends.enabled:
        return None, None
    from responder.aws.managed import backends_for

    return backends_for(settings.backends)


def reset() -> None:
    """Forget the cached runtime (tests and the local stack after changing the environment)."""
    global _cached
    _cached = None
