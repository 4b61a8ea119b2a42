"""Mentions and threads in one DynamoDB table, written idempotently.

Items (pk / sk):
- `MENTION#<channel>#<mention id>` / `MENTION`: the normalised mention; `gsi1` lists a thread's mentions with
  what is written once (id, creation time, kind, author, text: infra constants GSI1_ATTRIBUTES), so the mention's
  updates do not write the index again.
  It expires (`expires_at`, the table's TTL) the retention period after it was received, set once at creation:
  no later update moves it.
- `MENTION#<channel>#<mention id>` / `RAW`: the raw platform event, for audit, expiring after a shorter TTL; written
  only when the deployment keeps audit copies (`rawEventTtlDays` > 0; none by default).
- `MENTION#<channel>#<post id>` / `LINK`: a post by the brand itself and its thread, so replies to it stitch.
- `THREAD#<channel>#<thread id>` / `THREAD`: the conversation: counts, first and last activity; it expires
  with the last mention stored in it. A thread whose only stored message opened it (the thread's id is that
  mention's) has none: `get_thread` shows that mention as a thread of one.
- `SWEEP#stranded` / `WATERMARK`: how far the sweeper has looked for mentions a crash left stored but never
  enqueued (see responder.ingest.sweeper): it reads the brand's gsi2 listing by received time from there on, so no
  mention carries an index entry of its own for it.
  (Participants are read from the thread's mentions through `gsi1`: a set on the thread item would grow
  past DynamoDB's 400 KB item limit in a viral thread.)

A mention is written by one put guarded by `attribute_not_exists(pk)`, so a delivery repeated N times, also
concurrently, stores one mention; only the writer that created it stores the raw event (zlib-compressed, `raw_z`,
when audit copies are kept) and counts it in its thread (see `save`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from responder.aws.attributes import deserialize, serialize
from responder.core.config import DEFAULT_RAW_EVENT_TTL_DAYS, DEFAULT_RETENTION_DAYS
from responder.surge.incidents import BRAND_KEY
from responder.core.model import Mention, MentionKey, ThreadLink

STATUS_RECEIVED = "received"  # stored, not yet handed to triage
# Stored and enqueued, by mentions stored before the webhook stopped writing it (one write unit and one index write
# per mention): still accepted as awaiting triage until those mentions expire; nothing sets it any more.
STATUS_QUEUED = "queued"
# Claimed by a triage execution, by versions that claimed before triaging (a lease); still accepted, nothing sets it.
STATUS_TRIAGING = "triaging"
STATUS_NOTIFIED = "notified"  # classified, drafted, routed and sent to the agents
STATUS_ARCHIVED = "archived"  # noise: archived with a reason, nobody paged
STATUS_TRIAGE_FAILED = "triage_failed"  # triage gave up after retries; alerted, eligible for a retry
STATUS_DELETED = "deleted"  # erased: a tombstone (responder.privacy.erasure); a redelivery stores nothing
# What triage may still record (the workflow's RecordMention and RecordIncidentMember accept these).
AWAITING_TRIAGE = (STATUS_RECEIVED, STATUS_QUEUED, STATUS_TRIAGING, STATUS_TRIAGE_FAILED)

# DynamoDB items are limited to 400 KB; the raw copy is for audit and may be cut short.
MAX_RAW_BYTES = 350_000
_THREAD_ATTEMPTS = 6
# A repeated delivery enqueues a mention still `received` only once the first attempt is over: longer than the
# webhook's timeout (10 s, infra.constants.WEBHOOK_TIMEOUT_SECONDS). Sooner, that attempt may still be sending it (a
# concurrent repeat would make a second triage message); later, it crashed or failed before its send (or the
# queue is behind: one more message, which triage's conditional outcome write makes harmless). The sweeper repairs
# the rest.
FIRST_ATTEMPT_OVER_SECONDS = 15
# The sweeper's watermark: received times up to it were examined (one item, one write per sweep).
SWEEP_WATERMARK_KEY = {"pk": "SWEEP#stranded", "sk": "WATERMARK"}
# BatchGetItem takes at most 100 keys (DynamoDB API reference, BatchGetItem).
_BATCH_GET = 100
_BATCH_ATTEMPTS = 5
# The brand's mentions by received time (gsi2: surge clustering, the sweeper, reports) are spread over this many
# partitions. A mention writes its index entry once, at creation (gsi2 projects nothing triage sets): one write unit
# for an entry up to 1 KB. One partition of an index takes at most 1,000 write units per second (DynamoDB developer
# guide, "Best practices for designing and using partition keys effectively"), and a throttled index entry throttles
# the mention's own write: one `ACCOUNT#<brand>` partition capped the brand at ~1,000 mentions/s, no headroom over
# the 913/s the route throttle lets in (bench/scale_model.py). Four shards hold 4,000 mentions/s of one brand, four
# times issue #17's 1,000/s; past that the table's own quota is near anyway (40,000 write units/s at ~7.7 per
# mention: ~5,200 mentions/s). No more: every refresh of the clustering window queries each shard (at least half a
# read unit and ~2 ms of botocore CPU each: bench/window_bench.py), and with 16 shards and the unsharded partition
# those 17 Queries were Classify's largest read (6.8 Queries per mention in `responder demo`).
ACCOUNT_SHARDS = 4
# The shards earlier versions listed mentions in. Readers of history (the sweeper, reports) keep reading them and the
# unsharded partition until those entries expire with their mentions (DEFAULT_RETENTION_DAYS); the clustering window
# reads only the current shards (see current_account_partitions).
EARLIER_ACCOUNT_SHARDS = 16
# Sparse, keys only: a person's mentions on one channel, for erasure and export (responder.privacy.erasure). Set at
# creation, removed with the content when the mention is erased. One more index write per stored mention.
AUTHOR_INDEX = "gsi4"


class StorageUnavailable(RuntimeError):
    """DynamoDB cannot be reached or refuses the write right now (answered 503 so the platform retries)."""


class StorageRejected(ValueError):
    """DynamoDB refuses the item itself (ValidationException): a retry would be refused too (answered 400)."""


def raw_record(item: dict[str, Any]) -> dict[str, Any]:
    """A stored RAW item with its event as JSON text under `raw` (stored zlib-compressed as `raw_z`)."""
    import zlib

    packed = item.pop("raw_z", None)
    if packed is not None:
        item["raw"] = zlib.decompress(bytes(getattr(packed, "value", packed))).decode("utf-8", "ignore")
    return item


def _shard(channel: str, mention_id: str, shards: int) -> int:
    """A stable shard of a mention (the same on every retry, so a repeated write lands on the same item)."""
    import zlib

    return zlib.crc32(f"{channel}#{mention_id}".encode()) % shards


def account_partition(account: str, channel: str, mention_id: str) -> str:
    """The gsi2 partition a mention of `account` is listed in."""
    return f"ACCOUNT#{account}#{_shard(channel, mention_id, ACCOUNT_SHARDS):02d}"


def account_partitions(account: str) -> list[str]:
    """Every gsi2 partition an account's mentions were ever listed in: the current shards, those of earlier versions
    and the single partition of mentions stored before sharding (read until they expire; querying an empty
    partition costs half a read unit). For readers of history, run per sweep or on demand."""
    shards = max(ACCOUNT_SHARDS, EARLIER_ACCOUNT_SHARDS)
    return [f"ACCOUNT#{account}"] + [f"ACCOUNT#{account}#{shard:02d}" for shard in range(shards)]


def current_account_partitions(account: str) -> list[str]:
    """The gsi2 partitions new mentions of an account are listed in (see account_partition): enough for a reader of
    the last minutes only. Right after an upgrade from more shards, entries written before it under the other shards
    are not among them, for as long as they are recent."""
    return [f"ACCOUNT#{account}#{shard:02d}" for shard in range(ACCOUNT_SHARDS)]


def author_index_key(channel: str, author_id: str) -> str:
    """The author index partition of a person on one channel."""
    return f"AUTHOR#{channel}#{author_id}"


def _position(mention: Mention, thread: dict[str, Any]) -> str:
    """Where the mention's creation time falls among its thread's messages: newest, oldest or middle."""
    first, last = thread.get("first_seen_at"), thread.get("last_activity_at")
    if last is None or mention.created_at >= last:
        return "newest"
    if first is None or mention.created_at < first:
        return "oldest"
    return "middle"


def single_thread(opener: dict[str, Any]) -> dict[str, Any]:
    """The thread of a mention that opened it and is its only stored message (such a thread has no item of its own),
    as a thread item would show it."""
    created = opener.get("created_at")
    view = {"type": "thread", "platform": opener.get("platform"), "channel": opener.get("channel"),
            "thread_id": opener.get("thread_id") or opener.get("mention_id"), "account_id": opener.get("account_id"),
            "thread_status": "open", "mention_count": 1, "first_seen_at": created, "last_activity_at": created,
            "last_mention_id": opener.get("mention_id"), "expires_at": opener.get("expires_at")}
    replied_at = opener.get("reply_sent_at") or opener.get("first_response_at")  # sent by Responder, or natively
    if opener.get("reply_id") and replied_at:
        view.update(last_reply_id=opener["reply_id"], last_reply_at=replied_at,
                    last_reply_text=opener.get("reply_text"))
    return {k: v for k, v in view.items() if v is not None}


def is_thread_root(mention_id: str, thread_id: str | None) -> bool:
    """Whether a mention opens its thread (the thread's id is its own): such a mention has no gsi1 entry."""
    return not thread_id or str(thread_id) == str(mention_id)


# What a thread listing shows of each message (gsi1's projection and keys); a thread's first message is read with these.
THREAD_ROOT_FIELDS = ("pk", "sk", "mention_id", "created_at", "kind", "author", "text")


def mention_key(channel: str, mention_id: str) -> dict[str, str]:
    """The primary key of a mention item."""
    return {"pk": f"MENTION#{channel}#{mention_id}", "sk": "MENTION"}


def thread_key(channel: str, thread_id: str) -> dict[str, str]:
    """The primary key of a thread item."""
    return {"pk": f"THREAD#{channel}#{thread_id}", "sk": "THREAD"}


@dataclass(frozen=True)
class SaveResult:
    """Whether this call created the mention, the status it has now, and (for a repeat) whether the attempt that
    stored it is over (FIRST_ATTEMPT_OVER_SECONDS)."""

    created: bool
    status: str
    first_attempt_over: bool = False

    @property
    def needs_enqueue(self) -> bool:
        """A new mention, or a repeat of one still `received` whose first attempt is over (it crashed or failed
        before its send). `received` stays the status until triage records the mention's outcome."""
        return self.status == STATUS_RECEIVED and (self.created or self.first_attempt_over)


class MentionStore(Protocol):
    """The storage port of the ingest path."""

    def resolve_thread(self, mention: Mention) -> Mention: ...
    def save_link(self, link: ThreadLink) -> None: ...
    def save(self, mention: Mention, received_at: datetime) -> SaveResult: ...
    def mark_unsent(self, mention: Mention) -> None: ...


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(text: str) -> datetime:
    """A time written by _iso (or a whole second `...SSZ`) back as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


class DynamoTable:
    """An adapter on the project's table: a low-level client built on first use, and plain values in and out."""

    def __init__(self, table_name: str, client: Any = None, client_options: dict[str, Any] | None = None) -> None:
        """`client_options` are default_client's timeouts and retries for the client built on first use."""
        self._table = table_name
        self._client = client
        self._client_options = client_options or {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = dynamodb_client(**self._client_options)
        return self._client

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Plain values as DynamoDB attribute values (floats as Decimals)."""
        return {k: serialize(_to_dynamo(v)) for k, v in values.items()}

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        """A DynamoDB item as plain values (whole Decimals as ints)."""
        return {k: _from_dynamo(deserialize(v)) for k, v in item.items()}

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> dict[str, Any]:
        """One DynamoDB call, its failures mapped to StorageUnavailable / StorageRejected (or re-raised)."""
        try:
            return fn(**kwargs)
        except Exception as exc:  # noqa: BLE001 - mapped to StorageUnavailable or re-raised
            raise _storage_error(exc) from exc

    def thread_root(self, channel: str, thread_id: str,
                    fields: tuple[str, ...] = THREAD_ROOT_FIELDS) -> dict[str, Any] | None:
        """The thread's first message when it is a stored mention (its id is the thread's), with gsi1's fields."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        item = self._call(self.client.get_item, TableName=self._table,
                          Key=self._values(mention_key(channel, thread_id)),
                          ProjectionExpression=", ".join(names), ExpressionAttributeNames=names).get("Item")
        return self._plain(item) if item else None

    @staticmethod
    def _pages(pages: Any) -> Any:
        """A paginator's pages, its failures mapped as `_call`'s."""
        try:
            yield from pages
        except Exception as exc:  # noqa: BLE001 - mapped to StorageUnavailable or re-raised
            raise _storage_error(exc) from exc



