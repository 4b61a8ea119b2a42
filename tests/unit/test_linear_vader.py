"""VADER in linear time: the same scores as vaderSentiment's analyser, without its quadratic work."""

from __future__ import annotations

import random

import pytest

vader_module = pytest.importorskip("vaderSentiment.vaderSentiment")

from responder.classification import linear_vader  # noqa: E402
from responder.classification.linear_vader import LinearVader  # noqa: E402

# Sentences that exercise every rule the subclass rewrites: negation one to three words back ("never so",
# "without doubt"), idioms and special cases before and after the word, booster n-grams ("kind of", "sort of"),
# "least", contrastive "but" with repeated scores, ALL CAPS, emoji and emoticons, and texts of one to three words
# (where VADER's look-backs wrap around to the end of the list).
SENTENCES = (
    "The service was not good at all", "It isn't bad, but it is not great either", "never so happy in my life",
    "without doubt the best", "this is kind of good", "sort of awful but GREAT staff", "the least helpful team",
    "at least it works", "very least useful", "that was the shit", "bad ass phone", "yeah right, cut me some slack",
    "good good good but bad bad bad", "good but good but good", "no good", "no", "good", "but", "good bad",
    "not not not good", "I LOVE it but the app is SLOW", "😂😂😂", "I am 😡 with this 👎", "meh :( but ok :)",
    "kiss of death", "hand to mouth", "the bomb", "no problem at all", "no or nor good", "not very good",
    "it is not really that bad!!!", "why??? seriously???", "",
    "that new plan is a kiss of death", "this new phone is the bomb", "my old phone was the shit",
    "yeah right they will refund me", "a cake to die for honestly", "my heart is a beating heart",
    "well it is just enough good", "the food is kind of bad", "it's sort of great really",
)


@pytest.fixture(scope="module")
def analysers():
    return vader_module.SentimentIntensityAnalyzer(), LinearVader()


@pytest.mark.parametrize("text", SENTENCES)
def test_scores_equal_vaders_on_sentences_that_exercise_each_rule(analysers, text):
    # Given vaderSentiment's analyser and the linear one
    stock, linear = analysers
    # When both score the sentence
    # Then the scores are identical
    assert linear.polarity_scores(text) == stock.polarity_scores(text)


def test_scores_equal_vaders_on_random_word_salads(analysers):
    # Given 3,000 seeded random texts built from the words VADER's rules react to (with repeated scores, so
    # that VADER's `list.index` in its "but" rule rescales a position other than the one it walks)
    stock, linear = analysers
    rng = random.Random(7)
    vocabulary = ("but", "BUT", "not", "no", "never", "so", "this", "good", "GOOD", "bad", "very", "kind", "of",
                  "least", "at", "without", "doubt", "the", "shit", "bomb", "yeah", "right", "😂", "😡", "great",
                  "nor", "or", "sort", "isn't", "love", "hate", "extremely", "barely", "!", "?", ":)")
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 14))) for _ in range(3000)]
    # Then every score is VADER's own
    assert [linear.polarity_scores(t) for t in texts] == [stock.polarity_scores(t) for t in texts]


class _CountingWords(list):
    """A word list that counts how many words are read from it (by index or by iteration)."""

    reads = 0

    def __getitem__(self, index):
        _CountingWords.reads += 1
        return super().__getitem__(index)

    def __iter__(self):
        _CountingWords.reads += len(self)
        return super().__iter__()


def test_words_read_grow_linearly_with_the_text(monkeypatch):
    # Given VADER's word list replaced by one that counts reads
    original = vader_module.SentiText._words_and_emoticons
    monkeypatch.setattr(vader_module.SentiText, "_words_and_emoticons",
                        lambda self: _CountingWords(original(self)))
    analyser = LinearVader()

    def reads(words: int) -> int:
        _CountingWords.reads = 0
        analyser.polarity_scores(" ".join(["not good but bad"] * (words // 4)))
        return _CountingWords.reads

    # When texts of 400 and 4,000 sentiment-laden words are scored
    small, large = reads(400), reads(4000)
    # Then ten times the words cost about ten times the reads (vaderSentiment's own rules read the whole list for
    # every sentiment word: a hundred times), and a bounded number per word
    assert large <= 11 * small
    assert large <= 40 * 4000


def test_max_words_reads_only_the_first_words_emoji_spelled_out(analysers):
    # Given a wall of 60,000 😂 (each is five words: "face with tears of joy") and an analyser reading 150 words
    stock, _ = analysers
    capped = LinearVader(max_words=150)
    # Then it scores what VADER scores for the first 30 emoji, and a short text is read whole
    assert capped.polarity_scores("😂" * 60_000) == stock.polarity_scores("😂" * 30)
    assert LinearVader(max_words=5).polarity_scores("it was not bad at all, great") == \
        stock.polarity_scores("it was not bad at")
    assert capped.polarity_scores("not bad at all!") == stock.polarity_scores("not bad at all!")


def test_first_words_keeps_whole_words():
    # Given a text with irregular spacing
    text = "one  two\tthree\nfour"
    # Then the cut falls after the n-th word, and a text with fewer words is whole
    assert linear_vader._first_words(text, 2) == "one  two"
    assert linear_vader._first_words(text, 10) == text
