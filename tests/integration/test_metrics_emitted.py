"""The metrics each function emits, on DynamoDB Local: the webhook (MentionsReceived, native answers), the sender
(RepliesSent, RepliesFailed, MentionsAnswered, FirstResponseSeconds). Powertools' EMF output is captured."""

from __future__ import annotations

import json

import pytest

from responder.core.metrics import BusinessMetrics
from responder.ingest.webhook import WebhookService
from responder.replies.native import DynamoNativeAnswers
from tests.conftest import StaticCredentials, api_event, fixture_json, x_headers
from tests.fakes import FakeQueue
from tests.integration.test_sender import approved, record, rig, standins  # noqa: F401 - fixtures
from tests.unit.test_metrics import emf_documents

BRAND = "1000000000000000001"


@pytest.fixture(autouse=True)
def _metrics_on(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def test_the_webhook_counts_new_mentions_per_channel_and_native_first_answers(store, capsys):
    # Given the webhook on DynamoDB Local with metrics, and one delivery of Dana's mention and the brand's reply
    recorder = BusinessMetrics()
    service = WebhookService(StaticCredentials(), store, FakeQueue(),
                             answers=DynamoNativeAnswers(store, metrics=recorder), metrics=recorder)
    mention = fixture_json("x/aaa_tweet_create_mention.json")
    reply = fixture_json("x/aaa_tweet_create_brand_reply.json")
    body = json.dumps({"for_user_id": BRAND, "tweet_create_events": mention["tweet_create_events"]
                       + reply["tweet_create_events"]}).encode()
    # When it is delivered, then redelivered by X
    for _ in range(2):
        assert service.handle(api_event("POST", "/webhooks/x", body, x_headers(body)))["statusCode"] == 200
        recorder.flush()
    # Then one mention received on x and one first answer, its time from the post to the reply: counted once
    stored = store.get_mention("x", "3500000000000000001")
    docs = emf_documents(capsys.readouterr().out)
    assert {"dimensions": {"channel": "x"}, "metrics": {"MentionsReceived": ("Count", [1.0])}} in docs
    (answered,) = [d for d in docs if "MentionsAnswered" in d["metrics"]]
    assert answered["metrics"]["MentionsAnswered"] == ("Count", [1.0])
    from responder.core.metrics import first_response_seconds

    assert answered["metrics"]["FirstResponseSeconds"] == ("Seconds", [first_response_seconds(stored)])
    assert len(docs) == 2


def test_the_sender_counts_replies_sent_and_first_answers_by_team_and_priority(rig, capsys):
    # Given an approved reply of team support, priority high, and a sender with metrics
    recorder = BusinessMetrics()
    sender = rig.build(metrics=recorder)
    message = approved(rig.store, "x", "mention", "1850000000000000001")
    # When it is sent, and the same message is redelivered
    sender.process([record(message)])
    sender.process([record(message, receive=2)])
    recorder.flush()
    # Then one reply sent on x, one mention answered for support/high with its first-response time
    item = rig.store.get_mention("x", "1850000000000000001")
    from responder.core.metrics import first_response_seconds

    docs = emf_documents(capsys.readouterr().out)
    assert docs == [
        {"dimensions": {"channel": "x"}, "metrics": {"RepliesSent": ("Count", [1.0])}},
        {"dimensions": {"priority": "high", "team": "support"},
         "metrics": {"MentionsAnswered": ("Count", [1.0]),
                     "FirstResponseSeconds": ("Seconds", [round(first_response_seconds(item), 3)])}},
    ]


def test_the_sender_counts_a_refused_reply_as_failed(rig, standins, capsys):  # noqa: F811 - fixture
    # Given a platform refusing the reply for good
    recorder = BusinessMetrics()
    sender = rig.build(metrics=recorder)
    message = approved(rig.store, "x", "mention", "1850000000000000002")
    standins.fail_next("x", 403, body={"title": "Forbidden", "detail": "You are not permitted", "status": 403})
    # When the sender handles it
    sender.process([record(message)])
    recorder.flush()
    # Then one failed reply on x, and nothing answered
    assert emf_documents(capsys.readouterr().out) == [
        {"dimensions": {"channel": "x"}, "metrics": {"RepliesFailed": ("Count", [1.0])}}]
