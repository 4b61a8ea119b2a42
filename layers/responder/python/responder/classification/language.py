"""Language of a short mention: the platform's hint when it has one, else word, letter and suffix scores.

Six languages are scored from `data/lexicons.json` (en, es, fr, de, pt, it): each common word found adds
1/(number of languages sharing it), so `the` counts fully for English while `de` is split between Spanish,
French and Portuguese; distinctive letters (ñ, ß, ã) and endings (-ção, -zione, -ung) add smaller amounts.
Other scripts are recognised by their letters (Cyrillic → ru, Hangul → ko, ...). With too little evidence the
answer is `und` (undetermined), as X itself answers for emoji-only posts.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from responder.classification.lexicon import fold, load_lexicons, strip_handles_and_urls

SUPPORTED: tuple[str, ...] = ("en", "es", "fr", "de", "pt", "it")
UNDETERMINED = "und"
# X marks posts it cannot tag with 3-letter codes (und, zxx, qme, qht...); BCP 47 tags carry a region (pt-BR).
_HINT_RE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]+)*$")
_WORD_RE = re.compile(r"[a-z0-9]+")
_MIN_SCORE = 0.9  # about one distinctive word, or a few shared ones

# Scripts that identify a language (or its most likely one) on their own: (first, last code point, language).
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0400, 0x04FF, "ru"), (0x0370, 0x03FF, "el"), (0x0590, 0x05FF, "he"), (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"), (0x0E00, 0x0E7F, "th"), (0x3040, 0x30FF, "ja"), (0xAC00, 0xD7AF, "ko"),
    (0x1100, 0x11FF, "ko"), (0x4E00, 0x9FFF, "zh"),
)


def normalize_hint(hint: str | None) -> str | None:
    """A platform language hint as a 2-letter ISO 639-1 code, or None when it says nothing (`und`, `zxx`)."""
    if not hint or not isinstance(hint, str):
        return None
    match = _HINT_RE.match(hint.strip().lower())
    return match.group(1) if match else None


def detect_language(text: str, hint: str | None = None) -> str:
    """ISO 639-1 code of `text`; a 2-letter platform hint wins; `und` when there is too little to tell."""
    hinted = normalize_hint(hint)
    if hinted:
        return hinted
    scores = language_scores(text)
    if not scores:
        return _script_language(text)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], SUPPORTED.index(item[0])))
    best, score = ranked[0]
    if score < _MIN_SCORE:
        return _script_language(text)
    return best


def language_scores(text: str) -> dict[str, float]:
    """Evidence for each supported language (only languages with some evidence are present)."""
    profile = _profile()
    cleaned = unicodedata.normalize("NFC", strip_handles_and_urls(text)).lower()
    tokens = _WORD_RE.findall(fold(cleaned.replace("'", " ").replace("’", " ")))
    scores: dict[str, float] = {}
    for token in tokens:
        for lang, weight in profile.word_weights.get(token, ()):
            scores[lang] = scores.get(lang, 0.0) + weight
        if len(token) > 4:
            for lang, suffix, weight in profile.suffixes:
                if token.endswith(suffix):
                    scores[lang] = scores.get(lang, 0.0) + weight
    for char in set(cleaned):
        for lang, weight in profile.letters.get(char, ()):
            scores[lang] = scores.get(lang, 0.0) + weight * min(cleaned.count(char), 3)
    return scores


def _script_language(text: str) -> str:
    counts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        code = ord(char)
        for first, last, lang in _SCRIPTS:
            if first <= code <= last:
                counts[lang] = counts.get(lang, 0) + 1
                break
    if not counts:
        return UNDETERMINED
    # Japanese mixes kana with Han characters: any kana makes it Japanese rather than Chinese.
    if counts.get("ja") and counts.get("zh"):
        counts["ja"] += counts.pop("zh")
    lang, count = max(counts.items(), key=lambda item: item[1])
    return lang if count * 2 >= letters else UNDETERMINED


class _Profile:
    """The language lexicon, indexed for scoring."""

    def __init__(self, data: dict) -> None:
        owners: dict[str, set[str]] = {}
        for lang, entries in data["words"].items():
            for word in entries:
                owners.setdefault(fold(word), set()).add(lang)
        self.word_weights = {word: tuple((lang, 1.0 / len(langs)) for lang in sorted(langs))
                             for word, langs in owners.items()}
        self.letters: dict[str, tuple[tuple[str, float], ...]] = {}
        for lang, letters in data["letters"].items():
            for char, weight in letters.items():
                char = unicodedata.normalize("NFC", char)
                self.letters[char] = self.letters.get(char, ()) + ((lang, float(weight)),)
        self.suffixes = tuple((lang, fold(suffix), float(weight))
                              for lang, suffixes in data["suffixes"].items() for suffix, weight in suffixes.items())


@lru_cache(maxsize=1)
def _profile() -> _Profile:
    return _Profile(load_lexicons()["language"])
