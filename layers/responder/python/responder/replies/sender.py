"""The sender: approved replies from the outbound queue to the platforms, exactly once.

Per message (`{"v": 1, "channel", "mention_id", "nonce"}`; everything else is read from the mention item):
1. A message whose nonce is not the mention's `reply_nonce`, or whose reply is already settled, is dropped.
2. `queued` → `sending` by a conditional write: of two deliveries of one message, one sends, the other waits.
3. The platform call. Success → `sent` and the mention `answered` (one transaction with the thread's last reply).
   RateLimited → back to `queued` and a copy of the message re-sent with a delay until the platform's reset (SQS
   delays stop at 15 minutes), the original deleted: waiting costs no receive. Transient → back to `queued` and
   a retry after a growing backoff; at the last receive before the DLQ, `failed`. Permanent → `refused` with the
   platform's reason. failed, refused and unconfirmed are published to the agents' topic.
4. A mention found `sending` by a later delivery, after the call's lease, is a crash between the platform's
   answer and the record (or a call whose answer never came): the platform is asked first (X posts, Facebook and
   Instagram comments); what it shows is recorded; what cannot be looked up (DMs, Messenger, WhatsApp) becomes
   `unconfirmed` for a person to check. Never a second send on a guess.
Logs carry ids and states only, never the text of a reply or of a private message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from responder.core.model import log_ref
from responder.platforms.errors import Permanent, PlatformError, RateLimited, Transient
from responder.core.metrics import REPLIES_FAILED, REPLIES_SENT
from responder.replies.ledger import ReplyLedger, iso
from responder.replies.state import (REPLY_FAILED, REPLY_QUEUED, REPLY_REFUSED, REPLY_SENDING, REPLY_UNCONFIRMED,
                                     STATUS_ANSWERED, STATUS_DELETED)
from responder.core.observability import OptionalLog

MESSAGE_VERSION = 1
# SQS's longest message delay (SQS developer guide, "Delay queues": 15 minutes).
SQS_MAX_DELAY_SECONDS = 900
SQS_MAX_VISIBILITY_SECONDS = 43_200
# A call in flight holds the reply this long (infra/constants.py SENDER_TIMEOUT_SECONDS: the function's timeout):
# a later delivery that finds `sending` younger than this waits; older, the sender that held it is gone.
DEFAULT_LEASE_SECONDS = 30
RETRY_BASE_SECONDS = 15
# A throttled reply is re-sent with a delay at most this many times (about a day at 15-minute steps) before it is
# recorded `failed`: X's app-wide cap resets daily, nothing longer is worth waiting for.
MAX_RATE_LIMIT_RESENDS = 100
# One platform call (connect 3 s + read 10 s) plus the writes around it; a record is not started with less left.
RECORD_BUDGET_SECONDS = 16
_ATTEMPT_ATTRIBUTE = "attempt"
# When a throttled reply may be tried again (epoch seconds): a copy that arrives earlier (the platform's reset was
# more than SQS's 15-minute delay away) is re-sent again without calling the platform.
_NOT_BEFORE_ATTRIBUTE = "not_before"


class ReplyClient(Protocol):
    def checkable(self, mention: dict[str, Any]) -> bool: ...
    def reply(self, mention: dict[str, Any], text: str) -> str: ...
    def find_reply(self, mention: dict[str, Any], text: str, since: str) -> str | None: ...


class Alerts(Protocol):
    def reply_failed(self, mention: dict[str, Any], state: str, code: str, reason: str) -> None: ...


class OutboundQueue(Protocol):
    def resend(self, body: str, delay_seconds: int, attempt: int, not_before: int) -> None: ...
    def retry_after(self, receipt_handle: str, seconds: int) -> None: ...


@dataclass(frozen=True)
class OutboundMessage:
    channel: str
    mention_id: str
    nonce: str
    body: str
    message_id: str
    receipt_handle: str
    receive_count: int
    resends: int  # how many times the sender re-sent it after a 429
    not_before: float = 0.0  # the platform's rate-limit reset, when it was throttled


def parse_record(record: dict[str, Any]) -> OutboundMessage:
    """One SQS record as an outbound message; ValueError for anything else."""
    body = json.loads(record["body"])
    if not isinstance(body, dict) or body.get("v") != MESSAGE_VERSION:
        raise ValueError("not an outbound message of version 1")
    fields = [body.get(k) for k in ("channel", "mention_id", "nonce")]
    if not all(isinstance(v, str) and 0 < len(v) <= 256 for v in fields):
        raise ValueError("channel, mention_id and nonce must be short strings")
    try:
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        attributes = record.get("messageAttributes") or {}
        resends = int(_attribute(attributes, _ATTEMPT_ATTRIBUTE) or 0)
        not_before = float(_attribute(attributes, _NOT_BEFORE_ATTRIBUTE) or 0)
    except (TypeError, ValueError) as exc:
        raise ValueError("receive count and attempt must be numbers") from exc
    return OutboundMessage(fields[0], fields[1], fields[2], record["body"], str(record.get("messageId", "")),
                           str(record.get("receiptHandle", "")), receives, resends, not_before)


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    """A message attribute's value as Lambda's event has it (`stringValue`) or as ReceiveMessage returns it
    (`StringValue`, what a local poller passes on)."""
    value = attributes.get(name) or {}
    return value.get("stringValue") or value.get("StringValue") if isinstance(value, dict) else None


@dataclass(frozen=True)
class Result:
    """How one message ended: `outcome` for logs and tests; `retry_in` seconds when SQS must deliver it again."""

    outcome: str
    retry_in: int | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _age_seconds(iso_time: object, now: datetime) -> float:
    try:
        started = datetime.fromisoformat(str(iso_time).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (now - started).total_seconds()


class Sender(OptionalLog):
    def __init__(self, ledger: ReplyLedger, client_for: Callable[[str], ReplyClient], queue: OutboundQueue,
                 alerts: Alerts | None = None, max_receive_count: int = 8,
                 lease_seconds: int = DEFAULT_LEASE_SECONDS, log: Any = None,
                 clock: Callable[[], datetime] = _now, metrics: Any = None) -> None:
        """`metrics` (responder.core.metrics.BusinessMetrics) counts replies sent and failed, and first answers."""
        self._ledger = ledger
        self._client_for = client_for
        self._queue = queue
        self._alerts = alerts
        self._max_receives = max_receive_count
        self._lease = lease_seconds
        self._log = log
        self._clock = clock
        self._metrics = metrics

    # -- the batch ---------------------------------------------------------------------------------------

    def process(self, records: Sequence[dict[str, Any]],
                remaining_seconds: Callable[[], float] | None = None) -> list[str]:
        """Handle a batch; the message ids SQS must deliver again (batchItemFailures)."""
        failed: list[str] = []
        for record in records:
            message_id = str(record.get("messageId", ""))
            if remaining_seconds is not None and remaining_seconds() < RECORD_BUDGET_SECONDS:
                failed.append(message_id)  # untouched: its next delivery starts afresh
                continue
            try:
                message = parse_record(record)
            except (ValueError, KeyError, TypeError):
                # A poison message can never be sent: SQS's redrive policy moves it to the DLQ.
                self._info("outbound message refused as malformed", message_id=message_id)
                failed.append(message_id)
                continue
            try:
                result = self.handle(message)
            except Exception as exc:  # noqa: BLE001 - storage outage or a bug: this message alone is retried
                self._warn("outbound message failed", message_id=message_id, error=type(exc).__name__)
                result = Result("error", retry_in=RETRY_BASE_SECONDS)
            self._info("outbound message handled", message_id=message_id,
                       mention=log_ref(message.channel, message.mention_id), outcome=result.outcome,
                       receive=message.receive_count)
            if result.retry_in is not None:
                failed.append(message_id)
                self._delay(message, result.retry_in)
        return failed

    def _delay(self, message: OutboundMessage, seconds: int) -> None:
        if not message.receipt_handle:
            return
        try:
            self._queue.retry_after(message.receipt_handle, min(max(seconds, 0), SQS_MAX_VISIBILITY_SECONDS))
        except Exception as exc:  # noqa: BLE001 - the message still comes back, after the full visibility timeout
            self._warn("could not set the retry delay", message_id=message.message_id, error=type(exc).__name__)

    # -- one message -------------------------------------------------------------------------------------

    def handle(self, message: OutboundMessage) -> Result:
        item = self._ledger.get(message.channel, message.mention_id)
        if item is None:
            return Result("dropped: no such mention")
        if item.get("reply_nonce") != message.nonce:
            return Result("dropped: stale nonce")
        state = item.get("reply_state")
        if state == REPLY_QUEUED and message.not_before > time.time() + 1:
            # Still before the platform's reset: wait on, without a call that would only be throttled again.
            return self._wait_for_reset(message, item, message.not_before, "still rate limited")
        if state == REPLY_QUEUED:
            return self._first_attempt(message, item)
        if state == REPLY_SENDING:
            return self._after_crash(message, item)
        if state in (REPLY_REFUSED, REPLY_FAILED, REPLY_UNCONFIRMED) and not item.get("reply_alerted_at"):
            # Settled, but the alert did not go out (the publish failed): publish it now.
            error = item.get("reply_error") or {}
            self._alert(message, item, state, str(error.get("code")), str(error.get("reason")))
            return Result(f"{state}: alert published again")
        return Result(f"dropped: already {state}")

    def _first_attempt(self, message: OutboundMessage, item: dict[str, Any]) -> Result:
        try:
            client = self._client_for(message.channel)
        except Permanent as refusal:
            return self._finish(message, item, REPLY_REFUSED, refusal.code, refusal.reason)
        if not isinstance(item.get("reply_text"), str) or not item["reply_text"].strip():
            return self._finish(message, item, REPLY_REFUSED, "no_text", "the approved reply has no text")
        if item.get("status") in (STATUS_ANSWERED, STATUS_DELETED):
            # Answered natively on the platform (or the post is gone) since the approval: a second answer would
            # repeat the brand to the customer, a reply to a deleted post fails anyway.
            return self._finish(message, item, REPLY_REFUSED, f"already_{item['status']}",
                                f"the mention was {item['status']} before the reply went out"
                                + (f" (by {item['answered_by']})" if item.get("answered_by") else ""))
        claimed = self._ledger.begin(message.channel, message.mention_id, message.nonce, self._clock())
        if claimed is None:
            return Result("waiting: another delivery holds the reply", retry_in=self._lease)
        return self._send(message, claimed, client)

    def _after_crash(self, message: OutboundMessage, item: dict[str, Any]) -> Result:
        now = self._clock()
        age = _age_seconds(item.get("send_started_at"), now)
        if age < self._lease:
            # Another delivery is in its platform call right now: never a second call beside it.
            return Result("waiting: a send is in flight", retry_in=int(self._lease - age) + 1)
        try:
            client = self._client_for(message.channel)
        except Permanent as refusal:
            return self._finish(message, item, REPLY_UNCONFIRMED, refusal.code,
                                "a send was interrupted and cannot be checked: " + refusal.reason)
        claimed = self._ledger.begin(message.channel, message.mention_id, message.nonce, now,
                                     seen_attempt=int(item.get("send_attempt") or 0))
        if claimed is None:
            return Result("waiting: another delivery took over", retry_in=self._lease)
        if not client.checkable(claimed):
            return self._finish(message, claimed, REPLY_UNCONFIRMED, "unconfirmed",
                                "a send was interrupted after the call; the platform cannot be asked whether the "
                                "reply went out: check the conversation before sending again")
        try:
            found = client.find_reply(claimed, str(claimed.get("reply_text") or ""),
                                      since=str(item.get("send_started_at")))
        except PlatformError as exc:
            # Still `sending`: the next delivery (after the lease) looks again.
            return self._retry_or_give_up(message, claimed, exc, keep_sending=True)
        if found:
            now = self._clock()
            self._sent(claimed, self._ledger.record_sent(claimed, message.nonce, found, now), now)
            return Result("sent: found at the platform after an interrupted send")
        return self._send(message, claimed, client)

    def _send(self, message: OutboundMessage, item: dict[str, Any], client: ReplyClient) -> Result:
        if item.get("channel") in ("messenger", "instagram") and item.get("kind") in ("message", "dm"):
            # Meta's messaging window counts from the person's last message in the conversation.
            item = {**item, "last_inbound_at": self._ledger.last_inbound_at(
                item["channel"], str(item.get("thread_id") or item["mention_id"])) or item.get("created_at")}
        try:
            reply_id = client.reply(item, str(item.get("reply_text") or ""))
        except RateLimited as limit:
            return self._rate_limited(message, item, limit)
        except Transient as exc:
            return self._retry_or_give_up(message, item, exc, keep_sending=exc.maybe_sent)
        except Permanent as refusal:
            return self._finish(message, item, REPLY_REFUSED, refusal.code, refusal.reason)
        try:
            self._after_platform_accepted(item)
            now = self._clock()
            recorded = self._ledger.record_sent(item, message.nonce, reply_id, now)
        except Exception:
            # The reply is out but not recorded: the retry looks it up (or asks a person); the id lets an operator
            # match it at once.
            # (log_ref: a WhatsApp reply's id is a wamid, whose base64 carries the customer's phone number)
            self._warn("reply sent but not recorded", mention=log_ref(message.channel, message.mention_id),
                       reply_id=log_ref(message.channel, str(reply_id)))
            raise
        self._sent(item, recorded, now)
        return Result("sent" if recorded else "dropped: recorded by another delivery")

    def _sent(self, item: dict[str, Any], recorded: bool, now: datetime) -> None:
        """Count a recorded reply, and the mention's first answer (unless it had one already)."""
        if not recorded or self._metrics is None:
            return
        self._metrics.count(REPLIES_SENT, channel=item.get("channel"))
        if not item.get("first_response_at"):
            self._metrics.answered({**item, "first_response_at": iso(now)})

    def _after_platform_accepted(self, item: dict[str, Any]) -> None:
        """The moment between the platform's answer and the record (tests crash the sender here)."""

    def _rate_limited(self, message: OutboundMessage, item: dict[str, Any], limit: RateLimited) -> Result:
        self._ledger.requeue(message.channel, message.mention_id, message.nonce)
        return self._wait_for_reset(message, item, limit.reset_at, limit.reason)

    def _wait_for_reset(self, message: OutboundMessage, item: dict[str, Any], reset_at: float,
                        reason: str) -> Result:
        if message.resends >= MAX_RATE_LIMIT_RESENDS:
            return self._finish(message, item, REPLY_FAILED, "rate_limited", reason)
        delay = int(min(max(reset_at - time.time(), 1), SQS_MAX_DELAY_SECONDS))
        self._queue.resend(message.body, delay, message.resends + 1, int(reset_at))
        # The original is deleted (reported done): the delayed copy carries the reply on, no receive counted.
        return Result(f"rate limited: re-sent with a delay of {delay} s")

    def _retry_or_give_up(self, message: OutboundMessage, item: dict[str, Any], exc: PlatformError,
                          keep_sending: bool) -> Result:
        reason = getattr(exc, "reason", str(exc))
        if isinstance(exc, Permanent):
            state = REPLY_UNCONFIRMED if keep_sending else REPLY_REFUSED
            return self._finish(message, item, state, exc.code, reason)
        last = message.receive_count >= self._max_receives - 1
        if last:
            state = REPLY_UNCONFIRMED if keep_sending else REPLY_FAILED
            return self._finish(message, item, state, "retries_exhausted", reason)
        if not keep_sending:
            self._ledger.requeue(message.channel, message.mention_id, message.nonce)
        backoff = min(RETRY_BASE_SECONDS * 2 ** max(message.receive_count - 1, 0), SQS_MAX_DELAY_SECONDS)
        # A call that may have gone through is looked up only once its lease is over.
        return Result("retry" + (": maybe sent, check next" if keep_sending else ""),
                      retry_in=max(backoff, self._lease + 1) if keep_sending else backoff)

    def _finish(self, message: OutboundMessage, item: dict[str, Any], state: str, code: str, reason: str) -> Result:
        done = self._ledger.finish(message.channel, message.mention_id, message.nonce, state, code, reason,
                                   self._clock())
        if done is None:
            return Result("dropped: settled by another delivery")
        if self._metrics is not None:
            self._metrics.count(REPLIES_FAILED, channel=item.get("channel"))
        self._alert(message, done, state, code, reason)
        return Result(state)

    def _alert(self, message: OutboundMessage, item: dict[str, Any], state: str, code: str, reason: str) -> None:
        """Tell the team; raises (and SQS redelivers the message) when the topic cannot be reached."""
        if self._alerts is None:
            return
        self._alerts.reply_failed(item, state, code, reason)
        self._ledger.mark_alerted(message.channel, message.mention_id, message.nonce, self._clock())



