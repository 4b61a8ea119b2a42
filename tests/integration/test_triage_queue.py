"""The SQS adapter: message shape, batching, partial failures (moto stands in for SQS)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from responder.ingest.normalize_meta import normalize_meta
from responder.aws.triage_queue import QueueUnavailable, SqsTriageQueue
from tests.conftest import fixture_json


def many_comments(n):
    body = fixture_json("meta/page_feed_comment.json")
    entry = body["entry"][0]
    entries = []
    for i in range(n):
        e = json.loads(json.dumps(entry))
        e["changes"][0]["value"]["comment_id"] = f"6100000000000001_9{i:015d}"
        entries.append(e)
    return normalize_meta({"object": "page", "entry": entries}).mentions


@pytest.fixture
def sqs():
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        url = client.create_queue(QueueName="triage")["QueueUrl"]
        yield client, url


def drain(client, url):
    bodies = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not got.get("Messages"):
            return bodies
        for message in got["Messages"]:
            bodies.append((json.loads(message["Body"]), message["MessageAttributes"]["channel"]["StringValue"]))
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_every_mention_becomes_one_message_with_its_key(sqs):
    client, url = sqs
    mentions = many_comments(25)  # three SendMessageBatch calls, sent in parallel
    SqsTriageQueue(url, client=client).enqueue(mentions)
    messages = drain(client, url)
    assert sorted(b["mention_id"] for b, _ in messages) == sorted(m.mention_id for m in mentions)
    body, channel = messages[0]
    assert channel == "facebook" and set(body) == {"v", "platform", "channel", "mention_id", "thread_id", "kind"}


class FlakyClient:
    """Speaks SendMessageBatch's wire shape; fails the first entry `failures` times."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = []

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's parameter names
        self.calls.append([e["Id"] for e in Entries])
        if self.failures:
            self.failures -= 1
            return {"Successful": [{"Id": e["Id"]} for e in Entries[1:]],
                    "Failed": [{"Id": Entries[0]["Id"], "SenderFault": False, "Code": "InternalError"}]}
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_entries_sqs_reports_as_failed_are_resent_alone():
    client = FlakyClient(failures=1)
    SqsTriageQueue("url", client=client).enqueue(many_comments(3))
    assert client.calls == [["0", "1", "2"], ["0"]]


def test_entries_that_keep_failing_raise_queue_unavailable():
    with pytest.raises(QueueUnavailable):
        SqsTriageQueue("url", client=FlakyClient(failures=99)).enqueue(many_comments(2))


def test_unreachable_queue_raises_queue_unavailable(sqs):
    client, _ = sqs
    with pytest.raises(QueueUnavailable):
        SqsTriageQueue("https://sqs.us-east-1.amazonaws.com/123456789012/missing", client=client).enqueue(
            many_comments(1))
