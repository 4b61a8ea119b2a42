"""The domain model shared by every function: one Mention shape for every platform."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Platform = Literal["x", "meta"]
Channel = Literal["x", "facebook", "instagram", "messenger", "whatsapp"]
Kind = Literal["mention", "reply", "quote", "comment", "dm", "message"]

CHANNELS: tuple[str, ...] = ("x", "facebook", "instagram", "messenger", "whatsapp")
PRIVATE_KINDS: frozenset[str] = frozenset({"dm", "message"})
# Far above any platform's limit (X long posts 25,000, Meta comments 8,000); keeps an item under DynamoDB's 400 KB.
MAX_TEXT_CHARS = 60_000

# Bounds on every stored field, far above what the platforms send (X display names 50 characters, handles 15,
# Instagram captions 2,200, Meta CDN URLs a few hundred), so that only a hostile body, signed or not, can pass them;
# such a body is refused whole (400) before any write. Platform ids are short: X 19 digits, Meta
# `<page>_<post>_<comment>` and base64 `wamid`s under 100 characters; a thread id may join two of them.
MAX_ID_CHARS = 256
_ID = re.compile(r"[!-~]{1,%d}" % MAX_ID_CHARS)  # printable ASCII, no spaces or control characters
MAX_HANDLE_CHARS = 100
MAX_NAME_CHARS = 256
MAX_LANG_CHARS = 35  # the longest BCP 47 tag in practical use (RFC 5646 section 4.4.1)
MAX_ATTACHMENTS = 100
MAX_URL_CHARS = 8_192
MAX_CAPTION_CHARS = 8_192
MAX_FOLLOWERS = 10**12  # any count a platform can report; DynamoDB numbers stop at 38 digits
# A stored mention item must stay under DynamoDB's 400 KB once triage adds its labels and draft (a few KB): each
# field within its own bound is not enough (100 attachments of 8 KB URLs would pass), so the whole is bounded too.
MAX_STORED_BYTES = 300_000


def check_id(value: object, field_name: str) -> str:
    """A platform id as stored: printable ASCII without spaces, at most MAX_ID_CHARS (the value is never quoted)."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MalformedDelivery(f"{field_name}: not an id (1-{MAX_ID_CHARS} printable ASCII characters)")
    return value


def check_text(value: object, limit: int, field_name: str) -> None:
    """A free-text field: absent, or a string of at most `limit` characters (the value is never quoted)."""
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise MalformedDelivery(f"{field_name}: must be text of at most {limit} characters")


def log_ref(channel: str, mention_id: str) -> str:
    """How a log line names a mention: `channel:id`, but a WhatsApp message id (whose base64 carries the customer's
    phone number) only as a short digest, which still lets an operator match log lines to one another."""
    if channel == "whatsapp":
        import hashlib

        return f"whatsapp:#{hashlib.sha256(mention_id.encode()).hexdigest()[:16]}"
    return f"{channel}:{mention_id}"


_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,48}")


def label(value: object) -> str:
    """A platform's name for an event type or field, fit for a log line; anything else becomes `other`."""
    return value if isinstance(value, str) and _LABEL.fullmatch(value) else "other"


@dataclass(frozen=True)
class Author:
    """Who wrote a mention, as far as the delivery tells."""

    id: str
    handle: str | None = None
    name: str | None = None
    followers: int | None = None
    verified: bool | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "author id")
        check_text(self.handle, MAX_HANDLE_CHARS, "author handle")
        check_text(self.name, MAX_NAME_CHARS, "author name")
        followers = self.followers
        if followers is not None and (isinstance(followers, bool) or not isinstance(followers, int)
                                      or not 0 <= followers <= MAX_FOLLOWERS):
            raise MalformedDelivery(f"author followers: must be a count from 0 to {MAX_FOLLOWERS}")
        if self.verified is not None and not isinstance(self.verified, bool):
            raise MalformedDelivery("author verified: must be true or false")


