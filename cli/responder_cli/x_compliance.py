"""`responder x-compliance --stack NAME`: erase stored X posts and people that X says are gone.

X pushes deletions of the subscribed account's own posts only (Account Activity `tweet_delete_events`, the
Activity API's `post.delete`); a customer who deletes their post, protects or deactivates their account, or is
suspended is not pushed. X's developer policy still asks that stored content follow within 24 hours. X's batch
compliance endpoints answer for a list of ids (X API v2, `POST /2/compliance/jobs`, app-only bearer token):

1. create a job (`type: tweets` or `users`), which answers a pre-signed `upload_url` and `download_url`;
2. upload the ids, one per line (`PUT upload_url`, `Content-Type: text/plain`);
3. poll `GET /2/compliance/jobs/{id}` until `complete` (or `failed` / `expired`);
4. download the results: JSON lines `{"id", "action", "created_at", "redacted_at", "reason"}`, one per id that
   needs an action (`action: delete` for deleted, protected, suspended or deactivated; `scrub_geo` otherwise).

This command reads the X mentions the stack stored during the last `--days` (the table's gsi2, never a Scan),
asks X about those posts and their authors, and erases through responder.privacy.erasure, the same code as the
platforms' delete notices: a post to delete becomes a tombstone (`deleted_by: x.compliance.<reason>`), an author to
delete is forgotten on X. `scrub_geo` answers are counted and left alone: Responder stores no coordinates of its
own, and the raw event that might hold them expires with `rawEventTtlDays`. Run it daily (cron, a CI schedule):
one run per day keeps stored X content within X's 24 hours.

X allows one running job per type at a time, so jobs run one after the other, at most `MAX_IDS_PER_JOB` ids each.
The bearer token is read from the environment (`RESPONDER_X_APP_BEARER_TOKEN`), never from the command line, which
other users of the machine can read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

ENV_BEARER = "RESPONDER_X_APP_BEARER_TOKEN"
ENV_X_API_BASE = "RESPONDER_X_API_BASE"
DEFAULT_X_API_BASE = "https://api.x.com"
TYPES = ("tweets", "users")
# The project's own bound per upload (one id per line, about 20 bytes each: 2 MB), to keep each job small enough
# to finish within one run; a larger set runs as several jobs, one after the other.
MAX_IDS_PER_JOB = 100_000
# Reasons X gives with `action: delete` (batch compliance, "Download the results").
DELETE_ACTION = "delete"
# A results file holds one short JSON object per uploaded id at most; more than this per id is not X's answer.
MAX_RESULT_BYTES_PER_ID = 512
REQUEST_TIMEOUT = (3.05, 60)
FIELDS = ("channel", "mention_id", "status", "received_at", "author")


class ComplianceFailed(RuntimeError):
    """X's job failed or expired, or answered something that is not a compliance job."""


@dataclass
class Outcome:
    """What one run asked and did."""

    checked: Counter = field(default_factory=Counter)  # type -> ids sent to X
    actions: Counter = field(default_factory=Counter)  # (type, action, reason) -> ids X answered
    erased_mentions: list[str] = field(default_factory=list)  # "x:<id>" tombstoned
    forgotten_authors: int = 0
    jobs: list[str] = field(default_factory=list)

    def summary(self, dry_run: bool) -> str:
        lines = [f"Checked {self.checked['tweets']:,} stored X post(s) and {self.checked['users']:,} author(s) "
                 f"with X's batch compliance ({len(self.jobs)} job(s))."]
        for (kind, action, reason), count in sorted(self.actions.items()):
            lines.append(f"  X answers {action} ({reason}) for {count:,} {'post' if kind == 'tweets' else 'author'}(s)")
        verb = "would erase" if dry_run else "erased"
        lines.append(f"  {verb} {len(self.erased_mentions):,} mention(s); "
                     f"{'would forget' if dry_run else 'forgot'} {self.forgotten_authors:,} author(s)")
        lines += [f"  {ref}" for ref in self.erased_mentions]
        return "\n".join(lines)


