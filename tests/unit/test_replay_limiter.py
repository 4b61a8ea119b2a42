"""The replayer's open-loop schedule: slots are fixed in advance and a late sender catches up."""

from __future__ import annotations

import pytest

from responder_cli import replay


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(replay.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(replay.time, "sleep", fake.sleep)
    return fake


def test_sends_are_spaced_at_the_rate(clock: Clock) -> None:
    limiter = replay.RateLimiter(10.0)
    for _ in range(4):
        limiter.wait()
    assert clock.sleeps == [0.1, 0.1, 0.1]
    assert clock.now == pytest.approx(100.3)


def test_a_sender_that_fell_behind_catches_up_without_waiting(clock: Clock) -> None:
    limiter = replay.RateLimiter(10.0)
    limiter.wait()
    clock.now += 0.55  # every sender was busy with slow answers for 0.55 s: slots 0.1 .. 0.5 are overdue
    for _ in range(5):
        limiter.wait()
    assert clock.sleeps == []
    limiter.wait()  # slot 0.6 is still ahead
    assert clock.sleeps == [pytest.approx(0.05)]


def test_no_limit_at_rate_zero(clock: Clock) -> None:
    limiter = replay.RateLimiter(0.0)
    for _ in range(100):
        limiter.wait()
    assert clock.sleeps == []
