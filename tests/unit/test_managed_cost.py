"""Cost per mention of the managed backends: public prices applied to what the backends would send."""

from __future__ import annotations

import argparse
import io

import pytest

from responder.classification.classify import classify
from responder.aws.managed_cost import (
    COMPREHEND_PRICE_PER_UNIT, bedrock_price, comprehend_units, estimated_tokens, measure,
)
from responder_cli import eval_cmd

# About 650 characters of distinct sentences: 7 Comprehend units, over the 3-unit minimum.
LONG = ("I ordered a winter coat three weeks ago and paid for express delivery. The tracking page has said "
        "'label created' ever since, and nobody answers the phone line. Yesterday the chat assistant told me the "
        "parcel was lost, then an hour later another agent said it was on its way. I have asked for a refund of "
        "the delivery fee twice and received two different ticket numbers. My sister ordered the same coat on "
        "Monday and hers arrived on Wednesday. I would like to know where my parcel really is, whether I will be "
        "charged again, and who I should talk to so that this is finally sorted out before the weekend.")


@pytest.mark.parametrize("characters, units", [(0, 3), (1, 3), (300, 3), (301, 4), (650, 7), (1_000, 10)])
def test_comprehend_bills_100_character_units_with_a_3_unit_minimum(characters, units):
    assert comprehend_units(characters) == units


def test_bedrock_prices_are_found_behind_an_inference_profile_prefix():
    assert bedrock_price("amazon.nova-micro-v1:0") == (0.035, 0.14)
    assert bedrock_price("us.amazon.nova-micro-v1:0") == (0.035, 0.14)
    assert bedrock_price("global.anthropic.claude-3-haiku-20240307-v1:0") == (0.25, 1.25)
    assert bedrock_price("meta.llama9-400b") is None


def test_measure_counts_what_each_mention_would_send():
    # Given a short tagged mention, a long untagged one and spam
    assert 600 < len(LONG) <= 700
    items = [(text, hint, classify(text, lang=hint)) for text, hint in [
        ("@acme my order still hasn't arrived", "en"), (LONG, None),
        ("buy followers now cheap http://spam.example", None)]]
    # When measured
    cost = measure(items)
    # Then the tagged one is only scored (3 units), the untagged one is also sent for its language (7 + 7), and
    # spam costs nothing and gets no draft
    assert (cost.mentions, cost.sentiment_requests, cost.language_requests, cost.drafts) == (3, 2, 1, 2)
    assert (cost.sentiment_units, cost.language_units, cost.over_minimum) == (3 + 7, 7, 1)
    assert cost.per_mention(cost.sentiment_cost) == pytest.approx(10 * COMPREHEND_PRICE_PER_UNIT / 3)
    # And a draft's input is the whole prompt (longer than the mention), priced per model
    assert cost.draft_input_tokens > estimated_tokens(len(LONG)) and cost.draft_output_tokens > 0
    micro = (cost.draft_input_tokens * 0.035 + cost.draft_output_tokens * 0.14) / 1e6
    assert cost.draft_cost("amazon.nova-micro-v1:0") == pytest.approx(micro)
    assert cost.draft_cost("unknown.model-v1") is None


def test_eval_prints_the_managed_costs_measured_on_its_own_data(tmp_path):
    # Given a sentiment split with one long tweet, and a one-line language set, written for this test
    folder = tmp_path / "tweeteval" / "sentiment"
    folder.mkdir(parents=True)
    (folder / "val_text.txt").write_text("I love this so much, thank you all!\nthis is terrible and so sad today\n"
                                         + LONG + "\n", encoding="utf-8")
    (folder / "val_labels.txt").write_text("2\n0\n0\n", encoding="utf-8")
    language_set = tmp_path / "lang.tsv"
    language_set.write_text("en\tmy parcel never arrived at my home\n", encoding="utf-8")
    out = io.StringIO()
    # When evaluated
    code = eval_cmd.run(argparse.Namespace(data=tmp_path, language_set=language_set, limit=0), stdout=out)
    # Then the cost table reflects those four texts: 3 + 3 + 7 + 3 units of sentiment, as many of language
    text = out.getvalue()
    assert code == 0
    assert "cost per mention from the 4 texts evaluated above" in text
    assert "1 over Comprehend's 300-character minimum" in text
    rows = {line.split("  ")[0]: line for line in text.splitlines()}
    assert "$0.000400" in rows["Comprehend DetectSentiment"] and "$400.00" in rows["Comprehend DetectSentiment"]
    assert "$0.000800" in rows["Comprehend DetectSentiment + DetectDominantLanguage"]
    assert "$0" in rows["ours: local classifier and templates"]
    assert "Bedrock draft, amazon.nova-micro-v1:0 (default)" in text
