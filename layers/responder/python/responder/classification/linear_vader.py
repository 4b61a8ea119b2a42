"""VADER (vaderSentiment 3.3.2, MIT) with the same scores in time linear in the text.

vaderSentiment's `polarity_scores` is quadratic in the number of words: for every word of its lexicon,
`_negation_check` (three times) and `_special_idioms_check` lower-case the whole text's word list to look at the
three words before it, and `_but_check` looks each score up with `list.index` and re-inserts it. An emoji becomes
its description ("face with tears of joy"), so 2,000 😂 made 10,000 words and took seconds. This subclass
overrides exactly those three helpers (and builds the emoji-translated text with one join), reading only the
words each rule looks at; every other rule is VADER's own code. `tests/unit/test_linear_vader.py` checks the
scores against the stock analyser.
"""

from __future__ import annotations

import heapq
import re
from typing import Any

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT, N_SCALAR, SPECIAL_CASES, SentimentIntensityAnalyzer, SentiText, negated,
)

_WORD_RE = re.compile(r"\S+")


class LinearVader(SentimentIntensityAnalyzer):
    """`SentimentIntensityAnalyzer` whose cost grows linearly with the text (same scores); with `max_words`, it
    reads at most that many words once emoji are spelled out (an emoji is up to 7 words)."""

    def __init__(self, *args: Any, max_words: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_words = max_words

    def polarity_scores(self, text: str) -> dict[str, float]:
        """VADER's scores (neg, neu, pos, compound) of the text (of its first `max_words` words)."""
        # Emoji become their descriptions, separated from a preceding word by one space (as VADER does).
        parts: list[str] = []
        prev_space = True
        described = 0
        for char in text:
            description = self.emojis.get(char)
            if description is not None:
                # Each description starts a word: past max_words of them, the words VADER reads are all there.
                described += 1
                if self.max_words is not None and described > self.max_words:
                    break
                if not prev_space:
                    parts.append(" ")
                parts.append(description)
                prev_space = False
            else:
                parts.append(char)
                prev_space = char == " "
        text = "".join(parts).strip()
        if self.max_words is not None:
            text = _first_words(text, self.max_words)

        sentitext = SentiText(text)
        sentiments: list[float] = []
        words_and_emoticons = sentitext.words_and_emoticons
        for i, item in enumerate(words_and_emoticons):
            valence = 0
            if item.lower() in BOOSTER_DICT:
                sentiments.append(valence)
                continue
            if (i < len(words_and_emoticons) - 1 and item.lower() == "kind"
                    and words_and_emoticons[i + 1].lower() == "of"):
                sentiments.append(valence)
                continue
            sentiments = self.sentiment_valence(valence, sentitext, item, i, sentiments)
        sentiments = self._but_check(words_and_emoticons, sentiments)
        return self.score_valence(sentiments, text)

    @staticmethod
    def _negation_check(valence: float, words_and_emoticons: list[str], start_i: int, i: int) -> float:
        # VADER's rule, reading only words i-3..i-1 (negative indices wrap around as in VADER's list look-ups).
        def low(k: int) -> str:
            return str(words_and_emoticons[k]).lower()

        if start_i == 0:
            if negated([low(i - (start_i + 1))]):
                valence = valence * N_SCALAR
        if start_i == 1:
            if low(i - 2) == "never" and (low(i - 1) == "so" or low(i - 1) == "this"):
                valence = valence * 1.25
            elif low(i - 2) == "without" and low(i - 1) == "doubt":
                pass
            elif negated([low(i - (start_i + 1))]):
                valence = valence * N_SCALAR
        if start_i == 2:
            if (low(i - 3) == "never" and (low(i - 2) == "so" or low(i - 2) == "this")
                    or (low(i - 1) == "so" or low(i - 1) == "this")):
                valence = valence * 1.25
            elif low(i - 3) == "without" and (low(i - 2) == "doubt" or low(i - 1) == "doubt"):
                pass
            elif negated([low(i - (start_i + 1))]):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _special_idioms_check(valence: float, words_and_emoticons: list[str], i: int) -> float:
        # VADER's rule, reading only words i-3..i+2.
        def low(k: int) -> str:
            return str(words_and_emoticons[k]).lower()

        onezero = f"{low(i - 1)} {low(i)}"
        twoonezero = f"{low(i - 2)} {low(i - 1)} {low(i)}"
        twoone = f"{low(i - 2)} {low(i - 1)}"
        threetwoone = f"{low(i - 3)} {low(i - 2)} {low(i - 1)}"
        threetwo = f"{low(i - 3)} {low(i - 2)}"
        for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if seq in SPECIAL_CASES:
                valence = SPECIAL_CASES[seq]
                break
        n = len(words_and_emoticons)
        if n - 1 > i:
            zeroone = f"{low(i)} {low(i + 1)}"
            if zeroone in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroone]
        if n - 1 > i + 1:
            zeroonetwo = f"{low(i)} {low(i + 1)} {low(i + 2)}"
            if zeroonetwo in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroonetwo]
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence

    @staticmethod
    def _but_check(words_and_emoticons: list[str], sentiments: list[Any]) -> list[Any]:
        """VADER's contrastive "but": scores before the first "but" halved, after it raised by half.

        VADER walks the scores and rescales, for each, the first position holding an equal value
        (`list.index`), which is not always the position walked (equal scores, a rescaled score equal to a
        later one). Kept exactly, with a heap of positions per value instead of a scan.
        """
        lowered = [str(w).lower() for w in words_and_emoticons]
        if "but" not in lowered:
            return sentiments
        bi = lowered.index("but")
        holding: dict[Any, list[int]] = {}  # value → positions that held it (a heap; stale entries skipped)
        for position, value in enumerate(sentiments):
            holding.setdefault(value, []).append(position)  # ascending: already a heap
        for k in range(len(sentiments)):
            value = sentiments[k]
            heap = holding[value]
            while sentiments[heap[0]] != value:
                heapq.heappop(heap)
            si = heap[0]
            if si == bi:
                continue
            rescaled = value * 0.5 if si < bi else value * 1.5
            sentiments[si] = rescaled
            if rescaled != value:
                heapq.heappop(heap)
                heapq.heappush(holding.setdefault(rescaled, []), si)
        return sentiments


def _first_words(text: str, count: int) -> str:
    """The text up to the end of its `count`-th whitespace-separated word (the whole text when shorter)."""
    if len(text) <= count:  # fewer characters than words asked for: nothing to cut
        return text
    end = 0
    for match in _WORD_RE.finditer(text):
        count -= 1
        end = match.end()
        if count == 0:
            return text[:end]
    return text