class XCompliance:
    """X's batch compliance jobs through tweepy (create, poll) and requests (the pre-signed upload and download)."""

    def __init__(self, bearer_token: str, base_url: str = DEFAULT_X_API_BASE, session: Any = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        import tweepy

        from responder.platforms.x import _session_class

        self._client = tweepy.Client(bearer_token=bearer_token, return_type=dict, wait_on_rate_limit=False)
        # tweepy's origin is fixed; the routed session moves it to `base_url` (a stand-in locally) with timeouts.
        self._client.session = _session_class()(base_url.rstrip("/"))
        self._http = session
        self._sleep = sleep
        self._clock = clock

    @property
    def http(self) -> Any:
        if self._http is None:
            import requests

            self._http = requests.Session()
        return self._http

    def run(self, kind: str, ids: Sequence[str], poll_seconds: float, timeout_seconds: float,
            name: str) -> tuple[str, list[dict[str, Any]]]:
        """One job for these ids: its id and X's answers."""
        job = _job(self._client.create_compliance_job(type=kind, name=name))
        upload = self.http.put(job["upload_url"], data=("\n".join(ids) + "\n").encode("ascii"),
                               headers={"Content-Type": "text/plain"}, timeout=REQUEST_TIMEOUT)
        if upload.status_code // 100 != 2:
            raise ComplianceFailed(f"the upload of job {job['id']} was refused ({upload.status_code})")
        deadline = self._clock() + timeout_seconds
        while job.get("status") != "complete":
            if job.get("status") in ("failed", "expired"):
                raise ComplianceFailed(f"X's compliance job {job['id']} ended {job['status']}")
            if self._clock() >= deadline:
                raise ComplianceFailed(f"X's compliance job {job['id']} was not complete after {timeout_seconds:.0f} s; "
                                       "run again later")
            self._sleep(poll_seconds)
            job = _job(self._client.get_compliance_job(job["id"]))
        answer = self.http.get(job["download_url"], timeout=REQUEST_TIMEOUT, stream=True)
        if answer.status_code != 200:
            raise ComplianceFailed(f"the results of job {job['id']} could not be downloaded ({answer.status_code})")
        limit = MAX_RESULT_BYTES_PER_ID * len(ids) + 1024
        body = answer.raw.read(limit + 1, decode_content=True) if hasattr(answer, "raw") else answer.content
        if len(body) > limit:
            raise ComplianceFailed(f"the results of job {job['id']} are larger than {len(ids)} ids can explain")
        return job["id"], _results(body, set(ids))


def _job(answer: Any) -> dict[str, Any]:
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("status"), str):
        raise ComplianceFailed("X did not answer a compliance job")
    if data["status"] not in ("created", "in_progress", "complete", "failed", "expired"):
        raise ComplianceFailed("X answered a compliance job in an unknown state")
    for url in ("upload_url", "download_url"):
        if not isinstance(data.get(url), str) or not _usable(data[url]):
            raise ComplianceFailed(f"X's compliance job has no usable {url}")
    return data


def _usable(url: str) -> bool:
    """HTTPS (X's pre-signed cloud storage URLs), or plain HTTP to this machine's loopback only (the stand-in):
    the ids uploaded are people's, and must not travel in clear text to another host."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return bool(host) and (parts.scheme == "https" or (parts.scheme == "http" and host == "127.0.0.1"))


def _results(body: bytes, asked: set[str]) -> list[dict[str, Any]]:
    """X's JSON lines, each checked: only ids that were asked about, one answer each."""
    found: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(body.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ComplianceFailed(f"line {number} of the results is not JSON") from exc
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("id", "action")):
            raise ComplianceFailed(f"line {number} of the results has no id and action")
        if row["id"] not in asked:
            raise ComplianceFailed(f"line {number} of the results names an id that was not asked about")
        reason = row.get("reason") if isinstance(row.get("reason"), str) else "unspecified"
        found[row["id"]] = {"id": row["id"], "action": row["action"][:32], "reason": reason[:32]}
    return list(found.values())


