"""How many dispatchers and parallel executions the account's Lambda concurrency can carry without starving
the triage functions.

Each dispatcher invocation holds one concurrent execution while it waits on StartSyncExecution for its batch's
workflow execution, which triages the batch's P mentions side by side, each running at most one task function
(Classify or Draft) at a time. With D dispatchers waiting on P mentions each, triage needs D * (1 + P)
concurrent executions; the webhook and anything else
in the account need the rest. New accounts can have a limit of 10 concurrent executions (Lambda developer
guide, "Lambda quotas"); the default quota is 1,000 per Region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra import constants as c


@dataclass(frozen=True)
class TriageSizing:
    max_concurrency: int  # the SQS event source's maximum concurrency: dispatchers at once
    parallel_executions: int  # mentions one dispatcher triages at once (one execution), and its batch size

    @property
    def peak_concurrency(self) -> int:
        """Concurrent executions triage can hold at its peak."""
        return self.max_concurrency * (1 + self.parallel_executions)


def size_triage(account_limit: int, requested_max_concurrency: int = c.DEFAULT_TRIAGE_MAX_CONCURRENCY,
                parallel_executions: int = c.TRIAGE_BATCH_SIZE) -> TriageSizing:
    """The most dispatchers (up to the requested number) that fit beside the webhook's share of the account.

    When not even SQS's minimum of two dispatchers fits with full batches, each dispatcher takes fewer messages
    at once; when two dispatchers with one execution each do not fit, the account is too small to deploy into.
    """
    reserve = max(1, math.ceil(account_limit * c.WEBHOOK_CONCURRENCY_SHARE))
    available = account_limit - reserve
    dispatchers = min(requested_max_concurrency, c.SQS_MAX_CONCURRENCY_CEILING,
                      available // (1 + parallel_executions))
    if dispatchers >= c.SQS_MIN_MAX_CONCURRENCY:
        return TriageSizing(dispatchers, parallel_executions)
    parallel = available // c.SQS_MIN_MAX_CONCURRENCY - 1
    if parallel < 1:
        least = next(n for n in range(account_limit + 1, 10_000)
                     if n - max(1, math.ceil(n * c.WEBHOOK_CONCURRENCY_SHARE)) >= 2 * c.SQS_MIN_MAX_CONCURRENCY)
        raise ValueError(
            f"CDK context {c.CONTEXT_ACCOUNT_CONCURRENCY_LIMIT!r} is {account_limit}: triage needs at least "
            f"{2 * c.SQS_MIN_MAX_CONCURRENCY} concurrent Lambda executions (SQS's minimum of "
            f"{c.SQS_MIN_MAX_CONCURRENCY} dispatchers, each waiting on one execution that runs one task function) "
            f"besides {reserve} for the webhook; deploy into an account with a limit of at least {least} "
            "(Service Quotas: Lambda 'Concurrent executions')")
    return TriageSizing(c.SQS_MIN_MAX_CONCURRENCY, min(parallel, parallel_executions))
