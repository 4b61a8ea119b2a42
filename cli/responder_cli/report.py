"""`responder report`: how the brand does against the hour, from the stored mentions.

Reads the mentions of a period (locally from `GET /local/mentions`; deployed from the stack's table through index
`gsi2`, a time-range Query of keys then BatchGetItem of the fields the report needs: never a Scan), computes the
figures and writes `report.json`, `report.html` and PNG plots (matplotlib, Agg backend, imported only here).

Definitions (also written into the report):
- first response = `first_response_at` − `created_at` (the platform's time of the post), or − `received_at` when
  `created_at` is missing or later than `received_at` (a platform clock ahead of ours); never below 0.
- answered = a mention with `first_response_at` (a reply sent from Responder or a native answer on the platform).
- answered within the hour = first response ≤ 3,600 s.
- breaches = mentions with `sla_breached_at` (the SLA timer fired while the mention was unanswered).
- archived mentions (noise: spam, abuse, the brand's own posts) are counted apart and excluded from every rate.
- rates are over the period's other mentions, answered or not (a mention left alone counts against the hour).
"""

from __future__ import annotations

import html
import json
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

# The same definitions as the metrics the functions emit, so the dashboard and the report agree.
from responder.core.metrics import first_response_seconds
from responder.core.metrics import parse_time as _moment
from responder.aws.storage import account_partitions
from responder.surge.incidents import BRAND_KEY

HOUR_SECONDS = 3600
# Sprout Social Index: 53% of customers expect an answer on social media within the hour, 72% of those who
# complain (the figures).
EXPECTED_WITHIN_HOUR = 0.53
EXPECTED_WITHIN_HOUR_COMPLAINTS = 0.72
ARCHIVED = "archived"
DEFAULT_URL = "http://127.0.0.1:8787"
# The fields the report reads (never the text: DMs stay out of reports).
FIELDS = ("channel", "mention_id", "status", "team", "priority", "sentiment", "received_at", "created_at",
          "first_response_at", "answered_by", "sla_due", "sla_breached_at", "incident_id", "archive_reason")
