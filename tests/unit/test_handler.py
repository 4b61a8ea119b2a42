"""The Lambda entry point: what it loads at cold start, and its answer when misconfigured."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from responder_cli.local_stack import LambdaContext, load_handler

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "functions" / "webhook" / "handler.py"


def test_cold_import_loads_nothing_the_webhook_does_not_use():
    # Given a fresh interpreter with only the function and the domain layer on the path
    code = ("import sys, handler; heavy = ['tweepy', 'requests', 'aws_lambda_powertools.event_handler', "
            "'aws_lambda_powertools.utilities.idempotency', 'moto', 'aws_cdk']; "
            "print([m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=HANDLER.parent, env={"PYTHONPATH": f"{REPO / 'layers/responder/python'}:{HANDLER.parent}",
                                                   "PATH": "/usr/bin:/bin"})
    # Then none of the heavy or unrelated packages was imported
    assert done.stdout.strip() == "[]"


def test_missing_configuration_answers_500_and_is_logged(monkeypatch):
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("QUEUE_URL", raising=False)
    module = load_handler(HANDLER)
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign]
    module.logger.addHandler(capture)
    try:
        answer = module.handler({"rawPath": "/webhooks/x", "requestContext": {"http": {"method": "GET"}}},
                                LambdaContext())
    finally:
        module.logger.removeHandler(capture)
    assert answer["statusCode"] == 500
    failed = [r for r in records if r.getMessage() == "webhook failed"]
    assert failed and failed[0].exc_info and "TABLE_NAME" in str(failed[0].exc_info[1])
