"""A small client for the AWS JSON protocol calls of the webhook Lambda (DynamoDB, SQS, Secrets Manager).

Why: a cold webhook container paid `import boto3` plus two botocore clients (endpoint rules, service models, a
scan of botocore's data folders, the event hooks) before its first answer: 1.9x `import boto3` in all. DynamoDB and
SQS (AWS JSON 1.0) and Secrets Manager (1.1) take one signed POST per call, so the webhook speaks that directly
with the standard library: Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html),
`X-Amz-Target` naming the operation, the request parameters as the JSON body, errors as `__type` + `message`.

It is the same interface as the boto3 low-level client for what the webhook calls (`client.put_item(**kwargs)`,
`get_paginator("query")`), and raises botocore's own exceptions (`ClientError` with the same `response` shape,
`ConnectTimeoutError`, `ReadTimeoutError`, `EndpointConnectionError`), imported only on the error path, so the
adapters' error handling is unchanged. Tests check its requests against botocore's (signature and body) and run
the storage contract against DynamoDB Local through it.

Used where the environment provides credentials the way Lambda does (`lambda_environment_credentials`): by the
webhook for its three services, and by every function's DynamoDB adapter (`responder.aws.storage.dynamodb_client`).
`responder local` uses it for DynamoDB too (DynamoDB Local, the local credentials), so its meter counts the client
that deploys; elsewhere — a developer's profile, moto's in-process SQS, SNS and Step Functions — boto3 stays.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import re
import select
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import urlsplit

# Jitter from a generator of this module's own: the global one is the caller's (a test framework seeds it and watches
# it), and drawing from it in a background thread would perturb theirs.
_JITTER = random.Random()

# The protocol of each service (botocore's service-2.json metadata: jsonVersion and targetPrefix).
SERVICES = {
    "dynamodb": ("1.0", "DynamoDB_20120810"),
    "sqs": ("1.0", "AmazonSQS"),
    "secretsmanager": ("1.1", "secretsmanager"),
}
# Errors worth another try when retries are allowed (botocore's standard retry mode, same codes).
_RETRYABLE_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException", "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalServerError",
    "ServiceUnavailable",
}
# Parameters botocore fills with a fresh UUID when absent (the idempotencyToken trait): DynamoDB then treats a
# repeat of the same transaction within 10 minutes as the same request.
_IDEMPOTENCY_TOKENS = {("dynamodb", "TransactWriteItems"): "ClientRequestToken"}
_MAX_BACKOFF_SECONDS = 20.0  # botocore's standard mode cap
_MAX_IDLE_CONNECTIONS = 10  # kept alive at once; urllib3's default pool size, which botocore's pools use
_CAMEL = re.compile(r"(?:^|_)([a-z0-9])")


def lambda_environment_credentials() -> bool:
    """True inside Lambda, whose runtime puts the execution role's credentials in the environment."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and os.environ.get("AWS_ACCESS_KEY_ID")
                and os.environ.get("AWS_SECRET_ACCESS_KEY") and _region())


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def endpoint_for(service: str, region: str) -> str:
    """The service's regional endpoint, or the AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL override (as botocore)."""
    override = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")
    if override:
        return override.rstrip("/")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{service}.{region}.{suffix}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign(method: str, url: str, headers: dict[str, str], body: bytes, service: str, region: str,
         access_key: str, secret_key: str, token: str | None, amz_date: str) -> dict[str, str]:
    """The headers of a Signature Version 4 request (`amz_date` as `YYYYMMDDTHHMMSSZ`): `headers` plus the date,
    the session token and the Authorization header, every header signed."""
    parts = urlsplit(url)
    signed = {**headers, "host": parts.netloc, "x-amz-date": amz_date}
    if token:
        signed["x-amz-security-token"] = token
    lowered = {k.lower(): " ".join(str(v).split()) for k, v in signed.items()}
    names = sorted(lowered)
    canonical = "\n".join([
        method, parts.path or "/", parts.query,
        "".join(f"{name}:{lowered[name]}\n" for name in names), ";".join(names), hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode("utf-8"), amz_date[:8]), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return signed


def _operation(method_name: str) -> str:
    """`transact_write_items` → `TransactWriteItems` (boto3's method names are the operations in snake case)."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), method_name)


# --- binary attribute values: bytes in Python, base64 on the wire (as boto3) ----------------------------------

def _wire_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    if "B" in value:
        return {"B": base64.b64decode(value["B"])}
    if "BS" in value:
        return {"BS": [base64.b64decode(v) for v in value["BS"]]}
    if "M" in value:
        return {"M": _decode_item(value["M"])}
    if "L" in value:
        return {"L": [_decode_value(v) for v in value["L"]]}
    return value


def _decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_value(value) for name, value in item.items()}


def _decode_dynamodb(answer: dict[str, Any]) -> dict[str, Any]:
    """The binary values of the items in a DynamoDB answer as bytes."""
    for field in ("Item", "Attributes", "LastEvaluatedKey"):
        if isinstance(answer.get(field), dict):
            answer[field] = _decode_item(answer[field])
    if isinstance(answer.get("Items"), list):
        answer["Items"] = [_decode_item(item) for item in answer["Items"]]
    for reason in answer.get("CancellationReasons") or []:
        if isinstance(reason, dict) and isinstance(reason.get("Item"), dict):
            reason["Item"] = _decode_item(reason["Item"])
    responses = answer.get("Responses")
    if isinstance(responses, dict):  # BatchGetItem: each table's items
        answer["Responses"] = {table: [_decode_item(item) for item in items] for table, items in responses.items()}
    elif isinstance(responses, list):  # TransactGetItems: one {"Item"} per request
        for response in responses:
            if isinstance(response, dict) and isinstance(response.get("Item"), dict):
                response["Item"] = _decode_item(response["Item"])
    for request in (answer.get("UnprocessedKeys") or {}).values():  # BatchGetItem: the keys to ask for again
        if isinstance(request, dict) and isinstance(request.get("Keys"), list):
            request["Keys"] = [_decode_item(key) for key in request["Keys"]]
    return answer


class AwsJsonClient:
    """One service's JSON API: `client.<operation in snake case>(**params)` → the answer as a dict.

    `attempts` counts retries after the first try (botocore's `max_attempts`): 0 means one try. Connections are
    kept alive in a small pool shared by the threads (as botocore's): a Lambda container, one request at a time,
    reuses its one connection; the local stack, which runs each invocation on a thread of its own, reuses them too
    rather than connecting per thread. A kept connection the server closed meanwhile is reopened before it is used.
    """

    def __init__(self, service: str, region: str | None = None, connect_timeout: float = 1.0,
                 read_timeout: float = 2.0, attempts: int = 0, endpoint_url: str | None = None) -> None:
        if service not in SERVICES:
            raise ValueError(f"no JSON protocol client for {service}")
        self.service = service
        self.region = region or _region() or "us-east-1"
        self.endpoint_url = (endpoint_url or endpoint_for(service, self.region)).rstrip("/")
        self._version, self._prefix = SERVICES[service]
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._attempts = attempts
        parts = urlsplit(self.endpoint_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path or "/"
        self._url = f"{parts.scheme}://{parts.netloc}{self._path}"
        self._idle: list[Any] = []  # connected, kept alive, not in use (most recently used last)
        self._idle_lock = threading.Lock()
        self._ssl_context: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name.islower():
            raise AttributeError(name)
        operation = _operation(name)

        def call(**params: Any) -> dict[str, Any]:
            return self.call(operation, params)

        call.__name__ = name
        return call

    def get_paginator(self, method_name: str) -> "_Paginator":
        """Query and Scan pages, following LastEvaluatedKey (PaginationConfig MaxItems and PageSize as boto3)."""
        if self.service != "dynamodb" or method_name not in ("query", "scan"):
            raise NotImplementedError(f"no paginator for {self.service}.{method_name}")
        return _Paginator(self, _operation(method_name))

    # -- one call ---------------------------------------------------------------------------------------

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        token = _IDEMPOTENCY_TOKENS.get((self.service, operation))
        if token and token not in params:
            import uuid

            params = {**params, token: str(uuid.uuid4())}
        body = json.dumps(params, separators=(",", ":"), default=_wire_default).encode("utf-8")
        for attempt in range(self._attempts + 1):
            try:
                status, headers, data = self._send(operation, body)
            except Exception as exc:  # noqa: BLE001 - connection errors are retried, then raised
                if attempt < self._attempts and _is_connection_error(exc):
                    self._back_off(attempt)
                    continue
                raise
            if status < 300:
                answer = json.loads(data) if data else {}
                return _decode_dynamodb(answer) if self.service == "dynamodb" else answer
            error = self._client_error(operation, status, headers, data)
            code = error.response["Error"]["Code"]
            if attempt < self._attempts and (status >= 500 or code in _RETRYABLE_CODES):
                self._back_off(attempt)
                continue
            raise error
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _back_off(attempt: int) -> None:
        time.sleep(_JITTER.random() * min(_MAX_BACKOFF_SECONDS, 2 ** attempt))

    def _signed_headers(self, operation: str, body: bytes) -> dict[str, str]:
        access_key = os.environ.get("AWS_ACCESS_KEY_ID", "")
        secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        if not access_key or not secret_key:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        headers = {"Content-Type": f"application/x-amz-json-{self._version}",
                   "X-Amz-Target": f"{self._prefix}.{operation}"}
        if self.service == "sqs":
            # SQS is query-compatible (awsQueryCompatible): asked so, it names its errors with the query codes
            # botocore reports (x-amzn-query-error), e.g. AWS.SimpleQueueService.NonExistentQueue.
            headers["x-amzn-query-mode"] = "true"
        amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        # Read at each call: the environment is where Lambda keeps the role's current credentials.
        return sign("POST", self._url, headers, body, self.service, self.region, access_key, secret_key,
                    os.environ.get("AWS_SESSION_TOKEN"), amz_date)

    def _send(self, operation: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = self._signed_headers(operation, body)
        headers.pop("host", None)  # http.client sends Host itself
        connection, reused = self._connection()
        try:
            answer = self._exchange(connection, headers, body)
        except (ConnectionResetError, BrokenPipeError, _remote_disconnected()) as exc:
            connection.close()
            if not reused:
                raise self._connection_error(exc) from exc
            # The server closed the kept connection between our check and the request: nothing was answered,
            # so send once more on a new connection (a repeat is harmless: the writes are conditional).
            connection, _ = self._connection(fresh=True)
            try:
                answer = self._exchange(connection, headers, body)
            except OSError as again:
                connection.close()
                raise self._connection_error(again) from again
            except BaseException:
                connection.close()
                raise
        except OSError as exc:
            connection.close()
            raise self._connection_error(exc) from exc
        except BaseException:  # e.g. an answer cut short (http.client.IncompleteRead): the connection is not reused
            connection.close()
            raise
        self._release(connection)
        return answer

    def _exchange(self, connection: Any, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection.request("POST", self._path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()

    def _connection(self, fresh: bool = False) -> tuple[Any, bool]:
        """A kept connection still open, or a new one connected (with the connect timeout, then the read timeout on
        the socket); and whether it was kept."""
        import http.client
        import socket

        while not fresh:
            with self._idle_lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if connection.sock is not None and not _dropped(connection.sock):
                return connection, True
            connection.close()
        if self._https:
            if self._ssl_context is None:
                import ssl

                self._ssl_context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout,
                                                     context=self._ssl_context)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            connection.connect()
        except socket.timeout as exc:
            connection.close()
            from botocore.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(endpoint_url=self.endpoint_url, error=exc) from exc
        except OSError as exc:
            connection.close()
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc) from exc
        connection.sock.settimeout(self._read_timeout)
        return connection, False

    def _release(self, connection: Any) -> None:
        """Keep an answered connection for the next call (at most _MAX_IDLE_CONNECTIONS of them)."""
        with self._idle_lock:
            if len(self._idle) < _MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the kept connections (a later call connects again)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _connection_error(self, exc: Exception) -> Exception:
        import socket

        from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

        if isinstance(exc, socket.timeout):
            return ReadTimeoutError(endpoint_url=self.endpoint_url, error=exc)
        return EndpointConnectionError(endpoint_url=self.endpoint_url, error=exc)

    def _client_error(self, operation: str, status: int, headers: dict[str, str], data: bytes) -> Exception:
        """botocore's ClientError with the response botocore's JSON parser builds for the same answer."""
        from botocore.exceptions import ClientError

        try:
            fields = json.loads(data) if data else {}
        except ValueError:
            fields = {}
        if not isinstance(fields, dict):
            fields = {}
        code = str(fields.pop("__type", "") or headers.get("x-amzn-errortype", "")).split("#")[-1].split(":")[0]
        query_error = headers.get("x-amzn-query-error")  # SQS: the error code its query protocol used
        if query_error and ";" in query_error:
            code = query_error.split(";")[0]
        message = fields.pop("message", None) or fields.pop("Message", "")
        response = {**(_decode_dynamodb(fields) if self.service == "dynamodb" else fields),
                    "Error": {"Code": code or str(status), "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": headers.get("x-amzn-requestid", ""),
                                         "HTTPHeaders": headers}}
        return ClientError(response, operation)


class _Paginator:
    def __init__(self, client: AwsJsonClient, operation: str) -> None:
        self._client = client
        self._operation = operation

    def paginate(self, PaginationConfig: dict[str, int] | None = None,  # noqa: N803 - boto3's name
                 **params: Any) -> Iterator[dict[str, Any]]:
        config = PaginationConfig or {}
        left = config.get("MaxItems")
        if config.get("PageSize"):
            params["Limit"] = config["PageSize"]
        while left is None or left > 0:
            page = self._client.call(self._operation, params)
            if left is not None:
                page["Items"] = page.get("Items", [])[:left]
                left -= len(page["Items"])
            yield page
            if not page.get("LastEvaluatedKey"):
                return
            params = {**params, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def _remote_disconnected() -> type[Exception]:
    import http.client

    return http.client.RemoteDisconnected


def _dropped(sock: Any) -> bool:
    """An idle kept connection that is readable was closed by the server (or sent something unasked)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _is_connection_error(exc: Exception) -> bool:
    from botocore.exceptions import BotoCoreError

    return isinstance(exc, BotoCoreError)
