"""The sentiment encoder: its tokenizer reads as BERT's does and no further than it needs; the shipped weights load,
decide plain cases, keep no vector learned from a few tweets, and join the linear model in `classify`."""

from __future__ import annotations

import json

import pytest

from responder.classification import classify as classify_module
from responder.classification.encoder import ENCODER_MODEL, MAX_TOKENS, EncoderSentiment, WordPiece, encoder_model

pytestmark = pytest.mark.skipif(not ENCODER_MODEL.exists(), reason="no encoder weights")


@pytest.fixture(scope="module")
def model() -> EncoderSentiment:
    loaded = encoder_model()
    assert loaded is not None
    return loaded


# Ids as BertTokenizerFast gives them for all-MiniLM-L6-v2's vocabulary (truncation at 64): accents stripped,
# punctuation split, a run of emoji one unknown word, CJK one word per character, a word over 100 characters
# unknown, control characters dropped.
BERT_IDS = [
    ("@AcmeSupport Café's checkout is BROKEN!!! \U0001F621\U0001F621 #fail",
     [101, 1030, 9353, 7834, 6279, 6442, 7668, 1005, 1055, 4638, 5833, 2003, 3714, 999, 999, 999, 100, 1001, 8246,
      102]),
    ("İstanbul ﬁne ＡＢＣ 日本語 e\u0301\u200d", [101, 9960, 1984, 2638, 100, 1864, 1876, 1950, 1041, 102]),
    ("unbelievableeeeeee " + "x" * 101, [101, 23653, 4402, 4402, 4402, 100, 102]),
    ("tab\there\nnew\x00line\ufffd", [101, 21628, 2182, 2047, 4179, 102]),
]


@pytest.mark.parametrize(("text", "ids"), BERT_IDS)
def test_the_tokenizer_gives_berts_word_pieces(model, text, ids):
    assert model.tokenizer.encode(text) == ids


class CountingText(str):
    """A text that counts how many of its characters were read."""

    read = 0

    def __iter__(self):
        for char in str.__iter__(self):
            CountingText.read += 1
            yield char


def test_the_tokenizer_stops_reading_once_it_has_64_pieces(model):
    # Given a post of a million words
    text = CountingText("refund please " * 500_000)
    CountingText.read = 0
    ids = model.tokenizer.encode(text)
    # Then it reads 62 pieces' worth of it, and no more
    assert len(ids) == MAX_TOKENS and ids[0] == model.tokenizer.cls and ids[-1] == model.tokenizer.sep
    assert CountingText.read < 500


def test_a_word_that_matches_no_piece_is_one_unknown():
    tokenizer = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "ab", "##c"])
    assert tokenizer.encode("abc abd ab") == [2, 4, 5, 1, 4, 3]


def test_plain_cases_are_decided_as_a_person_would(model):
    def label(text: str) -> str:
        logits = model.logits(text)
        return model.labels[logits.index(max(logits))]

    assert label("I love this, thank you so much for the quick help!") == "positive"
    assert label("worst service ever, charged twice and still no refund") == "negative"


def test_the_shipped_weights_say_what_they_are_and_keep_no_rare_vector(model):
    about = model.about
    assert about["labels"] == ["negative", "neutral", "positive"] and about["pooling"] == "cls+means"
    # The refitted head reads the last layer's first token and the means of the layers before it and the embeddings
    assert model._head[0].shape == (384 * (1 + about["layers"]), 3) and about["head"]["fit_tweets"] > 40000
    # Word pieces seen in fewer than min_tweets training tweets keep the base model's vectors
    assert about["min_tweets"] >= 5 and about["pretrained_pieces"] > 0
    # and so do those seen only inside words the pool writes as names
    assert about["names_left_out"] > 1000
    assert 0.0 < about["linear_weight"] < 1.0
    json.dumps(about)


def _arrays(path):
    import numpy as np

    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def _with(arrays, **about):
    import numpy as np

    told = json.loads(bytes(arrays["about"]).decode("utf-8")) | about
    return arrays | {"about": np.frombuffer(json.dumps(told).encode("utf-8"), dtype=np.uint8)}


