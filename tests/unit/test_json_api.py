"""The webhook's JSON-protocol client: the requests botocore would send, and botocore's answers to errors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

from responder.aws.json_api import AwsJsonClient, lambda_environment_credentials, sign
from responder.aws.storage import lambda_json_client

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SESSION_TOKEN": "session-token",
               "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
CALLS = [
    ("dynamodb", "transact_write_items", {"TransactItems": [
        {"Put": {"TableName": "T", "Item": {"pk": {"S": "MENTION#x#1"}, "n": {"N": "1"}, "b": {"B": b"\x00\x01"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "T", "Key": {"pk": {"S": "THREAD#x#1"}, "sk": {"S": "THREAD"}},
                    "UpdateExpression": "ADD mention_count :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}}]}),
    ("dynamodb", "query", {"TableName": "T", "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :t",
                           "ExpressionAttributeValues": {":t": {"S": "THREAD#x#1"}}, "ScanIndexForward": False}),
    ("sqs", "send_message_batch", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/triage",
                                   "Entries": [{"Id": "0", "MessageBody": "{\"mention_id\": \"1\"}"}]}),
    ("secretsmanager", "get_secret_value", {"SecretId": "arn:aws:secretsmanager:us-east-1:1:secret:s"}),
]


@pytest.fixture
def lambda_env(monkeypatch):
    for key, value in {**CREDENTIALS, "AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "webhook"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS",
                "AWS_ENDPOINT_URL_SECRETSMANAGER"):
        monkeypatch.delenv(key, raising=False)


class _Raw:
    def stream(self, **_):
        yield b"{}"


def botocore_request(service, method, params):
    """The request botocore signs and sends for this call (caught before it leaves the process)."""
    client = botocore.session.get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"])
    sent = []

    def capture(request, **_):
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _Raw())

    client.meta.events.register("before-send", capture)
    getattr(client, method)(**params)
    return sent[0]


@pytest.mark.parametrize("service,method,params", CALLS, ids=[f"{c[0]}.{c[1]}" for c in CALLS])
def test_requests_are_the_ones_botocore_sends(lambda_env, service, method, params):
    # Given the same call made through botocore and through the JSON client
    theirs = botocore_request(service, method, params)
    client = AwsJsonClient(service)
    headers = client._signed_headers(client_operation(method), b"")
    ours = json.loads(json.dumps(params, default=lambda b: __import__("base64").b64encode(b).decode()))
    # Then the endpoint, the operation, the content type and the body are botocore's
    assert client.endpoint_url + "/" == theirs.url
    assert headers["X-Amz-Target"] == theirs.headers["X-Amz-Target"].decode()
    assert headers["Content-Type"] == theirs.headers["Content-Type"].decode()
    body = json.loads(theirs.body)
    if service == "dynamodb" and method == "transact_write_items":
        # botocore fills the idempotency token: so does the client, a fresh one per call
        assert body.pop("ClientRequestToken")
        sent = capture_body(client, method, params)
        assert sent.pop("ClientRequestToken") and sent == ours
    assert body == ours


def client_operation(method):
    from responder.aws.json_api import _operation

    return _operation(method)


def capture_body(client, method, params):
    bodies = []
    client._send = lambda operation, body: bodies.append(json.loads(body)) or (200, {}, b"{}")  # type: ignore
    getattr(client, method)(**params)
    return bodies[0]


@pytest.mark.parametrize("service,method,params", CALLS, ids=[f"{c[0]}.{c[1]}" for c in CALLS])
def test_signature_is_the_one_botocore_computes(lambda_env, service, method, params):
    # Given botocore's signed request and its timestamp
    theirs = botocore_request(service, method, params)
    client = AwsJsonClient(service)
    # When the client signs the same body at the same second, with the headers it sends
    unsigned = {"Content-Type": f"application/x-amz-json-{client._version}",
                "X-Amz-Target": f"{client._prefix}.{client_operation(method)}"}
    if service == "sqs":
        unsigned["x-amzn-query-mode"] = "true"
    ours = sign("POST", client._url, unsigned, theirs.body, service, client.region, CREDENTIALS["AWS_ACCESS_KEY_ID"],
                CREDENTIALS["AWS_SECRET_ACCESS_KEY"], CREDENTIALS["AWS_SESSION_TOKEN"],
                theirs.headers["X-Amz-Date"].decode())
    # Then the Authorization header (signed headers, scope, signature) is botocore's, to the character
    assert ours["Authorization"] == theirs.headers["Authorization"].decode()
    assert ours["x-amz-security-token"] == theirs.headers["X-Amz-Security-Token"].decode()
    # And the client's own signing builds those same headers
    assert {k: v for k, v in client._signed_headers(client_operation(method), b"").items()
            if k in unsigned} == unsigned


def test_json_clients_only_where_lambda_puts_credentials_in_the_environment(lambda_env, monkeypatch):
    # Given the Lambda environment, Then the webhook gets JSON clients with default_client's timeouts
    client = lambda_json_client("dynamodb")
    assert isinstance(client, AwsJsonClient) and client.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    assert (client._connect_timeout, client._read_timeout, client._attempts) == (0.5, 1.0, 0)
    # Given the same variables outside Lambda (a developer's machine), Then boto3 stays (None: default_client)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    assert not lambda_environment_credentials() and lambda_json_client("dynamodb") is None


class StandIn:
    """A loopback HTTP server answering each request with the next scripted (status, headers, body)."""

    def __init__(self, answers, close_after_each=False):
        self.answers = list(answers)
        self.requests = []
        self.connections = set()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                length = int(self.headers["Content-Length"])
                stand_in.requests.append((self.headers, self.rfile.read(length)))
                stand_in.connections.add(self.client_address)
                status, headers, body = stand_in.answers.pop(0)
                if body == "hang":
                    time.sleep(3)
                    self.close_connection = True  # then hang up without an answer
                    return
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
                if close_after_each:
                    self.close_connection = True  # closed without telling the client (no Connection: close)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_cancelled_transaction_is_botocores_client_error_with_its_reasons(lambda_env):
    # Given DynamoDB cancelling a transaction because the mention exists
    stand_in = StandIn([(400, {}, {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                                   "Message": "Transaction cancelled",
                                   "CancellationReasons": [{"Code": "ConditionalCheckFailed",
                                                            "Item": {"b": {"B": "AAE="}}}, {"Code": "None"}]})])
    client = AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint)
    try:
        # When the client sends the transaction
        with pytest.raises(ClientError) as caught:
            client.transact_write_items(TransactItems=[])
    finally:
        stand_in.close()
    # Then the error reads as botocore's does: the code, the message and the reasons (binary values as bytes)
    response = caught.value.response
    assert response["Error"] == {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
    assert [r["Code"] for r in response["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
    assert response["CancellationReasons"][0]["Item"] == {"b": {"B": b"\x00\x01"}}
    assert caught.value.operation_name == "TransactWriteItems"
    # And the request was signed with the environment's credentials and named its operation
    headers, _ = stand_in.requests[0]
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.TransactWriteItems"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert headers["X-Amz-Security-Token"] == "session-token"


def test_sqs_errors_carry_the_query_protocol_code_as_botocore_reads_them(lambda_env):
    # Given SQS answering that the queue does not exist (its JSON errors also name the older query code)
    stand_in = StandIn([(400, {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"},
                         {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no queue"})])
    client = AwsJsonClient("sqs", endpoint_url=stand_in.endpoint)
    try:
        with pytest.raises(ClientError) as caught:
            client.send_message_batch(QueueUrl="q", Entries=[])
    finally:
        stand_in.close()
    # Then the code is the one botocore reports for this service
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_a_kept_connection_the_server_closed_is_reopened_and_answers(lambda_env):
    # Given a server that closes each connection after answering, without saying so
    stand_in = StandIn([(200, {}, {"Item": {"n": {"N": "1"}}}), (200, {}, {"Item": {"n": {"N": "2"}}})],
                       close_after_each=True)
    client = AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint)
    try:
        # When two calls follow each other (a warm container's next delivery)
        first = client.get_item(TableName="T", Key={})
        time.sleep(0.1)
        second = client.get_item(TableName="T", Key={})
    finally:
        stand_in.close()
    # Then both are answered, the second on a new connection
    assert first["Item"]["n"] == {"N": "1"} and second["Item"]["n"] == {"N": "2"}
    assert len(stand_in.requests) == 2 and len(stand_in.connections) == 2


def test_a_hung_answer_is_botocores_read_timeout_after_the_read_timeout(lambda_env):
    # Given a server that reads the request and never answers
    stand_in = StandIn([(200, {}, "hang")])
    client = AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint, read_timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(ReadTimeoutError):
            client.get_item(TableName="T", Key={})
    finally:
        stand_in.close()
    # Then it gave up after its read timeout (loose bound: a BotoCoreError the storage maps to "unavailable")
    assert time.monotonic() - started < 2.5


def test_throttling_is_retried_when_retries_are_allowed_and_not_otherwise(lambda_env, monkeypatch):
    # Given DynamoDB throttling once, then answering
    monkeypatch.setattr("responder.aws.json_api.AwsJsonClient._back_off", staticmethod(lambda attempt: None))
    throttled = (400, {}, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow"})
    stand_in = StandIn([throttled, (200, {}, {}), throttled])
    try:
        # When a client with one retry calls, Then it is answered after two requests
        assert AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint, attempts=1).get_item(TableName="T",
                                                                                              Key={}) == {}
        assert len(stand_in.requests) == 2
        # When the webhook's client (no retries) is throttled, Then the error is raised at once
        with pytest.raises(ClientError):
            AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint).get_item(TableName="T", Key={})
        assert len(stand_in.requests) == 3
    finally:
        stand_in.close()


def test_nothing_listening_is_an_endpoint_connection_error(lambda_env):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BotoCoreError):
        AwsJsonClient("sqs", endpoint_url=f"http://127.0.0.1:{port}").send_message_batch(QueueUrl="q", Entries=[])


def test_query_pages_follow_the_last_key_up_to_max_items(lambda_env):
    # Given a query whose answer comes in two pages
    first = {"Items": [{"n": {"N": "1"}}, {"n": {"N": "2"}}], "LastEvaluatedKey": {"k": {"S": "2"}}}
    stand_in = StandIn([(200, {}, first),
                        (200, {}, {"Items": [{"n": {"N": "3"}}, {"n": {"N": "4"}}]})])
    client = AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint)
    try:
        pages = list(client.get_paginator("query").paginate(TableName="T", PaginationConfig={"MaxItems": 3,
                                                                                               "PageSize": 2}))
    finally:
        stand_in.close()
    # Then the second page starts after the first's last key, and no more than MaxItems items come back
    assert [len(p["Items"]) for p in pages] == [2, 1]
    second = json.loads(stand_in.requests[1][1])
    assert second["ExclusiveStartKey"] == {"k": {"S": "2"}} and second["Limit"] == 2


def test_the_webhook_reads_its_secret_through_the_json_client_once_per_max_age(lambda_env):
    from responder.core.config import CredentialsUnavailable, SecretsManagerCredentials

    # Given Secrets Manager holding the platform secrets, then failing
    secret = {"x_consumer_secret": "x-secret", "meta_app_secret": "REPLACE_ME"}
    stand_in = StandIn([(200, {}, {"SecretString": json.dumps(secret)}),
                        (400, {}, {"__type": "AccessDeniedException", "message": "no"})])
    client = AwsJsonClient("secretsmanager", endpoint_url=stand_in.endpoint)
    try:
        credentials = SecretsManagerCredentials("arn:secret", max_age=300, client=client)
        # When two deliveries read the credentials, Then Secrets Manager is asked once, and placeholders are unset
        first, second = credentials.get(), credentials.get()
        assert first.x_consumer_secret == second.x_consumer_secret == "x-secret" and first.meta_app_secret is None
        assert len(stand_in.requests) == 1
        assert stand_in.requests[0][0]["X-Amz-Target"] == "secretsmanager.GetSecretValue"
        # When the cache has expired and Secrets Manager refuses, Then the credentials are unavailable (a 503)
        with pytest.raises(CredentialsUnavailable):
            SecretsManagerCredentials("arn:secret", max_age=0, client=client).get()
    finally:
        stand_in.close()


def test_a_5xx_without_an_error_code_is_storage_unavailable_so_the_webhook_answers_503(lambda_env):
    # Given DynamoDB's endpoint answering a load balancer's 502 page (no JSON error code in the body)
    from responder.aws.storage import DynamoMentionStore, StorageUnavailable

    stand_in = StandIn([(502, {"Content-Type": "text/html"}, "<html>Bad Gateway</html>")])
    store = DynamoMentionStore("t", client=AwsJsonClient("dynamodb", endpoint_url=stand_in.endpoint))
    try:
        # When the store reads a mention, Then it reports the storage unavailable (a 503, the platform retries)
        with pytest.raises(StorageUnavailable):
            store.get_mention("x", "1")
    finally:
        stand_in.close()


def test_jitter_and_shard_picks_leave_the_global_random_generator_alone(monkeypatch):
    """The global generator belongs to the caller: a test framework seeds and watches it, and the local stack's
    background triage drawing from it would change what the caller's next draw gives."""
    import random

    from responder.aws.incident_store import COUNTER_SHARDS, IncidentStore

    monkeypatch.setattr("responder.aws.json_api.time.sleep", lambda seconds: None)
    picked = []

    class Mentions:  # the mention store's side IncidentStore uses: a client that records the keys it is given
        _table = "t"

        class client:
            @staticmethod
            def update_item(**request):
                picked.append(request["Key"]["pk"]["S"])

        @staticmethod
        def _item(values):
            return {key: {"S": str(value)} for key, value in values.items()}

        @staticmethod
        def _call(operation, **request):
            return operation(**request)

    store = IncidentStore(Mentions())
    state = random.getstate()
    for attempt in range(20):
        AwsJsonClient._back_off(attempt % 4)
        store.add_counts("acct", {1: {"billing": 2}})
    assert random.getstate() == state
    assert len({pk.rsplit("#", 1)[1] for pk in picked}) == COUNTER_SHARDS  # still spread over the shards
