"""Local stand-ins of X API v2 and the Graph API: the reply endpoints, speaking the platforms' documented wire
formats, recording what they accepted.

One ThreadingHTTPServer on 127.0.0.1 (an ephemeral port) serves both; point RESPONDER_X_API_BASE and
RESPONDER_GRAPH_API_BASE at `start()`'s URL. tweepy and requests reach it through their real request paths.

X (developer.x.com, API v2 reference): `POST /2/tweets` → 201 `{"data": {"id", "text", "edit_history_tweet_ids"}}`;
`POST /2/dm_conversations/with/{id}/messages` → 201 `{"data": {"dm_conversation_id", "dm_event_id"}}`;
`GET /2/users/{id}/tweets` (the brand's posts, with `referenced_tweets`), `GET /2/users/me`. Errors are problem
JSON `{"title", "detail", "type", "status"}`; 429 carries `x-rate-limit-limit`, `-remaining` and `-reset`.
A second post with the same text is refused (403, duplicate content) as X does.

Graph API (developers.facebook.com): `POST /{v}/{id}/comments`, `/{id}/replies`, `/{ig-user-id}/mentions` →
`{"id"}`; `POST /{v}/{page-or-ig-id}/messages` → `{"recipient_id", "message_id"}`; `POST /{v}/{phone-number-id}/
messages` (WhatsApp) → `{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id"}]}`;
`GET /{v}/{id}/comments|replies` (the replies under a comment); `GET /{v}/{ig-user-id}?fields=mentioned_comment…`
or `mentioned_media…`. Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.

Every request must carry credentials (X: `Authorization: OAuth …` or `Bearer …`; Graph: `access_token` or
`Authorization: Bearer …`); the stand-ins check their presence, never their value.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHANNELS = ("x", "facebook", "instagram", "messenger", "whatsapp")
MAX_BODY_BYTES = 1_000_000
# Where the stand-in serves batch compliance's pre-signed upload and download URLs (cloud storage, for X).
COMPLIANCE_STORAGE = "/x-compliance-storage"
X_POST_MAX_CHARS = 280  # a standard account's post (X counts URLs and emoji differently; the sender pre-checks)
X_RATE_LIMIT = 100  # "POST /2/tweets: 100 requests per 15 minutes per user" (X API v2 rate limits)
X_RATE_WINDOW_SECONDS = 900


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now().microsecond // 1000:03d}Z"


def _x_problem(status: int, title: str, detail: str) -> dict[str, Any]:
    kind = {401: "about:blank", 403: "about:blank", 404: "https://api.x.com/2/problems/resource-not-found",
            429: "about:blank"}.get(status, "about:blank")
    return {"title": title, "detail": detail, "type": kind, "status": status}


def x_error(status: int, detail: str | None = None) -> dict[str, Any]:
    """X's problem JSON for a status (the titles X uses)."""
    titles = {400: "Invalid Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found Error",
              429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
    return _x_problem(status, titles.get(status, "Error"), detail or titles.get(status, "Error"))


def meta_error(code: int, message: str, subcode: int | None = None, transient: bool | None = None,
               kind: str = "OAuthException") -> dict[str, Any]:
    """The Graph API's error body."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": "A" + secrets.token_hex(10)}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    return {"error": error}


@dataclass
class _Injected:
    spec: str  # a channel name, or a path prefix ("/2/tweets", "/v26.0/123/comments")
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    delay: float = 0.0
    accept: bool = False  # accept the request (and record it), then answer late: a read timeout after success


class PlatformStandins:
    """X API v2 and Graph API stand-ins on one loopback port."""

    def __init__(self, x_user_id: str = "1000000000000000001", page_id: str | None = None,
                 ig_user_id: str | None = None, x_handle: str = "brand") -> None:
        self.x_user_id = x_user_id
        self.x_handle = x_handle
        self.page_id = page_id  # Messenger messages to this id are `messenger`; comments are from it
        self.ig_user_id = ig_user_id  # messages to this id are Instagram DMs; replies are from it
        self._records: list[dict[str, Any]] = []
        self._posts: list[dict[str, Any]] = []  # the brand's X posts (GET /2/users/:id/tweets)
        self._comments: list[dict[str, Any]] = []  # the brand's Meta comments and replies
        self._ig_mentions: dict[str, dict[str, Any]] = {}
        self._compliance: dict[tuple[str, str], tuple[str, str]] = {}  # (type, id) -> (action, reason)
        self._jobs: dict[str, dict[str, Any]] = {}  # batch compliance jobs, with the ids uploaded to each
        self.compliance_polls_before_complete = 1  # status checks answered `in_progress` after the upload
        self._injected: list[_Injected] = []
        self._requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    # -- control -----------------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on 127.0.0.1 (an ephemeral port); the base URL."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="platform-standins", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> PlatformStandins:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sent(self) -> list[dict[str, Any]]:
        """Every reply accepted: `{"channel", "in_reply_to", "text", "reply_id", "sent_at", "route",
        "recipient"}`."""
        with self._lock:
            return [dict(r) for r in self._records]

    def requests(self) -> list[dict[str, Any]]:
        """Every request seen (method, path, channel, status), accepted or not."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def fail_next(self, channel_or_route: str, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  times: int = 1) -> None:
        """Answer the next `times` requests of a channel (or under a path prefix) with this error. Without a body,
        the platform's documented one for the status; a 429 on X gets the x-rate-limit-* headers (reset: +60 s)."""
        x = channel_or_route == "x" or channel_or_route.startswith("/2/")
        if body is None:
            body = x_error(status) if x else meta_error(2 if status >= 500 else 100, "Stand-in error",
                                                        transient=status >= 500 or None)
        hdrs = dict(headers or {})
        if x and status == 429:
            hdrs.setdefault("x-rate-limit-limit", str(X_RATE_LIMIT))
            hdrs.setdefault("x-rate-limit-remaining", "0")
            hdrs.setdefault("x-rate-limit-reset", str(int(time.time()) + 60))
        with self._lock:
            self._injected.append(_Injected(channel_or_route, status, body, hdrs, times))

    def answer_late(self, channel_or_route: str, seconds: float, times: int = 1) -> None:
        """Accept (and record) the next request, then answer only after `seconds`: the client's read timeout fires
        after the platform took the reply."""
        with self._lock:
            self._injected.append(_Injected(channel_or_route, 200, None, {}, times, delay=seconds, accept=True))

    def add_instagram_mention(self, media_id: str, text: str, username: str = "someone",
                              comment_id: str | None = None) -> None:
        """What `GET /{ig-user-id}?fields=mentioned_comment|mentioned_media` returns for this mention."""
        with self._lock:
            self._ig_mentions[comment_id or media_id] = {"id": comment_id or media_id, "text": text,
                                                         "username": username, "timestamp": _now_iso()}

    # -- the fake platforms ------------------------------------------------------------------------------

    def mark_compliance(self, kind: str, item_id: str, reason: str = "deleted", action: str = "delete") -> None:
        """What X's batch compliance answers for a post (`tweets`) or a user (`users`) id from now on."""
        with self._lock:
            self._compliance[(kind, item_id)] = (action, reason)

    def compliance_jobs(self) -> list[dict[str, Any]]:
        """Every batch compliance job created: type, name, status and the ids uploaded."""
        with self._lock:
            return [{k: (list(v) if isinstance(v, list) else v) for k, v in job.items()} for job in self._jobs.values()]

    def _compliance_job(self, job: dict[str, Any]) -> dict[str, Any]:
        storage = f"{self.base_url}{COMPLIANCE_STORAGE}/{job['id']}"
        return {"id": job["id"], "type": job["type"], "name": job["name"], "status": job["status"],
                "created_at": job["created_at"], "upload_url": f"{storage}/upload",
                "download_url": f"{storage}/download", "resumable": False}

    def _x_compliance(self, method: str, path: str, body: Any) -> tuple[int, Any] | None:
        """X API v2 batch compliance: create a job, read its status (app-only auth, checked by the caller)."""
        if method == "POST" and path == "/2/compliance/jobs":
            kind = body.get("type") if isinstance(body, dict) else None
            if kind not in ("tweets", "users"):
                return 400, x_error(400, "type must be one of [tweets, users]")
            with self._lock:
                if any(j["type"] == kind and j["status"] in ("created", "in_progress") for j in self._jobs.values()):
                    return 400, x_error(400, f"There is already an active job of type {kind}.")
                job_id = str(1_700_000_000_000_000_000 + self._next_id())
                self._jobs[job_id] = {"id": job_id, "type": kind, "name": str(body.get("name") or "")[:64],
                                      "status": "created", "created_at": _now_iso(), "ids": [], "polls": 0}
                return 200, {"data": self._compliance_job(self._jobs[job_id])}
        m = re.fullmatch(r"/2/compliance/jobs/([0-9]+)", path)
        if method == "GET" and m:
            with self._lock:
                job = self._jobs.get(m.group(1))
                if job is None:
                    return 404, x_error(404, "Could not find compliance job")
                if job["status"] == "in_progress":
                    job["polls"] += 1
                    if job["polls"] > self.compliance_polls_before_complete:
                        job["status"] = "complete"
                return 200, {"data": self._compliance_job(job)}
        return None

    def _compliance_storage(self, method: str, path: str, raw: bytes) -> tuple[int, bytes]:
        """The pre-signed upload and download URLs (cloud storage in X's case: no Authorization header)."""
        m = re.fullmatch(COMPLIANCE_STORAGE + r"/([0-9]+)/(upload|download)", path)
        with self._lock:
            job = self._jobs.get(m.group(1)) if m else None
            if job is None:
                return 404, b"no such object"
            if m.group(2) == "upload" and method == "PUT":
                if job["status"] != "created":
                    return 400, b"already uploaded"
                job["ids"] = [line.strip() for line in raw.decode("ascii").splitlines() if line.strip()]
                job["status"] = "in_progress"
                return 200, b""
            if m.group(2) == "download" and method == "GET":
                if job["status"] != "complete":
                    return 404, b"no results yet"
                lines = []
                for item_id in job["ids"]:
                    found = self._compliance.get((job["type"], item_id))
                    if found:
                        lines.append(json.dumps({"id": item_id, "action": found[0], "created_at": job["created_at"],
                                                 "redacted_at": _now_iso(), "reason": found[1]},
                                                separators=(",", ":")))
                return 200, ("\n".join(lines) + ("\n" if lines else "")).encode()
        return 405, b"method not allowed"

    def _take_injected(self, path: str, channel: str) -> _Injected | None:
        with self._lock:
            for injected in self._injected:
                if injected.spec == channel or (injected.spec.startswith("/") and path.startswith(injected.spec)):
                    injected.times -= 1
                    if injected.times <= 0:
                        self._injected.remove(injected)
                    return injected
        return None

    def _record(self, channel: str, route: str, in_reply_to: str | None, text: str, reply_id: str,
                recipient: str | None, **extra: Any) -> dict[str, Any]:
        record = {"channel": channel, "in_reply_to": in_reply_to, "text": text, "reply_id": reply_id,
                  "sent_at": _now_iso(), "route": route, "recipient": recipient, **extra}
        self._records.append(record)
        return record

    def _next_id(self) -> int:
        return next(self._ids)

    def _x(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/2/tweets":
            text = body.get("text") if isinstance(body, dict) else None
            reply_to = ((body or {}).get("reply") or {}).get("in_reply_to_tweet_id")
            if not isinstance(text, str) or not text:
                return 400, x_error(400, "The `text` field is required.")
            if len(text) > X_POST_MAX_CHARS:
                return 400, x_error(400, "Your Tweet text is too long.")
            with self._lock:
                if any(p["text"] == text for p in self._posts):
                    return 403, x_error(403, "You are not allowed to create a Tweet with duplicate content.")
                post_id = str(1_900_000_000_000_000_000 + self._next_id())
                post = {"id": post_id, "text": text, "created_at": _now_iso(), "author_id": self.x_user_id,
                        "edit_history_tweet_ids": [post_id]}
                if reply_to:
                    post["referenced_tweets"] = [{"type": "replied_to", "id": str(reply_to)}]
                self._posts.append(post)
                self._record("x", path, str(reply_to) if reply_to else None, text, post_id, None)
            return 201, {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}}
        m = re.fullmatch(r"/2/dm_conversations/with/([0-9A-Za-z_-]+)/messages", path)
        if method == "POST" and m:
            text = body.get("text") if isinstance(body, dict) else None
            if not isinstance(text, str) or not text:
                return 400, x_error(400, "The `text` field is required.")
            participant = m.group(1)
            with self._lock:
                event_id = str(1_800_000_000_000_000_000 + self._next_id())
                low, high = sorted((participant, self.x_user_id))
                self._record("x", path, None, text, event_id, participant, kind="dm")
            return 201, {"data": {"dm_conversation_id": f"{low}-{high}", "dm_event_id": event_id}}
        m = re.fullmatch(r"/2/users/([0-9]+)/tweets", path)
        if method == "GET" and m:
            start = (query.get("start_time") or [""])[0]
            limit = int((query.get("max_results") or ["10"])[0])
            with self._lock:
                posts = [dict(p) for p in reversed(self._posts)
                         if p["author_id"] == m.group(1) and (not start or p["created_at"] >= start)][:limit]
            return 200, ({"data": posts, "meta": {"result_count": len(posts)}} if posts else
                         {"meta": {"result_count": 0}})
        compliance = self._x_compliance(method, path, body)
        if compliance is not None:
            return compliance
        if method == "GET" and path == "/2/users/me":
            return 200, {"data": {"id": self.x_user_id, "name": "Brand", "username": self.x_handle}}
        return 404, x_error(404, f"no route {method} {path}")

    def _graph(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        if len(parts) == 2 and parts[1] in ("comments", "replies") and method == "POST":
            text = body.get("message") or (query.get("message") or [None])[0]
            if not isinstance(text, str) or not text:
                return 400, meta_error(100, "(#100) The parameter message is required")
            channel = "facebook" if parts[1] == "comments" else "instagram"
            author = self.page_id if channel == "facebook" else self.ig_user_id
            with self._lock:
                reply_id = f"{parts[0]}_{self._next_id()}" if channel == "facebook" else str(
                    17_900_000_000_000_000 + self._next_id())
                self._comments.append({"id": reply_id, "parent": parts[0], "from": {"id": author},
                                       "created_time": _now_iso(), "timestamp": _now_iso(), "message": text})
                self._record(channel, f"/{parts[1]}", parts[0], text, reply_id, None)
            return 200, {"id": reply_id}
        if len(parts) == 2 and parts[1] in ("comments", "replies") and method == "GET":
            with self._lock:
                found = [dict(c) for c in reversed(self._comments) if c["parent"] == parts[0]]
            return 200, {"data": found}
        if len(parts) == 2 and parts[1] == "mentions" and method == "POST":
            text = (query.get("message") or [None])[0] or body.get("message")
            media = (query.get("media_id") or [None])[0] or body.get("media_id")
            comment = (query.get("comment_id") or [None])[0] or body.get("comment_id")
            if not text or not media:
                return 400, meta_error(100, "(#100) The parameters media_id and message are required")
            with self._lock:
                reply_id = str(17_800_000_000_000_000 + self._next_id())
                self._record("instagram", "/mentions", str(comment or media), text, reply_id, None)
            return 200, {"id": reply_id}
        if len(parts) == 2 and parts[1] == "messages" and method == "POST":
            return self._graph_message(parts[0], body)
        if len(parts) == 1 and method == "GET":
            fields = (query.get("fields") or [""])[0]
            m = re.match(r"(mentioned_comment\.comment_id|mentioned_media\.media_id)\(([^)]+)\)", fields)
            if not m:
                return 400, meta_error(100, "(#100) Unsupported get request")
            with self._lock:
                found = self._ig_mentions.get(m.group(2))
            if found is None:
                return 400, meta_error(100, "(#100) Unsupported get request. Object does not exist", 33)
            key = "mentioned_comment" if m.group(1).startswith("mentioned_comment") else "mentioned_media"
            value = {"id": found["id"], "username": found["username"], "timestamp": found["timestamp"]}
            value["text" if key == "mentioned_comment" else "caption"] = found["text"]
            return 200, {key: value, "id": parts[0]}
        return 400, meta_error(100, f"(#100) Unsupported {method} request")

    def _graph_message(self, account: str, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("messaging_product") == "whatsapp":
            to, text = body.get("to"), (body.get("text") or {}).get("body")
            if body.get("type") != "text" or not to or not text:
                return 400, meta_error(100, "(#100) Invalid parameter", kind="OAuthException")
            with self._lock:
                wamid = "wamid.HBgL" + secrets.token_hex(12).upper()
                context = (body.get("context") or {}).get("message_id")
                self._record("whatsapp", "/messages", context, text, wamid, str(to))
            return 200, {"messaging_product": "whatsapp", "contacts": [{"input": str(to), "wa_id": str(to)}],
                         "messages": [{"id": wamid}]}
        recipient = (body.get("recipient") or {}).get("id")
        text = (body.get("message") or {}).get("text")
        kind = body.get("messaging_type")
        if not recipient or not text or kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return 400, meta_error(100, "(#100) Invalid parameter")
        if kind == "MESSAGE_TAG" and body.get("tag") != "HUMAN_AGENT":
            return 400, meta_error(100, "(#100) Tag is required for MESSAGE_TAG")
        channel = "instagram" if account == self.ig_user_id else "messenger"
        with self._lock:
            message_id = "m_" + secrets.token_urlsafe(24)
            self._record(channel, "/messages", None, text, message_id, str(recipient), messaging_type=kind,
                         tag=body.get("tag"))
        return 200, {"recipient_id": str(recipient), "message_id": message_id}

    def _channel_of(self, path: str, body: Any) -> str:
        if path.startswith("/2/"):
            return "x"
        if path.endswith("/comments"):
            return "facebook"
        if path.endswith("/replies") or path.endswith("/mentions"):
            return "instagram"
        if path.endswith("/messages"):
            if isinstance(body, dict) and body.get("messaging_product") == "whatsapp":
                return "whatsapp"
            account = path.strip("/").split("/")[1] if path.count("/") >= 3 else ""
            return "instagram" if account == self.ig_user_id else "messenger"
        return "instagram"

    def _handle(self, method: str, raw_path: str, headers: Any, raw_body: bytes
                ) -> tuple[int, Any, dict[str, str], _Injected | None]:
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query)
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        channel = self._channel_of(path, body)
        x = channel == "x"
        auth = headers.get("Authorization") or ""
        if x and not (auth.startswith("OAuth ") or auth.startswith("Bearer ")):
            return 401, x_error(401), {}, None
        if not x and not (auth.startswith("Bearer ") or query.get("access_token")):
            return 400, meta_error(2500, "An active access token must be used to query information about the "
                                         "current user.", kind="OAuthException"), {}, None
        if path.startswith("/2/compliance/") and not auth.startswith("Bearer "):
            # Batch compliance takes app-only authentication only (X API v2, "Authentication: OAuth 2.0 App-only").
            return 403, x_error(403, "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint."), \
                {}, None
        injected = self._take_injected(path, channel)
        if injected is not None and not injected.accept:
            return injected.status, injected.body, injected.headers, injected
        if x:
            status, answer = self._x(method, path, query, body)
        else:
            parts = path.strip("/").split("/")
            if not parts or not re.fullmatch(r"v\d+\.\d+", parts[0]):
                return 400, meta_error(2635, "Unknown API version"), {}, None
            status, answer = self._graph(method, parts[1:], query, body)
        return status, answer, {}, injected

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standins = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, MAX_BODY_BYTES)) if length else b""
                if urlsplit(self.path).path.startswith(COMPLIANCE_STORAGE + "/"):
                    code, data = standins._compliance_storage(self.command, urlsplit(self.path).path, raw)
                    with standins._lock:
                        standins._requests.append({"method": self.command, "path": urlsplit(self.path).path,
                                                   "status": code})
                    self.send_response(code)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                status, answer, hdrs, injected = standins._handle(self.command, self.path, self.headers, raw)
                with standins._lock:
                    standins._requests.append({"method": self.command, "path": urlsplit(self.path).path,
                                               "status": status})
                if injected is not None and injected.delay:
                    time.sleep(injected.delay)
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in hdrs.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up waiting (a read timeout under test): nothing left to answer.
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return  # request lines carry ids of private conversations: not printed

        return Handler


def standin_env(base_url: str) -> dict[str, str]:
    """The environment that points the reply clients at the stand-ins."""
    return {"RESPONDER_X_API_BASE": base_url, "RESPONDER_GRAPH_API_BASE": base_url}

