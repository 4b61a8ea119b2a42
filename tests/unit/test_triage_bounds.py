"""Bounded triage work per mention: every classifier reads a bounded window of the text, whatever its length.

A mention may hold 60,000 characters (`model.MAX_TEXT_CHARS`); triage reads its first `MAX_CLASSIFIED_CHARS`. These
tests count what each step reads instead of timing it (timings live in `bench/worst_case_bench.py`).
"""

from __future__ import annotations

from collections import Counter

import pytest

from responder.classification import classify as classify_module
from responder.classification import lexicon, sentiment_model, textmodel
from responder.triage import drafting
from responder.classification.classify import classify
from responder.surge.incidents import salient_terms
from responder.classification.lexicon import MAX_CLASSIFIED_CHARS, PhraseMatcher, classified_text
from responder.core.model import MAX_TEXT_CHARS

HOSTILE = {
    "emoji wall": "😂" * MAX_TEXT_CHARS,
    "ZWJ families": ("👨‍👩‍👧‍👦" * MAX_TEXT_CHARS)[:MAX_TEXT_CHARS],
    "words": ("my card was charged twice and nobody helps " * 2000)[:MAX_TEXT_CHARS],
    "no spaces": "a" * MAX_TEXT_CHARS,
    "Zalgo": "a" + "\u0316\u0301" * (MAX_TEXT_CHARS // 2),
    "distinct words": " ".join(f"w{i}" for i in range(MAX_TEXT_CHARS))[:MAX_TEXT_CHARS],
}


# --- the window -----------------------------------------------------------------------------------------------


def test_a_text_within_the_window_is_read_whole():
    # Given texts up to the cap
    for text in ("", "short", "x" * MAX_CLASSIFIED_CHARS):
        # Then the window is the text itself (every evaluated text is far shorter: their results cannot change)
        assert classified_text(text) == text


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_window_of_a_long_text_is_a_bounded_prefix(name):
    # Given a mention as long as a mention can be
    text = HOSTILE[name]
    # When its window is taken
    window = classified_text(text)
    # Then it is a prefix of the text, at most the cap and not much shorter
    assert text.startswith(window)
    assert MAX_CLASSIFIED_CHARS - 64 <= len(window) <= MAX_CLASSIFIED_CHARS


def test_the_window_ends_between_two_words():
    # Given words whose last one straddles the cap
    text = "refund " * 200
    # Then the window ends before a space, on a whole word
    window = classified_text(text)
    assert text[len(window)].isspace()
    assert window.split()[-1] == "refund"


@pytest.mark.parametrize(("unit", "description"), [
    ("👨‍👩‍👧‍👦", "a family joined by ZWJ"), ("👍🏽", "a skin-tone modifier"),
    ("e\u0301", "a combining accent"), ("\u2764\ufe0f", "a variation selector"),
])
def test_without_spaces_the_window_does_not_split_a_character_sequence(unit, description):
    # Given a text without spaces made of one sequence repeated, the cap falling inside one of them
    text = "x" + unit * (MAX_CLASSIFIED_CHARS // len(unit) + 2)
    assert (MAX_CLASSIFIED_CHARS - 1) % len(unit) != 0
    # When its window is taken
    window = classified_text(text)
    # Then it holds whole sequences only
    assert window == "x" + unit * ((len(window) - 1) // len(unit)), description
    assert len(window) > MAX_CLASSIFIED_CHARS - len(unit) - 1


# --- what each step reads -------------------------------------------------------------------------------------


@pytest.fixture
def longest_read(monkeypatch):
    """Wrap every text-reading step of classification and record the longest text each one is given."""
    longest: Counter[str] = Counter()

    def spy(module, name, arg=0):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            value = args[arg] if len(args) > arg else None
            if isinstance(value, str):
                longest[name] = max(longest[name], len(value))
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("detect_language", "words", "normalize", "vader_scores", "sentiment_logits", "offensive_probability",
                 "text_tokens", "strip_handles_and_urls"):
        spy(classify_module, name)
    spy(classify_module, "_lexicon_score")
    analyser = sentiment_model.vader()
    if analyser is not None:
        spy(analyser, "polarity_scores")
    spy(textmodel, "tokens")
    spy(lexicon, "normalize")
    spy(drafting, "words")
    return longest


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_classification_reads_at_most_the_window(longest_read, name):
    # Given a hostile mention of 60,000 characters
    text = HOSTILE[name]
    # When it is classified and drafted for
    classification = classify(text)
    drafting.draft_reply({"text": text, "channel": "whatsapp", "kind": "message"}, classification)
    # Then no step was given more than the window
    assert longest_read, "the spies saw nothing: the steps were renamed"
    assert max(longest_read.values()) <= MAX_CLASSIFIED_CHARS, dict(longest_read)


def test_what_comes_after_the_window_does_not_change_the_classification():
    # Given a long, calm message whose end reports a crisis
    calm = "I wanted to share a few thoughts about the new store layout and the opening hours. " * 30
    text = calm + "Also my card was stolen and used for fraud"
    # Then the classification is that of its window (the stored text stays whole; an agent reads it all)
    assert classify(text) == classify(classified_text(text))
    assert not classify(text).crisis


def test_surge_terms_read_only_the_window():
    # Given a long mention whose last word is unique
    text = "outage " * (MAX_CLASSIFIED_CHARS // 7 + 10) + "zanzibar"
    # Then the salient terms come from the window only
    terms = salient_terms(text)
    assert "zanzibar" not in terms
    assert terms == salient_terms(classified_text(text))


class _NoRescan(list):
    """Words that refuse `list.count`: a scan of all words per distinct word is quadratic (10,000 distinct words)."""

    def count(self, value):
        raise AssertionError("the words were scanned once per distinct word")


def test_spam_repetition_counts_every_word_once():
    # Given many distinct words and one repeated often enough to be spam
    tokens = _NoRescan([f"w{i}" for i in range(60)] + ["buy"] * 40)
    # Then the repetition signal is found, counted in one pass
    score, signal = classify_module._spam_score(" ".join(tokens), tokens, False, classify_module._lexicons())
    assert signal == "repeated words" and score >= 2


def test_phrase_matching_reads_each_word_a_bounded_number_of_times(monkeypatch):
    # Given a lexicon of phrases that all start with "not", and texts of only "not"
    calls = Counter()
    original = lexicon._word_matches

    def counting(pattern, token):
        calls["words"] += 1
        return original(pattern, token)

    monkeypatch.setattr(lexicon, "_word_matches", counting)
    matcher = PhraseMatcher((f"not {w} at all", True) for w in ("good", "fine", "working", "arrived"))

    def reads(n: int) -> int:
        calls.clear()
        assert matcher.find(["not"] * n) == []
        return calls["words"]

    # Then each word is compared at most once per phrase that starts there
    assert reads(1000) <= 4 * 1000
    assert reads(2000) <= 2 * reads(1000) + 16