def test_a_head_on_the_means_reads_the_first_token_then_each_earlier_layers_mean():
    import numpy as np

    from responder.classification.encoder import layer_norm, run_layers

    # Given the shipped file's layers under a head that reads "cls+means"
    arrays = _arrays(ENCODER_MODEL)
    model = EncoderSentiment(_with(arrays, pooling="cls+means"))
    ids = model.tokenizer.encode("the new checkout is so slow, what happened?")
    # When a text is read: the embeddings, layer 1 over every token, layer 2 for the first token alone
    x0 = layer_norm(model._word[ids].astype(np.float32) * model._word_scale[ids, None] + model._position[:len(ids)]
                    + model._type, model._norm)
    x1 = run_layers(x0, model._layers[:1], model.heads, first_token_only=False)
    x2 = run_layers(x1, model._layers[1:], model.heads, first_token_only=True)
    # Then the head reads [layer 2's first token, layer 1's mean, the embeddings' mean], in that order
    expected = np.concatenate([x2[0], x1.mean(0), x0.mean(0)]) @ model._head[0] + model._head[1]
    assert np.allclose(model.forward(ids), expected, atol=1e-5)
    # And a head on the first token alone reads only its part of the same pass
    first = EncoderSentiment(_with(arrays, pooling="cls") | {"head_w": arrays["head_w"][:384]})
    assert np.allclose(first.forward(ids), x2[0] @ arrays["head_w"][:384] + arrays["head_b"], atol=1e-5)


def test_a_head_that_does_not_fit_its_pooling_is_refused_when_loaded():
    arrays = _arrays(ENCODER_MODEL)
    with pytest.raises(ValueError, match="the head reads 1152 values, 'cls' gives 384"):
        EncoderSentiment(_with(arrays, pooling="cls"))
    with pytest.raises(ValueError, match="unknown pooling"):
        EncoderSentiment(_with(arrays, pooling="max"))


def test_classify_blends_the_encoder_with_the_linear_model(monkeypatch):
    text = "the update is fine I guess, nothing special"
    blended = classify_module.classify(text, lang="en").sentiment_score

    class Loud:
        about = {"linear_weight": 0.0}
        labels = ["negative", "neutral", "positive"]

        def logits(self, _text: str) -> list[float]:
            return [0.0, 0.0, 9.0]

    monkeypatch.setattr(classify_module, "encoder_model", lambda: Loud())
    # An encoder sure of "positive", with all the weight, decides
    result = classify_module.classify(text, lang="en")
    assert result.sentiment == "positive" and result.sentiment_score > blended


def test_a_piece_seen_only_inside_names_counts_no_tweet():
    from bench.export_encoder import piece_tweets

    tokenizer = WordPiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "ob", "##ama", "great", "april", "'", "s"])
    texts = ["Obama great", "obama great", "great April's", "April"]
    # "obama" (its pieces ob, ##ama) is a name; "april's" is not, since "april" is not
    counts = piece_tweets(texts, tokenizer, frozenset({"obama", "april's"}))
    ids = tokenizer.ids
    assert counts[ids["ob"]] == 0 and counts[ids["##ama"]] == 0
    assert counts[ids["great"]] == 3 and counts[ids["april"]] == 2 and counts[ids["[CLS]"]] == 4
    # and the same name in another spelling of a possessive names its word
    counts = piece_tweets(["Obama's fine"], tokenizer, frozenset({"obama", "obama's"}))
    assert counts[ids["ob"]] == 0


def test_the_cli_and_the_tests_run_openblas_without_a_pool_of_threads():
    # A pool of OpenBLAS threads can hang a fork (its fork handler waits for the pool): the local stack classifies in
    # threads and starts processes, and a test run once hung there. The variable is read when OpenBLAS loads.
    import os
    import subprocess
    import sys

    assert os.environ.get("OPENBLAS_NUM_THREADS") == "1"  # tests/conftest.py, before any test imports numpy
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    code = "import os, responder_cli, numpy; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    answer = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "1"
