"""Replies on Meta's platforms through the Graph API with requests (the version is configurable).

- Facebook: a comment under the comment or post, `POST /{comment-or-post-id}/comments` (Page token).
- Instagram: a reply under a top-level comment, `POST /{ig-comment-id}/replies`; a reply where the brand was
  @mentioned, `POST /{ig-user-id}/mentions` with `media_id` (and `comment_id`); a DM, `POST /{ig-user-id}/messages`.
- Messenger: `POST /{page-id}/messages` with `messaging_type: RESPONSE` within 24 hours of the person's last
  message; later, up to 7 days, `MESSAGE_TAG` + `HUMAN_AGENT` (only when enabled: it needs Meta's app review, and
  fits here because a person approved every reply). Instagram DMs follow the same window rules.
- WhatsApp: `POST /{phone-number-id}/messages` with `messaging_product`, `to`, `context.message_id` (the reply is
  shown quoting the customer's message) and a text body; the 24-hour window is enforced by WhatsApp (131047).

The token travels in the Authorization header, never in a URL that a log or an error could show.
Sources: Graph API "Comments" and Instagram Platform "Comment moderation" / "Mentions" references, Messenger
Platform "Send API" and "Message tags", WhatsApp Cloud API "Messages" reference.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from responder.core.config import PlatformCredentials, PlatformEndpoints
from responder.platforms.errors import (Permanent, Transient, classify_meta_response, classify_transport_error)

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
# Messenger Platform policy: a RESPONSE within 24 hours of the person's last message; HUMAN_AGENT up to 7 days.
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
FIND_SLACK_SECONDS = 120
LOOKUP_LIMIT = 100


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse(iso: object) -> datetime | None:
    if not isinstance(iso, str):
        return None
    try:
        value = datetime.fromisoformat(iso.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class GraphClient:
    """A Graph API caller: one session, bounded timeouts, every failure classified."""

    def __init__(self, token: str, endpoints: PlatformEndpoints | None = None, session: Any = None,
                 timeout: tuple[float, float] | None = None) -> None:
        self._token = token
        self._endpoints = endpoints or PlatformEndpoints()
        self._session = session
        self._timeout = timeout

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Graph API call; the JSON answer, or a PlatformError."""
        e = self._endpoints
        url = f"{e.graph_api_base}/{e.graph_api_version}/{path.lstrip('/')}"
        try:
            timeout = self._timeout or (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
            response = self.session.request(method, url, params=params, json=body, timeout=timeout,
                                            headers={"Authorization": f"Bearer {self._token}"})
        except Exception as exc:  # noqa: BLE001 - requests' errors classified, anything else re-raised
            raise classify_transport_error(exc, "Meta") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if 200 <= response.status_code < 300 and isinstance(answer, dict):
            return answer
        if 200 <= response.status_code < 300:
            raise Transient("Meta accepted the call without a JSON answer", maybe_sent=method == "POST")
        raise classify_meta_response(response.status_code, answer, response.headers, secrets=(self._token,))


class MetaReplies:
    """Replies on Facebook, Instagram, Messenger and WhatsApp."""

    def __init__(self, creds: PlatformCredentials, endpoints: PlatformEndpoints | None = None,
                 session: Any = None) -> None:
        self._creds = creds
        self._endpoints = endpoints or PlatformEndpoints()
        self._session = session
        self._clients: dict[str, GraphClient] = {}

    def _client(self, channel: str) -> GraphClient:
        c = self._creds
        tokens = {"facebook": c.meta_page_token, "messenger": c.meta_page_token,
                  "instagram": c.meta_instagram_token or c.meta_page_token, "whatsapp": c.whatsapp_token}
        token = tokens.get(channel)
        if not token:
            raise Permanent("not_configured", f"{channel} reply credentials are not configured")
        if channel not in self._clients:
            self._clients[channel] = GraphClient(token, self._endpoints, self._session)
        return self._clients[channel]

    def checkable(self, mention: dict[str, Any]) -> bool:
        """Whether a crashed send can be looked up: comment replies yes; messages and mention replies no."""
        channel, kind = mention.get("channel"), mention.get("kind")
        if channel == "instagram":
            # Under a parent shared with other people's comments, the brand's earlier answers cannot be told apart.
            return kind == "comment" and _instagram_reply_target(mention) == str(mention.get("mention_id"))
        return channel == "facebook" and kind in ("comment", "post", "reply", "mention")

    def reply(self, mention: dict[str, Any], text: str, last_inbound_at: str | None = None,
              now: datetime | None = None) -> str:
        """Send the reply; the platform's id of what was created. Raises a PlatformError."""
        channel, kind, mid = mention.get("channel"), mention.get("kind"), str(mention["mention_id"])
        account = str(mention.get("account_id") or "")
        author = str((mention.get("author") or {}).get("id") or "")
        client = self._client(str(channel))
        if channel == "whatsapp":
            body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": author,
                    "context": {"message_id": mid}, "type": "text", "text": {"preview_url": False, "body": text}}
            answer = client.call("POST", f"{account}/messages", body=body)
            messages = answer.get("messages") or [{}]
            return _id_of(messages[0].get("id") if isinstance(messages[0], dict) else None)
        if channel in ("messenger", "instagram") and kind in ("message", "dm"):
            body = {"recipient": {"id": author}, "message": {"text": text},
                    **self._messaging_type(
                        last_inbound_at or mention.get("last_inbound_at") or mention.get("created_at"), now or _now())}
            return _id_of(client.call("POST", f"{account}/messages", body=body).get("message_id"))
        if channel == "instagram" and kind == "mention":
            params = {"media_id": mention.get("thread_id"), "message": text}
            if mid != mention.get("thread_id"):
                params["comment_id"] = mid
            return _id_of(client.call("POST", f"{account}/mentions", params=params).get("id"))
        if channel == "instagram":
            # Instagram takes replies under top-level comments only: a reply to a reply goes under its parent.
            target = _instagram_reply_target(mention)
            return _id_of(client.call("POST", f"{target}/replies", body={"message": text}).get("id"))
        if channel == "facebook":
            return _id_of(client.call("POST", f"{mid}/comments", body={"message": text}).get("id"))
        raise Permanent("unsupported", f"no reply path for {channel} {kind}")

    def _messaging_type(self, last_inbound_at: str | None, now: datetime) -> dict[str, str]:
        last = _parse(last_inbound_at)
        age = now - last if last else timedelta(0)
        if age <= STANDARD_WINDOW:
            return {"messaging_type": "RESPONSE"}
        if self._endpoints.messenger_human_agent and age <= HUMAN_AGENT_WINDOW:
            return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        window = "7-day human agent" if self._endpoints.messenger_human_agent else "24-hour"
        raise Permanent("outside_window", f"the person's last message is older than the {window} messaging window")

    def find_reply(self, mention: dict[str, Any], text: str, since: str) -> str | None:
        """The id of the brand's reply under this comment since `since` (ISO 8601), if the platform shows one."""
        if not self.checkable(mention):
            return None
        channel, mid, account = mention["channel"], str(mention["mention_id"]), str(mention.get("account_id") or "")
        start = (_parse(since) or _now()) - timedelta(seconds=FIND_SLACK_SECONDS)
        if channel == "facebook":
            answer = self._client("facebook").call("GET", f"{mid}/comments", params={
                "fields": "id,from,created_time", "order": "reverse_chronological", "limit": LOOKUP_LIMIT})
            stamp = "created_time"
        else:
            answer = self._client("instagram").call("GET", f"{mid}/replies", params={
                "fields": "id,from,timestamp", "limit": LOOKUP_LIMIT})
            stamp = "timestamp"
        for item in answer.get("data") or []:
            if not isinstance(item, dict):
                continue
            when = _parse(item.get(stamp))
            if str((item.get("from") or {}).get("id")) == account and (when is None or when >= start):
                return str(item.get("id"))
        return None

    def fetch_instagram_mention(self, account_id: str, media_id: str, comment_id: str | None) -> dict[str, Any]:
        """The text of an Instagram @mention (the webhook carries ids only): `{"text", "username", "timestamp"}`.

        A comment: `GET /{ig-user-id}?fields=mentioned_comment.comment_id(ID){text,username,timestamp}`; a caption:
        `mentioned_media.media_id(ID){caption,username,timestamp}` (Instagram Platform "Mentions" reference).
        """
        client = self._client("instagram")
        if comment_id and comment_id != media_id:
            answer = client.call("GET", account_id, params={
                "fields": f"mentioned_comment.comment_id({comment_id}){{id,text,username,timestamp}}"})
            found = answer.get("mentioned_comment") or {}
            text = found.get("text")
        else:
            answer = client.call("GET", account_id, params={
                "fields": f"mentioned_media.media_id({media_id}){{id,caption,username,timestamp}}"})
            found = answer.get("mentioned_media") or {}
            text = found.get("caption")
        if not isinstance(found, dict) or not isinstance(text, str):
            raise Permanent("not_found", "Instagram returned no text for this mention")
        return {"text": text, "username": found.get("username"), "timestamp": found.get("timestamp")}


