"""Private text never reaches a log line: every handler's logs, at DEBUG, while the local stack processes X DMs,
Messenger, Instagram DMs and WhatsApp messages, their errors included.

The stack runs in-process (DynamoDB Local, moto's SQS, SNS and Step Functions, the platform stand-ins), so the
webhook, dispatcher, classify, draft, route, review, sender, sla and sweeper handlers all log into this process.
Each delivery carries marker words no other text contains, in its text and in the author's name and handle; the
test captures the project's logger (Powertools, DEBUG) and the root logger, and asserts no marker appears.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from responder.core.observability import logger as project_logger
from responder.ingest.signatures import sign_meta, sign_x
from responder_cli.local.stack import LambdaContext, LocalStack, http_api_event
from responder_cli.local.standins import meta_error
from responder_cli.traffic import TrafficGenerator
from tests.conftest import fixture_json

pytestmark = pytest.mark.slow

TERMINAL = {"notified", "archived", "triage_failed"}
REVIEW_ENV = {"RESPONDER_REVIEW_KEY": "p" * 48}
NONCE = re.compile(r'name="nonce"\s+value="([^"]+)"|value="([^"]+)"\s+name="nonce"')
# One marker per private field; none is a word of any shipped text, rule or template.
MARKERS = {
    "x_dm_text": "zorblatquix", "x_dm_name": "Quillonfert", "x_dm_handle": "vexmarrow_q",
    "messenger_text": "plonkravid", "instagram_text": "snarvelduke", "whatsapp_text": "glimbertoad",
    "whatsapp_name": "Fennimorgaut", "malformed_text": "crumbaxelot", "outage_text": "wobbendrail",
    "stranded_text": "trivolquent", "refused_reply": "bramwhistlecode",
}


class Capture(logging.Handler):
    """Every record, formatted as the deployed function writes it (Powertools JSON, exception and stack included)."""

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self._guard = threading.Lock()
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if record.exc_info and self.formatter is None:
            line += logging.Formatter().formatException(record.exc_info)
        with self._guard:
            self.lines.append(line)


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """The local stack at DEBUG with every log line captured, from before the first delivery to after the last."""
    import os

    saved = {k: os.environ.get(k) for k in ("RETRY_BASE_SECONDS", *REVIEW_ENV)}
    os.environ["RETRY_BASE_SECONDS"] = "0"
    os.environ.update(REVIEW_ENV)
    project = Capture(project_logger.registered_formatter)
    root = Capture()
    underlying = logging.getLogger(project_logger.name)
    level = underlying.level
    # A Lambda's root logger passes WARNING and above (the runtime's default); the project's logger runs at DEBUG.
    root.setLevel(logging.WARNING)
    stack = LocalStack(port=0, outbox=tmp_path_factory.mktemp("outbox") / "outbox.jsonl", log_level="DEBUG",
                       sweep_interval=0.5, sweep_grace_seconds=1).start()
    project_logger.setLevel("DEBUG")
    underlying.addHandler(project)
    logging.getLogger().addHandler(root)
    server = threading.Thread(target=stack.server.serve_forever, daemon=True)
    server.start()
    try:
        yield stack, project, root
    finally:
        underlying.removeHandler(project)
        logging.getLogger().removeHandler(root)
        underlying.setLevel(level)
        stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- deliveries with markers ------------------------------------------------------------------------------------

def post(stack: LocalStack, platform: str, body: bytes) -> dict[str, Any]:
    if platform == "x":
        headers = {"x-twitter-webhooks-signature": sign_x(stack.secrets["RESPONDER_X_CONSUMER_SECRET"], body)}
    else:
        headers = {"x-hub-signature-256": sign_meta(stack.secrets["RESPONDER_META_APP_SECRET"], body)}
    headers["content-type"] = "application/json"
    return stack._handler(http_api_event("POST", f"/webhooks/{platform}", headers, body), LambdaContext())


def x_dm(dm_id: str, sender: str) -> bytes:
    body = copy.deepcopy(fixture_json("x/xaa_dm_received.json"))
    body["data"]["event_uuid"] = f"-9{dm_id}"
    (event,) = body["data"]["payload"]["direct_message_events"]
    event["id"] = dm_id
    event["created_timestamp"] = str(int(time.time() * 1000))
    event["message_create"]["sender_id"] = sender
    event["message_create"]["message_data"]["text"] = f"My card ending 4242 was charged twice {MARKERS['x_dm_text']}"
    users = body["data"]["payload"]["users"]
    profile = users.pop("2000000000000000002")
    profile["data"].update(id=sender, username=MARKERS["x_dm_handle"], name=MARKERS["x_dm_name"])
    users[sender] = profile
    return json.dumps(body).encode()


def instagram_dm(mid: str, sender: str) -> bytes:
    body = copy.deepcopy(fixture_json("meta/instagram_messaging.json"))
    entry = body["entry"][0]
    message = entry["messaging"][0]
    message["sender"]["id"] = sender
    message["timestamp"] = entry["time"] = int(time.time() * 1000)
    message["message"] = {"mid": mid, "text": f"Where is my refund? {MARKERS['instagram_text']}"}
    entry["messaging"] = [message]
    return json.dumps(body).encode()


def generated(kind: str, text: str, name: str = "Someone", author_id: str = "7100000000000001") -> Any:
    from datetime import datetime, timezone

    # Sent now: a WhatsApp reply is allowed within 24 hours of the customer's message.
    generator = TrafficGenerator(seed=int(time.time() * 1000) % 100_000, start=datetime.now(timezone.utc))
    author = {"id": author_id, "username": "unused", "name": name, "followers": 3, "verified": False}
    build = {"messenger": generator.messenger_message, "whatsapp": generator.whatsapp_message}[kind]
    return build(text, "en", author, generator.start)


def stored(stack: LocalStack, mention_id: str) -> dict[str, Any] | None:
    return next((m for m in stack.mentions() if m["mention_id"] == mention_id), None)


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def triaged(stack: LocalStack, mention_id: str) -> dict[str, Any]:
    return wait_for(lambda: (m := stored(stack, mention_id)) and m.get("status") in TERMINAL and m,
                    f"{mention_id} to be triaged")


def review_url(stack: LocalStack, mention_id: str) -> str:
    def find() -> str | None:
        for record in stack.triage.notifications():
            message = record.get("message")
            if isinstance(message, dict) and (message.get("mention") or {}).get("mention_id") == mention_id:
                return (message.get("actions") or {}).get("review_url")
        return None

    return wait_for(find, f"the review link of {mention_id}")


def review(stack: LocalStack, method: str, url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    from urllib.parse import urlencode

    body = urlencode(form or {}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded"} if form else {}
    return stack._review_handler(http_api_event(method, urlsplit(url).path, headers, body), LambdaContext())


def page_text(answer: dict[str, Any]) -> str:
    import base64

    body = answer.get("body", "")
    return base64.b64decode(body).decode() if answer.get("isBase64Encoded") else body


def handler_of(stack: LocalStack, short: str) -> Any:
    lambdas = stack.triage.lambdas
    return lambdas.handlers[next(n for n, name in lambdas.names.items() if name == short)]


def webhook_service(stack: LocalStack) -> Any:
    # The local stack loads each function's handler.py under its own name: reach its globals through the function.
    service = getattr(stack._handler, "__wrapped__", stack._handler).__globals__["_service"]
    assert service is not None, "the webhook has handled no delivery yet"
    return service


def failing(code: str) -> Any:
    from botocore.exceptions import ClientError

    def call(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "Injected")

    return call


# --- the test ---------------------------------------------------------------------------------------------------

def test_no_private_text_name_or_handle_reaches_any_log_line(captured):
    stack, project, root = captured
    # Given private deliveries on every private channel, each with marker words in its text and author fields
    ids = {"x_dm": "3400000000000077001", "instagram": "aWdfZAG1faXRlbTpQUklWQVRFTE9HUzAwMQ",
           "messenger": None, "whatsapp": None}
    assert post(stack, "x", x_dm(ids["x_dm"], "2000000000000077001"))["statusCode"] == 200
    assert post(stack, "meta", instagram_dm(ids["instagram"], "9200000000077001"))["statusCode"] == 200
    messenger = generated("messenger", f"I was double charged {MARKERS['messenger_text']}")
    ids["messenger"] = messenger.mention_id
    assert post(stack, "meta", messenger.encoded())["statusCode"] == 200
    whatsapp = generated("whatsapp", f"My parcel never arrived {MARKERS['whatsapp_text']}", MARKERS["whatsapp_name"])
    ids["whatsapp"] = whatsapp.mention_id
    assert post(stack, "meta", whatsapp.encoded())["statusCode"] == 200
    # When they are triaged (dispatcher, classify, draft, route)
    for mention_id in ids.values():
        triaged(stack, mention_id)

    # And malformed private deliveries arrive, signed (a wrong type, broken JSON, a NaN)
    bad = generated("messenger", MARKERS["malformed_text"])
    wrong_type = json.loads(bad.encoded())
    wrong_type["entry"][0]["messaging"][0]["message"]["text"] = {"body": MARKERS["malformed_text"]}
    for body in (json.dumps(wrong_type).encode(), bad.encoded()[:-7],
                 re.sub(rb'"timestamp":\s*', b'"timestamp": NaN, "t": ', bad.encoded(), count=1)):
        assert 400 <= post(stack, "meta", body)["statusCode"] < 500

    # And DynamoDB refuses a WhatsApp delivery (the platform will retry it)
    service = webhook_service(stack)
    outage = generated("whatsapp", f"Are you open today {MARKERS['outage_text']}", MARKERS["whatsapp_name"],
                       author_id="7100000000000002")
    client = service._store.client
    client.put_item = failing("ThrottlingException")
    try:
        assert post(stack, "meta", outage.encoded())["statusCode"] == 503
    finally:
        del client.put_item
    # And SQS refuses a Messenger message after it was stored: the sweeper hands it to triage later
    stranded = generated("messenger", f"Please call me back {MARKERS['stranded_text']}", author_id="7100000000000003")
    queue_client = service._queue.client
    queue_client.send_message_batch = failing("InternalError")
    try:
        assert post(stack, "meta", stranded.encoded())["statusCode"] >= 500
    finally:
        del queue_client.send_message_batch
    triaged(stack, stranded.mention_id)

    # And an agent opens the WhatsApp message's review page and sends a reply that WhatsApp refuses
    url = review_url(stack, ids["whatsapp"])
    page = review(stack, "GET", url)
    assert page["statusCode"] == 200
    nonce = NONCE.search(page_text(page))
    assert nonce
    stack.standins.fail_next("whatsapp", 400, meta_error(131047, "Re-engagement message", transient=False))
    sent = review(stack, "POST", url, {"nonce": nonce.group(1) or nonce.group(2), "action": "send", "agent": "jamie",
                                       "text": f"Sorry about that {MARKERS['refused_reply']}"})
    assert sent["statusCode"] in (200, 303)
    refused = wait_for(lambda: (m := stored(stack, ids["whatsapp"])) and m.get("reply_state") == "refused" and m,
                       "the sender to record the refusal", timeout=20)
    assert refused["reply_error"]["code"] == "meta_131047"

    # And the SLA timers of every private mention fire
    sla = handler_of(stack, "sla")
    for mention_id in ids.values():
        found = stored(stack, mention_id)
        sla({"v": 1, "kind": "mention", "channel": found["channel"], "mention_id": mention_id},
            LambdaContext(function_name="responder-sla"))
    time.sleep(1.0)  # the sender's and sweeper's threads finish what they log

    # Then the handlers logged (at DEBUG, errors with their traces), and no line names a marker
    lines = project.lines + root.lines
    text = "\n".join(lines)
    assert logging.getLogger(project_logger.name).getEffectiveLevel() == logging.DEBUG and len(project.lines) > 20
    for message in ("malformed delivery", "delivery not stored", "outbound message handled", "sla timer fired",
                    "review action", "classified", "drafted", "routed", "dispatched", "stranded mentions"):
        assert message in text, message
    leaked = {name: [line for line in lines if marker.lower() in line.lower()][:2]
              for name, marker in MARKERS.items() if marker.lower() in text.lower()}
    assert leaked == {}
