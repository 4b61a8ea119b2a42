"""The reply's state on the mention item, moved only by conditional writes (see state.py for the names).

Every transition is guarded by the approval's nonce and the state it leaves, so a stale message, a second
delivery of the same message or a sender racing another can never move a reply twice: the loser's write fails
its condition and the loser reads what happened instead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from responder.aws.storage import DynamoTable, StorageUnavailable, _error_code, _storage_error, mention_key, thread_key
from responder.replies.state import (REPLY_QUEUED, REPLY_SENDING, REPLY_SENT, STATUS_ANSWERED, STATUS_INCIDENT,
                                     STATUS_NOTIFIED)


def iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds, as the mention's other timestamps."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class ReplyLedger(DynamoTable):
    """Reads the mention and moves its reply state, on the project's DynamoDB table."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        super().__init__(table_name, client=client,
                         client_options={"connect_timeout": 1.0, "read_timeout": 3.0, "attempts": 2})

    def get(self, channel: str, mention_id: str) -> dict[str, Any] | None:
        """The mention item (a consistent read), or None."""
        try:
            item = self.client.get_item(TableName=self._table, Key=self._values(mention_key(channel, mention_id)),
                                        ConsistentRead=True).get("Item")
        except Exception as exc:  # noqa: BLE001 - mapped to StorageUnavailable or re-raised
            raise _storage_error(exc) from exc
        return self._plain(item) if item else None

    def last_inbound_at(self, channel: str, thread_id: str) -> str | None:
        """When the person last wrote in the thread (Meta's messaging window counts from it)."""
        try:
            item = self.client.get_item(TableName=self._table, Key=self._values(thread_key(channel, thread_id)),
                                        ProjectionExpression="last_activity_at", ConsistentRead=True).get("Item")
        except Exception as exc:  # noqa: BLE001 - mapped to StorageUnavailable or re-raised
            raise _storage_error(exc) from exc
        return (item or {}).get("last_activity_at", {}).get("S")

    def _update(self, channel: str, mention_id: str, expression: str, condition: str, values: dict[str, Any],
                names: dict[str, str] | None = None) -> dict[str, Any] | None:
        """One conditional update; the new item, or None when the condition failed."""
        kwargs: dict[str, Any] = {"TableName": self._table, "Key": self._values(mention_key(channel, mention_id)),
                                  "UpdateExpression": expression, "ConditionExpression": condition,
                                  "ExpressionAttributeValues": self._values(values), "ReturnValues": "ALL_NEW"}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            return self._plain(self.client.update_item(**kwargs)["Attributes"])
        except Exception as exc:  # noqa: BLE001 - a failed condition is an answer; anything else is raised
            if _error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise _storage_error(exc) from exc

    def begin(self, channel: str, mention_id: str, nonce: str, now: datetime,
              seen_attempt: int | None = None) -> dict[str, Any] | None:
        """Take the reply for one platform call: queued → sending, or (after a crash) sending → sending when the
        attempt is still the one that was read. None: another delivery took it first."""
        # The mention must still be open: a native answer or "handled" since the sender read it closes it.
        values: dict[str, Any] = {":n": nonce, ":sending": REPLY_SENDING, ":now": iso(now), ":zero": 0, ":one": 1,
                                  ":notified": STATUS_NOTIFIED, ":incident": STATUS_INCIDENT}
        if seen_attempt is None:
            condition = "reply_nonce = :n AND reply_state = :queued AND #s IN (:notified, :incident)"
            values[":queued"] = REPLY_QUEUED
        else:
            condition = ("reply_nonce = :n AND reply_state = :sending AND send_attempt = :seen "
                         "AND #s IN (:notified, :incident)")
            values[":seen"] = seen_attempt
        return self._update(channel, mention_id,
                            "SET reply_state = :sending, send_started_at = :now, "
                            "send_attempt = if_not_exists(send_attempt, :zero) + :one", condition, values,
                            names={"#s": "status"})

    def requeue(self, channel: str, mention_id: str, nonce: str) -> bool:
        """sending → queued: the platform surely did not take the reply (a 429, a 5xx, a refused connection)."""
        return self._update(channel, mention_id, "SET reply_state = :queued",
                            "reply_nonce = :n AND reply_state = :sending",
                            {":n": nonce, ":queued": REPLY_QUEUED, ":sending": REPLY_SENDING}) is not None

    def finish(self, channel: str, mention_id: str, nonce: str, state: str, code: str, reason: str,
               now: datetime) -> dict[str, Any] | None:
        """queued|sending → refused | failed | unconfirmed, with `reply_error` {code, reason, at}."""
        # A new failure is alerted anew, whatever an earlier approval's alert was.
        return self._update(channel, mention_id, "SET reply_state = :state, reply_error = :error "
                            "REMOVE reply_alerted_at",
                            "reply_nonce = :n AND reply_state IN (:queued, :sending)",
                            {":n": nonce, ":state": state, ":queued": REPLY_QUEUED, ":sending": REPLY_SENDING,
                             ":error": {"code": code, "reason": reason, "at": iso(now)}})

    def record_sent(self, item: dict[str, Any], nonce: str, reply_id: str, now: datetime) -> bool:
        """sending → sent and the mention answered (one conditional update), then its thread's last reply.

        `first_response_at` keeps an earlier answer's time; `answered_by` is the approving agent. False when the
        condition failed (another delivery recorded it first). Two plain updates rather than one transaction, which
        bills both items twice: the mention's update is what makes the reply sent exactly once; the thread's last
        reply follows it, moved only forwards (a crash between the two leaves the thread showing the previous reply).
        """
        at = iso(now)
        channel, mention_id = item["channel"], item["mention_id"]
        mention_update = {
            "TableName": self._table, "Key": self._values(mention_key(channel, mention_id)),
            "UpdateExpression": ("SET reply_state = :sent, reply_id = :rid, reply_sent_at = :at, #s = :answered, "
                                 "first_response_at = if_not_exists(first_response_at, :at), "
                                 "answered_by = if_not_exists(reply_requested_by, :unknown) REMOVE reply_error"),
            "ConditionExpression": "reply_nonce = :n AND reply_state = :sending",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": self._values({
                ":sent": REPLY_SENT, ":rid": reply_id, ":at": at, ":answered": STATUS_ANSWERED, ":unknown": "agent",
                ":n": nonce, ":sending": REPLY_SENDING}),
        }
        thread_update = {
            "TableName": self._table, "Key": self._values(thread_key(channel, item.get("thread_id") or mention_id)),
            "UpdateExpression": "SET last_reply_id = :rid, last_reply_at = :at, last_reply_text = :text",
            # A later reply already recorded stays the last one. A thread whose only message is this mention has no
            # item (responder.aws.storage): the mention's own reply is its last one, and nothing is written here.
            "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(last_reply_at) "
                                   "OR last_reply_at <= :at)",
            "ExpressionAttributeValues": self._values({":rid": reply_id, ":at": at,
                                                       ":text": str(item.get("reply_text") or "")}),
        }
        try:
            self.client.update_item(**mention_update)
        except Exception as exc:  # noqa: BLE001 - a failed condition is an answer; anything else is raised
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _storage_error(exc) from exc
        try:
            # Read first (half a read unit): a refused write is billed a write unit, and most threads have no item.
            if self.client.get_item(TableName=self._table, Key=thread_update["Key"],
                                    ProjectionExpression="pk").get("Item") is not None:
                self.client.update_item(**thread_update)
        except Exception as exc:  # noqa: BLE001 - the thread has a later reply: it stays the last one
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise _storage_error(exc) from exc
        return True

    def mark_alerted(self, channel: str, mention_id: str, nonce: str, now: datetime) -> None:
        """The team was told about this failed reply (a redelivery publishes again until this is written)."""
        self._update(channel, mention_id, "SET reply_alerted_at = :now", "reply_nonce = :n",
                     {":n": nonce, ":now": iso(now)})