def _instagram_reply_target(mention: dict[str, Any]) -> str:
    parent, media = mention.get("parent_id"), mention.get("thread_id")
    return str(parent) if parent and parent != media else str(mention["mention_id"])


def _id_of(value: object) -> str:
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
        return str(value)
    # 2xx without an id: the reply may exist; the retry checks (or a person does) rather than sending again.
    raise Transient("Meta accepted the reply without an id", maybe_sent=True)


# Fetching a mention's text happens inside Classify, before triage goes on: a short budget, and a failure recorded
# rather than waited out (triage still runs on what it has).
FETCH_TIMEOUT = (1.0, 3.0)


class InstagramMentionText:
    """`fetch(mention) -> text` for Instagram @mentions with the Instagram (or Page) token: one try, short timeouts."""

    def __init__(self, creds_provider: Any, endpoints: PlatformEndpoints | None = None,
                 session: Any = None) -> None:
        self._creds = creds_provider
        self._endpoints = endpoints or PlatformEndpoints()
        self._session = session

    def __call__(self, mention: dict[str, Any]) -> str:
        creds = self._creds.get()
        token = creds.meta_instagram_token or creds.meta_page_token
        if not token:
            raise Permanent("not_configured", "no Instagram token is configured")
        replies = MetaReplies(creds, self._endpoints, self._session)
        replies._clients["instagram"] = GraphClient(token, self._endpoints, self._session, timeout=FETCH_TIMEOUT)
        media = str(mention.get("thread_id") or mention["mention_id"])
        comment = str(mention["mention_id"]) if str(mention["mention_id"]) != media else None
        found = replies.fetch_instagram_mention(str(mention["account_id"]), media, comment)
        return str(found["text"])


def instagram_text_from_env() -> InstagramMentionText:
    """The fetcher the Classify function uses: the platform secret (SECRET_ARN) deployed, RESPONDER_* locally."""
    import os

    from responder.core.config import credentials_from_env

    return InstagramMentionText(credentials_from_env(os.environ.get("SECRET_ARN") or None),
                                PlatformEndpoints.from_env())
