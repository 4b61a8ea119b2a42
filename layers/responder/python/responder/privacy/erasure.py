"""Erasure by post and by person, and a person's export, on the single table.

A deleted mention becomes a tombstone: the item stays under its key with `status: "deleted"`, its ids, channel,
thread, timestamps and labels (counts and reports stay consistent), `deleted_at`, `deleted_by` (the source: a
platform's delete notice, `forget`, Meta's data-deletion callback) and its original `expires_at`. Everything else
goes: the text, the author's handle, name and profile counts, attachments, the draft, the classification's JSON,
Responder's reply text and a reply still queued (its nonce goes, so the sender drops the message), and the raw
event item. What a tombstone keeps is an allow-list (`KEPT_ATTRIBUTES`): an attribute added to mentions later is
erased unless someone decides it may stay.

- The author's id (and the author index keys) stay on a tombstone left by a platform's delete notice (the post is
  gone, the ids are not content); an erasure of the person (`erase_author`) finds such tombstones through the index
  and removes the id and the keys, so nothing left links them to the mention.
- A delete that arrives before its create leaves a tombstone under the mention's key: the create's
  `attribute_not_exists(pk)` fails and the late delivery stores nothing (storage.save).
- The thread keeps its ids and counters; its copy of Responder's last reply text goes when that reply was to an
  erased mention. Incidents keep their counts; the erased mention's id leaves their samples.
- A delete notice naming another author than the stored one erases nothing (logged): only the author (or the
  platform on their behalf) deletes a post, so a mismatch is a wrong notice, not a reason to erase.
- Every step is idempotent: erasing twice, or again after a crash between steps, finishes the job and counts
  nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Iterator, Sequence

from responder.aws.storage import (AUTHOR_INDEX, STATUS_DELETED, DynamoTable, StorageUnavailable, _error_code,
                                   _storage_error, author_index_key, mention_key, raw_record, single_thread,
                                   thread_key)
from responder.core.config import DEFAULT_RETENTION_DAYS
from responder.core.model import CHANNELS, check_id, log_ref
from responder.core.observability import logger
from responder.surge.incidents import BRAND_KEY

# What a tombstone keeps: keys and index keys that reports read (gsi1: a thread's mentions, gsi2: the account's
# mentions by time; gsi2 projects `text`, which goes with the attribute), ids, times, triage's labels, who acted.
KEPT_ATTRIBUTES = frozenset({
    "pk", "sk", "type", "status", "platform", "channel", "kind", "mention_id", "thread_id", "account_id", "parent_id",
    "event_id", "source", "created_at", "received_at", "expires_at", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk",
    "lang", "language", "intent", "sentiment", "topic", "priority", "team", "triaged_at", "triage_attempts",
    "triage_failed_at", "archive_reason", "incident_id", "sla_due", "sla_breached_at", "sla_alerted_at",
    "sla_escalated_at", "first_response_at", "answered_by", "reply_id", "reply_state", "reply_sent_at",
    "reply_requested_at", "reply_requested_by", "handled_at", "handled_by", "deleted_at", "deleted_by",
    # The author index keys stay on a tombstone that keeps the author's id, so that the person's own erasure finds
    # it and removes that id too; `erase_author` removes them.
    "gsi4pk", "gsi4sk",
})
# Removed by every erasure even when the read did not show them (a writer may add them between read and write).
ALWAYS_REMOVED = ("text", "attachments", "draft_text", "classification_json", "reply_text", "reply_nonce",
                  "reply_error", "text_fetch_error", "gsi3pk", "gsi3sk")
AUTHOR_INDEX_KEYS = ("gsi4pk", "gsi4sk")
_ATTEMPTS = 4
# Erasure requests name the channel; any source label fits a log line and an attribute.
MAX_SOURCE_CHARS = 48


@dataclass(frozen=True)
class Erased:
    """What one erasure did, for printing and for the data-deletion callback's status page."""

    mentions: int = 0  # stored mentions turned into tombstones by this call
    threads: int = 0  # thread items whose personal data was removed
    raw_events: int = 0  # raw event items deleted
    replies: int = 0  # Responder's replies (sent or queued) whose text was erased
    incidents: int = 0  # incidents whose samples named an erased mention
    tombstones_created: int = 0  # tombstones written for mentions not stored (yet): their create is refused
    mention_ids: tuple[str, ...] = ()  # "<channel>:<id>" of every mention this call erased or tombstoned

    def __add__(self, other: Erased) -> Erased:
        counts = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        return Erased(**counts)

    @property
    def anything(self) -> bool:
        return bool(self.mention_ids or self.threads or self.raw_events or self.replies or self.incidents)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