# Every gsi2 partition the brand's mentions were ever listed in (responder.aws.storage: write-sharded, in more shards
# by earlier versions): a report covers periods from before an upgrade.
BRAND_PARTITIONS = account_partitions(BRAND_KEY)
# BatchGetItem takes at most 100 keys per call (DynamoDB API reference, BatchGetItem).
BATCH_GET_KEYS = 100
PROGRESS_EVERY = 5000
MAX_UNPROCESSED_ROUNDS = 8
PLOTS = ("volume.png", "first_response.png", "sla_attainment.png", "incidents.png")


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or time (UTC when no offset is given); ValueError otherwise."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of sorted values; None for none."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    rank = q / 100 * (len(values) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


@dataclass
class _Tally:
    mentions: int = 0
    answered: int = 0
    within: int = 0
    breaches: int = 0

    def figures(self, seconds: list[float]) -> dict[str, Any]:
        seconds.sort()
        return {"mentions": self.mentions, "answered": self.answered, "answered_within_1h": self.within,
                "share_within_1h": _share(self.within, self.mentions), "sla_breaches": self.breaches,
                "first_response_seconds": {"p50": _round(percentile(seconds, 50)),
                                           "p90": _round(percentile(seconds, 90))}}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def in_period(mentions: Iterable[dict[str, Any]], since: datetime | None,
              until: datetime | None) -> list[dict[str, Any]]:
    """The mentions received in [since, until) (a mention without a readable `received_at` is left out)."""
    kept = []
    for mention in mentions:
        received = _moment(mention.get("received_at"))
        if received is None or (since and received < since) or (until and received >= until):
            continue
        kept.append(mention)
    return kept


def compute(mentions: list[dict[str, Any]], since: datetime | None = None,
            until: datetime | None = None) -> dict[str, Any]:
    """The report's figures for the mentions received in the period (see the module's definitions)."""
    mentions = in_period(mentions, since, until)
    total, archived = _Tally(), Counter()
    seconds: list[float] = []
    teams: dict[str, _Tally] = defaultdict(_Tally)
    priorities: dict[str, _Tally] = defaultdict(_Tally)
    team_seconds: dict[str, list[float]] = defaultdict(list)
    priority_seconds: dict[str, list[float]] = defaultdict(list)
    complaints = _Tally()
    channels, sentiments, statuses = Counter(), Counter(), Counter()
    incidents: dict[str, dict[str, Any]] = {}
    received_times = []
    for mention in mentions:
        received_times.append(str(mention.get("received_at")))
        if mention.get("status") == ARCHIVED:
            archived[str(mention.get("archive_reason") or "unspecified")] += 1
            continue
        team, priority = str(mention.get("team") or "unrouted"), str(mention.get("priority") or "none")
        channels[str(mention.get("channel") or "unknown")] += 1
        sentiments[str(mention.get("sentiment") or "unknown")] += 1
        statuses[str(mention.get("status") or "unknown")] += 1
        took = first_response_seconds(mention)
        breached = bool(mention.get("sla_breached_at"))
        groups = [total, teams[team], priorities[priority]]
        if mention.get("sentiment") == "negative":
            groups.append(complaints)
        for tally in groups:
            tally.mentions += 1
            tally.answered += took is not None
            tally.within += took is not None and took <= HOUR_SECONDS
            tally.breaches += breached
        if took is not None:
            seconds.append(took)
            team_seconds[team].append(took)
            priority_seconds[priority].append(took)
        incident = mention.get("incident_id")
        if incident:
            record = incidents.setdefault(str(incident), {"incident_id": str(incident), "mentions": 0,
                                                          "first_received_at": mention["received_at"],
                                                          "last_received_at": mention["received_at"]})
            record["mentions"] += 1
            record["first_received_at"] = min(record["first_received_at"], mention["received_at"])
            record["last_received_at"] = max(record["last_received_at"], mention["received_at"])
    figures = total.figures(seconds)
    return {
        "period": {"since": _iso(since) if since else None, "until": _iso(until) if until else None,
                   "first_received_at": min(received_times) if received_times else None,
                   "last_received_at": max(received_times) if received_times else None},
        **figures,
        "archived": {"mentions": sum(archived.values()), "by_reason": dict(archived.most_common())},
        "complaints": {k: v for k, v in complaints.figures([]).items() if k != "first_response_seconds"},
        "expectations": {"within_1h": EXPECTED_WITHIN_HOUR, "within_1h_complaints": EXPECTED_WITHIN_HOUR_COMPLAINTS},
        "by_team": {name: tally.figures(team_seconds[name]) for name, tally in sorted(teams.items())},
        "by_priority": {name: tally.figures(priority_seconds[name]) for name, tally in sorted(priorities.items())},
        "by_channel": dict(channels.most_common()),
        "by_sentiment": dict(sentiments.most_common()),
        "by_status": dict(statuses.most_common()),
        "incidents": sorted(incidents.values(), key=lambda i: i["first_received_at"]),
        "definitions": DEFINITIONS,
    }


DEFINITIONS = {
    "first_response": "first_response_at minus created_at (received_at when created_at is missing or later), "
                      "at least 0 seconds",
    "answered": "a mention with first_response_at (a reply sent from Responder, or a native answer)",
    "answered_within_1h": "first response at most 3,600 seconds",
    "sla_breaches": "mentions with sla_breached_at (the SLA timer fired while the mention was unanswered)",
    "archived": "noise (status archived), counted apart and excluded from every rate",
    "rates": "over the period's mentions received (by received_at) that are not archived, answered or not",
}


def headline(report: dict[str, Any]) -> str:
    """One line: the share answered within the hour next to what customers expect."""
    share = report["share_within_1h"]
    complaints = report["complaints"]
    shown = "n/a" if share is None else f"{share:.0%}"
    line = (f"Answered within the hour: {shown} of {report['mentions']} mentions "
            f"({report['answered_within_1h']} of {report['answered']} answered); customers expect it for "
            f"{EXPECTED_WITHIN_HOUR:.0%}")
    if complaints["mentions"]:
        line += (f"; complaints {complaints['share_within_1h']:.0%} of {complaints['mentions']} "
                 f"(expected {EXPECTED_WITHIN_HOUR_COMPLAINTS:.0%})")
    else:
        line += f", {EXPECTED_WITHIN_HOUR_COMPLAINTS:.0%} of complainers"
    return line + f"; SLA breaches {report['sla_breaches']}; archived apart {report['archived']['mentions']}."


# ---- reading the mentions ---------------------------------------------------------------------------------------


def read_local(url: str, session: Any = None) -> list[dict[str, Any]]:
    """The local stack's stored mentions (loopback only; the local stack refuses other hosts)."""
    import requests

    answer = (session or requests).get(f"{url.rstrip('/')}/local/mentions", timeout=60)
    answer.raise_for_status()
    mentions = answer.json()
    if not isinstance(mentions, list):
        raise ValueError(f"{url}/local/mentions did not answer a list of mentions")
    return [m for m in mentions if isinstance(m, dict)]


def table_of_stack(stack: str, cloudformation: Any = None) -> str:
    """The table's name from the stack's `TableName` output."""
    if cloudformation is None:
        import boto3

        cloudformation = boto3.client("cloudformation")
    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if "TableName" not in outputs:
        raise ValueError(f"stack {stack} has no TableName output")
    return outputs["TableName"]


class TableReader:
    """The period's mentions from the table: keys through gsi2 (each partition sorted by received time), then the
    fields through BatchGetItem. Never a Scan: the cost follows the period, not the table."""

    def __init__(self, table: str, client: Any = None, progress: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, fields: tuple[str, ...] = FIELDS) -> None:
        self._table = table
        self._fields = fields
        self._client = client
        self._progress = progress
        self._sleep = sleep

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def keys(self, since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
        """The table keys of the mentions received in [since, until), oldest first in each gsi2 shard, page by page."""
        # Sort keys are `<received_at to the second>Z#<channel>#<id>`: every key of since's second sorts after
        # `<since>Z` and every key of until's second after `<until>Z`, so BETWEEN keeps [since, until) to the second
        # (compute() then filters to the exact instant).
        low = _iso(since) if since else "0"
        high = _iso(until) if until else "9"
        for partition in BRAND_PARTITIONS:
            request: dict[str, Any] = {
                "TableName": self._table, "IndexName": "gsi2",
                "KeyConditionExpression": "gsi2pk = :pk AND gsi2sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {":pk": {"S": partition}, ":low": {"S": low}, ":high": {"S": high}},
                "ProjectionExpression": "pk, sk",
            }
            while True:
                page = self.client.query(**request)
                for item in page.get("Items", []):
                    yield {"pk": item["pk"], "sk": item["sk"]}
                last = page.get("LastEvaluatedKey")
                if not last:
                    break
                request["ExclusiveStartKey"] = last

    def mentions(self, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """The report's fields of every mention received in the period (progress on stderr every few thousand)."""
        found: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        for key in self.keys(since, until):
            batch.append(key)
            if len(batch) == BATCH_GET_KEYS:
                self._fetch(batch, found)
                batch = []
        if batch:
            self._fetch(batch, found)
        if self._progress and found:
            self._progress(f"read {len(found):,} mentions")
        return found

    def _fetch(self, keys: list[dict[str, Any]], found: list[dict[str, Any]]) -> None:
        names = {f"#f{i}": name for i, name in enumerate(self._fields)}
        request = {self._table: {"Keys": keys, "ProjectionExpression": ", ".join(names),
                                 "ExpressionAttributeNames": names}}
        before = len(found)
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            answer = self.client.batch_get_item(RequestItems=request)
            found.extend(_plain(item) for item in answer.get("Responses", {}).get(self._table, []))
            unprocessed = (answer.get("UnprocessedKeys") or {}).get(self._table, {}).get("Keys")
            if not unprocessed:
                break
            request = {self._table: {**request[self._table], "Keys": unprocessed}}
            # Throttled keys come back unprocessed: back off exponentially (DynamoDB developer guide, BatchGetItem).
            self._sleep(min(2.0, 0.05 * 2 ** attempt))
        else:
            raise RuntimeError("DynamoDB kept returning unprocessed keys; try again later or a shorter period")
        if self._progress and (len(found) // PROGRESS_EVERY) > (before // PROGRESS_EVERY):
            self._progress(f"read {len(found):,} mentions ...")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item of string, number, boolean and map attributes as plain values (no other type is read)."""
    plain: dict[str, Any] = {}
    for name, value in item.items():
        if "S" in value:
            plain[name] = value["S"]
        elif "N" in value:
            plain[name] = float(value["N"])
        elif "BOOL" in value:
            plain[name] = value["BOOL"]
        elif "M" in value:
            plain[name] = _plain(value["M"])
    return plain


# ---- writing the report -----------------------------------------------------------------------------------------


def _bucket(span_seconds: float) -> int:
    """A round time bucket giving at most ~60 bars over the span."""
    for size in (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400):
        if span_seconds / size <= 60:
            return size
    return 30 * 86400


def _series(mentions: list[dict[str, Any]], field: str | None) -> tuple[list[datetime], dict[str, list[int]]]:
    """Counts of non-archived mentions per time bucket and per value of `field` (one series when None)."""
    stamps = [(_moment(m.get("received_at")), str(m.get(field) or "unknown") if field else "all") for m in mentions
              if m.get("status") != ARCHIVED]
    stamps = [(t, v) for t, v in stamps if t is not None]
    if not stamps:
        return [], {}
    start = min(t for t, _ in stamps).timestamp()
    size = _bucket(max(t for t, _ in stamps).timestamp() - start)
    start = start - start % size
    counts: dict[str, Counter] = defaultdict(Counter)
    for moment, value in stamps:
        counts[value][int((moment.timestamp() - start) // size)] += 1
    length = max(max(c) for c in counts.values()) + 1
    edges = [datetime.fromtimestamp(start + i * size, tz=timezone.utc) for i in range(length)]
    return edges, {value: [c.get(i, 0) for i in range(length)] for value, c in sorted(counts.items())}


def _label(text: str) -> str:
    """A value as plain text in a plot: matplotlib reads `$...$` as math (a stray one fails the drawing), kept short."""
    return str(text)[:40].replace("$", r"\$")


def write_plots(mentions: list[dict[str, Any]], report: dict[str, Any], out: Path) -> list[str]:
    """The PNG plots (Agg backend: no display needed); returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    written = []

    def save(figure: Any, name: str) -> None:
        figure.tight_layout()
        figure.savefig(out / name, dpi=100)
        plt.close(figure)
        written.append(name)

    # Volume over time, by sentiment and by channel (stacked bars per bucket).
    figure, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for axis, field in zip(axes, ("sentiment", "channel")):
        edges, series = _series(mentions, field)
        width = (edges[1] - edges[0]) if len(edges) > 1 else timedelta(minutes=1)
        bottom = [0] * len(edges)
        for value, counts in series.items():
            axis.bar(edges, counts, width=width, bottom=bottom, align="edge", label=_label(value))
            bottom = [b + c for b, c in zip(bottom, counts)]
        axis.set_ylabel(f"mentions by {field}")
        if series:
            axis.legend(loc="upper right", fontsize="small")
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    figure.autofmt_xdate()
    save(figure, "volume.png")

    # The first-response distribution against the one-hour line (minutes).
    minutes = sorted(s / 60 for m in mentions if m.get("status") != ARCHIVED
                     and (s := first_response_seconds(m)) is not None)
    figure, axis = plt.subplots(figsize=(10, 4))
    if minutes:
        axis.hist(minutes, bins=min(60, max(5, len(minutes) // 5)), color="#4878a8")
    axis.axvline(60, color="#c0392b", linestyle="--", label="one hour")
    axis.set_xlabel("first response (minutes after the post)")
    axis.set_ylabel("mentions")
    axis.legend()
    save(figure, "first_response.png")

    # SLA attainment (share answered within the hour) by team and by priority.
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, title in ((axes[0], "by_team", "team"), (axes[1], "by_priority", "priority")):
        groups = report[key]
        names = list(groups)
        axis.barh(range(len(names)), [100 * (groups[n]["share_within_1h"] or 0) for n in names], color="#55a868",
                  tick_label=[_label(n) for n in names])
        axis.axvline(100 * EXPECTED_WITHIN_HOUR, color="#c0392b", linestyle="--", label="53% expect it")
        axis.set_xlim(0, 100)
        axis.set_xlabel(f"% answered within the hour, by {title}")
        axis.legend(loc="lower right", fontsize="small")
    save(figure, "sla_attainment.png")

    # Incidents on the timeline: total volume with each incident's span shaded.
    figure, axis = plt.subplots(figsize=(10, 4))
    edges, series = _series(mentions, None)
    if edges:
        axis.plot(edges, [sum(v) for v in zip(*series.values())], color="#333333", label="mentions")
    for incident in report["incidents"]:
        start, end = _moment(incident["first_received_at"]), _moment(incident["last_received_at"])
        if start and end:
            axis.axvspan(start, max(end, start + timedelta(minutes=1)), color="#e67e22", alpha=0.3)
            axis.annotate(f"{_label(incident['incident_id'])} ({incident['mentions']})", (start, 0.02), fontsize="small",
                          rotation=90, va="bottom", xycoords=("data", "axes fraction"))
    axis.set_ylim(bottom=0)
    axis.set_ylabel("mentions per bucket")
    axis.set_title(f"{len(report['incidents'])} incident(s)")
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
    figure.autofmt_xdate()
    save(figure, "incidents.png")
    return written


def _cell(value: Any, share: bool = False) -> str:
    if value is None:
        return "–"
    return html.escape(f"{value:.1%}" if share else str(value))


def _table(title: str, groups: dict[str, dict[str, Any]]) -> str:
    head = ("mentions", "answered", "answered_within_1h", "share_within_1h", "sla_breaches")
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{_cell(g[k], k == 'share_within_1h')}</td>" for k in head)
        + f"<td>{_cell(g['first_response_seconds']['p50'])}</td><td>{_cell(g['first_response_seconds']['p90'])}</td>"
        "</tr>" for name, g in groups.items())
    header = "".join(f"<th>{html.escape(h)}</th>" for h in (title, *head, "p50 s", "p90 s"))
    return f"<table><tr>{header}</tr>{rows}</table>"


def render_html(report: dict[str, Any], plots: list[str]) -> str:
    """A self-contained page (inline style, no script); every value from the data is escaped."""
    period = report["period"]
    first = report["first_response_seconds"]
    images = "".join(f'<figure><img src="{html.escape(p)}" alt="{html.escape(p[:-4].replace("_", " "))}">'
                     "</figure>" for p in plots)
    definitions = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                          for k, v in report["definitions"].items())
    incidents = "".join(f"<li>{html.escape(i['incident_id'])}: {i['mentions']} mentions, "
                        f"{html.escape(i['first_received_at'])} → {html.escape(i['last_received_at'])}</li>"
                        for i in report["incidents"]) or "<li>none</li>"
    archived = ", ".join(f"{html.escape(k)} {v}" for k, v in report["archived"]["by_reason"].items()) or "none"
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Responder report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
        "text-align:right}img{max-width:100%}</style></head><body>"
        "<h1>Responder report</h1>"
        f"<p>Period: {_cell(period['since'] or period['first_received_at'])} to "
        f"{_cell(period['until'] or period['last_received_at'])}</p>"
        f"<p><strong>{html.escape(headline(report))}</strong></p>"
        f"<p>First response p50 {_cell(first['p50'])} s, p90 {_cell(first['p90'])} s. "
        f"Archived apart: {report['archived']['mentions']} ({archived}).</p>"
        + _table("team", report["by_team"]) + _table("priority", report["by_priority"])
        + f"<h2>Incidents</h2><ul>{incidents}</ul>{images}<h2>Definitions</h2><dl>{definitions}</dl>"
        "</body></html>")


def write(mentions: list[dict[str, Any]], out: Path, since: datetime | None = None,
          until: datetime | None = None) -> dict[str, Any]:
    """Compute and write report.json, report.html and the plots into `out`; returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    kept = in_period(mentions, since, until)
    report = compute(kept, since, until)
    plots = write_plots(kept, report, out)
    report["plots"] = plots
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render_html(report, plots), encoding="utf-8")
    return report


def run(args: Any) -> int:
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if since and until and since >= until:
        raise ValueError("--since must be before --until")
    started = time.perf_counter()
    if args.stack:
        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        mentions = TableReader(table_of_stack(args.stack), progress=progress).mentions(since, until)
    else:
        mentions = read_local(args.url)
    report = write(mentions, Path(args.out), since, until)
    print(headline(report), flush=True)
    print(f"Report written to {Path(args.out) / 'report.html'} ({len(report['plots'])} plots, "
          f"{time.perf_counter() - started:.1f} s)", flush=True)
    return 0


def add_parser(commands: Any) -> None:
    """Register `responder report`."""
    report = commands.add_parser("report", help="first response against the hour: report.json, report.html, plots")
    source = report.add_mutually_exclusive_group()
    source.add_argument("--url", default=DEFAULT_URL, help=f"a running `responder local` (default {DEFAULT_URL})")
    source.add_argument("--stack", help="a deployed stack's name (reads its table with your AWS credentials)")
    report.add_argument("--since", help="mentions received at or after this ISO 8601 time (UTC unless an offset)")
    report.add_argument("--until", help="mentions received before this ISO 8601 time")
    report.add_argument("--out", required=True, help="directory for report.json, report.html and the PNG plots")
    report.set_defaults(func=run)
