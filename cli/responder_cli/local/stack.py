"""`responder local`: the deployed routes served on 127.0.0.1 by the same handler code.

DynamoDB is DynamoDB Local (tables created from the synthesized template); SQS is moto's in-process
implementation (queues from the same template); credentials come from RESPONDER_* variables.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.constants import SWEEPER_TIMEOUT_SECONDS
from responder_cli.local.dynamodb_local import LOCAL_CREDENTIALS, DynamoDBLocal
from responder_cli.local.paths import WEBHOOK_HANDLER
from responder_cli.local.triage import LocalTriage, load_module
from responder_cli.local.template import LOCAL_ACCOUNT, LOCAL_REGION, load_template, queues, tables

# Locally, every platform call goes to the built-in stand-ins (responder_cli.local.standins) with these tokens:
# obviously not real credentials, never sent anywhere else. They make every channel "configured" for Send.
LOCAL_REPLY_CREDENTIALS = {
    "RESPONDER_X_CONSUMER_KEY": "local-x-consumer-key",
    "RESPONDER_X_ACCESS_TOKEN": "local-x-access-token",
    "RESPONDER_X_ACCESS_TOKEN_SECRET": "local-x-access-token-secret",
    "RESPONDER_X_USER_ID": "1000000000000000001",  # the brand account of the seeded traffic and the stand-in
    "RESPONDER_META_PAGE_TOKEN": "local-meta-page-token",
    "RESPONDER_META_INSTAGRAM_TOKEN": "local-meta-instagram-token",
    "RESPONDER_WHATSAPP_TOKEN": "local-whatsapp-token",
}
REVIEW_KEY_FILE = "review.key"
# Defaults used when the variables are unset: obviously not real secrets, printed at start-up.
DEFAULT_SECRETS = {
    "RESPONDER_X_CONSUMER_SECRET": "local-x-consumer-secret",
    "RESPONDER_META_APP_SECRET": "local-meta-app-secret",
    "RESPONDER_META_VERIFY_TOKEN": "local-meta-verify-token",
}
MENTION_FIELDS = ("platform", "channel", "kind", "mention_id", "thread_id", "parent_id", "author", "text",
                  "created_at", "lang", "attachments", "account_id", "source", "status", "received_at",
                  # set by triage
                  "intent", "sentiment", "topic", "language", "priority", "team", "sla_due", "draft_text",
                  "archive_reason", "triage_error", "triaged_at", "incident_id",
                  # set by the sla function when a timer fires on an unanswered mention
                  "sla_breached_at", "sla_alerted_at",
                  # set by the review page, the sender, or a native reply on the platform
                  "reply_state", "reply_text", "reply_requested_by", "reply_requested_at", "reply_id", "reply_sent_at",
                  "reply_error", "first_response_at", "answered_by", "handled_by", "handled_at", "text_fetch_error",
                  # set by an erasure: a platform's delete notice, `responder forget`, Meta's data-deletion request
                  "deleted_at", "deleted_by")
THREAD_FIELDS = ("platform", "channel", "thread_id", "account_id", "mention_count",
                 "first_seen_at", "last_activity_at", "last_mention_id", "thread_status",
                 "last_reply_id", "last_reply_at", "last_reply_text")
# The local server answers only requests addressed to loopback by name: a web page whose DNS name was rebound to
# 127.0.0.1 sends its own Host, and must not read stored DMs from /local/mentions (DNS rebinding).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
# A keep-alive connection idle this long is closed, so idle sockets cannot hold the server's threads.
IDLE_TIMEOUT_SECONDS = 15.0
# DynamoDB Local serializes transactions: five concurrent Meta batches of four mentions waited 1.1-1.9 s each on
# a loaded 2-core machine, past the deployed 1 s read timeout (DynamoDB answers in milliseconds). Locally the
# budget is 2 s, still one try, so a hung DynamoDB Local is a 503 after ~2 s, inside X's 3 s.
LOCAL_DYNAMODB_READ_TIMEOUT_SECONDS = 2.0
# The triage queue and its DLQ are the ingest construct's (infra.constants.INGEST_QUEUE_ID); the outbound queue
# and its DLQ the outbound construct's (OUTBOUND_ID).
INGEST_PREFIX = "IngestQueue"
OUTBOUND_PREFIX = "Outbound"
ENV_REVIEW_BASE_URL = "RESPONDER_REVIEW_BASE_URL"  # responder.replies.tokens reads it


@dataclass
class LambdaContext:
    """The attributes of a Lambda context object that Powertools and the handler read."""

    function_name: str = "responder-webhook-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:responder-webhook-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The function's timeout, counted down from the invocation as Lambda does (the webhook's 10 s by default).
    timeout_seconds: float = 10.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def http_api_event(method: str, target: str, headers: dict[str, str], body: bytes,
                   source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the deployed API would build it."""
    parts = urlsplit(target)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params: dict[str, str] = {}
    for key, value in query:  # HTTP APIs join repeated parameters with commas
        params[key] = f"{params[key]},{value}" if key in params else value
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    lowered = {k.lower(): v for k, v in headers.items()}
    route = parts.path
    path_parameters = None
    if parts.path.startswith(REVIEW_PREFIX) and "/" not in parts.path[len(REVIEW_PREFIX):]:
        route, path_parameters = "/review/{token}", {"token": parts.path[len(REVIEW_PREFIX):]}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "stage": "$default",
            "requestId": str(uuid.uuid4()), "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": lowered.get("user-agent", "")},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
    if params:
        event["queryStringParameters"] = params
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    return event


