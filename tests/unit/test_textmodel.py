"""Linear text models: tokens, features, scoring, the model file format, training and the classify fallback."""

from __future__ import annotations

import json

import pytest

from bench import train_models
from responder.classification import classify as classify_module
from responder.classification import sentiment_model
from responder.classification.classify import classify
from responder.classification.textmodel import LinearModel, features, lexicon_features, softmax, tokens


def test_tokens_normalise_handles_urls_elongation_and_emoticons():
    # Given a typical tweet
    toks = tokens("@acme Sooo GOOD!!!!! :) see https://x.co/1 #love")
    # Then handles and links are placeholders, elongation is squeezed and marked, emoticons and hashtags survive
    assert toks == ["xxuser", "xxelong", "soo", "good", "!!!", ":)", "see", "xxurl", "love"]


def test_negation_marks_the_following_words_until_punctuation():
    # Given a negated phrase followed by a new clause
    feats = features("I don't like it, but ok")
    # Then only the words inside the negation scope carry the n: mark
    assert {"n:like", "n:it"} <= set(feats)
    assert "n:but" not in feats and "n:ok" not in feats
    assert "b:don't like" in feats


def test_lexicon_features_count_polar_words_and_read_negation_and_the_last_one():
    # Given a small polarity lexicon on VADER's scale
    polarity = {"good": 2.0, "great": 3.0, "bad": -2.0}
    # When a tweet praises twice and then complains
    feats = lexicon_features(tokens("good and great, but bad"), polarity)
    # Then two positive words, one negative, the negative one last, and the sums on a quarter scale
    assert feats == {"l:pos2": 1.0, "l:neg1": 1.0, "l:lastneg": 1.0, "d:lpos": 1.25, "d:lneg": -0.5}
    # And a negated positive word counts as negative (reversed and damped, as VADER does), only inside the scope
    negated = lexicon_features(tokens("not good. good"), polarity)
    assert negated["l:neg1"] == 1.0 and negated["l:pos1"] == 1.0 and negated["l:lastpos"] == 1.0
    assert negated["d:lneg"] == pytest.approx(-0.74 * 2.0 / 4)
    # And many polar words are one bin (3 or more), a text without any says so
    assert lexicon_features(tokens("good " * 50), polarity)["l:pos3"] == 1.0
    assert lexicon_features(tokens("the bus at ten"), polarity)["l:lastnone"] == 1.0


def test_dense_features_are_passed_through():
    assert features("hi", {"words": False, "bigrams": False, "negation": False}, {"vader": 0.5}) == {"d:vader": 0.5}


def _toy_model() -> LinearModel:
    return LinearModel(labels=("negative", "neutral", "positive"), bias=[0.0, 0.1, 0.0],
                       weights={"w:great": [-1.0, 0.0, 2.0], "w:awful": [2.0, 0.0, -1.0]},
                       options={"bigrams": False, "negation": False})


def test_linear_model_scores_and_decides():
    # Given a tiny hand-made model
    model = _toy_model()
    # Then known words move the logits, unknown ones do not, and offsets shift the decision
    assert model.decide(model.logits(features("great", model.options))) == "positive"
    assert model.decide(model.logits(features("awful", model.options))) == "negative"
    assert model.decide(model.logits(features("table", model.options))) == "neutral"
    model.offsets = [0.0, 0.0, 0.2]
    assert model.decide(model.logits(features("table", model.options))) == "positive"
    assert sum(softmax([1.0, 2.0, 3.0])) == pytest.approx(1.0)


def test_model_file_round_trip(tmp_path):
    # Given a model written to disk
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_toy_model().to_json()), encoding="utf-8")
    # When read back
    loaded = LinearModel.load(path)
    # Then it is the same model
    assert loaded.labels == ("negative", "neutral", "positive")
    assert loaded.weights["w:great"] == [-1.0, 0.0, 2.0]


@pytest.mark.parametrize("document", [{"format": "other"}, {"format": "responder-linear-1", "labels": ["a", "b"],
                                                            "bias": [0.0], "weights": {}}])
def test_invalid_model_documents_are_refused(document):
    with pytest.raises(ValueError):
        LinearModel.from_json(document)


def test_training_learns_a_separable_toy_task():
    # Given a few labelled texts written for this test
    rows = [(features(t), lab, 1.0) for t, lab in [
        ("love it great", "positive"), ("great stuff", "positive"), ("so great", "positive"),
        ("awful thing", "negative"), ("this is awful", "negative"), ("awful awful", "negative"),
        ("the bus leaves at ten", "neutral"), ("meeting at ten", "neutral"), ("at the bus", "neutral")] * 3]
    labels = ("negative", "neutral", "positive")
    # When trained with a fixed seed, twice
    first = train_models.train(train_models.balanced(rows, labels), labels, epochs=5, rate=0.5, min_count=1)
    second = train_models.train(train_models.balanced(rows, labels), labels, epochs=5, rate=0.5, min_count=1)
    # Then it separates the classes, and training is reproducible
    assert first.decide(first.logits(features("great"))) == "positive"
    assert first.decide(first.logits(features("awful"))) == "negative"
    assert first.decide(first.logits(features("bus at ten"))) == "neutral"
    assert first.to_json() == second.to_json()


def test_macro_recall_and_f1():
    assert train_models.macro_recall(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(0.75)
    assert train_models.f1([True, False, True], [True, True, False]) == pytest.approx(0.5)


def test_halves_are_seeded_and_disjoint():
    a, b = train_models.halves(list(range(10)))
    assert sorted(a + b) == list(range(10)) and not set(a) & set(b)
    assert train_models.halves(list(range(10))) == (a, b)


def test_shipped_models_load_and_are_used_for_english():
    # Given the shipped model files
    model = sentiment_model.sentiment_model()
    assert model is not None and model.labels == ("negative", "neutral", "positive")
    # Then an English mention's score is P(positive) - P(negative), within -1..1
    result = classify("@acme thank you, this is wonderful")
    assert result.sentiment == "positive" and 0 < result.sentiment_score <= 1


def test_classify_falls_back_to_v1_without_model_files(monkeypatch):
    # Given no sentiment and no offensive model (files absent)
    monkeypatch.setattr(classify_module, "sentiment_model", lambda: None)
    monkeypatch.setattr(classify_module, "offensive_model", lambda: None)
    # Then classification still works with v1's rules
    assert classify("@acme this is the worst service, I am furious").sentiment == "negative"
    assert classify("@acme you are wonderful, thank you!").sentiment == "positive"
    assert classify("@acme could you check my order please").abusive is False


def test_offensive_model_flags_insults_but_not_polite_requests():
    assert classify("@acme you are a bunch of useless idiots").abusive is True
    assert classify("@acme could you check my order please").abusive is False


def test_problem_signal_pushes_the_model_towards_negative():
    # Given a factual complaint with a strong problem signal
    assert classify("@acme my parcel never arrived").sentiment == "negative"
