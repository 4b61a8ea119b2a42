"""A mention stored but never enqueued (the webhook died between the write and the send) is triaged anyway:
`responder local` runs the deployed sweeper's handler on a timer, against DynamoDB Local and the real workflow."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from responder.core.model import Author, Mention
from responder_cli.local.stack import LocalStack

pytestmark = pytest.mark.slow


def test_a_stranded_mention_is_found_enqueued_and_triaged(tmp_path):
    # Given the local stack with a fast sweep, and a mention written to the table with no triage message sent
    stack = LocalStack(port=0, outbox=tmp_path / "outbox.jsonl", log_level="ERROR", sweep_interval=0.5,
                       sweep_grace_seconds=1).start()
    try:
        mention = Mention(platform="x", channel="x", kind="mention", mention_id="3299000000000000001",
                          thread_id="3299000000000000001", author=Author(id="5000000123", handle="casey_q"),
                          text="@acme my order never arrived and nobody answers", created_at="2026-12-01T10:00:00Z",
                          account_id="100", source="xaa", lang="en")
        assert stack._store.save(mention, datetime.now(timezone.utc)).created
        assert stack._store.get_mention("x", mention.mention_id)["status"] == "received"
        # When the sweeper's next runs pass
        deadline = time.monotonic() + 30
        stored = None
        while time.monotonic() < deadline:
            stored = stack._store.get_mention("x", mention.mention_id)
            if stored["status"] in ("notified", "archived", "triage_failed"):
                break
            time.sleep(0.2)
        # Then it was handed to triage and notified like any other mention
        assert stored["status"] == "notified", stored
    finally:
        stack.stop()
