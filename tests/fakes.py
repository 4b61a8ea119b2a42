"""In-memory stand-ins for the ports, with the same contract as the DynamoDB and SQS adapters."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from responder.core.model import Mention, MentionKey, ThreadLink
from responder.aws.storage import FIRST_ATTEMPT_OVER_SECONDS, STATUS_RECEIVED, SaveResult, StorageUnavailable
from responder.aws.triage_queue import QueueUnavailable


class InMemoryStore:
    def __init__(self) -> None:
        self.mentions: dict[tuple[str, str], dict] = {}
        self.links: dict[tuple[str, str], str] = {}
        self.down = False
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("fake outage")

    def resolve_thread(self, mention: Mention) -> Mention:
        self._check()
        if not mention.thread_from_parent or not mention.parent_id:
            return mention
        key = (mention.channel, mention.parent_id)
        parent = self.mentions.get(key, {}).get("thread_id") or self.links.get(key)
        return mention.with_thread(parent or mention.thread_id)

    def save_link(self, link: ThreadLink) -> None:
        self._check()
        self.links[(link.channel, link.post_id)] = link.thread_id

    def save(self, mention: Mention, received_at: datetime | None = None) -> SaveResult:
        self._check()
        received_at = received_at or datetime.now(timezone.utc)
        with self._lock:
            key = (mention.channel, mention.mention_id)
            if key in self.mentions:
                record = self.mentions[key]
                stored_at = record.get("received_at")  # a tombstone (FakeEraser) has none
                over = record.get("unsent", False) or (
                    stored_at is not None and (received_at - stored_at).total_seconds() >= FIRST_ATTEMPT_OVER_SECONDS)
                return SaveResult(created=False, status=record["status"], first_attempt_over=over)
            self.mentions[key] = {**mention.to_record(), "status": STATUS_RECEIVED, "received_at": received_at}
            return SaveResult(created=True, status=STATUS_RECEIVED)

    def mark_unsent(self, mention: Mention) -> None:
        self._check()
        record = self.mentions[(mention.channel, mention.mention_id)]
        if record["status"] == STATUS_RECEIVED:
            record["unsent"] = True

    def record_outcome(self, channel: str, mention_id: str) -> None:
        """What triage's outcome does to the status (the sweeper then leaves the mention alone)."""
        self.mentions[(channel, mention_id)]["status"] = "notified"

    # -- the sweeper's port: a watermark over received times --------------------------------------------

    watermark: datetime | None = None

    def stranded(self, since: datetime, until: datetime) -> tuple[list[MentionKey], datetime]:
        self._check()
        found = [MentionKey(platform=r["platform"], channel=r["channel"], mention_id=r["mention_id"],
                            thread_id=r["thread_id"], kind=r["kind"])
                 for r in sorted(self.mentions.values(), key=lambda r: r["received_at"])
                 if r["status"] == STATUS_RECEIVED and since <= r["received_at"].replace(microsecond=0) < until]
        return found, until

    def sweep_watermark(self) -> datetime | None:
        self._check()
        return self.watermark

    def advance_sweep_watermark(self, previous: datetime | None, until: datetime) -> bool:
        self._check()
        if self.watermark != previous:
            return False
        self.watermark = until
        return True


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[Mention] = []
        self.down = False

    def enqueue(self, mentions) -> None:
        if self.down and mentions:
            raise QueueUnavailable("fake outage")
        self.sent.extend(mentions)


class FakeEraser:
    """responder.privacy.erasure.Eraser's contract on InMemoryStore: content gone, a tombstone kept (also for an
    unknown mention, so a later create is refused), idempotent; a notice naming another author erases nothing."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.calls: list[tuple] = []
        self.authors: list[tuple] = []
        self.down = False

    def erase_mention(self, channel, mention_id, *, source, at, author_id=None):
        if self.down:
            raise StorageUnavailable("fake outage")
        self.calls.append((channel, mention_id, source, author_id))
        key = (channel, mention_id)
        with self.store._lock:
            record = self.store.mentions.get(key)
            if record is not None and author_id is not None and record.get("author", {}).get("id") != author_id:
                return 0
            self.store.mentions[key] = {"channel": channel, "mention_id": mention_id, "status": "deleted",
                                        "deleted_by": source, "deleted_at": at,
                                        **({"thread_id": record["thread_id"]} if record else {})}
        return 1

    def erase_author(self, channels, author_id, *, source, at):
        if self.down:
            raise StorageUnavailable("fake outage")
        self.authors.append((tuple(channels), author_id, source))
        keys = [k for k, r in self.store.mentions.items()
                if k[0] in channels and r.get("author", {}).get("id") == author_id]
        for channel, mention_id in keys:
            self.erase_mention(channel, mention_id, source=source, at=at)
        from types import SimpleNamespace

        return SimpleNamespace(mentions=len(keys), threads=0, raw_events=len(keys), replies=0, incidents=0,
                               tombstones_created=0, mention_ids=tuple(f"{c}:{m}" for c, m in keys))
