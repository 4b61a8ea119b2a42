"""In-memory stand-ins for the ports, with the same contract as the DynamoDB and SQS adapters."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from responder.core.model import Mention, MentionKey, ThreadLink
from responder.aws.storage import STATUS_QUEUED, STATUS_RECEIVED, SaveResult, StorageUnavailable
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
        with self._lock:
            key = (mention.channel, mention.mention_id)
            if key in self.mentions:
                return SaveResult(created=False, status=self.mentions[key]["status"])
            self.mentions[key] = {**mention.to_record(), "status": STATUS_RECEIVED,
                                  "received_at": received_at or datetime.now(timezone.utc)}
            return SaveResult(created=True, status=STATUS_RECEIVED)

    def mark_queued(self, mention: Mention | MentionKey) -> None:
        self._check()
        record = self.mentions[(mention.channel, mention.mention_id)]
        if record["status"] == STATUS_RECEIVED:
            record["status"] = STATUS_QUEUED

    def stranded(self, received_before: datetime, limit: int = 500) -> list[MentionKey]:
        self._check()
        return [MentionKey(platform=r["platform"], channel=r["channel"], mention_id=r["mention_id"],
                           thread_id=r["thread_id"], kind=r["kind"])
                for r in self.mentions.values()
                if r["status"] == STATUS_RECEIVED and r["received_at"] < received_before][:limit]


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[Mention] = []
        self.down = False

    def enqueue(self, mentions) -> None:
        if self.down and mentions:
            raise QueueUnavailable("fake outage")
        self.sent.extend(mentions)
