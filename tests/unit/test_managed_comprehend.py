"""Amazon Comprehend as the sentiment and language backend: wire-format answers through botocore's Stubber."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from responder.classification.classify import classify
from responder.aws.managed import (
    MAX_SENTIMENT_BYTES, ComprehendSentiment, ManagedBackendUnavailable, from_comprehend_language,
    from_comprehend_sentiment, sentiment_text,
)
from responder.triage.steps import classify_step

AUTHOR = {"id": "7", "handle": "jane"}


def comprehend() -> tuple[Any, Stubber]:
    client = boto3.client("comprehend", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    return client, Stubber(client)


def sentiment_answer(label: str, positive: float = 0.0, negative: float = 0.0, neutral: float = 0.0,
                     mixed: float = 0.0) -> dict[str, Any]:
    return {"Sentiment": label, "SentimentScore": {"Positive": positive, "Negative": negative, "Neutral": neutral,
                                                   "Mixed": mixed}}


def refine(text: str, stub_calls, lang: str | None = "en") -> Any:
    """Classify locally, then refine with Comprehend answering `stub_calls` (operation, response, expected)."""
    client, stubber = comprehend()
    for operation, response, expected in stub_calls:
        stubber.add_response(operation, response, expected)
    local = classify(text, lang=lang, author=AUTHOR, channel="x")
    with stubber:
        refined = ComprehendSentiment(client).refine(local, text, hint=lang, author=AUTHOR)
        stubber.assert_no_pending_responses()
    return local, refined


@pytest.mark.parametrize("answer, expected", [
    (sentiment_answer("POSITIVE", positive=0.91, neutral=0.09), ("positive", 0.91)),
    (sentiment_answer("NEGATIVE", negative=0.8, neutral=0.2), ("negative", -0.8)),
    (sentiment_answer("NEUTRAL", positive=0.1, neutral=0.85, negative=0.05), ("neutral", 0.05)),
    (sentiment_answer("MIXED", positive=0.2, negative=0.3, mixed=0.5), ("negative", -0.1)),
    (sentiment_answer("MIXED", positive=0.35, negative=0.15, mixed=0.5), ("positive", 0.2)),
    (sentiment_answer("MIXED", positive=0.25, negative=0.25, mixed=0.5), ("neutral", 0.0)),
])
def test_comprehend_labels_map_onto_ours_and_mixed_follows_the_stronger_side(answer, expected):
    assert from_comprehend_sentiment(answer) == expected


def test_comprehend_language_codes_map_onto_two_letter_codes():
    assert from_comprehend_language({"Languages": [{"LanguageCode": "zh-TW", "Score": 0.97}]}) == ("zh", "zh-TW", 0.97)
    assert from_comprehend_language({"Languages": [{"LanguageCode": "es", "Score": 0.4},
                                                   {"LanguageCode": "pt", "Score": 0.6}]}) == ("pt", "pt", 0.6)
    assert from_comprehend_language({"Languages": [{"LanguageCode": "fil", "Score": 0.9}]}) is None
    assert from_comprehend_language({"Languages": []}) is None


def test_negative_comprehend_sentiment_raises_priority_by_the_local_rules():
    # Given an English mention the local model reads as neutral "other" (p4), and Comprehend reads as negative
    text = "@acme so the parcel came today, in the rain"
    local, refined = refine(text, [("detect_sentiment", sentiment_answer("NEGATIVE", negative=0.93, neutral=0.07),
                                    {"Text": "so the parcel came today, in the rain",
                                     "LanguageCode": "en"})])
    # Then the platform tag is kept (no language call), handles are not sent, and the sentiment and priority follow
    assert (local.sentiment, local.priority) == ("neutral", "p4")
    c = refined.classification
    assert (c.sentiment, c.sentiment_score, c.priority, c.reasons) == ("negative", -0.93, "p3", ("negative sentiment",))
    assert (c.intent, c.topic, c.team) == (local.intent, local.topic, local.team)
    assert refined.sources == {"language": "platform", "sentiment": "comprehend"}


def test_neutral_comprehend_sentiment_lowers_a_negative_complaint():
    text = "@acme my order still hasn't arrived"
    local, refined = refine(text, [("detect_sentiment", sentiment_answer("NEUTRAL", neutral=0.7, negative=0.3),
                                    {"Text": ANY, "LanguageCode": "en"})])
    assert (local.intent, local.sentiment, local.priority) == ("complaint", "negative", "p2")
    assert (refined.classification.sentiment, refined.classification.priority) == ("neutral", "p3")
    assert refined.classification.reasons == ("complaint",)


def test_without_a_platform_tag_comprehend_detects_the_language_and_the_local_rules_follow_it():
    # Given Spanish text without a platform language tag
    text = "@acme todavía estoy esperando mi pedido, nadie me responde"
    local, refined = refine(text, [
        ("detect_dominant_language", {"Languages": [{"LanguageCode": "es", "Score": 0.99}]}, {"Text": ANY}),
        ("detect_sentiment", sentiment_answer("NEGATIVE", negative=0.9), {"Text": ANY, "LanguageCode": "es"}),
    ], lang=None)
    # Then the classification is in Spanish with Comprehend's sentiment
    c = refined.classification
    assert (c.language, c.sentiment) == ("es", "negative")
    assert refined.sources == {"language": "comprehend", "sentiment": "comprehend"}


def test_traditional_chinese_keeps_its_comprehend_code_for_sentiment():
    text = "@acme 我的訂單到現在還沒有送到，請幫我查一下是什麼原因"
    _, refined = refine(text, [
        ("detect_dominant_language", {"Languages": [{"LanguageCode": "zh-TW", "Score": 0.98}]}, {"Text": ANY}),
        ("detect_sentiment", sentiment_answer("NEGATIVE", negative=0.7), {"Text": ANY, "LanguageCode": "zh-TW"}),
    ], lang=None)
    assert (refined.classification.language, refined.classification.sentiment) == ("zh", "negative")


def test_a_language_comprehend_cannot_score_keeps_the_local_sentiment_and_says_why():
    # Given a Russian post (Comprehend's DetectSentiment has no Russian): only the language call is made
    text = "@acme мой заказ до сих пор не пришёл, что происходит"
    local, refined = refine(text, [
        ("detect_dominant_language", {"Languages": [{"LanguageCode": "ru", "Score": 0.99}]}, {"Text": ANY}),
    ], lang=None)
    assert refined.classification.sentiment == local.sentiment
    assert refined.sources["sentiment"] == "local"
    assert refined.sources["note"] == "no Comprehend sentiment for language ru"


def test_short_untagged_text_is_not_sent_for_language_detection():
    # Given 16 characters without a tag (DetectDominantLanguage needs 20)
    local, refined = refine("@acme thanks a lot, team", [
        ("detect_sentiment", sentiment_answer("POSITIVE", positive=0.99),
         {"Text": "thanks a lot, team", "LanguageCode": "en"}),
    ], lang=None)
    # Then only sentiment is asked, in the local detector's language
    assert local.language == "en"
    assert refined.sources == {"language": "local", "sentiment": "comprehend"}


def test_noise_is_not_sent_to_comprehend():
    # Given spam (archived by the workflow): no call at all, so no charge
    _, refined = refine("buy followers now cheap http://spam.example", [], lang=None)
    assert refined.classification.noise and refined.sources["note"] == "noise is not scored"


def test_long_text_is_cut_below_the_detect_sentiment_byte_limit_between_characters():
    # Given 3,000 two-byte characters (6,000 bytes)
    long = "é" * 3_000
    cut = sentiment_text("@acme " + long + " https://example.com/x")
    assert len(cut.encode("utf-8")) <= MAX_SENTIMENT_BYTES < 5_000
    assert cut == "é" * (MAX_SENTIMENT_BYTES // 2)
    short = "@acme 12 é characters"
    assert sentiment_text(short) == "12 é characters"


@pytest.mark.parametrize("code, status", [("ThrottlingException", 400), ("TooManyRequestsException", 429),
                                          ("InternalServerException", 500)])
def test_throttling_and_server_errors_raise_for_the_workflow_to_retry(code, status):
    # Given Comprehend throttling (after the SDK's own retries)
    client, stubber = comprehend()
    stubber.add_client_error("detect_sentiment", service_error_code=code, http_status_code=status)
    local = classify("@acme my order still hasn't arrived", lang="en", author=AUTHOR, channel="x")
    # Then the step fails with the error name the state machine retries, instead of triaging with another model
    with stubber, pytest.raises(ManagedBackendUnavailable):
        ComprehendSentiment(client).refine(local, "@acme my order still hasn't arrived", hint="en", author=AUTHOR)


def test_errors_a_retry_cannot_fix_keep_the_local_values_and_say_so():
    client, stubber = comprehend()
    stubber.add_client_error("detect_sentiment", service_error_code="AccessDeniedException", http_status_code=400)
    local = classify("@acme my order still hasn't arrived", lang="en", author=AUTHOR, channel="x")
    with stubber:
        refined = ComprehendSentiment(client).refine(local, "@acme my order still hasn't arrived", hint="en",
                                                     author=AUTHOR)
    assert refined.classification == local
    assert refined.sources == {"language": "platform", "sentiment": "local",
                               "note": "comprehend refused: AccessDeniedException"}


class _Store:
    """The two store calls the triage steps make, in memory."""

    def __init__(self, mention: dict[str, Any]) -> None:
        self.mention = mention

    def awaiting_triage(self, channel, mention_id):
        return dict(self.mention)

    def get_thread(self, channel, thread_id, opener=None, consistent=True):
        return {"pk": "THREAD", "sk": "THREAD", "mention_count": 1}


MENTION = {"channel": "x", "mention_id": "42", "thread_id": "42", "kind": "mention", "platform": "x", "lang": "en",
           "text": "@acme so the parcel came today, in the rain", "author": AUTHOR}
EVENT = {"key": {"channel": "x", "mention_id": "42", "thread_id": "42"}, "claim": "m-1"}


def test_classify_step_is_local_by_default_and_records_sources_with_comprehend():
    # Given the classify step without a backend, then with Comprehend answering negative
    from responder.triage.routing import load_rules

    plain = classify_step(EVENT, _Store(MENTION), load_rules())
    client, stubber = comprehend()
    stubber.add_response("detect_sentiment", sentiment_answer("NEGATIVE", negative=0.9), {"Text": ANY,
                                                                                         "LanguageCode": "en"})
    with stubber:
        managed = classify_step(EVENT, _Store(MENTION), load_rules(), sentiment=ComprehendSentiment(client))
    # Then the default output has no trace of the backend, and the managed one says where sentiment came from
    assert "sources" not in plain["classification"] and plain["classification"]["priority"] == "p4"
    assert managed["classification"]["sentiment"] == "negative" and managed["classification"]["priority"] == "p3"
    assert managed["classification"]["sources"] == {"language": "platform", "sentiment": "comprehend"}
