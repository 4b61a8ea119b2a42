"""The classification vocabulary shared by classification, routing and drafting (the README's contract)."""

from __future__ import annotations

from responder.core.model import CHANNELS

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
INTENTS: tuple[str, ...] = ("complaint", "question", "praise", "feedback", "spam", "other")
TOPICS: tuple[str, ...] = (
    "account", "order", "refund", "delivery", "invoice", "payment", "shipping_address", "cancellation_fee",
    "contact", "feedback", "newsletter", "other",
)
PRIORITIES: tuple[str, ...] = ("p1", "p2", "p3", "p4")  # p1 is the most urgent
PLATFORMS: tuple[str, ...] = ("x", "meta")


def platform_of(channel: str | None) -> str | None:
    """The platform a channel belongs to (X, or Meta for Facebook, Instagram, Messenger and WhatsApp)."""
    if channel is None:
        return None
    return "x" if channel == "x" else "meta" if channel in CHANNELS else None
