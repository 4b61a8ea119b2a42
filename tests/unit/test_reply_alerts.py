"""Failed-reply alerts on the agents' topic, the sender's queue calls, and the sender function's wiring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from responder.replies.alerts import SnsReplyAlerts, reply_failed_message
from responder.replies.sender import SqsOutboundQueue
from responder_cli.local.stack import LambdaContext
from responder_cli.local.triage import load_module

MENTION = {"channel": "x", "kind": "mention", "mention_id": "185", "thread_id": "185", "team": "support",
           "priority": "high", "author": {"id": "22", "handle": "customer"}, "text": "where is my parcel",
           "reply_text": "Sorry! DM us your order number.", "reply_requested_by": "ana@example.com"}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


def test_an_alert_reaches_subscribers_with_filter_attributes_and_a_json_document(aws, monkeypatch):
    # Given the agents' topic with a queue subscribed to the support team's alerts, and no review base URL
    monkeypatch.delenv("RESPONDER_REVIEW_BASE_URL", raising=False)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="agents")["TopicArn"]
    queue = sqs.create_queue(QueueName="support")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"team": ["support"], "alert": ["reply_failed"]})})
    # When a refused reply is alerted
    SnsReplyAlerts(topic, client=sns).reply_failed(MENTION, "refused", "x_403", "You can only reply to ...")
    # Then the subscriber gets the JSON document (the `default` entry) naming the reply's state and reason
    (received,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    document = json.loads(received["Body"])
    assert document["alert"] == "reply_failed" and document["reply_state"] == "refused"
    assert document["reply_error"] == {"code": "x_403", "reason": "You can only reply to ..."}
    assert document["mention"]["mention_id"] == "185" and document["actions"] == {"review_url": None}


def test_email_and_sms_texts_are_readable_and_private_text_stays_out():
    # Given a refused public reply, with a review link
    subject, messages = reply_failed_message(MENTION, "refused", "x_403", "You can only reply to posts ...",
                                             "https://r.example/review/tok")
    # Then e-mail reads as sentences with the reason and the link, SMS is one short line with the link
    assert subject.startswith("Reply to customer on x was refused") and len(subject) <= 100
    assert "Reason: You can only reply to posts ..." in messages["email"]
    assert "Review and send again: https://r.example/review/tok" in messages["email"]
    assert "\n" not in messages["sms"] and len(messages["sms"]) <= 300
    assert messages["sms"].endswith("https://r.example/review/tok")
    assert "where is my parcel" in messages["email"]
    # And for a DM neither what the customer wrote nor the reply is repeated in the alert
    _, private = reply_failed_message({**MENTION, "kind": "dm"}, "unconfirmed", "unconfirmed", "check", None)
    assert "where is my parcel" not in json.dumps(private) and "DM us your order" not in json.dumps(private)


def test_a_subject_is_printable_ascii_whatever_the_handle():
    subject, _ = reply_failed_message({**MENTION, "author": {"id": "1", "handle": "séb\nnew"}}, "failed", "c", "r",
                                      None)
    assert subject.isascii() and "\n" not in subject


def test_the_queue_re_sends_with_a_delay_and_the_attempt(aws):
    # Given the outbound queue
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="outbound")["QueueUrl"]
    # When the sender re-sends a throttled message with no delay, as its second attempt
    SqsOutboundQueue(url, client=sqs).resend('{"v": 1}', 0, 2, 1_800_000_000)
    # Then the copy carries the attempt and the platform's reset as number attributes
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["attempt"] == {"StringValue": "2", "DataType": "Number"}
    assert message["MessageAttributes"]["not_before"] == {"StringValue": "1800000000", "DataType": "Number"}


SENDER = Path(__file__).resolve().parents[2] / "functions" / "sender" / "handler.py"


def test_the_sender_function_imports_no_platform_client_until_a_reply_is_sent():
    # Given a fresh interpreter with only the function and the domain layer on the path
    repo = SENDER.parents[2]
    code = ("import sys, handler; print([m for m in ('tweepy', 'requests', 'boto3', 'moto') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SENDER.parent,
                          env={"PYTHONPATH": f"{repo / 'layers/responder/python'}:{SENDER.parent}",
                               "PATH": "/usr/bin:/bin"})
    # Then tweepy (X only), requests and boto3 wait for the first message
    assert done.stdout.strip() == "[]"


def test_the_sender_function_reports_only_the_failed_records():
    # Given the sender function with a sender that fails one record of two
    handler = load_module(SENDER, "sender_handler_under_test")

    class OneFails:
        def process(self, records, remaining_seconds=None):
            return [r["messageId"] for r in records if r["messageId"] == "b"]

    handler.configure(OneFails())
    # When Lambda hands it a batch
    answer = handler.handler({"Records": [{"messageId": "a"}, {"messageId": "b"}]}, LambdaContext())
    # Then Lambda is told to redeliver only that one
    assert answer == {"batchItemFailures": [{"itemIdentifier": "b"}]}
