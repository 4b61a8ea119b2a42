"""The `responder` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _local(args: argparse.Namespace) -> int:
    from responder_cli.local.stack import run

    data_dir = None if args.in_memory else args.data_dir
    synth = True if args.synth else None
    outbox = Path(args.outbox) if args.outbox else None
    rules = None
    if args.rules is not None:
        rules = _routing_rules(args.rules)
        if rules is None:
            return 2
    return run(port=args.port, data_dir=data_dir, synth=synth, log_level=args.log_level, outbox=outbox,
               quiet=args.quiet, rules=rules)


def _routing_rules(path: Path) -> str | None:
    """The override of `--rules FILE` as JSON text, validated deep-merged over the shipped rules; None (and the
    reason on stderr) when it is not valid, before anything is started."""
    import json

    from responder.triage.routing import RoutingRulesError, load_rules, read_json_source

    try:
        override = read_json_source(path, "routing rules", RoutingRulesError)
        load_rules(override)
    except RoutingRulesError as exc:
        print(f"responder: --rules {path}: {exc}", file=sys.stderr)
        return None
    return json.dumps(override)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job."""
    from responder_cli import classify_cmd, demo, eval_cmd, privacy_cmd, redrive, replay, report

    parser = argparse.ArgumentParser(prog="responder", description="Serverless social-media mention responder.")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the whole stack on this machine (DynamoDB Local, same handlers)")
    local.add_argument("--port", type=int, default=8787, help="HTTP port on 127.0.0.1 (default 8787; 0 picks one)")
    storage = local.add_mutually_exclusive_group()
    storage.add_argument("--in-memory", action="store_true", help="keep data in memory (the default)")
    storage.add_argument("--data-dir", type=Path, help="keep DynamoDB Local's data in this directory")
    local.add_argument("--synth", action="store_true", help="re-synthesize the CDK template even if it is current")
    local.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       help="handler log level (default WARNING)")
    local.add_argument("--outbox", default=".local/outbox.jsonl",
                       help="append every notification to this JSON-lines file ('' for none)")
    local.add_argument("--quiet", action="store_true", help="do not print notifications as they are published")
    local.add_argument("--rules", type=Path, metavar="FILE",
                       help="routing rules overriding the shipped ones (the routingRules CDK context's JSON, "
                            "deep-merged), e.g. shorter sla_minutes")
    local.set_defaults(func=_local)

    replay.add_parser(commands)
    demo.add_parser(commands)
    classify_cmd.add_parser(commands)
    eval_cmd.add_parser(commands)
    redrive.add_parser(commands)
    report.add_parser(commands)
    privacy_cmd.add_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a clear one-line error instead of a stack trace
        from responder_cli.local.dynamodb_local import DynamoDBLocalError
        from responder_cli.local.template import TemplateError

        if isinstance(exc, (DynamoDBLocalError, TemplateError, OSError, ValueError)):
            print(f"responder: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
