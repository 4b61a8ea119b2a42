"""The domain model shared by every function: one Mention shape for every platform."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Platform = Literal["x", "meta"]
Channel = Literal["x", "facebook", "instagram", "messenger", "whatsapp"]
Kind = Literal["mention", "reply", "quote", "comment", "dm", "message"]

CHANNELS: tuple[str, ...] = ("x", "facebook", "instagram", "messenger", "whatsapp")
PRIVATE_KINDS: frozenset[str] = frozenset({"dm", "message"})
# Far above any platform's limit (X long posts 25,000, Meta comments 8,000); keeps an item under DynamoDB's 400 KB.
MAX_TEXT_CHARS = 60_000


@dataclass(frozen=True)
class Author:
    """Who wrote a mention, as far as the delivery tells."""

    id: str
    handle: str | None = None
    name: str | None = None
    followers: int | None = None
    verified: bool | None = None


@dataclass(frozen=True)
class Attachment:
    """A short summary of one attached item (never the media itself)."""

    type: str
    id: str | None = None
    url: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class Mention:
    """One inbound item addressed to the brand, normalised from any platform."""

    platform: Platform
    channel: Channel
    kind: Kind
    mention_id: str
    thread_id: str
    author: Author
    text: str
    created_at: str  # ISO 8601, UTC, e.g. 2026-07-24T21:23:23Z
    account_id: str  # the brand's account the delivery was addressed to
    parent_id: str | None = None
    thread_from_parent: bool = False  # thread_id is only the parent's id; storage resolves the root
    lang: str | None = None
    attachments: tuple[Attachment, ...] = ()
    source: str = ""  # delivery format: xaa, aaa, meta.page, meta.instagram, meta.whatsapp
    event_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TEXT_CHARS:
            object.__setattr__(self, "text", self.text[:MAX_TEXT_CHARS])

    @property
    def is_private(self) -> bool:
        """Direct messages are private: their text must never be logged."""
        return self.kind in PRIVATE_KINDS

    def to_record(self) -> dict[str, Any]:
        """The stored/serialised form, without the raw event."""
        record = asdict(self)
        record.pop("raw")
        record.pop("thread_from_parent")
        record["attachments"] = [
            {k: v for k, v in a.items() if v is not None} for a in record["attachments"]
        ]
        record["author"] = {k: v for k, v in record["author"].items() if v is not None}
        return {k: v for k, v in record.items() if v is not None}

    def with_thread(self, thread_id: str) -> Mention:
        """A copy of this mention attached to another thread."""
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(thread_id=thread_id, thread_from_parent=False)
        return Mention(**values)


@dataclass(frozen=True)
class ThreadLink:
    """A post by the brand itself: not a mention, but replies to it must find their thread."""

    channel: Channel
    post_id: str
    thread_id: str
    parent_id: str | None = None
    thread_from_parent: bool = False


@dataclass(frozen=True)
class Delivery:
    """The normalised content of one webhook delivery."""

    mentions: tuple[Mention, ...]
    ignored: tuple[str, ...] = ()  # short descriptions of events deliberately not stored
    links: tuple[ThreadLink, ...] = ()  # the brand's own posts, remembered only for thread stitching


class MalformedDelivery(ValueError):
    """The body is not valid JSON or lacks a field a recognised event requires."""