def loopback_host(host: str | None) -> bool:
    """Whether a Host header names this machine's loopback: `127.0.0.1`, `localhost` or `[::1]`, any port."""
    value = (host or "").strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name, port = name + "]", rest
        if port and not port.startswith(":"):
            return False
        port = port[1:]
    else:
        name, _, port = value.partition(":")
    return name in LOOPBACK_HOSTS and (port == "" or (port.isdigit() and len(port) <= 5))


def request_headers(message: Any) -> dict[str, str]:
    """Header names lower-cased, repeated headers joined with commas, as API Gateway's payload 2.0 does: two
    signature headers become one value that matches no signature."""
    headers: dict[str, str] = {}
    for name, value in message.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


class LocalHTTPServer(ThreadingHTTPServer):
    """The threaded server with a listen backlog that holds a burst of concurrent senders."""

    # socketserver's default backlog is 5: with 20 concurrent senders 20-40% of connections were reset.
    request_queue_size = 128
    daemon_threads = True


def create_private(path: Path) -> Path:
    """Create (or tighten) a file only this user can read: the outbox holds notifications with private text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)
    return path


def load_handler(path: Path = WEBHOOK_HANDLER) -> ModuleType:
    """Import the webhook Lambda's handler module from its file, as the Lambda runtime does."""
    return load_module(path, "responder_webhook_handler")


# API Gateway HTTP APIs refuse payloads over 10 MB (413); the local server does the same rather than read them.
MAX_BODY_BYTES = 10 * 1024 * 1024
REVIEW_PREFIX = "/review/"


