"""Business metrics as CloudWatch embedded metric format (EMF) log lines, through Powertools Metrics.

Namespace `Responder`; dimensions only `team`, `priority` and `channel` (few values each: an id as a dimension
would make a custom metric per mention, each billed $0.30 a month, CloudWatch pricing). One invocation's metrics are
gathered per dimension set and printed once at its end (`flush`), one EMF document per set, so a batch of a hundred
mentions is a few log lines, not a hundred. Each document also publishes its metrics without dimensions (the
totals). No service dimension: the dashboard reads the metrics across functions.

Names (the dashboard and the alarm use them): MentionsReceived (webhook, per channel), MentionsNotified (Draft as it
routes, per team and priority), MentionsAnswered and FirstResponseSeconds (a reply sent, or a native answer),
RepliesSent and RepliesFailed (sender, per channel), SlaBreaches (the SLA timer, per team and priority),
SweepLagSeconds (the sweeper: how far behind now it has looked for stranded mentions).

`aws_lambda_powertools` already loads its metrics module with the logger (its package imports both), so emitting
metrics adds nothing to a cold start.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

NAMESPACE = "Responder"
DIMENSIONS = ("team", "priority", "channel")
# EMF takes at most 100 values per metric in one document (CloudWatch embedded metric format specification), and
# Powertools prints a document by itself when a metric reaches 100: 99 keeps every document ours (with the totals).
MAX_VALUES = 99

MENTIONS_RECEIVED = "MentionsReceived"
MENTIONS_NOTIFIED = "MentionsNotified"
MENTIONS_ANSWERED = "MentionsAnswered"
FIRST_RESPONSE_SECONDS = "FirstResponseSeconds"
REPLIES_SENT = "RepliesSent"
REPLIES_FAILED = "RepliesFailed"
SLA_BREACHES = "SlaBreaches"
# How far behind now the sweeper's watermark is after a run (responder.ingest.sweeper); the SweeperBehind alarm reads it.
SWEEP_LAG_SECONDS = "SweepLagSeconds"


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (UTC when it names no offset); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def first_response_seconds(mention: Mapping[str, Any]) -> float | None:
    """`first_response_at` − `created_at` (or `received_at` when `created_at` is missing or later), at least 0;
    None when either end is missing. The same definition as `responder report`."""
    answered = parse_time(mention.get("first_response_at"))
    received = parse_time(mention.get("received_at"))
    created = parse_time(mention.get("created_at"))
    start = created if created is not None and (received is None or created <= received) else received
    if answered is None or start is None:
        return None
    return max(0.0, (answered - start).total_seconds())


class BusinessMetrics:
    """One invocation's metrics, grouped by dimension set until `flush` prints them."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        self._namespace = namespace
        self._groups: dict[tuple[tuple[str, str], ...], dict[str, tuple[str, list[float]]]] = {}

    def _add(self, name: str, unit: str, value: float, dimensions: Mapping[str, Any], total: bool) -> None:
        unknown = set(dimensions) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"metric dimensions are limited to {DIMENSIONS}, not {sorted(unknown)}")
        key = tuple(sorted((k, str(v) if v else "none") for k, v in dimensions.items()))
        metrics = self._groups.setdefault(key, {})
        _, values = metrics.setdefault(name, (unit, []))
        if total and values:
            values[0] += value
        else:
            values.append(value)

    def count(self, name: str, value: int = 1, **dimensions: Any) -> None:
        """Add to a counter (one summed value per dimension set and flush)."""
        self._add(name, MetricUnit.Count.value, value, dimensions, total=True)

    def seconds(self, name: str, value: float, **dimensions: Any) -> None:
        """Record a duration (every value kept: the dashboard reads percentiles)."""
        self._add(name, MetricUnit.Seconds.value, round(value, 3), dimensions, total=False)

    def answered(self, mention: Mapping[str, Any]) -> None:
        """A mention's first answer: MentionsAnswered and FirstResponseSeconds, per team and priority."""
        dimensions = {"team": mention.get("team"), "priority": mention.get("priority")}
        self.count(MENTIONS_ANSWERED, **dimensions)
        took = first_response_seconds(mention)
        if took is not None:
            self.seconds(FIRST_RESPONSE_SECONDS, took, **dimensions)

    def flush(self) -> None:
        """Print one EMF document per dimension set (nothing when nothing was recorded), and start afresh."""
        groups, self._groups = self._groups, {}
        if is_metrics_disabled():
            return
        for key, metrics in groups.items():
            for chunk in _chunks(metrics):
                # service="" keeps Powertools from adding a `service` dimension from POWERTOOLS_SERVICE_NAME.
                provider = AmazonCloudWatchEMFProvider(namespace=self._namespace, service="")
                for name, value in key:
                    provider.add_dimension(name=name, value=value)
                for name, (unit, values) in chunk.items():
                    for value in values:
                        provider.add_metric(name=name, unit=unit, value=value)
                document = provider.serialize_metric_set()
                if key:
                    # Also without dimensions: the totals the dashboard and the breach-rate alarm read (an alarm's
                    # math takes at most 10 metrics and no SEARCH, so per-team series cannot be summed there).
                    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"].append([])
                print(json.dumps(document, separators=(",", ":")), flush=True)


def _chunks(metrics: dict[str, tuple[str, list[float]]]) -> list[dict[str, tuple[str, list[float]]]]:
    """At most MAX_VALUES values per metric and document."""
    longest = max(len(values) for _, values in metrics.values())
    return [{name: (unit, values[start:start + MAX_VALUES]) for name, (unit, values) in metrics.items()
             if values[start:start + MAX_VALUES]} for start in range(0, longest, MAX_VALUES)]


metrics = BusinessMetrics()