def stored_x(mentions: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The stored X posts not yet erased, and their authors, each once, in a stable order."""
    posts: dict[str, None] = {}
    authors: dict[str, None] = {}
    for mention in mentions:
        if mention.get("channel") != "x" or mention.get("status") == "deleted":
            continue
        if str(mention.get("mention_id") or "").isdigit():
            posts[str(mention["mention_id"])] = None
        author = (mention.get("author") or {}).get("id") if isinstance(mention.get("author"), dict) else None
        if isinstance(author, str) and author.isdigit():
            authors[author] = None
    return list(posts), list(authors)


def check(mentions: Iterable[dict[str, Any]], x: XCompliance, eraser: Any, *, types: Sequence[str] = TYPES,
          dry_run: bool = False, poll_seconds: float = 30, timeout_seconds: float = 3600,
          now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
          progress: Callable[[str], None] | None = None) -> Outcome:
    """Ask X about the stored posts and authors, and erase what X says must go."""
    posts, authors = stored_x(mentions)
    outcome = Outcome()
    for kind, ids in (("tweets", posts), ("users", authors)):
        if kind not in types:
            continue
        for start in range(0, len(ids), MAX_IDS_PER_JOB):
            chunk = ids[start:start + MAX_IDS_PER_JOB]
            job_id, rows = x.run(kind, chunk, poll_seconds, timeout_seconds,
                                 name=f"responder-{kind}-{now().strftime('%Y%m%dT%H%M%SZ')}")
            outcome.jobs.append(job_id)
            outcome.checked[kind] += len(chunk)
            if progress:
                progress(f"job {job_id}: {len(chunk):,} {kind} checked, {len(rows):,} answered")
            for row in rows:
                outcome.actions[(kind, row["action"], row["reason"])] += 1
                if row["action"] != DELETE_ACTION:
                    continue
                source = f"x.compliance.{row['reason']}"
                if kind == "tweets":
                    if not dry_run:
                        done = eraser.erase_mention("x", row["id"], source=source, at=now())
                        if not done.mention_ids:
                            continue
                    outcome.erased_mentions.append(f"x:{row['id']}")
                else:
                    if dry_run:
                        outcome.forgotten_authors += 1
                        continue
                    done = eraser.erase_author(["x"], row["id"], source=source, at=now())
                    outcome.forgotten_authors += 1
                    outcome.erased_mentions.extend(ref for ref in done.mention_ids
                                                   if ref not in outcome.erased_mentions)
    return outcome


def run(args: argparse.Namespace, cloudformation: Any = None, client: Any = None, x: XCompliance | None = None) -> int:
    from responder.privacy.erasure import Eraser
    from responder_cli.report import TableReader, table_of_stack

    bearer = os.environ.get(ENV_BEARER, "").strip()
    if x is None and not bearer:
        print(f"responder x-compliance: set {ENV_BEARER} to the X app's bearer token (app-only auth); it is not read "
              "from the command line", file=sys.stderr)
        return 2
    table = table_of_stack(args.stack, cloudformation)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    since = datetime.now(timezone.utc) - timedelta(days=args.days)
    mentions = TableReader(table, client=client, progress=progress, fields=FIELDS).mentions(since, None)
    x = x or XCompliance(bearer, os.environ.get(ENV_X_API_BASE) or DEFAULT_X_API_BASE)
    try:
        outcome = check(mentions, x, Eraser(table, client=client), types=args.types, dry_run=args.dry_run,
                        poll_seconds=args.poll_seconds, timeout_seconds=args.timeout_minutes * 60, progress=progress)
    except ComplianceFailed as exc:
        print(f"responder x-compliance: {exc}", file=sys.stderr)
        return 1
    print(outcome.summary(args.dry_run), flush=True)
    return 0


def _types(value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not chosen or any(v not in TYPES for v in chosen):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(TYPES)} (comma-separated)")
    return chosen


def _positive(kind: type, least: float) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from exc
        if number < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}")
        return number
    return parse


def add_parser(commands: Any) -> None:
    """Register `responder x-compliance`."""
    parser = commands.add_parser(
        "x-compliance", help="erase stored X posts and authors that X's batch compliance says are deleted",
        description="Reads the X mentions a deployed stack stored in the last --days, asks X's batch compliance "
                    f"endpoints about them (bearer token from {ENV_BEARER}) and erases what X says must go.")
    parser.add_argument("--stack", required=True, help="the deployed stack's name (its table, your AWS credentials)")
    parser.add_argument("--days", type=_positive(int, 1), default=30,
                        help="check the X mentions received in this many past days (default 30)")
    parser.add_argument("--types", type=_types, default=TYPES, help="tweets, users or both (default tweets,users)")
    parser.add_argument("--dry-run", action="store_true", help="ask X and print what would be erased; erase nothing")
    parser.add_argument("--poll-seconds", type=_positive(float, 1), default=30, help="between status checks")
    parser.add_argument("--timeout-minutes", type=_positive(float, 1), default=60,
                        help="give up on a job not complete after this long (exit 1; nothing is lost, run again)")
    parser.set_defaults(func=run)