class BodyRefused(Exception):
    """A request body the local server will not read: too large (413) or malformed framing (400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LocalStack:
    """DynamoDB Local + moto SQS + the webhook handler, behind a threaded HTTP server on 127.0.0.1."""

    def __init__(self, port: int = 8787, data_dir: Path | None = None, synth: bool | None = None,
                 log_level: str = "WARNING", dynamodb_port: int | None = None, outbox: Path | None = None,
                 echo: Any = None, meter: Any = None, triage_pollers: int = 2,
                 idle_timeout: float = IDLE_TIMEOUT_SECONDS, sweep_interval: float = 30.0,
                 sweep_grace_seconds: int = 60, rules: str | None = None) -> None:
        self.port = port
        self.rules = rules  # routing rules overriding the shipped ones (JSON text, validated by the caller)
        self.scheduler: Any = None
        self.idle_timeout = idle_timeout
        # Deployed, an EventBridge rule runs the sweeper every few minutes; here a thread does, more often.
        self.sweep_interval = sweep_interval
        self.sweep_grace_seconds = sweep_grace_seconds
        self._sweeper: threading.Thread | None = None
        self.triage_pollers = triage_pollers  # like the event source's concurrency: bounds triage's share of CPU
        self.meter = meter
        self.outbox = outbox
        self.echo = echo
        self.triage: LocalTriage | None = None
        self.data_dir = data_dir
        self.synth = synth
        self.log_level = log_level
        self.dynamodb = DynamoDBLocal(port=dynamodb_port, data_dir=data_dir)
        self.server: ThreadingHTTPServer | None = None
        self._mock: Any = None
        self._speedups: Any = None
        self._environ: dict[str, str] | None = None
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None
        self._handler: Any = None
        self.table_name = ""
        self.queue_urls: dict[str, str] = {}
        self.secrets: dict[str, str] = {}
        self._store: Any = None
        self._read_timeout: float | None = None
        self._json_dynamodb = False
        self.standins: Any = None
        self._review_handler: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Bring every part up; on failure, tear down what was started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._environ = dict(os.environ)  # restored by stop(): the stack sets credentials and resource names
        from responder.aws import storage

        self._read_timeout = storage.READ_TIMEOUT_SECONDS  # restored by stop()
        storage.READ_TIMEOUT_SECONDS = LOCAL_DYNAMODB_READ_TIMEOUT_SECONDS
        # The functions reach DynamoDB Local with the JSON-protocol client they deploy with (restored by stop()).
        self._json_dynamodb = storage.JSON_DYNAMODB_OUTSIDE_LAMBDA
        storage.JSON_DYNAMODB_OUTSIDE_LAMBDA = True
        template = load_template(synth=self.synth)
        if self.outbox is not None:
            create_private(self.outbox)
        for key, value in LOCAL_CREDENTIALS.items():
            os.environ[key] = value
        for key, value in DEFAULT_SECRETS.items():
            self.secrets[key] = os.environ.setdefault(key, value)
        self._start_platform_standins()
        self.dynamodb.start()
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb.endpoint
        refs = self._create_tables(template)
        arns = {name: f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}" for name in refs}

        from moto import mock_aws

        # moto serves SQS, SNS and Step Functions in-process (executing the real ASL, Lambda tasks dispatched to
        # the handlers in this process); DynamoDB calls pass through to DynamoDB Local.
        self._mock = mock_aws(config={"core": {"passthrough": {"services": ["dynamodb"]}},
                                      "stepfunctions": {"execute_state_machine": True},
                                      "lambda": {"use_docker": False}})
        self._mock.start()
        if self.log_level != "DEBUG":
            # The interpreter logs every failed task with its whole state tree; failures are already visible
            # as `triage_failed` mentions, alerts and dead letters.
            logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        from responder_cli.local.moto_speedups import MotoSpeedups

        self._speedups = MotoSpeedups()
        self._speedups.install()
        # Webhook requests block on I/O several times each while triage threads compute: a 1 ms GIL switch
        # interval (CPython's default is 5 ms) lets them back in sooner. Measured on a 800-mention surge:
        # acknowledgement p50 545 → 398 ms, p99 1,818 → 1,230 ms. (Deployed, they are separate Lambdas.)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        queue_urls = self._create_queues(template)
        refs.update(queue_urls)
        arns.update(self._queue_arns)
        self.triage = LocalTriage(template, refs, arns, outbox_path=self.outbox, echo=self.echo,
                                  context_factory=lambda name: LambdaContext(function_name=name),
                                  triage_queue_url=self._triage_queue_url(queue_urls), meter=self.meter)
        self.triage.create_topics()
        from responder_cli.local.timers import LocalScheduler

        # Before the environments: the functions' SLA_* variables name the schedule group and the Scheduler role.
        self.scheduler = LocalScheduler(template, self.triage.refs, self.triage.arns)
        self.scheduler.create_groups()
        environments = self.triage.function_environments()
        for env in environments.values():
            os.environ.update({k: v for k, v in env.items() if k != "POWERTOOLS_SERVICE_NAME"})
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.log_level
        # The handlers' EMF metric lines are for CloudWatch; locally `responder report` reads the stored mentions.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # Locally a timer fires at its second, not within the minute after it: no lead needed for a due time passed.
        os.environ["SLA_TIMER_MIN_LEAD_SECONDS"] = "1"
        if self.rules is not None:
            os.environ["ROUTING_RULES"] = self.rules  # beats the deployed override files (TriageSettings)
        from responder.sla import timers as sla_timers

        sla_timers.reset()
        self.table_name = os.environ["TABLE_NAME"]
        from responder.triage import runtime as triage_runtime

        triage_runtime.reset()  # a runtime cached by an earlier stack in this process points at its resources
        modules = self.triage.install_handlers()
        self.triage.create_state_machine()

        from responder.core.config import TriageSettings
        from responder.triage.routing import load_rules

        # The teams of the rules the functions run: the deployed overrides (RESPONDER_CONFIG_DIR) included.
        self.triage.subscribe(load_rules(TriageSettings.from_env().routing_rules).teams())
        import boto3

        from responder.aws.storage import DynamoMentionStore
        from responder_cli.local.triage import InterpreterRunner

        dispatcher = modules["responder-dispatcher"]
        dispatcher.configure(InterpreterRunner(self.triage.state_machine_arn,
                                               boto3.client("stepfunctions", region_name=LOCAL_REGION)),
                             boto3.client("sqs", region_name=LOCAL_REGION))
        local_client = self.dynamodb.client()
        local_client._responder_unmetered = True  # /local endpoints read the table; not part of the product
        self._store = DynamoMentionStore(self.table_name, client=local_client)
        from responder.privacy.erasure import Eraser

        self._eraser = Eraser(self.table_name, client=local_client)
        self._handler = modules["responder-webhook"].handler
        self._review_handler = modules["responder-review"].handler
        self.triage.start_loops(dispatcher.handler, pollers=self.triage_pollers)
        # Deployed, the outbound queue's event source invokes the sender; here one poller does.
        self.triage.start_consumer(self._queue_url(OUTBOUND_PREFIX), modules["responder-sender"].handler, "sender")
        self._watch = threading.Thread(target=self._watch_dead_letters, name="local-dead-letters", daemon=True)
        self._watch.start()
        from responder.aws.triage_queue import SqsTriageQueue

        from responder_cli.local.queue_age import MotoQueueAge

        sweeper = modules["responder-sweeper"]
        sweeper_client = storage.dynamodb_client()  # the client it deploys with (the JSON one, as above)
        # Its cost is per minute, not per mention (README: about $0.07 a month): kept out of the per-mention meter.
        sweeper_client._responder_unmetered = True
        sweeper.configure(DynamoMentionStore(self.table_name, client=sweeper_client),
                          SqsTriageQueue(self._triage_queue_url(queue_urls),
                                         client=boto3.client("sqs", region_name=LOCAL_REGION)),
                          MotoQueueAge(self._triage_queue_url(queue_urls)), grace_seconds=self.sweep_grace_seconds)
        self._sweeper = threading.Thread(target=self._sweep, args=(sweeper.handler,), name="local-sweeper",
                                         daemon=True)
        self._sweeper.start()
        # Deployed, EventBridge Scheduler invokes the sla function at each timer's time; here a thread does.
        handlers = {self.triage.arns[lid]: fn for lid, fn in self.triage.lambdas.handlers.items()}
        self.scheduler.start(handlers, lambda name: LambdaContext(function_name=name), echo=self.echo)
        self.server = LocalHTTPServer(("127.0.0.1", self.port), self._request_handler())
        self.port = self.server.server_address[1]
        # Review links in notifications point at this server (read by the Route and Classify functions per call).
        os.environ[ENV_REVIEW_BASE_URL] = f"http://127.0.0.1:{self.port}"

    def _create_tables(self, template: dict[str, Any]) -> dict[str, str]:
        client = self.dynamodb.client()
        existing = set(client.list_tables().get("TableNames", []))
        names = {}
        for spec in tables(template):
            names[spec.logical_id] = spec.logical_id
            if spec.logical_id in existing:
                continue
            client.create_table(**spec.create_args)
            if spec.ttl_attribute:
                client.update_time_to_live(TableName=spec.logical_id, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": spec.ttl_attribute})
        return names

    def _create_queues(self, template: dict[str, Any]) -> dict[str, str]:
        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1")
        urls: dict[str, str] = {}
        self._queue_arns: dict[str, str] = {}
        for spec in queues(template):
            attributes = dict(spec.attributes)
            if spec.dead_letter_logical_id:
                dlq_arn = sqs.get_queue_attributes(QueueUrl=urls[spec.dead_letter_logical_id],
                                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn,
                                                          "maxReceiveCount": spec.max_receive_count or 5})
            urls[spec.logical_id] = sqs.create_queue(QueueName=spec.logical_id, Attributes=attributes)["QueueUrl"]
            self._queue_arns[spec.logical_id] = sqs.get_queue_attributes(
                QueueUrl=urls[spec.logical_id], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_urls = urls
        return urls

    def _start_platform_standins(self) -> None:
        """Platform calls (replies, Instagram mention texts) go to stand-ins of X API v2 and the Graph API on
        loopback, never to X or Meta; review links are signed with a key of this run (or of the data folder)."""
        from responder.replies.tokens import ENV_REVIEW_KEY, generate_key
        from responder_cli.local.standins import PlatformStandins

        for key, value in LOCAL_REPLY_CREDENTIALS.items():
            os.environ.setdefault(key, value)
        if not os.environ.get(ENV_REVIEW_KEY):
            os.environ[ENV_REVIEW_KEY] = self._review_key(generate_key)
        from responder_cli.traffic import IG_ID, PAGE_ID

        # The brand accounts of the seeded traffic, so a crash check finds the brand's own replies.
        self.standins = PlatformStandins(x_user_id=os.environ["RESPONDER_X_USER_ID"], page_id=PAGE_ID,
                                         ig_user_id=IG_ID)
        base = self.standins.start()
        os.environ["RESPONDER_X_API_BASE"] = base
        os.environ["RESPONDER_GRAPH_API_BASE"] = base

    def _review_key(self, generate: Any) -> str:
        """With a data folder, the key is kept there (0600) so that links survive a restart; else one per run."""
        if self.data_dir is None:
            return generate()
        path = Path(self.data_dir) / REVIEW_KEY_FILE
        if not path.exists():
            create_private(path)
            path.write_text(generate(), encoding="utf-8")
        return path.read_text(encoding="utf-8").strip()

    def _queue_url(self, prefix: str) -> str:
        return next(url for logical_id, url in self.queue_urls.items()
                    if logical_id.startswith(prefix) and "DeadLetter" not in logical_id)

    def sent(self) -> list[dict[str, Any]]:
        """What the platform stand-ins accepted, oldest first."""
        return self.standins.sent() if self.standins is not None else []

    @staticmethod
    def _triage_queue_url(urls: dict[str, str]) -> str:
        """The triage queue the webhook feeds (the ingest construct's queue that is not a dead-letter queue)."""
        from responder_cli.local.template import TemplateError

        candidates = [url for logical_id, url in urls.items()
                      if logical_id.startswith(INGEST_PREFIX) and "DeadLetter" not in logical_id]
        if len(candidates) != 1:
            raise TemplateError(f"expected one triage queue, found {sorted(urls)}")
        return candidates[0]

    def serve_forever(self) -> None:
        """Serve until stop() or SIGINT/SIGTERM."""
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.2)

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM stop the server; the caller's finally block stops the rest."""
        def _stop(signum: int, frame: Any) -> None:
            if self.server is None:
                raise KeyboardInterrupt  # still starting: unwind, and start() tears down what it began
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)

    def stop(self) -> None:
        """Stop serving, stop the triage loops, stop moto, stop DynamoDB Local (no Java process left behind)."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(timeout=5)
            self._watch = None
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.server is not None:
            self.server.server_close()
            self.server = None
        if self.triage is not None:
            self.triage.stop()
            self.triage = None
        if self.standins is not None:
            self.standins.stop()
            self.standins = None
        if self._speedups is not None:
            self._speedups.uninstall()
            self._speedups = None
            sys.setswitchinterval(self._switch_interval)
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        self.dynamodb.stop()
        if self._read_timeout is not None:
            from responder.aws import storage

            storage.READ_TIMEOUT_SECONDS, self._read_timeout = self._read_timeout, None
            storage.JSON_DYNAMODB_OUTSIDE_LAMBDA = self._json_dynamodb
        if self._environ is not None:
            os.environ.clear()
            os.environ.update(self._environ)
            self._environ = None

    # -- local endpoints -------------------------------------------------------------------------------

    def mentions(self) -> list[dict[str, Any]]:
        """Stored inbound mentions, in the order they were received."""
        items = self._store.list_items("mention")
        items.sort(key=lambda i: (i.get("received_at", ""), i.get("mention_id", "")))
        # A mention without attachments is stored without the attribute (responder.aws.storage); a tombstone has none.
        return [{k: i[k] if k in i else [] for k in MENTION_FIELDS
                 if k in i or (k == "attachments" and i.get("status") != "deleted")}
                for i in items]

    def threads(self) -> list[dict[str, Any]]:
        """Stored threads, most recently active first."""
        from responder.aws.storage import is_thread_root, single_thread

        items = self._store.list_items("thread")
        # A thread whose only stored message opened it has no item: that mention is shown as a thread of one.
        kept = {(i.get("channel"), i.get("thread_id")) for i in items}
        items += [single_thread(m) for m in self._store.list_items("mention")
                  if is_thread_root(str(m.get("mention_id")), m.get("thread_id")) and m.get("created_at")
                  and (m.get("channel"), m.get("thread_id") or m.get("mention_id")) not in kept]
        items.sort(key=lambda i: i.get("last_activity_at", ""), reverse=True)
        return [{k: i[k] for k in THREAD_FIELDS if k in i} for i in items]

    def incidents(self) -> list[dict[str, Any]]:
        """Incidents, newest first, each with all its members and the alerts sent."""
        from responder.aws.incident_store import IncidentStore

        members_of = IncidentStore(self._store).members
        listed = []
        for item in sorted(self._store.list_items("incident"), key=lambda i: i.get("opened_at", ""), reverse=True):
            members = members_of(item["incident_id"])
            listed.append({
                "incident_id": item["incident_id"], "status": item.get("incident_status"),
                "size": len(members), "mention_ids": [m["mention_id"] for m in members],
                "members": [{"channel": m["channel"], "mention_id": m["mention_id"]} for m in members],
                "opened_at": item.get("opened_at"), "first_seen_at": item.get("first_seen_at"),
                "last_seen_at": item.get("last_seen_at"), "account_id": item.get("account_id"),
                "scope": item.get("scope"), "top_terms": list((item.get("signature") or {}).keys()),
                "sentiment_mix": {k.removeprefix("sentiment_"): v for k, v in item.items()
                                  if k.startswith("sentiment_")},
                "sample_mention_ids": item.get("sample_mention_ids", []),
                "alerts": [json.loads(a) for a in item.get("alerts", [])],
            })
        return listed

    def _sweep(self, handler: Any) -> None:
        """Run the sweeper's handler on a timer, as the deployed schedule does (see responder/ingest/sweeper.py)."""
        while not self._stopping.wait(self.sweep_interval):
            try:
                requeued = handler({}, LambdaContext(function_name="sweeper",
                                                     timeout_seconds=SWEEPER_TIMEOUT_SECONDS))["requeued"]
            except Exception as exc:  # noqa: BLE001 - DynamoDB Local briefly down: the next sweep tries again
                if self.echo and not self._stopping.is_set():
                    self.echo(f"[sweeper] sweep failed, retrying in {self.sweep_interval:g} s: {type(exc).__name__}")
                continue
            if requeued and self.echo:
                self.echo(f"[sweeper] {requeued} stranded mention(s) handed to triage again")

    def _watch_dead_letters(self) -> None:
        """Report poison messages as they reach the dead-letter queue (deployed: the DeadLetters alarm)."""
        seen = 0
        while not self._stopping.wait(2.0):
            try:
                count = self.dead_letters()
            except Exception as exc:  # noqa: BLE001 - stopping or moto gone: say so once and stop watching
                if self.echo and not self._stopping.is_set():
                    self.echo(f"[dead-letter] cannot read the queue: {exc!r}")
                return
            if count > seen and self.echo:
                self.echo(f"[dead-letter] {count} message(s) could not be triaged after five attempts; inspect "
                          "them and run `responder redrive` once the cause is fixed")
            seen = count

    def dead_letter_url(self) -> str:
        return next(url for logical_id, url in self.queue_urls.items()
                    if logical_id.startswith(INGEST_PREFIX) and "DeadLetter" in logical_id)

    def dead_letters(self) -> int:
        """Messages waiting in the dead-letter queue."""
        import boto3

        sqs = boto3.client("sqs", region_name=LOCAL_REGION)
        sqs._responder_unmetered = True
        attributes = sqs.get_queue_attributes(QueueUrl=self.dead_letter_url(),
                                              AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def redrive(self) -> int:
        """Move every dead-lettered message back to the triage queue (what `responder redrive` asks for)."""
        import boto3

        sqs = boto3.client("sqs", region_name=LOCAL_REGION)
        source, target, moved = self.dead_letter_url(), self.triage.triage_queue_url, 0
        waiting = self.dead_letters()  # only what is there now: a message that fails again comes back later
        while moved < waiting:
            messages = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=min(10, waiting - moved),
                                           MessageAttributeNames=["All"]).get("Messages", [])
            if not messages:
                break
            sqs.send_message_batch(QueueUrl=target, Entries=[
                {"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)])
            sqs.delete_message_batch(QueueUrl=source, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            moved += len(messages)
        return moved

    def forget(self, body: bytes) -> tuple[int, Any]:
        """`POST /local/forget` {"channel", "author_id"}: erase one person on one channel (`responder forget`)."""
        from datetime import datetime, timezone

        request = _person_request(_json_object(body))
        if isinstance(request, str):
            return 400, {"error": request}
        channel, author_id = request
        done = self._eraser.erase_author([channel], author_id, source="forget", at=datetime.now(timezone.utc))
        return 200, done.as_dict()

    def export(self, query: str) -> tuple[int, Any]:
        """`GET /local/export?channel=C&author_id=ID`: what is stored about one person (`responder export`)."""
        request = _person_request(dict(parse_qsl(query)))
        if isinstance(request, str):
            return 400, {"error": request}
        channel, author_id = request
        return 200, self._eraser.export_author([channel], author_id)

    def _local_route(self, path: str) -> tuple[int, Any] | None:
        if path == "/local/health":
            return 200, {"status": "ok", "dynamodb": self.dynamodb.endpoint, "table": self.table_name,
                         "queues": self.queue_urls, "dead_letters": self.dead_letters()}
        if path == "/local/mentions":
            return 200, self.mentions()
        if path == "/local/threads":
            return 200, self.threads()
        if path == "/local/incidents":
            return 200, self.incidents()
        if path == "/local/notifications":
            return 200, self.triage.notifications() if self.triage else []
        if path == "/local/sent":
            return 200, self.sent()
        return None

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "responder-local"
            # StreamRequestHandler sets it on the socket: a connection idle this long is closed.
            timeout = stack.idle_timeout

            def setup(self) -> None:
                super().setup()
                # Headers and body leave in two writes; without TCP_NODELAY, Nagle's algorithm and the
                # client's delayed ACK add ~40 ms to every keep-alive response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _answer(self, status: int, body: bytes, content_type: str,
                        headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                # As API Gateway passes them on: the review page's Location, Cache-Control, CSP and the rest.
                for name, value in (headers or {}).items():
                    if name.lower() not in ("content-type", "content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _read_body(self) -> bytes:
                """The request body, at most MAX_BODY_BYTES (BodyRefused beyond it or when it is malformed)."""
                if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                    chunks, total = [], 0
                    while True:
                        try:
                            size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                        except ValueError as exc:
                            raise BodyRefused(400, "malformed chunked body") from exc
                        total += size
                        if size < 0 or total > MAX_BODY_BYTES:
                            raise BodyRefused(413, f"body larger than {MAX_BODY_BYTES} bytes")
                        if size == 0:
                            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                                continue  # trailers, if any, end with an empty line
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline(64)  # the CRLF after each chunk
                try:
                    length = int(self.headers.get("content-length") or 0)
                except ValueError as exc:
                    raise BodyRefused(400, "malformed content-length") from exc
                if length < 0 or length > MAX_BODY_BYTES:
                    raise BodyRefused(413, f"body larger than {MAX_BODY_BYTES} bytes")
                return self.rfile.read(length) if length else b""

            def _dispatch(self) -> None:
                try:
                    body = self._read_body()
                except BodyRefused as refused:
                    # As API Gateway does past its payload limit; the connection is not reusable after an unread body.
                    self.close_connection = True
                    self._answer(refused.status, json.dumps({"error": str(refused)}).encode(), "application/json")
                    return
                if not loopback_host(self.headers.get("host")) or len(self.headers.get_all("host") or []) != 1:
                    self.close_connection = True
                    self._answer(421, b'{"error": "the local server answers only Host 127.0.0.1, localhost '
                                      b'or [::1]"}', "application/json")
                    return
                path = urlsplit(self.path).path
                if path.startswith("/local/"):
                    try:
                        if self.command == "POST" and path == "/local/redrive":
                            # A web page can POST a form cross-origin without asking; it cannot send this header
                            # without a CORS preflight, which the local server never grants.
                            if self.headers.get("x-responder-local") != "1":
                                local = (403, {"error": "send the header X-Responder-Local: 1"})
                            else:
                                local = (200, {"moved": stack.redrive()})
                        elif self.command == "POST" and path == "/local/forget":
                            # Same guard as redrive: a page cannot make the browser erase anyone.
                            if self.headers.get("x-responder-local") != "1":
                                local = (403, {"error": "send the header X-Responder-Local: 1"})
                            else:
                                local = stack.forget(body)
                        elif self.command == "GET" and path == "/local/export":
                            local = stack.export(urlsplit(self.path).query)
                        else:
                            local = stack._local_route(path) if self.command == "GET" else None
                        status, payload = local or (404, {"error": "not found"})
                        data = json.dumps(payload).encode()
                    except Exception as exc:  # noqa: BLE001 - DynamoDB Local or moto gone: say so, do not hang
                        status, data = 503, json.dumps({"error": type(exc).__name__}).encode()
                    self._answer(status, data, "application/json")
                    return
                event = http_api_event(self.command, self.path, request_headers(self.headers), body,
                                       self.client_address[0])
                started = time.thread_time()  # the handler's own CPU time is what is billed (metering.py)
                review = path.startswith(REVIEW_PREFIX)
                handler = stack._review_handler if review else stack._handler
                result = handler(event, LambdaContext(function_name="responder-review-local" if review
                                                      else "responder-webhook-local"))
                if stack.meter is not None:
                    stack.meter.http_request()
                    stack.meter.lambda_call("review" if review else "webhook", (time.thread_time() - started) * 1000)
                payload = result.get("body", "")
                data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
                headers = result.get("headers") or {}
                self._answer(result.get("statusCode", 200), data, headers.get("content-type", "application/json"),
                             headers)

            do_GET = do_POST = do_PUT = do_DELETE = _dispatch

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                if stack.log_level == "DEBUG":
                    sys.stderr.write("local: " + format % args + "\n")

        return Handler


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _person_request(values: dict[str, Any]) -> tuple[str, str] | str:
    """(channel, author id) from a forget/export request, or what is wrong with it."""
    from responder.core.model import CHANNELS, MalformedDelivery, check_id

    channel, author_id = values.get("channel"), values.get("author_id")
    if channel not in CHANNELS:
        return f"channel must be one of {', '.join(CHANNELS)}"
    try:
        return channel, check_id(author_id, "author_id")
    except MalformedDelivery as exc:
        return str(exc)


def run(port: int, data_dir: Path | None, synth: bool | None, log_level: str, outbox: Path | None = None,
        quiet: bool = False, rules: str | None = None) -> int:
    """Start the local stack, print how to use it, serve until interrupted, then stop cleanly."""
    if outbox is not None:
        outbox.parent.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(port=port, data_dir=data_dir, synth=synth, log_level=log_level, outbox=outbox,
                       echo=None if quiet else (lambda line: print(line, flush=True)), rules=rules)
    stack.install_signal_handlers()
    try:
        stack.start()
        base = f"http://127.0.0.1:{stack.port}"
        storage = f"data in {data_dir}" if data_dir else "in memory"
        print(f"Responder local stack ready on {base}", flush=True)
        print(f"  X webhook:      {base}/webhooks/x", flush=True)
        print(f"  Meta webhook:   {base}/webhooks/meta", flush=True)
        print(f"  Meta deletions: {base}/webhooks/meta/data-deletion (the Data Deletion Request callback)", flush=True)
        print(f"  Mentions:       {base}/local/mentions   Threads: {base}/local/threads", flush=True)
        print(f"  Notifications:  {base}/local/notifications"
              + (f" (also appended to {outbox})" if outbox else ""), flush=True)
        print(f"  Review pages:   {base}/review/<token> (the links in the notifications)", flush=True)
        print(f"  Replies sent:   {base}/local/sent (what the stand-ins of X and Meta received)", flush=True)
        print(f"  Privacy:        responder forget|export --url {base} --channel C --author-id ID", flush=True)
        print(f"  DynamoDB Local: {stack.dynamodb.endpoint} ({storage}), table {stack.table_name}", flush=True)
        if not stack.dynamodb.loopback_only:
            print("  WARNING: no javac found, so DynamoDB Local runs from its jar and listens on every interface; "
                  "install a JDK (17+) to keep it on 127.0.0.1", flush=True)
        for key, value in stack.secrets.items():
            origin = "default" if DEFAULT_SECRETS[key] == value else "from the environment"
            shown = value if origin == "default" else "(set)"
            print(f"  {key}={shown} ({origin})", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        stack.serve_forever()
    finally:
        stack.stop()
        print("Responder local stack stopped.", flush=True)
    return 0