class Eraser(DynamoTable):
    """Erases mentions (by id or by author) and exports a person's items, on the single table."""

    def __init__(self, table_name: str, client: Any = None, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        # Erasure is not on a platform's 3-second path: the defaults of the managed callers (longer reads, retries).
        super().__init__(table_name, client=client,
                         client_options={"connect_timeout": 1.0, "read_timeout": 5.0, "attempts": 3})
        self._retention_seconds = retention_days * 86_400

    # -- erasure -------------------------------------------------------------------------------------------

    def erase_mention(self, channel: str, mention_id: str, *, source: str, at: datetime,
                      author_id: str | None = None) -> Erased:
        """Erase one mention's content and leave a tombstone (idempotent); an unknown mention gets a tombstone so
        that a create arriving later is refused. With `author_id`, a stored mention by someone else is left alone."""
        _check_request(channel, mention_id, source, author_id)
        done = self._erase_one(channel, mention_id, source=source, at=at, author_id=author_id, forget_author=False)
        if done.mention_ids and not done.tombstones_created:
            done = done + self._scrub_incidents([mention_id])
        return done

    def erase_author(self, channels: Sequence[str], author_id: str, *, source: str, at: datetime) -> Erased:
        """Erase every mention the person wrote on `channels`, their threads' copies of replies to them and their
        place in incident samples. The author index is eventually consistent: a mention stored within the last
        second may be missed, and a second run finds it."""
        check_id(author_id, "author id")
        total = Erased()
        erased_ids: list[str] = []
        found: list[tuple[str, list[str]]] = []
        for channel in channels:
            _check_request(channel, "-", source, author_id)
            # Read the whole list first: the index keys are removed at the end, not under a paginating query.
            ids = list(self._authored(channel, author_id))
            found.append((channel, ids))
            for mention_id in ids:
                done = self._erase_one(channel, mention_id, source=source, at=at, author_id=author_id,
                                       forget_author=True)
                total = total + done
                if done.mention_ids or done.raw_events:
                    erased_ids.append(mention_id)
        if erased_ids:
            total = total + self._scrub_incidents(erased_ids)
        # Last: the index is how a run cut short (a throttle, a timeout) finds these mentions again to finish their
        # raw events, threads and incident samples; removing it earlier would hide what is left.
        for channel, ids in found:
            for mention_id in ids:
                self._unindex(channel, mention_id)
        return total

    def _unindex(self, channel: str, mention_id: str) -> None:
        """Take an erased mention out of the author index (nothing links the person to it any more)."""
        try:
            self.client.update_item(TableName=self._table, Key=self._values(mention_key(channel, mention_id)),
                                    UpdateExpression="REMOVE " + ", ".join(AUTHOR_INDEX_KEYS),
                                    ConditionExpression="attribute_exists(pk) AND #s = :deleted",
                                    ExpressionAttributeNames={"#s": "status"},
                                    ExpressionAttributeValues=self._values({":deleted": STATUS_DELETED}))
        except Exception as exc:  # noqa: BLE001 - expired or never erased: nothing to remove; anything else raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc

    def _erase_one(self, channel: str, mention_id: str, *, source: str, at: datetime, author_id: str | None,
                   forget_author: bool) -> Erased:
        ref = f"{channel}:{mention_id}"
        for _ in range(_ATTEMPTS):
            item = self._get(mention_key(channel, mention_id))
            if item is None:
                if self._put_tombstone(channel, mention_id, source, at, None if forget_author else author_id):
                    logger.info("tombstone written before its mention", mention=log_ref(channel, mention_id),
                                source=source)
                    return Erased(tombstones_created=1, mention_ids=(ref,))
                continue  # the mention was stored meanwhile: erase it
            stored_author = (item.get("author") or {}).get("id") if isinstance(item.get("author"), dict) else None
            if author_id is not None and stored_author is not None and stored_author != author_id:
                logger.warning("erasure refused: the request names another author than the stored one",
                               mention=log_ref(channel, mention_id), source=source)
                return Erased()
            newly = item.get("status") != STATUS_DELETED
            leftovers = _leftovers(item, forget_author)
            if (newly or leftovers) and not self._tombstone(item, source, at, newly, forget_author):
                continue  # changed meanwhile (deleted by a concurrent erasure, or expired): read again
            replies = int(bool(item.get("reply_text") or item.get("reply_nonce")))
            raw = self._delete_raw(channel, mention_id)
            threads = self._scrub_thread(item)
            if not (newly or raw or threads or replies or leftovers):
                return Erased()  # a repeated request for what is already erased
            logger.info("mention erased", mention=log_ref(channel, mention_id), source=source, newly=newly)
            return Erased(mentions=int(newly), threads=threads, raw_events=raw, replies=replies,
                          mention_ids=(ref,))
        raise StorageUnavailable(f"erasing {log_ref(channel, mention_id)} kept conflicting")

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._call(self.client.get_item, TableName=self._table, Key=self._values(key),
                          ConsistentRead=True).get("Item")
        return self._plain(item) if item else None

    def _put_tombstone(self, channel: str, mention_id: str, source: str, at: datetime,
                       author_id: str | None) -> bool:
        """A tombstone for a mention not stored: False when the mention was created meanwhile."""
        item: dict[str, Any] = {
            **mention_key(channel, mention_id), "type": "mention", "status": STATUS_DELETED, "channel": channel,
            "mention_id": mention_id, "deleted_at": _iso(at), "deleted_by": source,
            # A tombstone must not outlive the retention any more than a mention: it expires like one received now.
            "expires_at": int(at.timestamp()) + self._retention_seconds}
        if author_id is not None:
            # Found by the person's own erasure later, like a tombstone of a stored mention.
            item.update(author={"id": author_id}, gsi4pk=author_index_key(channel, author_id),
                        gsi4sk=f"{item['deleted_at']}#{mention_id}")
        try:
            self.client.put_item(TableName=self._table, Item=self._values(item),
                                 ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:  # noqa: BLE001 - "created meanwhile" is an answer; anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            return False
        return True

    def _tombstone(self, item: dict[str, Any], source: str, at: datetime, newly: bool, forget_author: bool) -> bool:
        """Turn the stored mention into a tombstone (or finish one); False when the item changed under the write."""
        # The author index keys stay until the whole erasure is done (erase_author removes them last).
        remove = sorted((set(item) - KEPT_ATTRIBUTES - {"author"} - set(AUTHOR_INDEX_KEYS)) | set(ALWAYS_REMOVED))
        names = {f"#r{i}": name for i, name in enumerate(remove)}
        names["#s"] = "status"
        values: dict[str, Any] = {":deleted": STATUS_DELETED}
        sets: list[str] = []
        author = item.get("author") if isinstance(item.get("author"), dict) else None
        if forget_author or author is None or not isinstance(author.get("id"), str):
            names["#author"] = "author"
            remove_author = True
        else:
            remove_author = False
            if set(author) != {"id"}:
                sets.append("author = :author")
                values[":author"] = {"id": author["id"]}
        if newly:
            sets += ["#s = :deleted", "deleted_at = :at", "deleted_by = :by"]
            values.update({":at": _iso(at), ":by": source})
            condition = "attribute_exists(pk) AND #s <> :deleted"
        else:
            condition = "attribute_exists(pk) AND #s = :deleted"
        expression = ("SET " + ", ".join(sets) + " " if sets else "") + "REMOVE " + ", ".join(
            list(names)[:len(remove)] + (["#author"] if remove_author else []))
        try:
            self.client.update_item(TableName=self._table, Key=self._values(mention_key(item["channel"],
                                                                                        item["mention_id"])),
                                    UpdateExpression=expression, ConditionExpression=condition,
                                    ExpressionAttributeNames=names, ExpressionAttributeValues=self._values(values))
        except Exception as exc:  # noqa: BLE001 - a changed item is read again; anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            return False
        return True

    def _delete_raw(self, channel: str, mention_id: str) -> int:
        answer = self._call(self.client.delete_item, TableName=self._table,
                            Key=self._values({**mention_key(channel, mention_id), "sk": "RAW"}), ReturnValues="ALL_OLD")
        return int(bool(answer.get("Attributes")))

    def _scrub_thread(self, mention: dict[str, Any]) -> int:
        """Remove the thread's copies of text about this mention (1 when something was removed): Responder's last
        reply when it answered this mention, and the draft that older versions of triage copied onto the thread."""
        thread_id = mention.get("thread_id")
        if not isinstance(thread_id, str):
            return 0
        key = self._values(thread_key(mention["channel"], thread_id))
        thread = self._call(self.client.get_item, TableName=self._table, Key=key, ConsistentRead=True,
                            ProjectionExpression="last_reply_id, last_reply_text, last_draft_mention_id, "
                                                 "last_draft_text").get("Item")
        thread = self._plain(thread) if thread else {}
        remove, conditions, values = [], [], {}
        if "last_reply_text" in thread and mention.get("reply_id") and thread.get("last_reply_id") == mention["reply_id"]:
            remove.append("last_reply_text")
            conditions.append("last_reply_id = :rid")
            values[":rid"] = mention["reply_id"]
        if "last_draft_text" in thread and thread.get("last_draft_mention_id") == mention.get("mention_id"):
            remove.append("last_draft_text")
            conditions.append("last_draft_mention_id = :mid")
            values[":mid"] = mention["mention_id"]
        if not remove:
            return 0
        try:
            self.client.update_item(TableName=self._table, Key=key, UpdateExpression="REMOVE " + ", ".join(remove),
                                    ConditionExpression=" AND ".join(conditions),
                                    ExpressionAttributeValues=self._values(values))
        except Exception as exc:  # noqa: BLE001 - a later reply or draft is the thread's now: nothing of this one
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            return 0
        return 1

    def _scrub_incidents(self, mention_ids: Sequence[str]) -> Erased:
        """Take the mentions out of the samples of the incidents that hold them (members stay: counts)."""
        wanted = set(mention_ids)
        changed = 0
        for incident in self._incidents():
            samples = incident.get("sample_mention_ids") or []
            hits = [i for i, mid in enumerate(samples) if mid in wanted]
            if not hits:
                continue
            # Each index is guarded by its value: a concurrent append never shifts what is removed.
            names = ", ".join(f"sample_mention_ids[{i}]" for i in hits)
            condition = " AND ".join(f"sample_mention_ids[{i}] = :m{n}" for n, i in enumerate(hits))
            try:
                self.client.update_item(
                    TableName=self._table, Key=self._values({"pk": incident["pk"], "sk": incident["sk"]}),
                    UpdateExpression=f"REMOVE {names}", ConditionExpression=condition,
                    ExpressionAttributeValues=self._values({f":m{n}": samples[i] for n, i in enumerate(hits)}))
            except Exception as exc:  # noqa: BLE001 - samples changed meanwhile: read them again below
                if _error_code(exc) != "ConditionalCheckFailedException":
                    raise _storage_error(exc) from exc
                return Erased(incidents=changed) + self._scrub_incidents(mention_ids)
            changed += 1
        return Erased(incidents=changed)

    def _incidents(self) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=self._values({":pk": f"INCIDENT#{BRAND_KEY}"}), ConsistentRead=True)
        for page in self._pages(pages):
            for item in page["Items"]:
                yield self._plain(item)

    def _authored(self, channel: str, author_id: str) -> Iterator[str]:
        """The ids of the person's stored mentions on one channel, through the sparse author index."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self._table, IndexName=AUTHOR_INDEX, KeyConditionExpression="gsi4pk = :a",
            ExpressionAttributeValues=self._values({":a": author_index_key(channel, author_id)}))
        for page in self._pages(pages):
            for item in page["Items"]:
                pk = item["pk"]["S"]
                if pk.startswith(f"MENTION#{channel}#"):
                    yield pk[len(f"MENTION#{channel}#"):]

    def backfill_author_index(self) -> int:
        """Give mentions stored before the author index existed their index keys, so that erasure and export find
        them: once, after upgrading a deployed table (a paginated Scan of the whole table, so never on a request's
        path). Returns how many mentions were indexed; running it again indexes nothing more."""
        pages = self.client.get_paginator("scan").paginate(
            TableName=self._table, ProjectionExpression="pk, sk, channel, mention_id, author.id, created_at",
            FilterExpression="sk = :mention AND attribute_not_exists(gsi4pk) AND #s <> :deleted",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=self._values({":mention": "MENTION", ":deleted": STATUS_DELETED}))
        indexed = 0
        for page in self._pages(pages):
            for raw in page["Items"]:
                item = self._plain(raw)
                author = (item.get("author") or {}).get("id")
                if not all(isinstance(item.get(k), str) for k in ("channel", "mention_id")) \
                        or not isinstance(author, str):
                    continue
                try:
                    self.client.update_item(
                        TableName=self._table, Key=self._values({"pk": item["pk"], "sk": item["sk"]}),
                        UpdateExpression="SET gsi4pk = :a, gsi4sk = :s",
                        # Not on a tombstone erased meanwhile, and never twice.
                        ConditionExpression="attribute_exists(pk) AND attribute_not_exists(gsi4pk) AND #s <> :deleted",
                        ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues=self._values({
                            ":a": author_index_key(item["channel"], author),
                            ":s": f"{item.get('created_at') or ''}#{item['mention_id']}",
                            ":deleted": STATUS_DELETED}))
                except Exception as exc:  # noqa: BLE001 - erased or indexed meanwhile: nothing to do
                    if _error_code(exc) != "ConditionalCheckFailedException":
                        raise _storage_error(exc) from exc
                    continue
                indexed += 1
        return indexed

    # -- export --------------------------------------------------------------------------------------------

    def export_author(self, channels: Sequence[str], author_id: str) -> dict[str, Any]:
        """Everything stored about the person on `channels`, as JSON values: their mentions (with triage's labels,
        drafts and the replies sent to them), each one's raw event, their threads and the incidents they are in."""
        check_id(author_id, "author id")
        mentions: list[dict[str, Any]] = []
        threads: dict[tuple[str, str], dict[str, Any]] = {}
        for channel in channels:
            _check_request(channel, "-", "export", author_id)
            for mention_id in self._authored(channel, author_id):
                item = self._get(mention_key(channel, mention_id))
                if item is None:
                    continue
                raw = self._get({**mention_key(channel, mention_id), "sk": "RAW"})
                raw = raw_record(raw) if raw is not None else None
                mentions.append({**_public(item), "raw_event": _raw_json(raw)})
                thread_id = item.get("thread_id")
                if isinstance(thread_id, str) and (channel, thread_id) not in threads:
                    thread = self._get(thread_key(channel, thread_id))
                    if thread is None and thread_id == mention_id and item.get("created_at"):
                        thread = single_thread(item)  # the only message of its thread: it has no item of its own
                    if thread is not None:
                        threads[(channel, thread_id)] = thread
        ids = {m["mention_id"] for m in mentions}
        reply_ids = {m["reply_id"] for m in mentions if isinstance(m.get("reply_id"), str)}
        thread_view = [_thread_of(t, reply_ids) for t in threads.values()]
        incident_ids = {m["incident_id"] for m in mentions if isinstance(m.get("incident_id"), str)}
        incidents = [_public(i) for i in self._incidents()
                     if i.get("sk") in incident_ids or ids & set(i.get("sample_mention_ids") or [])]
        for incident in incidents:
            # Other people's mentions are not theirs to receive: only their own ids among the samples.
            incident["sample_mention_ids"] = [m for m in incident.get("sample_mention_ids") or [] if m in ids]
        mentions.sort(key=lambda m: (str(m.get("created_at")), str(m.get("mention_id"))))
        return {"author_id": author_id, "channels": list(channels), "mentions": mentions,
                "threads": thread_view, "incidents": incidents}


def _check_request(channel: str, mention_id: str, source: str, author_id: str | None) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    check_id(mention_id, "mention id")
    if author_id is not None:
        check_id(author_id, "author id")
    if not isinstance(source, str) or not 0 < len(source) <= MAX_SOURCE_CHARS:
        raise ValueError(f"source must be a label of 1-{MAX_SOURCE_CHARS} characters")


def _leftovers(item: dict[str, Any], forget_author: bool) -> bool:
    """Whether a tombstone still held something an erasure removes (an earlier erasure was cut short)."""
    author = item.get("author")
    extra_author = isinstance(author, dict) and (forget_author or set(author) - {"id"})
    indexed = forget_author and any(k in item for k in AUTHOR_INDEX_KEYS)
    return bool((set(item) - KEPT_ATTRIBUTES - {"author"}) or extra_author or indexed)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """An item without the table's internal keys (index keys, claims, nonces)."""
    hidden = {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk", "gsi4pk", "gsi4sk",
              "reply_nonce", "handled_nonce", "triage_claim", "triage_claimed_until", "sla_alert_claimed_until"}
    return {k: v for k, v in item.items() if k not in hidden}


# A thread item as the person may see it: the conversation's ids and counts; its latest mention and reply only when
# they are the person's (in a public thread they may be someone else's).
_THREAD_FIELDS = ("thread_id", "channel", "platform", "account_id", "thread_status", "first_seen_at", "mention_count",
                  "expires_at")


def _thread_of(thread: dict[str, Any], reply_ids: set[str]) -> dict[str, Any]:
    view = {k: thread[k] for k in _THREAD_FIELDS if k in thread}
    if thread.get("last_reply_id") in reply_ids:
        view.update({k: thread[k] for k in ("last_reply_id", "last_reply_at", "last_reply_text") if k in thread})
    return view


def _raw_json(raw: dict[str, Any] | None) -> Any:
    import json

    if raw is None or not isinstance(raw.get("raw"), str):
        return None
    try:
        return json.loads(raw["raw"])
    except ValueError:  # cut short at MAX_RAW_BYTES: the text as stored
        return raw["raw"]


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["Erased", "Eraser", "KEPT_ATTRIBUTES", "STATUS_DELETED"]
