"""bench/refit_head.py: the standardisation folded into the head gives the regression's own scores on raw inputs."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")

from bench.refit_head import folded  # noqa: E402


def test_folding_the_scaler_into_the_head_keeps_every_score():
    # Given a regression fitted on standardised inputs (inputs of very different means and scales)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 6)) * np.array([1.0, 10.0, 0.1, 5.0, 2.0, 0.5]) + np.array([0.0, 3.0, -1.0, 8.0, 0.2, 0])
    mean, scale = x.mean(0), x.std(0)
    coef, intercept = rng.normal(size=(3, 6)), rng.normal(size=3)
    expected = ((x - mean) / scale) @ coef.T + intercept
    # When the scaler is folded into one matrix and bias
    weights, bias = folded(coef, intercept, mean, scale)
    # Then raw inputs through them score the same, in float32 as the file stores them
    assert weights.shape == (6, 3) and bias.shape == (3,) and weights.dtype == bias.dtype == np.float32
    assert np.allclose(x @ weights + bias, expected, atol=1e-4)
