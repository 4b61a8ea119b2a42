"""The blend probe's search for offsets on the blended logits (bench/blend_probe.py): numpy only."""

import numpy as np

from bench.blend_probe import best_offsets


def test_the_offsets_found_are_the_ones_that_give_each_class_its_recall():
    # Given blended logits that read every neutral text as negative by a margin of 0.3, and clear cases otherwise
    labels = ["negative"] * 4 + ["neutral"] * 4 + ["positive"] * 4
    linear = np.array([[1.0, 0.0, -1.0]] * 4 + [[0.3, 0.0, -1.0]] * 4 + [[-1.0, 0.0, 1.0]] * 4)
    # When the offsets are searched at linear weight 1 (the encoder's logits play no part)
    offsets = best_offsets(linear, np.zeros_like(linear), labels, weight=1.0)
    # Then neutral gets the smallest lift that flips those texts and keeps the negative ones, and nothing else moves
    assert offsets[0] == 0.0 and 0.3 < offsets[1] < 1.0 and offsets[2] == 0.0
    assert offsets[1] == 0.35


def test_with_nothing_to_gain_there_are_no_offsets():
    labels = ["negative", "neutral", "positive"]
    logits = np.eye(3)
    assert best_offsets(logits, logits, labels, weight=0.5) == (0.0, 0.0, 0.0)
