"""The reply claim: one conditional write decides which approval of a mention sends, and the outbound message.

A double click, a second agent or a retried request all race for the same item; DynamoDB evaluates each
UpdateItem's condition atomically, so exactly one approval sets `reply_state = queued` with its nonce and the others
fail their condition and are shown who claimed it and when. The claim is written before the queue message: a
message whose nonce does not match the item's (its claim was released, or another approval replaced it) is dropped
by the sender, so a reply can never be sent that the item does not record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from responder.aws.storage import DynamoTable, StorageUnavailable, _error_code, _storage_error, default_client, \
    is_thread_root, mention_key, thread_key
from responder.replies import state

OUTBOUND_MESSAGE_VERSION = 1


@dataclass(frozen=True)
class ClaimResult:
    """What a claim (or mark-handled) found: taken by this request, already this request's, or someone else's."""

    taken: bool  # this call wrote the claim
    repeated: bool  # the item already holds this very nonce's claim (a retried POST)
    item: dict[str, Any] | None  # the mention as it is now (None when it does not exist)

    @property
    def ours(self) -> bool:
        return self.taken or self.repeated


class QueueUnavailable(RuntimeError):
    """The outbound queue did not accept the message (the claim is released; the page answers 503)."""


class DynamoReplyStore(DynamoTable):
    """Reads a mention and its thread for the review page, and writes its reply claim, on the project's table."""

    # -- reads (the GET path: nothing here writes) --------------------------------------------------------

    def get_mention(self, channel: str, mention_id: str) -> dict[str, Any] | None:
        """The mention item as plain values (a strongly consistent read: a claim just written is seen)."""
        item = self._call(self.client.get_item, TableName=self._table,
                          Key=self._values(mention_key(channel, mention_id)), ConsistentRead=True).get("Item")
        return self._plain(item) if item else None

    def earlier_messages(self, mention: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """The thread's last `limit` mentions before this one, oldest first: one query on gsi1, newest first, and
        the thread's first message by its key when the query leaves room (it has no gsi1 entry). A mention that
        opens its thread has nothing before it."""
        channel, thread_id = mention.get("channel"), mention.get("thread_id")
        before = mention.get("gsi1sk")
        if not isinstance(channel, str) or not isinstance(thread_id, str) or not isinstance(before, str) \
                or limit < 1 or is_thread_root(str(mention.get("mention_id")), thread_id):
            return []
        found = self._call(
            self.client.query, TableName=self._table, IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :t AND gsi1sk < :before", ScanIndexForward=False, Limit=limit,
            ProjectionExpression="author, #text, created_at, kind, mention_id",
            ExpressionAttributeNames={"#text": "text"},
            ExpressionAttributeValues=self._values({":t": thread_key(channel, thread_id)["pk"], ":before": before}))
        earlier = [self._plain(i) for i in reversed(found.get("Items", []))]
        if len(earlier) < limit and all(m.get("mention_id") != thread_id for m in earlier):
            root = self.thread_root(channel, thread_id, fields=("author", "text", "created_at", "kind", "mention_id"))
            if root is not None:
                earlier.insert(0, root)
        return earlier

    # -- the claim -------------------------------------------------------------------------------------------

    def claim_reply(self, channel: str, mention_id: str, nonce: str, text: str, agent: str | None,
                    at: str, stale_before: str) -> ClaimResult:
        """Take the mention's reply for this approval, in one conditional UpdateItem.

        It succeeds only on an open mention (notified, incident) with no reply in flight (see `_FREE`) and a nonce
        not already recorded on it; otherwise the item is read and returned so the page can say who claimed it and
        when, and a request repeating the recorded nonce is told so (idempotent).
        """
        values = {":nonce": nonce, ":text": text, ":at": at, ":by": agent or "",
                  **self._open_values(stale_before)}
        try:
            self.client.update_item(
                TableName=self._table, Key=self._values(mention_key(channel, mention_id)),
                UpdateExpression=("SET reply_state = :queued, reply_nonce = :nonce, reply_text = :text, "
                                  "reply_requested_by = :by, reply_requested_at = :at REMOVE reply_error"),
                ConditionExpression=(f"{self._free()} AND "
                                     "(attribute_not_exists(reply_nonce) OR reply_nonce <> :nonce)"),
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=self._values(values))
        except Exception as exc:  # noqa: BLE001 - a failed condition is an answer, anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            current = self.get_mention(channel, mention_id)
            repeated = (current is not None and current.get("reply_nonce") == nonce
                        and current.get("reply_state") in (state.REPLY_QUEUED, state.REPLY_SENDING, state.REPLY_SENT))
            return ClaimResult(taken=False, repeated=repeated, item=current)
        return ClaimResult(taken=True, repeated=False, item=None)

    def release_claim(self, channel: str, mention_id: str, nonce: str) -> bool:
        """Undo this approval's claim when its message could not be queued; False when the sender already took it.

        Guarded on the nonce and on `queued`: a claim that another approval replaced, or that the sender began to
        send (SQS accepted the message after all), is left alone.
        """
        try:
            self.client.update_item(
                TableName=self._table, Key=self._values(mention_key(channel, mention_id)),
                UpdateExpression=("REMOVE reply_state, reply_nonce, reply_text, reply_requested_by, "
                                  "reply_requested_at"),
                ConditionExpression="reply_nonce = :nonce AND reply_state = :queued",
                ExpressionAttributeValues=self._values({":nonce": nonce, ":queued": state.REPLY_QUEUED}))
        except Exception as exc:  # noqa: BLE001 - a failed condition is an answer, anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            return False
        return True

    def mark_handled(self, channel: str, mention_id: str, nonce: str, agent: str | None, at: str,
                     stale_before: str) -> ClaimResult:
        """Close an open mention without a reply (none in flight), recording who and when; idempotent per nonce.

        The reply nonce is removed: a message of a stale claim that turns up after all no longer matches the item,
        so the sender drops it.
        """
        values = {":handled": state.STATUS_HANDLED, ":by": agent or "", ":at": at, ":nonce": nonce,
                  **self._open_values(stale_before)}
        try:
            self.client.update_item(
                TableName=self._table, Key=self._values(mention_key(channel, mention_id)),
                UpdateExpression=("SET #s = :handled, handled_by = :by, handled_at = :at, handled_nonce = :nonce "
                                  "REMOVE reply_nonce"),
                ConditionExpression=self._free(),
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=self._values(values))
        except Exception as exc:  # noqa: BLE001 - a failed condition is an answer, anything else is raised
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
            current = self.get_mention(channel, mention_id)
            repeated = (current is not None and current.get("status") == state.STATUS_HANDLED
                        and current.get("handled_nonce") == nonce)
            return ClaimResult(taken=False, repeated=repeated, item=current)
        return ClaimResult(taken=True, repeated=False, item=None)

    @staticmethod
    def _open_values(stale_before: str) -> dict[str, str]:
        values = {f":open{i}": s for i, s in enumerate(state.OPEN_STATUSES)}
        values.update({f":again{i}": s for i, s in enumerate(state.RECLAIMABLE_REPLY_STATES)})
        values.update({":queued": state.REPLY_QUEUED, ":stale": stale_before})
        return values

    @staticmethod
    def _free() -> str:
        """The mention exists, is open (notified, incident) and has no reply in flight: none yet, the last one
        refused or failed, or a claim still `queued` since before `:stale` (the function stopped between the claim
        and its message, so no message is coming; were one merely late, its nonce no longer matches and the sender
        drops it, so taking the claim over never sends twice)."""
        opened = ", ".join(f":open{i}" for i in range(len(state.OPEN_STATUSES)))
        again = ", ".join(f":again{i}" for i in range(len(state.RECLAIMABLE_REPLY_STATES)))
        return (f"attribute_exists(pk) AND #s IN ({opened}) AND (attribute_not_exists(reply_state) OR "
                f"reply_state IN ({again}) OR (reply_state = :queued AND reply_requested_at < :stale))")


def outbound_message(channel: str, mention_id: str, nonce: str) -> dict[str, Any]:
    """The outbound queue's message: only keys; the sender reads the text and target from the item."""
    return {"v": OUTBOUND_MESSAGE_VERSION, "channel": channel, "mention_id": mention_id, "nonce": nonce}


class SqsOutbox:
    """Puts approved replies on the outbound queue (the sender's)."""

    def __init__(self, queue_url: str, client: Any = None, client_options: dict[str, Any] | None = None) -> None:
        self._url = queue_url
        self._client = client
        self._client_options = client_options or {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_client("sqs", **self._client_options)
        return self._client

    def send(self, message: dict[str, Any]) -> None:
        """One message; QueueUnavailable when SQS does not take it."""
        try:
            self.client.send_message(QueueUrl=self._url, MessageBody=json.dumps(message, separators=(",", ":")))
        except Exception as exc:  # noqa: BLE001 - every failure means "not queued": the caller releases the claim
            raise QueueUnavailable(f"outbound queue: {type(exc).__name__}") from exc


__all__ = ["ClaimResult", "DynamoReplyStore", "QueueUnavailable", "SqsOutbox", "StorageUnavailable",
           "outbound_message"]
