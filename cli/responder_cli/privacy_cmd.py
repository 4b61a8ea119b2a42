"""`responder forget` and `responder export`: a person's erasure and access requests, on one channel.

Both work against a running `responder local` (`--url`: `POST /local/forget`, `GET /local/export`, local-only routes)
or a deployed stack (`--stack`: the table named by the stack's `TableName` output, read and written with the
user's AWS credentials through responder.privacy.erasure, the same code the functions run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any

from responder.core.model import CHANNELS, MalformedDelivery, check_id

DEFAULT_URL = "http://127.0.0.1:8787"
# `responder forget` says what it erased in these words, in this order.
COUNTS = (("mentions", "mention(s) erased"), ("tombstones_created", "tombstone(s) for mentions not stored yet"),
          ("raw_events", "raw event(s) deleted"), ("threads", "thread(s) cleaned"),
          ("replies", "reply text(s) erased"), ("incidents", "incident sample(s) removed"))


def author_id(value: str) -> str:
    """An author id as the platforms write it (argparse turns a refusal into exit 2)."""
    try:
        return check_id(value, "author id")
    except MalformedDelivery as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _eraser(stack: str, cloudformation: Any = None, client: Any = None) -> Any:
    from responder.privacy.erasure import Eraser
    from responder_cli.report import table_of_stack

    return Eraser(table_of_stack(stack, cloudformation), client=client)


def _local(url: str, session: Any = None) -> Any:
    import requests

    return session or requests


def forget(args: argparse.Namespace, session: Any = None, cloudformation: Any = None, client: Any = None) -> int:
    if args.stack:
        done = _eraser(args.stack, cloudformation, client).erase_author(
            [args.channel], args.author_id, source="forget", at=datetime.now(timezone.utc)).as_dict()
    else:
        answer = _local(args.url, session).post(
            f"{args.url.rstrip('/')}/local/forget", timeout=120, headers={"X-Responder-Local": "1"},
            json={"channel": args.channel, "author_id": args.author_id})
        if answer.status_code != 200:
            raise ValueError(f"{args.url} answered {answer.status_code} to /local/forget: {answer.text[:200]}")
        done = answer.json()
    print(summary(done, args.channel, args.author_id), flush=True)
    return 0


def summary(done: dict[str, Any], channel: str, author: str) -> str:
    """What `forget` prints: the counts and the erased mentions, or that nothing was stored about the person."""
    ids = list(done.get("mention_ids") or [])
    if not ids and not any(done.get(name) for name, _ in COUNTS):
        return f"Nothing stored about author {author} on {channel}: nothing erased."
    lines = [f"Erased author {author} on {channel}:"]
    lines += [f"  {int(done.get(name) or 0)} {words}" for name, words in COUNTS]
    lines += [f"  {ref}" for ref in ids]
    return "\n".join(lines)


def export(args: argparse.Namespace, session: Any = None, cloudformation: Any = None, client: Any = None) -> int:
    if args.stack:
        data = _eraser(args.stack, cloudformation, client).export_author([args.channel], args.author_id)
    else:
        answer = _local(args.url, session).get(f"{args.url.rstrip('/')}/local/export", timeout=120,
                                               params={"channel": args.channel, "author_id": args.author_id})
        if answer.status_code != 200:
            raise ValueError(f"{args.url} answered {answer.status_code} to /local/export: {answer.text[:200]}")
        data = answer.json()
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if args.out in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    # Personal data: readable by the user only, as the local review key is.
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"Wrote {len(data.get('mentions') or [])} mention(s) about author {args.author_id} on {args.channel} "
          f"to {args.out}", file=sys.stderr, flush=True)
    return 0


def _person_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--url", default=DEFAULT_URL, help=f"a running `responder local` (default {DEFAULT_URL})")
    source.add_argument("--stack", help="a deployed stack's name (its table, with your AWS credentials)")
    parser.add_argument("--channel", required=True, choices=CHANNELS, help="the channel the person wrote on")
    parser.add_argument("--author-id", required=True, type=author_id,
                        help="the person's id on that channel (X user id, Page-scoped id, phone number...)")


def add_parsers(commands: Any) -> None:
    """Register `responder forget` and `responder export`."""
    forget_cmd = commands.add_parser("forget", help="erase everything stored about one person on one channel")
    _person_arguments(forget_cmd)
    forget_cmd.set_defaults(func=forget)
    export_cmd = commands.add_parser("export", help="write everything stored about one person as JSON")
    _person_arguments(export_cmd)
    export_cmd.add_argument("--out", help="the JSON file to write (default: standard output)")
    export_cmd.set_defaults(func=export)
