"""Telling the team that an approved reply did not go out (refused, failed or unconfirmed).

Published on the agents' topic with the same filter attributes as the triage notifications (`team`, `priority`)
and `alert=reply_failed`, as per-protocol messages (SNS `MessageStructure: json`): `default` (https, sqs, lambda)
the JSON document, `email` readable text, `sms` one line under SNS's 1,600-byte SMS limit. The text of a
private message (DM, Messenger, WhatsApp) is not repeated: the review link shows it to whoever opens it.
"""

from __future__ import annotations

import json
from typing import Any

from responder.core.model import PRIVATE_KINDS

ALERT_REPLY_FAILED = "reply_failed"
SMS_MAX_CHARS = 300  # one line; SNS splits or refuses SMS over 1,600 bytes
EMAIL_SUBJECT_MAX_CHARS = 100  # SNS's limit on e-mail subjects
_WHAT = {"refused": "was refused by the platform", "failed": "could not be sent (retries ran out)",
         "unconfirmed": "may or may not have been sent (check the conversation)"}


def _review_link(mention: dict[str, Any]) -> str | None:
    from responder.replies.tokens import ReviewKeyUnavailable, link_for

    try:
        return link_for(mention)
    except ReviewKeyUnavailable:
        return None  # the alert still goes out, without its link


def reply_failed_message(mention: dict[str, Any], state: str, code: str, reason: str,
                         review_url: str | None) -> tuple[str, dict[str, str]]:
    """The subject and the per-protocol messages of one alert."""
    channel, kind = str(mention.get("channel")), str(mention.get("kind"))
    author = mention.get("author") or {}
    who = author.get("handle") or author.get("name") or author.get("id") or "someone"
    what = _WHAT.get(state, state)
    document = {
        "alert": ALERT_REPLY_FAILED, "reply_state": state,
        "mention": {"channel": channel, "kind": kind, "mention_id": mention.get("mention_id"),
                    "thread_id": mention.get("thread_id"), "team": mention.get("team"),
                    "priority": mention.get("priority")},
        "reply_error": {"code": code, "reason": reason}, "reply_requested_by": mention.get("reply_requested_by"),
        "actions": {"review_url": review_url},
    }
    # SNS subjects are printable ASCII on one line.
    subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in f"Reply to {who} on {channel} {what}")
    subject = subject[:EMAIL_SUBJECT_MAX_CHARS]
    lines = [f"The reply approved by {mention.get('reply_requested_by') or 'an agent'} to {who} on {channel} "
             f"({kind}) {what}.", "", f"Reason: {reason}", f"Priority: {mention.get('priority') or '-'}",
             f"Team: {mention.get('team') or '-'}"]
    if kind not in PRIVATE_KINDS:
        lines += ["", f"They wrote: {mention.get('text') or ''}", f"The reply: {mention.get('reply_text') or ''}"]
    if review_url:
        lines += ["", f"Review and send again: {review_url}"]
    sms = f"Responder: reply to {who} on {channel} {state}: {reason}"
    sms = (sms[:SMS_MAX_CHARS - len(review_url) - 1] + " " + review_url) if review_url else sms[:SMS_MAX_CHARS]
    return subject, {"default": json.dumps(document, ensure_ascii=False), "email": "\n".join(lines), "sms": sms}


class SnsReplyAlerts:
    """Alerts on the agents' SNS topic."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self._arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from responder.aws.storage import default_client

            self._client = default_client("sns", connect_timeout=1.0, read_timeout=3.0, attempts=2)
        return self._client

    def reply_failed(self, mention: dict[str, Any], state: str, code: str, reason: str) -> None:
        subject, messages = reply_failed_message(mention, state, code, reason, _review_link(mention))
        attributes = {"alert": ALERT_REPLY_FAILED, "team": str(mention.get("team") or "support"),
                      "priority": str(mention.get("priority") or "normal"), "channel": str(mention.get("channel"))}
        self.client.publish(TopicArn=self._arn, Subject=subject, Message=json.dumps(messages, ensure_ascii=False),
                            MessageStructure="json",
                            MessageAttributes={k: {"DataType": "String", "StringValue": v}
                                               for k, v in attributes.items()})
