"""The surge bench's crisis mentions: spread through the surge, part of it, and crises to the classifier."""

from __future__ import annotations

from bench.surge_bench import CRISIS_SENTENCES, with_crises
from responder.classification.classify import classify
from responder_cli.traffic import surge_scenario


def _text(delivery) -> str:
    return delivery.body["data"]["payload"]["text"]  # an X Activity API mention: what with_crises builds


def test_crises_are_spread_through_the_surge_and_classified_as_crises():
    surge = [d for d in surge_scenario("held_out", seed=23, surge=60, background=0) if d.truth.get("surge")]
    mixed = with_crises(surge, 6, seed=23)
    added = [d for d in mixed if d.truth.get("crisis_sentence")]
    assert len(mixed) == 66 and len(added) == 6
    assert [d for d in mixed if not d.truth.get("crisis_sentence")] == surge  # the surge's own order is kept
    positions = [i for i, d in enumerate(mixed) if d.truth.get("crisis_sentence")]
    assert positions[0] > 0 and positions[-1] < 65 and min(b - a for a, b in zip(positions, positions[1:])) >= 5
    keys = {(d.channel, d.mention_id) for d in mixed}
    assert len(keys) == 66  # no id shared with the surge
    for delivery in added:
        assert delivery.truth["surge"] and delivery.truth["crisis"] and delivery.truth["surge_id"] == "checkout"
        assert any(sentence in _text(delivery) for sentence in CRISIS_SENTENCES)
        result = classify(_text(delivery))
        assert (result.crisis, result.priority) == (True, "p1"), _text(delivery)