@dataclass(frozen=True)
class Attachment:
    """A short summary of one attached item (never the media itself)."""

    type: str
    id: str | None = None
    url: str | None = None
    caption: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", label(self.type))
        if isinstance(self.id, int) and not isinstance(self.id, bool):
            object.__setattr__(self, "id", str(self.id))  # media ids arrive as numbers in some payloads
        if self.id is not None:
            check_id(self.id, "attachment id")
        check_text(self.url, MAX_URL_CHARS, "attachment url")
        check_text(self.caption, MAX_CAPTION_CHARS, "attachment caption")


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
        for name in ("mention_id", "thread_id", "account_id"):
            check_id(getattr(self, name), name)
        for name in ("parent_id", "event_id"):
            if getattr(self, name) is not None:
                check_id(getattr(self, name), name)
        if not isinstance(self.text, str):
            raise MalformedDelivery("text: must be a string")
        check_text(self.text, MAX_TEXT_CHARS, "text")
        check_text(self.lang, MAX_LANG_CHARS, "lang")
        if len(self.attachments) > MAX_ATTACHMENTS:
            raise MalformedDelivery(f"attachments: more than {MAX_ATTACHMENTS}")
        if self.stored_bytes() > MAX_STORED_BYTES:
            raise MalformedDelivery(f"mention: more than {MAX_STORED_BYTES} bytes of text, names and attachments")

    def stored_bytes(self) -> int:
        """What the stored item's free-text fields weigh in UTF-8, plus room for the rest (linear in their length)."""
        texts = [self.text, self.author.name, self.author.handle, self.lang]
        texts += [v for a in self.attachments for v in (a.type, a.id, a.url, a.caption)]
        return sum(len(t.encode("utf-8")) for t in texts if t) + 2_048  # ids, times and attribute names

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
class MentionKey:
    """What triage needs to find a stored mention: the table stays the single source of truth."""

    platform: str
    channel: str
    mention_id: str
    thread_id: str
    kind: str


@dataclass(frozen=True)
class ThreadLink:
    """A post by the brand itself: not a mention, but replies to it must find their thread."""

    channel: Channel
    post_id: str
    thread_id: str
    parent_id: str | None = None
    thread_from_parent: bool = False

    def __post_init__(self) -> None:
        for name in ("post_id", "thread_id"):
            check_id(getattr(self, name), name)
        if self.parent_id is not None:
            check_id(self.parent_id, "parent_id")


@dataclass(frozen=True)
class NativeAnswer:
    """A reply the brand made on the platform itself (not through Responder): it answers a stored mention.

    A public reply names the mention it answers (`mention_id`: the post or comment replied to); a direct message
    names its conversation (`thread_id`, as the mentions of that conversation store it), whose latest unanswered
    mention it answers. Its text is the brand's own words, but a DM's is still private: it is stored, never logged.
    """

    channel: Channel
    reply_id: str
    text: str
    at: str  # ISO 8601, UTC
    mention_id: str | None = None
    thread_id: str | None = None
    private: bool = False

    def __post_init__(self) -> None:
        check_id(self.reply_id, "reply id")
        if (self.mention_id is None) == (self.thread_id is None):
            raise MalformedDelivery("a native answer names either the answered mention or its conversation")
        for name in ("mention_id", "thread_id"):
            if getattr(self, name) is not None:
                check_id(getattr(self, name), name)
        if not isinstance(self.text, str):
            raise MalformedDelivery("reply text: must be a string")
        check_text(self.text, MAX_TEXT_CHARS, "reply text")


DELETION_SOURCES: frozenset[str] = frozenset({
    "x.tweet_delete",  # X Account Activity API tweet_delete_events
    "x.post_delete",  # X Activity API post.delete
    "meta.feed.remove",  # Facebook Page feed / mention change with verb "remove"
    "meta.unsend",  # Messenger or Instagram message with is_deleted: true
})


@dataclass(frozen=True)
class Deletion:
    """A platform's notice that an item was deleted: its stored copy must be erased (issue #15).

    `author_id` is who the platform says wrote it (X names the author; Meta's notices are trusted by their signature
    and name none): erasure refuses a notice whose author is not the stored mention's. `at` is when it was deleted,
    ISO 8601 UTC, when the notice says so. Nothing else is kept: a notice carries no text worth storing.
    """

    channel: Channel
    mention_id: str
    source: str
    author_id: str | None = None
    at: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise MalformedDelivery("deletion channel: not a channel")
        check_id(self.mention_id, "deleted item id")
        if self.author_id is not None:
            check_id(self.author_id, "deleted item author id")
        if self.source not in DELETION_SOURCES:
            raise MalformedDelivery("deletion source: not a known notice")
        if self.channel == "x" and not (self.mention_id.isdigit() and (self.author_id or "0").isdigit()):
            # X ids are decimal numbers (snowflakes); anything else in a delete notice is not X's.
            raise MalformedDelivery("deleted X post: ids must be digits")

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.mention_id)


@dataclass(frozen=True)
class Delivery:
    """The normalised content of one webhook delivery."""

    mentions: tuple[Mention, ...]
    ignored: tuple[str, ...] = ()  # short descriptions of events deliberately not stored
    links: tuple[ThreadLink, ...] = ()  # the brand's own posts, remembered only for thread stitching
    answers: tuple[NativeAnswer, ...] = ()  # the brand's own replies, which mark the mentions they answer
    deletions: tuple[Deletion, ...] = ()  # items the platform says were deleted: erased, never triaged


class MalformedDelivery(ValueError):
    """The body is not valid JSON or lacks a field a recognised event requires."""
