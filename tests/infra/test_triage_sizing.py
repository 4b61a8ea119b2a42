"""Dispatcher sizing from the account's Lambda concurrency limit: triage never starves its own task functions."""

from __future__ import annotations

import math

import pytest

from infra import constants as c
from infra.triage_sizing import size_triage


@pytest.mark.parametrize("limit", [5, 6, 7, 10, 11, 20, 23, 50, 99, 100, 137, 500, 1000, 3000, 10_000])
def test_triage_at_its_peak_fits_beside_the_webhook_share(limit):
    # Given an account concurrency limit
    # When the dispatchers are sized for it
    sizing = size_triage(limit)
    # Then every waiting dispatcher and the task function of each execution it waits on fit in the account,
    # with the webhook's share left over
    assert sizing.peak_concurrency <= limit - max(1, math.ceil(limit * c.WEBHOOK_CONCURRENCY_SHARE))
    # And the event source keeps SQS's minimum maximum concurrency and its ceiling
    assert c.SQS_MIN_MAX_CONCURRENCY <= sizing.max_concurrency <= min(c.DEFAULT_TRIAGE_MAX_CONCURRENCY, 1000)
    assert 1 <= sizing.parallel_executions <= c.TRIAGE_BATCH_SIZE


def test_a_requested_concurrency_beyond_the_account_is_capped():
    # Given a request for 100 dispatchers of 10 executions in a 1,000 account (1,100 executions at peak)
    sizing = size_triage(1000, requested_max_concurrency=100)
    # Then as many as fit beside the webhook's 200 run: 800 // 11 = 72
    assert (sizing.max_concurrency, sizing.parallel_executions) == (72, 10)


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_an_account_too_small_is_refused(limit):
    with pytest.raises(ValueError, match="accountConcurrencyLimit"):
        size_triage(limit)