class SqsOutboundQueue:
    """The sender's own queue: delayed re-sends after a 429, and retry delays."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self._url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from responder.aws.storage import default_client

            self._client = default_client("sqs", connect_timeout=1.0, read_timeout=3.0, attempts=2)
        return self._client

    def resend(self, body: str, delay_seconds: int, attempt: int, not_before: int) -> None:
        self.client.send_message(QueueUrl=self._url, MessageBody=body, DelaySeconds=delay_seconds,
                                 MessageAttributes={
                                     _ATTEMPT_ATTRIBUTE: {"DataType": "Number", "StringValue": str(attempt)},
                                     _NOT_BEFORE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(not_before)}})

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        self.client.change_message_visibility(QueueUrl=self._url, ReceiptHandle=receipt_handle,
                                              VisibilityTimeout=seconds)


def client_for_channel(creds_provider: Any, endpoints: Any) -> Callable[[str], ReplyClient]:
    """The reply client of a channel, built on first use (tweepy is imported only for X)."""
    cache: dict[tuple[str, Any], ReplyClient] = {}

    def client_for(channel: str) -> ReplyClient:
        from responder.core.config import reply_channels_configured

        creds = creds_provider.get()
        if channel not in reply_channels_configured(creds):
            raise Permanent("not_configured", f"replies on {channel} are not configured")
        # Keyed by the credentials too: a rotated secret builds a new client.
        key = ("x" if channel == "x" else "meta", creds)
        if key not in cache:
            if channel == "x":
                from responder.platforms.x import XReplies

                cache[key] = XReplies(creds, endpoints)
            else:
                from responder.platforms.meta import MetaReplies

                cache[key] = MetaReplies(creds, endpoints)
        return cache[key]

    return client_for
