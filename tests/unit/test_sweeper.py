"""Nothing stays `received` forever: the sweeper enqueues mentions that a crash left between the write and the send,
and leaves alone those merely waiting in a queue that is behind."""

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


class Backlog:
    """The triage queue's oldest message age, as its CloudWatch metric reports it."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    def oldest_age_seconds(self) -> float:
        return self.seconds


def stored_but_never_sent(store: InMemoryStore, received_at: datetime, fixture: str = "x/xaa_post_mention_create.json"):
    (mention,) = normalize_x(fixture_json(fixture)).mentions
    with pytest.raises(SystemExit):  # the crash under test: the write happened, the send did not
        ingest([mention], store, CrashingQueue(), received_at=received_at)
    return mention


def test_a_mention_stranded_by_a_crash_is_enqueued_once_by_the_next_sweeps():
    # Given a mention stored five minutes ago whose triage message was never sent
    store, queue = InMemoryStore(), FakeQueue()
    mention = stored_but_never_sent(store, NOW - timedelta(minutes=5))
    assert store.mentions[("x", mention.mention_id)]["status"] == "received"
    # When the sweeper runs
    assert requeue_stranded(store, queue, Backlog(), now=NOW) == 1
    # Then it is enqueued, and the next sweeps (triage has not claimed it yet) do not send it again
    assert [m.mention_id for m in queue.sent] == [mention.mention_id]
    assert requeue_stranded(store, queue, Backlog(), now=NOW + timedelta(minutes=2)) == 0
    assert requeue_stranded(store, queue, Backlog(), now=NOW + timedelta(minutes=4)) == 0
    assert len(queue.sent) == 1


def test_a_mention_still_inside_the_grace_period_is_left_to_its_webhook_call():
    store, queue = InMemoryStore(), FakeQueue()
    stored_but_never_sent(store, NOW - timedelta(seconds=10))
    assert requeue_stranded(store, queue, Backlog(), now=NOW, grace_seconds=60) == 0
    assert queue.sent == []


def test_a_mention_waiting_in_a_queue_that_is_behind_is_not_swept_but_one_older_than_the_backlog_is():
    # Given a surge: the triage queue's oldest message is 20 minutes old, a mention enqueued 10 minutes ago waits
    # in it (still `received`), and one stored 30 minutes ago was never enqueued
    store, queue = InMemoryStore(), FakeQueue()
    stranded = stored_but_never_sent(store, NOW - timedelta(minutes=30))
    (waiting,) = normalize_x(fixture_json("x/xaa_post_reply_create.json")).mentions
    ingest([waiting], store, FakeQueue(), received_at=NOW - timedelta(minutes=10))
    backlog = Backlog(20 * 60)
    # When the sweeper runs, with its first sweep looking an hour back
    assert requeue_stranded(store, queue, backlog, now=NOW) == 1
    # Then only the one older than the backlog is enqueued
    assert [m.mention_id for m in queue.sent] == [stranded.mention_id]
    # And while the queue stays behind, later sweeps never send the waiting one nor the stranded one again
    for minutes in (2, 4, 6):
        backlog.seconds = 20 * 60 + minutes * 60
        assert requeue_stranded(store, queue, backlog, now=NOW + timedelta(minutes=minutes)) == 0
    # And once triage has recorded the waiting one and the queue drained, nothing is sent again
    store.record_outcome(waiting.channel, waiting.mention_id)
    backlog.seconds = 0
    assert requeue_stranded(store, queue, backlog, now=NOW + timedelta(minutes=30)) == 0
    assert [m.mention_id for m in queue.sent] == [stranded.mention_id]


def test_mentions_triage_recorded_are_never_swept():
    store, queue = InMemoryStore(), FakeQueue()
    (mention,) = normalize_x(fixture_json("x/xaa_post_mention_create.json")).mentions
    ingest([mention], store, queue, received_at=NOW - timedelta(minutes=30))
    store.record_outcome(mention.channel, mention.mention_id)
    assert requeue_stranded(store, FakeQueue(), Backlog(), now=NOW) == 0


def test_a_sweep_short_of_time_stops_between_windows_and_the_next_run_goes_on_from_there():
    # Given a mention stranded 20 minutes ago (the third 15-minute window of a first sweep's hour) and a run with
    # little time left after its first window
    store, queue = InMemoryStore(), FakeQueue()
    mention = stored_but_never_sent(store, NOW - timedelta(minutes=20))
    left = iter([59.0, 5.0])
    # When the sweeper runs with the Lambda context's remaining time
    assert requeue_stranded(store, queue, Backlog(), now=NOW, seconds_left=lambda: next(left)) == 0
    # Then it swept one window and stopped, moving the watermark only as far as it got
    assert queue.sent == [] and store.sweep_watermark() < NOW - timedelta(minutes=40)
    # And the next run, with time to spare, finds the mention
    assert requeue_stranded(store, queue, Backlog(), now=NOW + timedelta(minutes=2), seconds_left=lambda: 59.0) == 1
    assert [m.mention_id for m in queue.sent] == [mention.mention_id]


def test_the_sweep_lag_is_how_far_behind_now_the_watermark_is():
    from responder.ingest.sweeper import sweep_lag_seconds

    # Given a store never swept, Then there is no lag to report
    store = InMemoryStore()
    assert sweep_lag_seconds(store, NOW) is None
    # When a sweep has run, Then the lag is the time between its watermark and now: the grace period at least
    requeue_stranded(store, FakeQueue(), Backlog(0), now=NOW, grace_seconds=180)
    assert sweep_lag_seconds(store, NOW) == 180.0
    # And a queue an hour behind holds the watermark back by that hour too
    requeue_stranded(store, FakeQueue(), Backlog(3600), now=NOW + timedelta(minutes=5), grace_seconds=180)
    assert sweep_lag_seconds(store, NOW + timedelta(minutes=5)) == 180.0 + 300
