"""Every function's DynamoDB adapter speaks the JSON protocol in Lambda (and under `responder local`), with the
timeouts and retries its boto3 client had; boto3 everywhere else."""

from __future__ import annotations

import sys

import pytest

from responder.aws import storage
from responder.aws.json_api import AwsJsonClient
from responder_cli.local.paths import REPO_ROOT
from responder_cli.local.triage import load_module

LAMBDA_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
    "AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "responder-function",
    "TABLE_NAME": "responder-table", "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/triage",
    "OUTBOUND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/outbound",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:triage",
    "ESCALATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:escalations",
    "AGENT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:agents",
}


@pytest.fixture
def lambda_env(monkeypatch):
    for key, value in LAMBDA_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "SECRET_ARN", "SLA_GROUP"):
        monkeypatch.delenv(key, raising=False)
    from responder.triage import runtime

    runtime.reset()
    yield
    runtime.reset()


def _handler(name):
    return load_module(REPO_ROOT / "functions" / name / "handler.py", f"test_dynamodb_clients_{name}")


def _options(client):
    return client._connect_timeout, client._read_timeout, client._attempts


def _table_clients():
    """Each function's table client, built as its handler builds it: (function, client)."""
    from responder.core.config import DispatcherSettings, SenderSettings, TriageSettings
    from responder.sla.settings import SlaSettings
    from responder.triage.runtime import runtime
    from responder_cli.local.stack import LambdaContext

    webhook = _handler("webhook").build_service()
    review = _handler("review").build_service()
    sender = _handler("sender")._build(SenderSettings.from_env())
    sla = _handler("sla")._build(SlaSettings.from_env(), LambdaContext(function_name="sla"))
    counters = _handler("dispatcher")._counter_store(DispatcherSettings.from_env())
    triage = runtime(TriageSettings.from_env)
    return {"webhook": webhook._store.client, "review": review._store.client, "sender": sender._ledger.client,
            "sla": sla.store.mentions.client, "dispatcher": counters._m.client,
            "classify, draft": triage.store.client, "classify's incidents": triage.incidents._m.client}


def test_every_functions_table_client_is_the_json_client_in_lambda_with_its_timeouts(lambda_env):
    # Given the Lambda environment (the execution role's credentials in the environment)
    # When each function builds its adapters as its handler does, and each adapter its client
    clients = _table_clients()
    # Then every one is the JSON-protocol client on DynamoDB's regional endpoint
    assert {name: type(c).__name__ for name, c in clients.items()} == dict.fromkeys(clients, "AwsJsonClient")
    assert {c.service for c in clients.values()} == {"dynamodb"}
    assert {c.endpoint_url for c in clients.values()} == {"https://dynamodb.us-east-1.amazonaws.com"}
    # And each keeps the timeouts and retries its boto3 client had (connect, read, retries after the first try)
    from responder.triage import runtime as triage

    assert _options(clients["webhook"]) == (storage.CONNECT_TIMEOUT_SECONDS, storage.READ_TIMEOUT_SECONDS, 0)
    assert _options(clients["review"]) == (1.0, 2.0, 1)  # a person waits on the page
    assert _options(clients["sender"]) == (1.0, 3.0, 2)  # responder.replies.ledger
    assert _options(clients["sla"]) == _options(clients["dispatcher"]) == (0.5, 1.0, 0)
    assert _options(clients["classify, draft"]) == (triage.TRIAGE_CONNECT_TIMEOUT_SECONDS,
                                                           triage.TRIAGE_READ_TIMEOUT_SECONDS, triage.TRIAGE_RETRIES)
    # And one client serves a function's adapters on the table (one kept connection, not one per adapter)
    assert clients["classify's incidents"] is clients["classify, draft"]


def test_a_tables_client_is_boto3_outside_lambda_and_json_under_the_local_stack(lambda_env, monkeypatch):
    # Given a developer's environment (credentials, no Lambda)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Then the adapter builds boto3's client, whose timeouts are the ones given
    boto3_client = storage.DynamoMentionStore("t", client_options={"read_timeout": 4.0, "attempts": 1}).client
    assert not isinstance(boto3_client, AwsJsonClient)
    assert boto3_client.meta.service_model.service_name == "dynamodb"
    assert (boto3_client.meta.config.read_timeout, boto3_client.meta.config.retries["total_max_attempts"]) == (4.0, 2)
    # Given `responder local`'s switch (DynamoDB Local at the endpoint the stack sets)
    monkeypatch.setattr(storage, "JSON_DYNAMODB_OUTSIDE_LAMBDA", True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    local = storage.DynamoMentionStore("t", client_options={"read_timeout": 4.0, "attempts": 1}).client
    # Then the adapter's client is the JSON one on that endpoint, with the same timeouts
    assert isinstance(local, AwsJsonClient) and local.endpoint_url == "http://127.0.0.1:8000"
    assert (local._read_timeout, local._attempts) == (4.0, 1)
    # And only DynamoDB: SQS, SNS and the rest stay boto3 (moto serves them in-process and only intercepts botocore)
    assert storage.lambda_json_client("sqs") is None


def test_the_json_client_adds_no_boto3_import_to_a_functions_table_path(lambda_env):
    # Given a process where boto3 was never imported (a cold Lambda container)
    import subprocess

    code = ("import sys; from responder.aws.storage import DynamoMentionStore; "
            "c = DynamoMentionStore('t').client; print(type(c).__name__, 'boto3' in sys.modules)")
    # When an adapter builds its client in Lambda
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**LAMBDA_ENV, "PYTHONPATH": ":".join(sys.path)}).stdout.split()
    # Then it is the JSON client, and boto3 is still not imported
    assert out == ["AwsJsonClient", "False"]
