"""The demo's generated posts are dated as a platform delivers them: never after they are sent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from responder_cli.replay import build_deliveries


def test_at_the_demos_rate_no_post_is_dated_after_it_is_sent():
    # Given the demo's traffic (150 everyday posts, a surge of 60 in the middle, a tenth repeated) to be sent at 40/s
    # from now (the replayer's open-loop schedule sends the n-th delivery n / 40 s after the first, never sooner)
    before = datetime.now(timezone.utc)
    deliveries = build_deliveries(None, count=150, surge=60, seed=7, duplicates=0.1, rate=40)
    # Then every post is dated no later than its turn in the sending order (a post delivered before it was posted
    # would be due, and counted answered, from a time that has not come yet)
    late = [n for n, d in enumerate(deliveries) if d.at > before + timedelta(seconds=n / 40 + 1)]
    assert late == []
    # And the surge is still in the middle of the everyday traffic, each part in the order it is posted
    surge = [n for n, d in enumerate(deliveries) if d.truth.get("surge")]
    assert 60 <= len(surge) and surge[0] > 50 and surge[-1] < len(deliveries) - 50


def test_without_a_rate_posts_keep_the_timeline_of_a_second_apart():
    # Given the generator's own timeline (tools that replay on a clock of their own)
    deliveries = build_deliveries(None, count=10, surge=0, seed=7, duplicates=0.0)
    # Then the everyday posts are a second apart
    gaps = {(b.at - a.at).total_seconds() for a, b in zip(deliveries, deliveries[1:])}
    assert gaps == {1.0}
