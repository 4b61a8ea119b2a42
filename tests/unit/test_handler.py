"""The Lambda entry point: what it loads at cold start, and its answer when misconfigured."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from responder.ingest.signatures import sign_x
from responder_cli.local.stack import LambdaContext, http_api_event, load_handler
from tests.conftest import fixture_bytes

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "functions" / "webhook" / "handler.py"


def test_cold_import_loads_nothing_the_webhook_does_not_use():
    # Given a fresh interpreter with only the function and the domain layer on the path
    # (boto3 costs ~150 ms: the README promises it is deferred to the first delivery's first AWS call)
    code = ("import sys, handler; heavy = ['boto3', 'botocore.session', 'botocore.client', 'tweepy', 'requests', "
            "'aws_lambda_powertools.event_handler', 'aws_lambda_powertools.utilities.idempotency', 'moto', "
            "'aws_cdk', 'numpy']; "
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


class SilentServer:
    """A TCP server that accepts connections and never answers: a DynamoDB endpoint that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed by close()
            self.accepted.append(conn)  # held open, never read, never answered

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hung_dynamodb(monkeypatch):
    server = SilentServer()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", server.endpoint)
    for key, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                       "AWS_DEFAULT_REGION": "us-east-1", "TABLE_NAME": "Mentions",
                       "QUEUE_URL": f"{server.endpoint}/000000000000/triage",
                       "RESPONDER_X_CONSUMER_SECRET": "hung-x-secret"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SECRET_ARN", raising=False)
    yield server
    server.close()


@pytest.mark.parametrize("in_lambda", [False, True], ids=["boto3 client", "Lambda JSON client"])
def test_a_dynamodb_that_never_answers_is_a_503_inside_the_platform_deadline(hung_dynamodb, monkeypatch, in_lambda):
    # Given the deployed handler, its store on the default client (in Lambda: the JSON-protocol client), and a
    # DynamoDB that accepts and never answers
    if in_lambda:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "responder-webhook")
    module = load_handler(HANDLER)
    assert (type(module.build_service()._store.client).__name__ == "AwsJsonClient") is in_lambda
    body = fixture_bytes("x/xaa_post_mention_create.json")
    event = http_api_event("POST", "/webhooks/x", {"x-twitter-webhooks-signature": sign_x("hung-x-secret", body)},
                           body)
    # When X delivers a mention
    started = time.monotonic()
    answer = module.handler(event, LambdaContext())
    elapsed = time.monotonic() - started
    # Then the answer is 503, so X retries, and it came before X's 3-second deadline (a loose correctness bound:
    # bench/hung_storage_bench.py measures the figure); the hanging server did receive the request
    assert answer["statusCode"] == 503
    assert hung_dynamodb.accepted
    assert elapsed < 3.0, f"503 after {elapsed:.1f}s"
