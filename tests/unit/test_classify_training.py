"""The sentiment model's recipe (`bench/train_models.py sentiment`) on a pool written for these tests, and the
shipped model's bounds."""

from __future__ import annotations

import json
import math

import pytest

from bench import train_models
from responder.classification import sentiment_model
from responder.classification.lexicon import MAX_CLASSIFIED_CHARS
from responder.classification.textmodel import LinearModel, features, lexicon_features, tokens

# Each word below is in the stated number of tweets: `rarely` in 2, the sentiment words in 8 or more.
_POOL = (
    [("good", "2", "what a good day"), ("good", "2", "good news today"), ("good", "2", "so good honestly"),
     ("good", "2", "good vibes only"), ("good", "2", "really good show"), ("good", "2", "a good one"),
     ("good", "2", "good good good"), ("good", "2", "feeling good\\u002c thanks")]
    + [("bad", "0", "what a bad day"), ("bad", "0", "bad news today"), ("bad", "0", "so bad honestly"),
       ("bad", "0", "bad vibes only"), ("bad", "0", "really bad show"), ("bad", "0", "a bad one rarely"),
       ("bad", "0", "bad bad bad"), ("bad", "0", "feeling bad\\u002c sadly rarely")]
    + [("neutral", "1", "the bus leaves at ten"), ("neutral", "1", "meeting at ten"),
       ("neutral", "1", "the bus at ten"), ("neutral", "1", "ten o'clock bus"), ("neutral", "1", "bus stop at ten"),
       ("neutral", "1", "at ten the bus"),
       ("neutral", "1", "the ten bus"), ("neutral", "1", "bus at ten tomorrow")]
)


