"""Benchmarks: each prints its figures and ratios (never a timed assertion); shared helpers below."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def wait_for_local(base: str, session: Any = None, timeout: float = 180.0) -> bool:
    """Wait until a `responder local` at `base` answers its health route; False if it never does in time."""
    import requests

    http = session or requests
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(f"{base}/local/health", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            time.sleep(0.3)
    return False


def xaa_mention(post_id: str, author: str, text: str, created_at: datetime | None = None) -> bytes:
    """An X Activity API mention delivery with fresh ids, from the project's fixture (no attachments, no media)."""
    body = json.loads((REPO / "tests/fixtures/x/xaa_post_mention_create.json").read_text())
    payload = body["data"]["payload"]
    original = payload["author_id"]
    payload.update(id=post_id, conversation_id=post_id, edit_history_tweet_ids=[post_id], author_id=author, text=text,
                   created_at=(created_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    payload.pop("attachments", None)
    for user in body["data"]["includes"].get("users", []):
        if user["id"] == original:
            user["id"] = author
    body["data"]["includes"].pop("media", None)
    body["data"]["event_uuid"] = f"9{post_id}"
    return json.dumps(body).encode()
