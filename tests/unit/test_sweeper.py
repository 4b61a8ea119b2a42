"""Nothing stays `received` forever: the sweeper enqueues mentions that a crash left between the write and the send."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from responder.ingest.intake import ingest
from responder.ingest.normalize_x import normalize_x
from responder.ingest.sweeper import requeue_stranded
from tests.conftest import fixture_json
from tests.fakes import FakeQueue, InMemoryStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class CrashingQueue(FakeQueue):
    """The process dies after the write and before the send (a Lambda timeout, a killed container)."""

    def enqueue(self, mentions):
        raise SystemExit("container killed")


def stored_but_never_sent(store: InMemoryStore, received_at: datetime):
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    with pytest.raises(SystemExit):  # the crash under test: the write happened, the send did not
        ingest([mention], store, CrashingQueue(), received_at=received_at)
    return mention


def test_a_mention_stranded_by_a_crash_is_enqueued_once_by_the_next_sweep():
    # Given a mention stored two minutes ago whose triage message was never sent
    store, queue = InMemoryStore(), FakeQueue()
    mention = stored_but_never_sent(store, NOW - timedelta(minutes=2))
    assert store.mentions[("x", mention.mention_id)]["status"] == "received"
    # When the sweeper runs
    assert requeue_stranded(store, queue, now=NOW) == 1
    # Then it is enqueued and marked queued, and the next sweep finds nothing more
    assert [m.mention_id for m in queue.sent] == [mention.mention_id]
    assert store.mentions[("x", mention.mention_id)]["status"] == "queued"
    assert requeue_stranded(store, queue, now=NOW + timedelta(minutes=2)) == 0
    assert len(queue.sent) == 1


def test_a_mention_still_inside_the_grace_period_is_left_to_its_webhook_call():
    store, queue = InMemoryStore(), FakeQueue()
    stored_but_never_sent(store, NOW - timedelta(seconds=10))
    assert requeue_stranded(store, queue, now=NOW, grace_seconds=60) == 0
    assert queue.sent == []


def test_mentions_handed_to_triage_are_never_swept():
    store, queue = InMemoryStore(), FakeQueue()
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    ingest([mention], store, queue, received_at=NOW - timedelta(hours=1))
    assert requeue_stranded(store, FakeQueue(), now=NOW) == 0
