"""`responder classify`: JSON lines in, one classification per line out.

Each input line is a JSON object `{"text": ..., "lang"?: ..., "author"?: {...}, "channel"?: ..., "id"?: ...}`;
each output line holds `language, sentiment, intent, topic, priority, reasons, team, noise, noise_reason,
abusive` (and `id` when the input had one). A line that is not such an object gives `{"error": ..., "line": n}`
and the command exits 1 after the last line; blank lines are skipped. `--rules FILE` deep-merges routing rules
over the shipped ones (see `responder.triage.routing`).

`--format text` reads one post per line instead, as benchmark files hold them (TweetEval's `*_text.txt`, whose
SemEval `\u002c`-style escapes are decoded as the model's trainer decodes them); each output line then carries
`line`, the input's line number, so it can be joined with the labels file:

    responder classify --format text --input tweeteval/sentiment/test_text.txt > predictions.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO, Any

OUTPUT_KEYS: tuple[str, ...] = (
    "language", "sentiment", "intent", "topic", "priority", "reasons", "team", "noise", "noise_reason", "abusive",
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `classify` on the `responder` command's sub-parsers."""
    parser = subparsers.add_parser(
        "classify", help="classify mentions: JSON lines in (text, lang, author, channel), JSON lines out",
        description="Read JSON lines ({\"text\": ..., \"lang\"?: ..., \"author\"?: {...}, \"channel\"?: ..., "
                    "\"id\"?: ...}) and write one classification per line.")
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `classify` (shared by the sub-command and `python -m responder_cli.classify_cmd`)."""
    parser.add_argument("--input", type=Path, help="read JSON lines from this file (default: standard input)")
    parser.add_argument("--output", type=Path, help="write JSON lines to this file (default: standard output)")
    parser.add_argument("--rules", type=Path, help="routing rules JSON to merge over the shipped rules")
    parser.add_argument("--format", choices=("jsonl", "text"), default="jsonl",
                        help="jsonl: one JSON request per line (default); text: one post per line (TweetEval files)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
        stderr: IO[str] | None = None) -> int:
    """Classify every line; 0 when all lines were valid, 1 when some were not, 2 when rules or files are unusable."""
    from responder.classification.classify import classify
    from responder.triage.routing import RoutingRulesError, load_rules

    stderr = stderr or sys.stderr
    try:
        rules = load_rules(args.rules) if getattr(args, "rules", None) else load_rules()
    except RoutingRulesError as exc:
        print(f"responder classify: {exc}", file=stderr)
        return 2

    try:
        source = args.input.open(encoding="utf-8") if getattr(args, "input", None) else (stdin or sys.stdin)
    except OSError as exc:
        print(f"responder classify: cannot read {args.input}: {exc.strerror or exc}", file=stderr)
        return 2
    try:
        sink = args.output.open("w", encoding="utf-8") if getattr(args, "output", None) else (stdout or sys.stdout)
    except OSError as exc:
        print(f"responder classify: cannot write {args.output}: {exc.strerror or exc}", file=stderr)
        if getattr(args, "input", None):
            source.close()
        return 2
    failures = 0
    try:
        plain = getattr(args, "format", "jsonl") == "text"
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            request, error = _parse_text(line, number) if plain else _parse(line)
            if error is not None:
                failures += 1
                result: dict[str, Any] = {"error": error, "line": number}
            else:
                classification = classify(request["text"], lang=request.get("lang"), author=request.get("author"),
                                          channel=request.get("channel"), rules=rules).to_dict()
                result = {"id": request["id"]} if "id" in request else {}
                if "line" in request:
                    result["line"] = request["line"]
                result.update((key, classification[key]) for key in OUTPUT_KEYS)
            sink.write(json.dumps(result, ensure_ascii=False) + "\n")
    finally:
        if getattr(args, "input", None):
            source.close()
        if getattr(args, "output", None):
            sink.close()
        else:
            sink.flush()
    if failures:
        print(f"responder classify: {failures} invalid line(s)", file=stderr)
    return 1 if failures else 0


def _parse_text(line: str, number: int) -> tuple[dict[str, Any], str | None]:
    """A request from one line of a plain-text benchmark file (dataset escapes decoded, line number as id)."""
    from responder.classification.textmodel import decode_dataset_escapes

    return {"text": decode_dataset_escapes(line.rstrip("\r\n")), "line": number}, None


def _parse(line: str) -> tuple[dict[str, Any], str | None]:
    """The request on one line, or an error message that says what is wrong with it."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(request, dict):
        return {}, "each line must be a JSON object"
    if not isinstance(request.get("text"), str):
        return {}, "missing text (a string)"
    if request.get("lang") is not None and not isinstance(request["lang"], str):
        return {}, "lang must be a string"
    if request.get("author") is not None and not isinstance(request["author"], dict):
        return {}, "author must be an object"
    if request.get("channel") is not None and not isinstance(request["channel"], str):
        return {}, "channel must be a string"
    return request, None


def main(argv: list[str] | None = None) -> int:
    """`python -m responder_cli.classify_cmd`: the sub-command on its own."""
    parser = argparse.ArgumentParser(prog="responder classify", description=__doc__.split("\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
