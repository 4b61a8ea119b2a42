"""Replies on X through tweepy: a post in reply to the mention, or a DM to its author.

tweepy (4.17) builds every URL as `"https://api.twitter.com" + route` inside `Client.request` and passes no
timeout. The client here keeps tweepy's whole request path (parameters, OAuth 1.0a signing, error classes) and
swaps only its `requests.Session` for one that moves that origin to the configured base (`https://api.x.com`
deployed, the loopback stand-ins locally) and bounds every call (connect 3 s, read 10 s): a Lambda must never
wait on a hung socket. The OAuth 1.0a signature is computed on the rewritten URL, so it stays valid.
`wait_on_rate_limit` stays off: it would sleep inside the function; a 429 becomes RateLimited instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from responder.core.config import PlatformCredentials, PlatformEndpoints
from responder.platforms.errors import Permanent, classify_x_error

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 10.0
TWEEPY_ORIGIN = "https://api.twitter.com"
# GET /2/users/:id/tweets returns at most 100 posts per page (X API v2 reference); a brand answering more than
# that in the minutes since a crashed send is beyond what one look-up can tell.
TIMELINE_PAGE = 100
# How far before the send started the brand's timeline is searched (clock skew between AWS and X).
FIND_SLACK_SECONDS = 120


def _session_class() -> type:
    import requests

    class RoutedSession(requests.Session):
        """A session that sends tweepy's fixed origin to `base` and never waits without a timeout."""

        def __init__(self, base: str) -> None:
            super().__init__()
            self.base = base

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if url.startswith(TWEEPY_ORIGIN):
                url = self.base + url[len(TWEEPY_ORIGIN):]
            kwargs.setdefault("timeout", (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS))
            return super().request(method, url, *args, **kwargs)

    return RoutedSession


class XReplies:
    """Replies as the brand's X account: OAuth 1.0a user context, or an OAuth 2.0 user token."""

    def __init__(self, creds: PlatformCredentials, endpoints: PlatformEndpoints | None = None,
                 client: Any = None) -> None:
        if not (creds.x_user_context or creds.x_user_token):
            raise Permanent("not_configured", "X reply credentials are not configured")
        self._creds = creds
        self._endpoints = endpoints or PlatformEndpoints()
        self._client = client
        self._user_auth = creds.x_user_context  # OAuth 1.0a when complete, else the OAuth 2.0 user token

    @property
    def client(self) -> Any:
        if self._client is None:
            import tweepy  # only a function that sends on X pays for tweepy's import

            c = self._creds
            if self._user_auth:
                client = tweepy.Client(consumer_key=c.x_consumer_key, consumer_secret=c.x_consumer_secret,
                                       access_token=c.x_access_token, access_token_secret=c.x_access_token_secret,
                                       return_type=dict, wait_on_rate_limit=False)
            else:
                client = tweepy.Client(bearer_token=c.x_user_token, return_type=dict, wait_on_rate_limit=False)
            client.session = _session_class()(self._endpoints.x_api_base)
            self._client = client
        return self._client

    def _secrets(self) -> tuple[str | None, ...]:
        c = self._creds
        return (c.x_consumer_key, c.x_consumer_secret, c.x_access_token, c.x_access_token_secret, c.x_user_token)

    def checkable(self, mention: dict[str, Any]) -> bool:
        """Whether a crashed send can be looked up: posts yes (the brand's timeline), DMs no."""
        return mention.get("kind") != "dm" and bool(self._brand_id(mention))

    def _brand_id(self, mention: dict[str, Any]) -> str | None:
        return self._creds.x_user_id or mention.get("account_id")

    def reply(self, mention: dict[str, Any], text: str) -> str:
        """Send the reply; the platform's id of what was created. Raises a PlatformError."""
        try:
            if mention.get("kind") == "dm":
                participant = (mention.get("author") or {}).get("id")
                if not participant:
                    raise Permanent("no_recipient", "the DM's author is unknown")
                answer = self.client.create_direct_message(participant_id=participant, text=text,
                                                           user_auth=self._user_auth)
                reply_id = (answer.get("data") or {}).get("dm_event_id")
            else:
                answer = self.client.create_tweet(text=text, in_reply_to_tweet_id=mention["mention_id"],
                                                  user_auth=self._user_auth)
                reply_id = (answer.get("data") or {}).get("id")
        except Permanent:
            raise
        except Exception as exc:  # noqa: BLE001 - every tweepy / requests failure is classified, others re-raised
            raise classify_x_error(exc, self._secrets()) from exc
        if not reply_id:
            # 2xx without an id: the reply probably exists; the retry's look-up finds it (or a person does).
            from responder.platforms.errors import Transient

            raise Transient("X accepted the reply without an id", maybe_sent=True)
        return str(reply_id)

    def find_reply(self, mention: dict[str, Any], text: str, since: str) -> str | None:
        """The id of the brand's post replying to this mention since `since` (ISO 8601), if X shows one."""
        brand = self._brand_id(mention)
        if mention.get("kind") == "dm" or not brand:
            return None
        start = _parse(since) - timedelta(seconds=FIND_SLACK_SECONDS)
        try:
            answer = self.client.get_users_tweets(brand, start_time=start, max_results=TIMELINE_PAGE,
                                                  tweet_fields=["referenced_tweets", "created_at"],
                                                  user_auth=self._user_auth)
        except Exception as exc:  # noqa: BLE001 - classified like a send
            raise classify_x_error(exc, self._secrets()) from exc
        for post in answer.get("data") or []:
            for ref in post.get("referenced_tweets") or []:
                if ref.get("type") == "replied_to" and str(ref.get("id")) == str(mention["mention_id"]):
                    return str(post["id"])
        return None


def _parse(iso: str) -> datetime:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (AttributeError, ValueError):
        return datetime.now(timezone.utc) - timedelta(hours=1)