def _write_pool(folder, rows=_POOL):
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id\tsource\tlabel\ttext"] + [f"{i}\tfixture-{kind}\t{label}\t{text}"
                                           for i, (kind, label, text) in enumerate(rows)]
    (folder / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _train(tmp_path, name, *extra):
    output = tmp_path / name
    code = train_models.main(["sentiment", "--semeval", str(tmp_path / "pool"), "--output", str(output),
                              "--epochs", "4", "--rate", "0.3", *extra])
    assert code == 0
    return output


def test_read_semeval_decodes_the_pool_escapes_and_refuses_other_files(tmp_path):
    # Given the pool file written for this test
    _write_pool(tmp_path / "pool")
    # When read
    rows = train_models.read_semeval(tmp_path / "pool")
    # Then labels are named and SemEval's literal escapes are the characters they stand for
    assert len(rows) == len(_POOL) and ("feeling good, thanks", "positive") in rows
    # And a file with another header is refused rather than read as tweets
    other = tmp_path / "other.tsv"
    other.write_text("text\tlabel\nhello\t1\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        train_models.read_semeval(other)


def test_training_keeps_only_features_seen_in_enough_tweets(tmp_path):
    # Given the pool, where `rarely` occurs in two tweets and the sentiment words in eight
    _write_pool(tmp_path / "pool")
    # When the model is trained with the default document-frequency threshold (5)
    model = LinearModel.load(_train(tmp_path, "model.json"))
    # Then no weight exists for a word of fewer than 5 training tweets, and the threshold is stated in `about`
    assert model.about["min_df"] == 5
    assert "w:rarely" not in model.weights and "w:tomorrow" not in model.weights
    assert {"w:good", "w:bad", "w:bus"} <= set(model.weights)
    # And with a threshold of 1 the rare word is learned (the pruning, not the data, removed it)
    assert "w:rarely" in LinearModel.load(_train(tmp_path, "all.json", "--min-df", "1")).weights


def test_training_is_reproducible_byte_for_byte(tmp_path):
    # Given the same pool trained twice with the documented command
    _write_pool(tmp_path / "pool")
    first, second = _train(tmp_path, "a.json"), _train(tmp_path, "b.json")
    # Then the two files are identical, and the model separates the fixture's classes
    assert first.read_bytes() == second.read_bytes()
    model = LinearModel.load(first)
    assert model.about["sources"] == ["semeval-2013-2016-pool"] and model.about["tuning_tweets"] >= 1
    verdict = {text: sentiment_model.decide(model, sentiment_model.sentiment_logits(text, model))[0]
               for text in ("good show", "bad show")}
    assert verdict == {"good show": "positive", "bad show": "negative"}


def test_naive_bayes_rows_are_centred_log_probabilities_of_frequent_features():
    # Given three labelled rows where `good` is in both positive rows, `bus` in the neutral one only
    rows = [({"w:good": 1.0, "d:vader": 0.5}, "positive", 1.0), ({"w:good": 1.0, "w:bus": 1.0}, "positive", 1.0),
            ({"w:bus": 1.0}, "neutral", 1.0)]
    labels = ("negative", "neutral", "positive")
    # When naive Bayes is counted with add-one smoothing and features seen at least once
    table = train_models.naive_bayes(rows, labels, min_count=1)
    # Then dense features are left out, each row sums to zero, and `good` leans positive, `bus` neutral
    assert set(table) == {"w:good", "w:bus"}
    assert all(abs(sum(row)) < 1e-9 for row in table.values())
    assert max(range(3), key=lambda k: table["w:good"][k]) == 2 and max(range(3), key=lambda k: table["w:bus"][k]) == 1
    # And P(good | positive) is (2 + 1) / (3 + 2): the smoothing and the totals are naive Bayes' own
    logs = [math.log(1 / 2), math.log(1 / 3), math.log(3 / 5)]
    assert table["w:good"][2] == pytest.approx(logs[2] - sum(logs) / 3)
    # And with a higher threshold, a feature of fewer rows is not counted
    assert set(train_models.naive_bayes(rows, labels, min_count=3)) == set()


def test_interpolation_adds_weighted_naive_bayes_to_the_weights(tmp_path):
    # Given a model and a naive Bayes table with one shared and one new feature
    model = LinearModel(labels=("negative", "neutral", "positive"), bias=[0.0, 0.0, 0.0],
                        weights={"w:good": [-1.0, 0.0, 1.0]})
    table = {"w:good": [-1.0, 0.0, 1.0], "w:bus": [-0.5, 1.0, -0.5], "w:the": [0.001, 0.0, -0.001]}
    # When interpolated with weight 0.5
    train_models.interpolate(model, table, 0.5)
    # Then shared rows add, new rows come in scaled, rows too small to matter are not shipped
    assert model.weights == {"w:good": [-1.5, 0.0, 1.5], "w:bus": [-0.25, 0.5, -0.25]}
    # And the recipe records the weight, and a pool model trained with it differs from one without
    _write_pool(tmp_path / "pool")
    with_nb = LinearModel.load(_train(tmp_path, "nb.json", "--nb-weight", "0.5"))
    without = LinearModel.load(_train(tmp_path, "plain.json", "--nb-weight", "0"))
    assert with_nb.about["nb_weight"] == 0.5 and without.about["nb_weight"] == 0
    assert with_nb.weights["w:good"] != without.weights["w:good"]


def test_training_and_inference_read_the_same_lexicon_features(tmp_path):
    # Given a model trained on the pool with the default options (VADER's lexicon on)
    _write_pool(tmp_path / "pool")
    model = LinearModel.load(_train(tmp_path, "model.json"))
    assert model.options["lexicon"] is True
    # Then the features training sees for a text are exactly those the classifier scores
    text = "not good at all, but the bus was great"
    seen = train_models.sentiment_features(text, model.options)
    assert {"l:pos1", "l:neg1", "l:lastpos", "d:lpos", "d:lneg"} <= set(seen)
    assert sentiment_model.sentiment_logits(text, model) == model.logits(seen)
    # And a lexicon weight learned by the model moves the classifier's decision
    model.weights["l:lastpos"] = [0.0, 0.0, 50.0]
    assert sentiment_model.decide(model, sentiment_model.sentiment_logits(text, model))[0] == "positive"


def test_emoji_count_as_polar_tokens_in_the_lexicon_features():
    # Given the sentiment model's polarity table (VADER's words and the project's emoji lexicon)
    table = sentiment_model.polarity()
    # When an emoji-only mention and an angry one are read
    loving = lexicon_features(tokens("@acme 😍🥰"), table)
    angry = lexicon_features(tokens("@acme 😡👎"), table)
    # Then each emoji counts with its polarity, as a word would (the pool has too few emoji to learn them)
    assert loving["l:pos2"] == 1.0 and loving["l:lastpos"] == 1.0 and loving["d:lpos"] > 0
    assert angry["l:neg2"] == 1.0 and angry["l:lastneg"] == 1.0 and angry["d:lneg"] < 0
    # And VADER's own words keep their polarity and the project's overrides
    assert table["great"] > 0 and table["awful"] < 0 and table["cancel"] == 0


def test_offsets_are_the_centre_of_the_best_plateau_not_its_luckiest_point():
    # Given logits where every negative offset in 0.1..0.4 and positive offset in 0.0..0.3 labels all four right
    model = LinearModel(labels=("negative", "neutral", "positive"), bias=[0.0] * 3, weights={})
    logits = [[0.0, 0.05, -5.0], [0.0, 0.45, -5.0], [-5.0, 0.0, 0.05], [-5.0, 0.0, -0.35]]
    expected = ["negative", "neutral", "positive", "neutral"]
    # When offsets are tuned with a tolerance
    offsets, score = train_models.tune_offsets(model, logits, expected, tolerance=0.005)
    # Then they sit in the middle of that plateau, and their score is the one they reach
    assert offsets == [0.25, 0.0, 0.15] and score == 1.0
    # And without a tolerance, the first best grid point is kept (the recipe before the plateau rule)
    assert train_models.tune_offsets(model, logits, expected) == ([0.1, 0.0, 0.0], 1.0)


def test_pool_split_is_seeded_and_disjoint():
    # Given 100 rows
    rows = list(range(100))
    # When split twice
    fit, tune = train_models.split_pool(rows)
    # Then one in ten tunes, none is in both parts, and the split does not change between runs
    assert len(tune) == 10 and not set(fit) & set(tune) and sorted(fit + tune) == rows
    assert train_models.split_pool(rows) == (fit, tune)


def test_words_written_as_names_are_found_by_their_case_inside_sentences():
    # Given tweets where `Casey` is always capitalised inside a sentence, `Good` only when it opens one, `Apple`
    # capitalised once in four, and `NEWS` shouted
    texts = ["so glad Casey won tonight", "watching Casey again", "love how Casey sings", "Good news today",
             "Good morning all", "really good day", "my Apple pie", "an apple a day", "the apple tree", "apple juice",
             "big NEWS today", "more NEWS now", "no NEWS yet", "I think I can", "see you on Friday", "bye Friday",
             "happy Friday"]
    named = train_models.names(texts)
    # Then only the name is one: not an opener, a mostly lower-case word, a shouted word, `I` or a weekday
    assert named == frozenset({"casey"})
    # And a lexicon's word is spared, and every feature holding a name (a word, either half of a bigram) is dropped
    assert train_models.names(texts, keep=lambda word: word == "casey") == frozenset()
    feats = features("so glad Casey won tonight", {"bigrams": True})
    kept = train_models.without_names(feats, named)
    assert "w:glad" in kept and "b:glad casey" not in kept and "w:casey" not in kept and "b:casey won" not in kept


def test_training_leaves_names_out_unless_told_to_keep_them(tmp_path):
    # Given the pool with a name in eight positive tweets
    rows = _POOL + [("good", "2", f"so good to see Casey {w}") for w in
                    ("today", "again", "live", "there", "here", "now", "soon", "twice")]
    _write_pool(tmp_path / "pool", rows)
    # When trained with the documented command, Then no feature holds the name, and `about` says how many were left out
    model = LinearModel.load(_train(tmp_path, "model.json"))
    assert not [name for name in model.weights if "casey" in name] and model.about["names_left_out"] >= 1
    # And only with --keep-names is it learned
    kept = LinearModel.load(_train(tmp_path, "kept.json", "--keep-names"))
    assert "w:casey" in kept.weights


def test_shipped_sentiment_model_is_pruned_and_bounded():
    # Given the shipped model file
    path = sentiment_model.SENTIMENT_MODEL
    document = json.loads(path.read_text(encoding="utf-8"))
    model = LinearModel.from_json(document)
    # Then it states its training data and a document-frequency threshold of at least 5, and its size is bounded
    assert document["about"]["sources"] == ["semeval-2013-2016-pool"] and document["about"]["min_df"] >= 5
    assert path.stat().st_size < 3_000_000 and len(model.weights) < 60_000
    assert "tweeteval-val" not in json.dumps(document["about"]["sources"])
    # And it was trained with names left out: no weight for public figures the pool's tweets talk about
    assert document["about"]["names_left_out"] > 1_000
    assert not {"w:obama", "w:bieber", "b:justin bieber", "w:trump", "w:hillary"} & set(model.weights)
    # And the longest mention triage reads gives a bounded number of features (linear in the text)
    wall = ("word " * MAX_CLASSIFIED_CHARS)[:MAX_CLASSIFIED_CHARS]
    emoji = "😡" * MAX_CLASSIFIED_CHARS
    for text in (wall, emoji, "x" * MAX_CLASSIFIED_CHARS):
        feats = sentiment_model.sentiment_features(text, model.options, {"vader": 0.0, "vpos": 0.0, "vneg": 0.0})
        assert len(feats) <= 3 * len(tokens(text)) + 3 + 5 + 1


def test_character_ngrams_read_a_bounded_part_of_each_word():
    # Given a very long word and the character n-gram option
    options = {"words": False, "bigrams": False, "negation": False, "chars": [3, 4]}
    feats = features("abcdefghijklmnopqrstuvwxyz" * 30, options)
    # Then only the first MAX_CHAR_WORD (20) characters of the word are read, its start marked
    assert {"c:<ab", "c:<abc", "c:rst", "c:qrst"} <= set(feats)
    assert "c:uvw" not in feats and "c:xyz" not in feats
    assert len(feats) <= 2 * 22


def test_shipped_offensive_model_keeps_no_rare_feature_and_no_name():
    # Given the shipped offensive model file
    document = json.loads(sentiment_model.OFFENSIVE_MODEL.read_text(encoding="utf-8"))
    # Then it was trained with the same floor and name rule as the sentiment model: no politician it was trained on
    assert document["about"]["min_df"] >= 5 and document["about"]["names_left_out"] > 100
    assert not {"w:trump", "w:hillary", "w:obama", "b:president trump"} & set(document["weights"])
