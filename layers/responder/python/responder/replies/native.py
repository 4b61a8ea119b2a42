"""Native answers: a reply the brand made on the platform itself marks the mention it answers.

The webhook applies them after storing the delivery's mentions (responder.ingest.intake.apply_answers). A public
reply names the mention it answers; a direct message answers its conversation's latest mention, found through gsi1
(a thread's mentions by creation time). The mark is one conditional UpdateItem:

  SET status answered, first_response_at (kept if already set), reply_id, reply_text, answered_by "platform",
      reply_state native, REMOVE reply_nonce
  only if the mention exists, is not answered, handled or deleted, and no reply of Responder's is `sending`.

So a redelivery, the echo of a reply Responder sent (already answered, or still `sending`), and a second native
reply are no-ops. An approved reply still `queued` has not reached the platform: the native answer wins, and the
queued message, whose nonce is gone, is dropped by the sender as stale; the thread then records its last reply, moved only forwards. A native answer to a mention
that is not stored (yet, or ever: the brand replied to a post nobody addressed to it) is ignored: platforms deliver
out of order, and marking needs the mention's own item.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from responder.aws.storage import DynamoMentionStore, _error_code, _storage_error, mention_key, thread_key
from responder.core.model import NativeAnswer
from responder.replies.state import (
    ANSWERED_BY_PLATFORM,
    REPLY_NATIVE,
    REPLY_SENDING,
    STATUS_ANSWERED,
    STATUS_DELETED,
    STATUS_HANDLED,
)

MARKED = "answered"  # this answer marked the mention answered
ALREADY = "already"  # the mention was answered or closed already, or a reply of Responder's is in flight: no-op
NOT_STORED = "not_stored"  # no stored mention to mark: ignored

CLOSED_STATUSES = (STATUS_ANSWERED, STATUS_HANDLED, STATUS_DELETED)
# A conversation's mentions that no answer is for: noise, and what a deletion emptied.
_SKIPPED_IN_CONVERSATION = ("archived", STATUS_DELETED)
# How far back a DM answer looks for the message it answers (newest first); a conversation's latest messages are
# what a reply answers, and the bound keeps a delivery of many echoes within the webhook's time.
CONVERSATION_LOOKBACK = 50


class NativeAnswerPort(Protocol):
    """Marks the mention a native answer answers; returns MARKED, ALREADY or NOT_STORED."""

    def apply(self, answer: NativeAnswer, received_at: datetime) -> str: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DynamoNativeAnswers:
    """The native answers on the mention store's table and client."""

    def __init__(self, mentions: DynamoMentionStore, metrics: Any = None) -> None:
        """`metrics` (responder.core.metrics.BusinessMetrics) counts the first answers this marks."""
        self._m = mentions
        self._metrics = metrics

    @property
    def _table(self) -> str:
        return self._m._table

    @property
    def _client(self) -> Any:
        return self._m.client

    def apply(self, answer: NativeAnswer, received_at: datetime) -> str:
        """Mark the answered mention (see the module docstring); StorageUnavailable when DynamoDB cannot answer."""
        at = answer.at or _iso(received_at)
        if answer.mention_id is not None:
            mention_id: str | None = answer.mention_id
        else:
            found = self._conversation_mention(answer, at)
            if found in (ALREADY, NOT_STORED):
                return found
            mention_id = found
        key = mention_key(answer.channel, mention_id)
        try:
            updated = self._client.update_item(
                TableName=self._table, Key=self._m._item(key),
                # An approved reply still `queued` has not reached the platform (waiting out a 429, or a retry):
                # the brand's own answer wins and removing the nonce makes that queued message stale, so it is never
                # sent. Only a reply being `sending` may be Responder's own, echoing back: that one is left alone.
                UpdateExpression=("SET #s = :answered, first_response_at = if_not_exists(first_response_at, :at), "
                                  "reply_id = :rid, reply_text = :text, answered_by = :by, reply_state = :native "
                                  "REMOVE reply_nonce"),
                ConditionExpression=("attribute_exists(pk) AND NOT (#s IN (:answered, :handled, :deleted)) AND "
                                     "(attribute_not_exists(reply_state) OR reply_state <> :sending)"),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self._m._item({
                    ":answered": STATUS_ANSWERED, ":handled": STATUS_HANDLED, ":deleted": STATUS_DELETED,
                    ":sending": REPLY_SENDING, ":at": at, ":rid": answer.reply_id,
                    ":text": answer.text, ":by": ANSWERED_BY_PLATFORM, ":native": REPLY_NATIVE}),
                ReturnValues="ALL_NEW")
        except Exception as exc:  # noqa: BLE001 - a failed condition is an outcome; anything else is mapped
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            current = self._m.get_mention(answer.channel, mention_id)
            if current is None:
                return NOT_STORED
            if (current.get("reply_id") == answer.reply_id and current.get("thread_id")
                    and current.get("status") != STATUS_DELETED):
                # A redelivery of the answer that marked it: finish the thread's record, in case it was cut short
                # (never for an erased mention: the thread's copy of the reply went with it).
                self._record_thread(answer, str(current["thread_id"]), at)
            return ALREADY
        marked = self._m._plain(updated["Attributes"])
        if self._metrics is not None and marked.get("first_response_at") == at:
            # Its first answer (an earlier answer's time is kept, and was counted then).
            self._metrics.answered(marked)
        thread_id = marked.get("thread_id")
        if thread_id:
            self._record_thread(answer, str(thread_id), at)
        return MARKED

    def _conversation_mention(self, answer: NativeAnswer, at: str) -> str:
        """The id of the conversation's latest mention created before the answer, if it is still open; ALREADY when
        that latest one is answered or closed (the brand's message answers it, not older ones); NOT_STORED when
        the conversation has no mention yet."""
        try:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table, IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :t AND gsi1sk <= :before",
                # Sort keys are `created_at#mention id`: `$` follows `#`, so every mention created up to `at` is in.
                ExpressionAttributeValues=self._m._item({":t": thread_key(answer.channel, str(answer.thread_id))["pk"],
                                                         ":before": f"{at}$"}),
                ProjectionExpression="mention_id, gsi1sk",
                ScanIndexForward=False, PaginationConfig={"MaxItems": CONVERSATION_LOOKBACK, "PageSize": 10})
            for page in pages:
                for item in page["Items"]:
                    keys = self._m._plain(item)  # `created_at#mention id` names a tombstone's mention too
                    mention_id = str(keys.get("mention_id") or keys["gsi1sk"].split("#", 1)[1])
                    # gsi1 holds what never changes; the status is read from the mention (usually the first one).
                    found = self._client.get_item(
                        TableName=self._table, Key=self._m._item(mention_key(answer.channel, mention_id)),
                        ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"}, ConsistentRead=True)
                    status = self._m._plain(found.get("Item") or {}).get("status")
                    if status in _SKIPPED_IN_CONVERSATION:
                        continue
                    return ALREADY if status in CLOSED_STATUSES else str(mention_id)
            # The conversation's first message has no gsi1 entry when it is a stored mention: read by its key.
            root = self._client.get_item(
                TableName=self._table, Key=self._m._item(mention_key(answer.channel, str(answer.thread_id))),
                ProjectionExpression="#s, created_at", ExpressionAttributeNames={"#s": "status"},
                ConsistentRead=True).get("Item")
            first = self._m._plain(root or {})
            if first and str(first.get("created_at") or "") <= at and first.get("status") not in \
                    _SKIPPED_IN_CONVERSATION:
                return ALREADY if first.get("status") in CLOSED_STATUSES else str(answer.thread_id)
        except Exception as exc:  # noqa: BLE001 - mapped to StorageUnavailable or re-raised
            raise _storage_error(exc) from exc
        return NOT_STORED

    def _record_thread(self, answer: NativeAnswer, thread_id: str, at: str) -> None:
        """The thread's last reply, moved only forwards (a late redelivery of an older answer changes nothing). A
        thread whose only message opened it has no item (its mention carries the reply): read first, since a
        refused write is billed a write unit."""
        key = self._m._item(thread_key(answer.channel, thread_id))
        try:
            if self._client.get_item(TableName=self._table, Key=key, ProjectionExpression="pk").get("Item") is None:
                return
            self._client.update_item(
                TableName=self._table, Key=key,
                UpdateExpression="SET last_reply_id = :rid, last_reply_at = :at, last_reply_text = :text",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(last_reply_at) "
                                    "OR last_reply_at <= :at)",
                ExpressionAttributeValues=self._m._item({":rid": answer.reply_id, ":at": at, ":text": answer.text}))
        except Exception as exc:  # noqa: BLE001 - a later reply already recorded is the expected no-op
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
