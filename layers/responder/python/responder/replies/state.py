"""The reply state a mention item carries, shared by the review page, the sender and the webhook.

Mention status (attribute `status`), after triage:
  notified | incident            a person may answer it (the review page's Send and Mark handled)
  answered                       a reply went out (Send) or the brand answered natively on the platform
  handled                        an agent closed it without a reply
Fields after an answer (the user-facing contract): `first_response_at` (ISO 8601 UTC), `reply_id`, `reply_text`,
`answered_by` (the approving agent, or `platform` for a native reply).

Reply attempt (attribute `reply_state`), written by the review page's POST and the sender:
  queued      claimed by one approval (`reply_nonce`, `reply_requested_by`, `reply_requested_at`, `reply_text`),
              a message is on the outbound queue
  sending     the sender began the platform call (`send_started_at`, `send_attempt`): a retry finding this checks
              the platform before sending again
  sent        the platform accepted it (`reply_id`, `reply_sent_at`); the mention is `answered`
  refused     the platform refused it for good (`reply_error`: {"code", "reason", "at"}); Send may be tried again
  failed      retries ran out (`reply_error`); Send may be tried again
  unconfirmed a sender crashed mid-call and the platform cannot be asked whether the reply went out: a person checks
  native      the brand answered on the platform itself
"""

from __future__ import annotations

STATUS_NOTIFIED = "notified"
STATUS_INCIDENT = "incident"
STATUS_ANSWERED = "answered"
STATUS_HANDLED = "handled"
STATUS_DELETED = "deleted"
# Statuses in which a person may still act on a mention from its review page.
OPEN_STATUSES: tuple[str, ...] = (STATUS_NOTIFIED, STATUS_INCIDENT)

REPLY_QUEUED = "queued"
REPLY_SENDING = "sending"
REPLY_SENT = "sent"
REPLY_REFUSED = "refused"
REPLY_FAILED = "failed"
REPLY_UNCONFIRMED = "unconfirmed"
REPLY_NATIVE = "native"
# A new approval may claim the reply when none is in flight or the last one ended without a reply.
RECLAIMABLE_REPLY_STATES: tuple[str, ...] = (REPLY_REFUSED, REPLY_FAILED)

ANSWERED_BY_PLATFORM = "platform"