class DynamoMentionStore(DynamoTable):
    """The MentionStore on a DynamoDB table (the real service or DynamoDB Local)."""

    def __init__(self, table_name: str, raw_event_ttl_days: int = DEFAULT_RAW_EVENT_TTL_DAYS, client: Any = None,
                 client_options: dict[str, Any] | None = None,
                 retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        super().__init__(table_name, client=client, client_options=client_options)
        self._ttl_seconds = raw_event_ttl_days * 86_400
        self.keeps_raw = raw_event_ttl_days > 0  # audit copies of raw events: off by default (infra/constants.py)
        self.retention_seconds = retention_days * 86_400

    def expires_at(self, at: datetime) -> int:
        """The TTL (epoch seconds) of an item created at `at`: mentions, threads, links and incidents."""
        return int(at.timestamp()) + self.retention_seconds

    # -- serialisation ----------------------------------------------------------------------------------

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        try:
            return {k: serialize(_to_dynamo(v)) for k, v in values.items() if v is not None}
        except (TypeError, ValueError, ArithmeticError) as exc:  # decimal.Rounded etc.: not storable as given
            raise StorageRejected(f"an attribute cannot be stored: {type(exc).__name__}") from exc

    # -- the port ---------------------------------------------------------------------------------------

    def _parent_thread(self, channel: str, parent_id: str) -> str | None:
        """The thread of a stored mention or brand post, in one query over its partition."""
        found = self._call(self.client.query, TableName=self._table, KeyConditionExpression="pk = :pk",
                           ExpressionAttributeValues=self._item({":pk": mention_key(channel, parent_id)["pk"]}),
                           ProjectionExpression="thread_id", ConsistentRead=True)
        for item in found.get("Items", []):
            if "thread_id" in item:
                return item["thread_id"]["S"]
        return None

    def resolve_thread(self, mention: Mention) -> Mention:
        """Attach a reply whose root the platform did not name to its parent's thread, when the parent is known."""
        if not mention.thread_from_parent or not mention.parent_id:
            return mention
        thread_id = self._parent_thread(mention.channel, mention.parent_id)
        return mention.with_thread(thread_id or mention.thread_id)

    def save_link(self, link: ThreadLink) -> None:
        """Remember which thread a post by the brand belongs to (idempotent: the same item each time)."""
        thread_id = link.thread_id
        if link.thread_from_parent and link.parent_id:
            thread_id = self._parent_thread(link.channel, link.parent_id) or thread_id
        item = {**mention_key(link.channel, link.post_id), "sk": "LINK", "type": "link", "thread_id": thread_id,
                "parent_id": link.parent_id, "expires_at": self.expires_at(_now())}
        self._call(self.client.put_item, TableName=self._table, Item=self._item(item))

    def save(self, mention: Mention, received_at: datetime | None = None) -> SaveResult:
        """Store the mention exactly once, then its raw event (when audit copies are kept) and its thread's counters.

        The mention's put is guarded by `attribute_not_exists(pk)`: of a delivery repeated N times, also
        concurrently, one put wins and only its caller writes the raw copy and counts the mention in its thread.
        These are plain writes, not one transaction: a transaction bills every item and each of the mention's
        index entries twice (11.7 of 28.8 write units per mention in `responder demo`). A crash between the put
        and the thread's update leaves that thread one mention short, never a mention counted twice; a repeat
        that finds the mention still `received` writes the raw copy if it is missing, and is enqueued again once
        the first attempt is over (SaveResult.needs_enqueue).
        """
        received_at = received_at or _now()
        record = mention.to_record()
        if not record.get("attachments"):
            # Most posts have none: an empty list costs 14 bytes on an item billed per started KB (readers default
            # it to []).
            record.pop("attachments", None)
        mkey = mention_key(mention.channel, mention.mention_id)
        tkey = thread_key(mention.channel, mention.thread_id)
        mention_item = {
            **mkey, **record, "type": "mention", "status": STATUS_RECEIVED, "received_at": _iso(received_at),
            # The thread's later messages, for its listing (gsi1). A thread's first message (its id is the thread's)
            # is read by its own key instead: most mentions open their thread, and an index entry costs a write unit.
            **({} if is_thread_root(mention.mention_id, mention.thread_id) else
               {"gsi1pk": tkey["pk"], "gsi1sk": f"{mention.created_at}#{mention.mention_id}"}),
            # The account's recent mentions, for surge clustering (see incident_store.py).
            "gsi2pk": account_partition(BRAND_KEY, mention.channel, mention.mention_id),
            "gsi2sk": f"{_iso(received_at)[:19]}Z#{mention.channel}#{mention.mention_id}",
            # The person's mentions, for erasure and export by author, by creation time (an index's keys need not be
            # unique: the mention's id, 20 bytes more on every item, added nothing to a Query of the whole person).
            "gsi4pk": author_index_key(mention.channel, mention.author.id),
            "gsi4sk": mention.created_at,
            # Written once: the put is guarded by attribute_not_exists(pk), and no update sets it again.
            "expires_at": self.expires_at(received_at),
        }
        try:
            self.client.put_item(TableName=self._table, Item=self._item(mention_item),
                                 ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:  # noqa: BLE001 - "stored before" is an answer; anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            status, stored_at, unsent = self._status_and_received(mention)
            if self.keeps_raw and status == STATUS_RECEIVED and self._raw_missing(mention):
                self._put_raw(mention, received_at)
            over = unsent or (stored_at is not None
                              and (received_at - stored_at).total_seconds() >= FIRST_ATTEMPT_OVER_SECONDS)
            return SaveResult(created=False, status=status, first_attempt_over=over)
        if self.keeps_raw and not self._put_raw_unless_erased(mention, received_at):
            return SaveResult(created=True, status=STATUS_DELETED)
        self._count_in_thread(mention, received_at)
        return SaveResult(created=True, status=STATUS_RECEIVED)

    def _put_raw_unless_erased(self, mention: Mention, received_at: datetime) -> bool:
        """Write the new mention's raw copy; False when the mention was erased meanwhile (the copy is gone again)."""
        self._put_raw(mention, received_at)
        if self._status(mention) == STATUS_DELETED:
            # Erased between the mention's put and its raw copy's (a delete notice handled by another
            # invocation meanwhile): the erasure could not delete a copy not written yet, so it goes now.
            # One consistent read per new mention ($0.125 per million) for a race that is rare but would keep a
            # deleted post's text past the platform's deadline.
            self._call(self.client.delete_item, TableName=self._table,
                       Key=self._item({**mention_key(mention.channel, mention.mention_id), "sk": "RAW"}))
            return False
        return True

    def _put_raw(self, mention: Mention, received_at: datetime) -> None:
        """The raw event's audit copy, zlib-compressed (platform JSON shrinks to about a third: one write unit)."""
        import zlib

        raw = json.dumps(mention.raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        raw_truncated = len(raw) > MAX_RAW_BYTES
        if raw_truncated:
            raw = raw[:MAX_RAW_BYTES].decode("utf-8", "ignore").encode("utf-8")
        raw_item = {**mention_key(mention.channel, mention.mention_id), "sk": "RAW", "type": "raw",
                    "raw_z": zlib.compress(raw, 6), "raw_truncated": raw_truncated,
                    "received_at": _iso(received_at), "expires_at": int(received_at.timestamp()) + self._ttl_seconds}
        self._call(self.client.put_item, TableName=self._table, Item=self._item(raw_item))

    def _raw_missing(self, mention: Mention) -> bool:
        """Whether the raw copy is missing (a read: half a unit, where writing it again would cost one)."""
        key = {**mention_key(mention.channel, mention.mention_id), "sk": "RAW"}
        return "Item" not in self._call(self.client.get_item, TableName=self._table, Key=self._item(key),
                                        ProjectionExpression="sk")

    def _count_in_thread(self, mention: Mention, received_at: datetime) -> None:
        """Count the (new) mention in its thread, moving the thread's first / last activity outwards.

        A thread whose only stored message is the one that opened it (its id is the thread's: most mentions) has no
        item: that mention is its thread (`get_thread` shows it as one), which saves a write unit per mention. The
        item is created by the thread's first later message, counting the opener too. The thread is read first (half
        a read unit; a write whose condition fails is billed like one that succeeds), and every write is guarded by
        what that read saw, so a stale read costs one refused write and another try. A reply and its opener stored
        at the same moment can leave the thread one message short, as a crash between a mention's put and this
        update can; never a message counted twice: an item created while its opener was stored counted that opener
        (`opener_counted`), and the opener's own count then stops there.
        """
        root = is_thread_root(mention.mention_id, mention.thread_id)
        for attempt in range(_THREAD_ATTEMPTS):
            # After a refused write the thread is read consistently: an eventually consistent read may come from the
            # same replica that has not caught up, and refuse every try.
            bounds = self._call(self.client.get_item, TableName=self._table,
                                Key=self._item(thread_key(mention.channel, mention.thread_id)),
                                ProjectionExpression="first_seen_at, last_activity_at, opener_counted",
                                ConsistentRead=attempt > 0).get("Item")
            # (an item without bounds holds only a reply, written by a version of the reply ledger that created items)
            if bounds is None or "last_activity_at" not in bounds:
                if root:
                    return
                update = self._thread_create(mention, received_at)
            else:
                bounds = self._plain(bounds)
                if root and bounds.get("opener_counted"):
                    return  # counted by the later message that created the thread while this one was stored
                update = self._thread_update(mention, _position(mention, bounds), received_at, opener=root)
            try:
                self.client.update_item(**update)
            except Exception as exc:  # noqa: BLE001 - a moved bound is read again; anything else is raised
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise _storage_error(exc) from exc
                continue  # out of order, or a concurrent writer moved the bounds or created the thread: read again
            if ":rtext" in update["ExpressionAttributeValues"]:
                self._unless_erased(mention, update["ExpressionAttributeValues"][":rid"])
            return
        raise StorageUnavailable("the thread's bounds kept moving")

    def _unless_erased(self, mention: Mention, reply_id: dict[str, Any]) -> None:
        """Take the opener's reply text off the thread just created with it when the opener was erased meanwhile
        (after it was read): the erasure found no thread item to clean (responder.privacy.erasure). One consistent
        read, only when a thread is created by a reply to an answered opener."""
        opener = self._call(self.client.get_item, TableName=self._table,
                            Key=self._item(mention_key(mention.channel, mention.thread_id)),
                            ProjectionExpression="#s, reply_text", ExpressionAttributeNames={"#s": "status"},
                            ConsistentRead=True).get("Item")
        if opener is not None and "reply_text" in opener and self._plain(opener).get("status") != STATUS_DELETED:
            return
        try:
            self.client.update_item(TableName=self._table,
                                    Key=self._item(thread_key(mention.channel, mention.thread_id)),
                                    UpdateExpression="REMOVE last_reply_text",
                                    ConditionExpression="last_reply_id = :rid",
                                    ExpressionAttributeValues={":rid": reply_id})
        except Exception as exc:  # noqa: BLE001 - a later reply is the thread's last one now: nothing of the opener's
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc

    def _thread_common(self, mention: Mention, received_at: datetime) -> tuple[list[str], dict[str, Any]]:
        sets = ["#type = :type", "platform = :platform", "channel = :channel", "thread_id = :thread",
                "account_id = if_not_exists(account_id, :account)",
                "thread_status = if_not_exists(thread_status, :open)",
                "expires_at = :expires"]
        values: dict[str, Any] = {
            ":type": "thread", ":platform": mention.platform, ":channel": mention.channel,
            ":thread": mention.thread_id, ":account": mention.account_id, ":open": "open",
            ":expires": self.expires_at(received_at)}
        return sets, values

    def _thread_create(self, mention: Mention, received_at: datetime) -> dict[str, Any]:
        """The thread's item, created by its first later message: it counts the stored mention that opened the
        thread too (a tombstone still counts, as an erased message does in a thread), and
        carries that mention's reply as the thread's last one."""
        sets, values = self._thread_common(mention, received_at)
        opener = self._call(self.client.get_item, TableName=self._table,
                            Key=self._item(mention_key(mention.channel, mention.thread_id)),
                            ProjectionExpression="mention_id, created_at, reply_id, reply_sent_at, first_response_at, "
                                                 "reply_text").get("Item")
        messages = [(mention.created_at, mention.mention_id)]
        # (a tombstone without a creation time was never stored: a delete notice came before the post)
        if opener is not None and "created_at" in opener:
            opener = self._plain(opener)
            sets.append("opener_counted = :true")
            values[":true"] = True
            messages.append((str(opener.get("created_at") or mention.created_at),
                             str(opener.get("mention_id") or mention.thread_id)))
            replied_at = opener.get("reply_sent_at") or opener.get("first_response_at")
            if opener.get("reply_id") and replied_at:
                sets += ["last_reply_id = :rid", "last_reply_at = :rat"]
                values.update({":rid": opener["reply_id"], ":rat": replied_at})
                if opener.get("reply_text"):  # (an erased opener's went with it)
                    sets.append("last_reply_text = :rtext")
                    values[":rtext"] = opener["reply_text"]
        first, last = min(messages), max(messages)
        sets += ["first_seen_at = :first", "last_activity_at = :last", "last_mention_id = :lastid",
                 "mention_count = :count"]
        values.update({":first": first[0], ":last": last[0], ":lastid": last[1], ":count": len(messages)})
        return {"TableName": self._table, "Key": self._item(thread_key(mention.channel, mention.thread_id)),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "attribute_not_exists(last_activity_at)",
                "ExpressionAttributeNames": {"#type": "type"}, "ExpressionAttributeValues": self._item(values)}

    def _thread_update(self, mention: Mention, position: str, received_at: datetime,
                       opener: bool = False) -> dict[str, Any]:
        """The thread's counters, and its first / last activity moved only outwards.

        `position` is where the mention's creation time falls among the thread's: `newest` (the usual case),
        `oldest`, or `middle`. Each variant is guarded by a condition that makes the write fail if a concurrent
        writer changed the bounds (or the thread is gone), so the caller re-reads and retries. The thread expires
        with the mention being stored: the latest expiry so far, so it never outlives or predeceases its mentions.
        """
        sets, values = self._thread_common(mention, received_at)
        values.update({":one": 1, ":created": mention.created_at})
        if position == "newest":
            sets += ["last_activity_at = :created", "last_mention_id = :id"]
            values[":id"] = mention.mention_id
            condition = "last_activity_at <= :created"
        elif position == "oldest":
            sets.append("first_seen_at = :created")
            condition = "first_seen_at > :created"
        else:
            condition = "first_seen_at <= :created AND last_activity_at >= :created"
        if opener:
            # The thread's opener, stored after a later message created the thread: counted here once, never again
            # by the creation of a thread that read it.
            sets.append("opener_counted = :true")
            values[":true"] = True
            condition = f"attribute_not_exists(opener_counted) AND {condition}"
        return {"TableName": self._table, "Key": self._item(thread_key(mention.channel, mention.thread_id)),
                "UpdateExpression": "SET " + ", ".join(sets) + " ADD mention_count :one",
                "ConditionExpression": "attribute_exists(pk) AND " + condition,
                "ExpressionAttributeNames": {"#type": "type"},
                "ExpressionAttributeValues": self._item(values)}

    def _status(self, mention: Mention) -> str:
        return self._status_and_received(mention)[0]

    def _status_and_received(self, mention: Mention) -> tuple[str, datetime | None, bool]:
        """The stored mention's status, received time and whether its send failed (one consistent read)."""
        item = self._call(self.client.get_item, TableName=self._table,
                          Key=self._item(mention_key(mention.channel, mention.mention_id)),
                          ProjectionExpression="#s, received_at, enqueue_failed_at",
                          ExpressionAttributeNames={"#s": "status"}, ConsistentRead=True).get("Item")
        if item is None:
            raise StorageUnavailable("mention reported as existing but not readable")
        received = item.get("received_at", {}).get("S")
        return item["status"]["S"], _parse_iso(received) if received else None, "enqueue_failed_at" in item

    def mark_unsent(self, mention: Mention) -> None:
        """Record that the mention's triage message was not sent (SQS refused it), so the platform's retry sends it
        at once rather than after FIRST_ATTEMPT_OVER_SECONDS. Only on that failure: no write on the usual path."""
        try:
            self.client.update_item(
                TableName=self._table, Key=self._item(mention_key(mention.channel, mention.mention_id)),
                UpdateExpression="SET enqueue_failed_at = :now", ConditionExpression="#s = :received",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._item({":now": _iso(_now()), ":received": STATUS_RECEIVED}))
        except Exception as exc:  # noqa: BLE001 - claimed or erased meanwhile: nothing to repair
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc

    def awaiting_triage(self, channel: str, mention_id: str) -> dict[str, Any] | None:
        """The mention when triage has yet to record it (a strongly consistent read), or None when it is triaged,
        closed, erased or unknown.

        Triage takes no claim: the outcome's conditional write (the workflow's RecordMention, before any page) lets
        one execution record the mention, and only that one pages. A duplicate running beside it is told by the
        refused write and stops.
        """
        mention = self.get_mention(channel, mention_id)
        if mention is None or mention.get("status") not in AWAITING_TRIAGE:
            return None
        return mention

    def record_fetched_text(self, channel: str, mention_id: str, text: str | None = None,
                            error: dict[str, str] | None = None) -> bool:
        """The text of a mention that arrived with ids only (Instagram @mentions), or why it could not be fetched;
        False when the mention was erased (or expired) meanwhile: a tombstone never gets text back."""
        kwargs: dict[str, Any] = {"TableName": self._table, "Key": self._item(mention_key(channel, mention_id)),
                                  "ConditionExpression": "attribute_exists(pk) AND #s <> :deleted"}
        if text is not None:
            kwargs.update(UpdateExpression="SET #text = :v REMOVE text_fetch_error",
                          ExpressionAttributeNames={"#text": "text", "#s": "status"},
                          ExpressionAttributeValues=self._item({":v": text, ":deleted": STATUS_DELETED}))
        else:
            kwargs.update(UpdateExpression="SET text_fetch_error = :v", ExpressionAttributeNames={"#s": "status"},
                          ExpressionAttributeValues=self._item({":v": error or {}, ":deleted": STATUS_DELETED}))
        try:
            self.client.update_item(**kwargs)
        except Exception as exc:  # noqa: BLE001 - "erased meanwhile" is an answer; anything else is mapped
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _storage_error(exc) from exc
        return True

    def stranded(self, since: datetime, until: datetime,
                 per_partition: int = 2_000) -> tuple[list[MentionKey], datetime]:
        """Mentions received in [since, until) (whole seconds) and still `received`, and how far that answer
        reaches: `until`, or earlier when a partition held more than `per_partition` mentions in the window
        (the rest is read by the next sweep).

        Reads the brand's gsi2 listing (every partition ever written, keys only), then each candidate's status and key
        with BatchGetItem: half a read unit per mention ($0.06 per million), where the sparse index this replaces cost
        two index writes and the `queued` update one more (three write units, $1.88 per million).
        """
        low, high = f"{_iso(since)[:19]}Z", f"{_iso(until)[:19]}Z"
        reached = until
        candidates: list[dict[str, Any]] = []
        for partition in account_partitions(BRAND_KEY):
            items, more = self._window(partition, low, high, per_partition)
            if more and items:
                # Entries of the last second read may continue on the next page: that second is read again next
                # time. (A single second holding more than `per_partition` entries of one shard, 8,000 mentions a
                # second over ACCOUNT_SHARDS shards, would otherwise stall the sweep: it moves one second on and leaves
                # that second's unread rest.)
                last = _parse_iso(items[-1]["gsi2sk"]["S"][:20])
                reached = min(reached, max(last, since + timedelta(seconds=1)))
            candidates += items
        bound = f"{_iso(reached)[:19]}Z"
        keys = [{"pk": i["pk"], "sk": i["sk"]} for i in candidates if i["gsi2sk"]["S"] < bound]
        found: list[MentionKey] = []
        for item in sorted(self._batch_get(keys), key=lambda i: i.get("received_at", {}).get("S", "")):
            plain = self._plain(item)
            if plain.get("status") == STATUS_RECEIVED:
                found.append(MentionKey(platform=plain["platform"], channel=plain["channel"],
                                        mention_id=plain["mention_id"], thread_id=plain["thread_id"],
                                        kind=plain["kind"]))
        return found, reached

    def _window(self, partition: str, low: str, high: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """One gsi2 partition's entries in [low, high), oldest first, at most `limit`; and whether more are left."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": "gsi2", "Limit": limit - len(items),
                "KeyConditionExpression": "gsi2pk = :p AND gsi2sk BETWEEN :low AND :high",
                "ProjectionExpression": "pk, sk, gsi2sk",
                "ExpressionAttributeValues": self._item({":p": partition, ":low": low, ":high": high})}
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self._call(self.client.query, **kwargs)
            # BETWEEN is inclusive: `high` is a bare second, and every entry of that second sorts after it.
            items += page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return items, False
            if len(items) >= limit:
                return items, True

    def _batch_get(self, keys: list[dict[str, Any]],
                   projection: str = "#s, platform, channel, mention_id, thread_id, kind, received_at"
                   ) -> list[dict[str, Any]]:
        """The mentions' status and the attributes of `projection` (`#s` is status), 100 keys per BatchGetItem,
        unprocessed keys retried."""
        import time

        found: list[dict[str, Any]] = []
        for i in range(0, len(keys), _BATCH_GET):
            request = {self._table: {"Keys": keys[i:i + _BATCH_GET], "ProjectionExpression": projection,
                                     "ExpressionAttributeNames": {"#s": "status"}}}
            for attempt in range(_BATCH_ATTEMPTS):
                answer = self._call(self.client.batch_get_item, RequestItems=request)
                found += answer.get("Responses", {}).get(self._table, [])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2 ** attempt)  # throttled: back off as the SDK's retries would
            if request:
                raise StorageUnavailable("BatchGetItem kept returning unprocessed keys")
        return found

    def sweep_watermark(self) -> datetime | None:
        """How far the sweeper has examined received times, or None before its first sweep."""
        item = self._call(self.client.get_item, TableName=self._table, Key=self._item(SWEEP_WATERMARK_KEY),
                          ConsistentRead=True).get("Item")
        return _parse_iso(item["swept_until"]["S"]) if item else None

    def advance_sweep_watermark(self, previous: datetime | None, until: datetime) -> bool:
        """Move the watermark from `previous` to `until`; False when another sweep moved it first."""
        kwargs: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if previous is not None:
            kwargs = {"ConditionExpression": "swept_until = :previous",
                      "ExpressionAttributeValues": self._item({":previous": _iso(previous)})}
        try:
            self.client.put_item(TableName=self._table, **kwargs, Item=self._item(
                {**SWEEP_WATERMARK_KEY, "type": "sweep", "swept_until": _iso(until)}))
        except Exception as exc:  # noqa: BLE001 - "moved by another sweep" is an answer; anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            return False
        return True

    # -- reads used by the local stack and tests -------------------------------------------------------

    def get_mention(self, channel: str, mention_id: str) -> dict[str, Any] | None:
        """One stored mention as plain JSON values, or None."""
        item = self._call(self.client.get_item, TableName=self._table,
                          Key=self._item(mention_key(channel, mention_id)), ConsistentRead=True).get("Item")
        return self._plain(item) if item else None

    def get_thread(self, channel: str, thread_id: str, opener: dict[str, Any] | None = None,
                   consistent: bool = True) -> dict[str, Any] | None:
        """One thread as plain JSON values, or None: its item, or for a thread whose only stored message opened it
        (no item of its own) that mention as a thread of one. `opener`, when the caller has that mention already
        (the thread's id is its id), saves reading it. `consistent=False` reads the thread's item eventually
        consistent, at half the read units (most threads have no item, and a missing item still costs a read)."""
        item = self._call(self.client.get_item, TableName=self._table,
                          Key=self._item(thread_key(channel, thread_id)), ConsistentRead=consistent).get("Item")
        if item:
            return self._plain(item)
        if opener is None or str(opener.get("mention_id")) != str(thread_id):
            found = self._call(self.client.get_item, TableName=self._table,
                               Key=self._item(mention_key(channel, thread_id)), ConsistentRead=True).get("Item")
            opener = self._plain(found) if found else None
        if opener is None or not opener.get("created_at") or opener.get("type") not in (None, "mention"):
            return None  # (a tombstone written by a delete notice before its mention arrived has no thread)
        return single_thread(opener)

    def get_raw(self, channel: str, mention_id: str) -> dict[str, Any] | None:
        """The audit copy of a mention's raw event (`raw`: its JSON text, decompressed), or None."""
        key = {**mention_key(channel, mention_id), "sk": "RAW"}
        item = self._call(self.client.get_item, TableName=self._table, Key=self._item(key)).get("Item")
        return raw_record(self._plain(item)) if item else None

    def thread_mentions(self, channel: str, thread_id: str) -> list[dict[str, Any]]:
        """A thread's mentions, oldest first: its first message when it is a stored mention (read by its key), then
        its later ones as gsi1 projects them (id, creation time, kind, author, text)."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self._table, IndexName="gsi1", KeyConditionExpression="gsi1pk = :t",
            ExpressionAttributeValues=self._item({":t": thread_key(channel, thread_id)["pk"]}))
        later = [self._plain(i) for page in self._pages(pages) for i in page["Items"]]
        root = self.thread_root(channel, thread_id)
        if root is None or any(m.get("mention_id") == root.get("mention_id") for m in later):
            return later  # (a thread's first message stored before gsi1 became sparse is in the index too)
        return [root, *later]

    def list_items(self, item_type: str) -> list[dict[str, Any]]:
        """Every item of one type (`mention`, `thread`), for the local stack: a full scan."""
        pages = self.client.get_paginator("scan").paginate(
            TableName=self._table, FilterExpression="#t = :t", ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues=self._item({":t": item_type}))
        return [self._plain(i) for page in self._pages(pages) for i in page["Items"]]



# --- errors and clients -----------------------------------------------------------------------------------

# Errors that mean "not now": the platform's retry will succeed once DynamoDB answers again.
_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionInProgressException", "LimitExceededException",
    "ResourceNotFoundException",  # the table is being created (local) or was not deployed yet
}


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _server_side(exc: Exception) -> bool:
    """A 5xx from the service, also one without an error code in its body (a load balancer's 502 or 503 page)."""
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


def _storage_error(exc: Exception) -> Exception:
    from botocore.exceptions import BotoCoreError

    if isinstance(exc, BotoCoreError) or _error_code(exc) in _TRANSIENT_CODES or _server_side(exc):
        return StorageUnavailable(f"{type(exc).__name__}: {_error_code(exc) or exc}")
    if _error_code(exc) == "ValidationException":
        # The request itself is invalid (an item too large, a key too long): not an outage, never a 503.
        return StorageRejected("DynamoDB refused the request as invalid")
    return exc


def _to_dynamo(value: Any) -> Any:
    """DynamoDB takes no Python floats: numbers that platforms send as floats become Decimals."""
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    return value


def _from_dynamo(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal and sets as set: make them plain JSON values."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(_from_dynamo(v) for v in value)
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    return value


# The webhook's budget per AWS call. X's deadline is 3 s and the webhook stops at its first failed call, so a
# DynamoDB that accepts and never answers costs one read timeout (~1 s) before the 503 that makes the platform
# retry the delivery; each in-Lambda retry would add standard-mode backoff and another timeout (connect 1 s,
# read 2 s, max_attempts 2 answered after 6.1 s; see bench/hung_storage_bench.py). DynamoDB answers in
# milliseconds; `responder local` raises the read timeout for DynamoDB Local, which serializes transactions.
CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0


def default_client(service: str, connect_timeout: float | None = None, read_timeout: float | None = None,
                   attempts: int = 0) -> Any:
    """A boto3 client with short timeouts and bounded retries (`attempts` is botocore's `max_attempts`, which
    counts retries after the first try: 0 means one try). Callers that may wait longer (the managed backends)
    pass their own values."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS if connect_timeout is None else connect_timeout,
                    read_timeout=READ_TIMEOUT_SECONDS if read_timeout is None else read_timeout,
                    retries={"max_attempts": attempts, "mode": "standard"}, max_pool_connections=50)
    return boto3.client(service, config=config)


# `responder local` turns this on while it runs: its DynamoDB is DynamoDB Local, reached with the local credentials it
# puts in the environment, so the functions speak to it with the client they deploy with, and its meter counts what
# deploys. Its SQS, SNS, Scheduler and Step Functions are moto in-process, which only intercepts botocore: boto3 there.
JSON_DYNAMODB_OUTSIDE_LAMBDA = False


def lambda_json_client(service: str, connect_timeout: float | None = None, read_timeout: float | None = None,
                       attempts: int = 0) -> Any:
    """Inside Lambda (and for DynamoDB under `responder local`), a JSON-protocol client with default_client's
    timeouts and retries (no boto3 on the cold path, and about a third of boto3's CPU per call:
    bench.dynamodb_client_bench); elsewhere None, so the adapter builds default_client's boto3 client on first use."""
    from responder.aws.json_api import AwsJsonClient, lambda_environment_credentials

    if not (lambda_environment_credentials() or (service == "dynamodb" and JSON_DYNAMODB_OUTSIDE_LAMBDA)):
        return None
    return AwsJsonClient(service, attempts=attempts,
                         connect_timeout=CONNECT_TIMEOUT_SECONDS if connect_timeout is None else connect_timeout,
                         read_timeout=READ_TIMEOUT_SECONDS if read_timeout is None else read_timeout)


def dynamodb_client(connect_timeout: float | None = None, read_timeout: float | None = None, attempts: int = 0) -> Any:
    """The table's low-level client, built by every adapter on first use: the JSON-protocol one where
    lambda_json_client gives it (Lambda, `responder local`), boto3's elsewhere; the same timeouts and retries."""
    return (lambda_json_client("dynamodb", connect_timeout, read_timeout, attempts)
            or default_client("dynamodb", connect_timeout, read_timeout, attempts))
