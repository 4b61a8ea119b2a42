"""Text normalisation and phrase lexicons shared by language detection and classification.

Lexicons are data (`responder/data/lexicons.json`), read once per process on first use. An entry is a word or a
phrase of words; a word ending in `*` matches any word starting with it (`refund*` matches `refunded`).
Entries and texts go through the same `normalize`: case-folded, accents removed, English negative contractions
spelled out (`hasn't` → `has not`), URLs and @handles dropped, so `Rückerstattung` and `ruckerstattung` match.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

DATA_DIR = Path(__file__).resolve().parents[1] / "data"

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
HANDLE_RE = re.compile(r"(?<![\w@])@\w{1,50}")
_WORD_RE = re.compile(r"[a-z0-9]+")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'"})
_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bain't\b"), "is not"),
    (re.compile(r"n't\b"), " not"),
)
# Stems shorter than this would match too much (`re*`); the lexicon loader rejects them.
MIN_STEM = 3
# Triage reads at most this many characters of a mention; the stored text stays whole (up to model.MAX_TEXT_CHARS,
# 60,000). A mention says what it is about at its start: 800 characters hold about 140 English words, almost three
# full X posts (280 characters, docs.x.com "Counting characters") and more than any text of the evaluation sets
# (581 at most). The platforms accept far more (X long posts 25,000, Facebook comments 8,000, WhatsApp 4,096): reading
# it all let anyone who can message the brand buy seconds of triage CPU per mention (issue #11). The figure is what
# keeps the worst mention within 10x an ordinary one (bench/worst_case_bench.py).
MAX_CLASSIFIED_CHARS = 800
# How far back from that cap a word boundary (or the start of an emoji sequence) is looked for.
_BOUNDARY_LOOKBACK = 64
_ZWJ = "\u200d"

V = TypeVar("V")


def fold(text: str) -> str:
    """Lower case without accents (`Ça coûte` → `ca coute`); ß becomes ss."""
    if text.isascii():  # nothing to decompose: the same result without a pass per character
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def classified_text(text: str) -> str:
    """The start of a mention that triage reads: at most MAX_CLASSIFIED_CHARS characters, ending between two words
    (or, without a space near the cap, outside an emoji sequence or a letter's accents); short texts unchanged."""
    if len(text) <= MAX_CLASSIFIED_CHARS:
        return text
    window = text[:MAX_CLASSIFIED_CHARS]
    floor = MAX_CLASSIFIED_CHARS - _BOUNDARY_LOOKBACK
    for end in range(MAX_CLASSIFIED_CHARS, floor, -1):
        if text[end].isspace():
            return window[:end]
    end = MAX_CLASSIFIED_CHARS
    while end > floor and (_attaches(text[end]) or text[end - 1] == _ZWJ):
        end -= 1
    return window[:end] if end > floor else window


def _attaches(char: str) -> bool:
    """Whether a character belongs to the one before it: accents, joiners, variation selectors, skin tones, tags."""
    return unicodedata.category(char) in ("Mn", "Me", "Cf", "Sk")


def strip_handles_and_urls(text: str) -> str:
    """The text without URLs and @handles (a handle such as @AcmeSupport says nothing about the topic)."""
    return HANDLE_RE.sub(" ", URL_RE.sub(" ", text))


def normalize(text: str) -> str:
    """Folded text with URLs and handles removed and English negative contractions spelled out."""
    folded = fold(strip_handles_and_urls(text).translate(_APOSTROPHES))
    for pattern, replacement in _CONTRACTIONS:
        folded = pattern.sub(replacement, folded)
    return folded


def words(text: str) -> list[str]:
    """The words of a text, normalised (digits kept, punctuation and emoji dropped)."""
    return _WORD_RE.findall(normalize(text))


@dataclass(frozen=True)
class Match(Generic[V]):
    """One lexicon entry found in a word list: words[start:end] matched `entry`."""

    entry: str
    start: int
    end: int
    value: V


class PhraseMatcher(Generic[V]):
    """Finds lexicon entries (words, phrases, `stem*` prefixes) in a list of normalised words."""

    def __init__(self, entries: Iterable[tuple[str, V]]):
        self._exact: dict[str, list[tuple[tuple[str, ...], str, V]]] = {}
        self._stems: dict[str, list[tuple[tuple[str, ...], str, V]]] = {}
        for entry, value in entries:
            pattern = tuple(entry_words(entry))
            if not pattern:
                raise ValueError(f"empty lexicon entry {entry!r}")
            first = pattern[0]
            if first.endswith("*"):
                stem = first[:-1]
                if len(stem) < MIN_STEM:
                    raise ValueError(f"lexicon stem too short: {entry!r}")
                self._stems.setdefault(stem, []).append((pattern, entry, value))
            else:
                self._exact.setdefault(first, []).append((pattern, entry, value))
        self._stem_lengths = sorted({len(stem) for stem in self._stems})

    def find(self, tokens: list[str]) -> list[Match[V]]:
        """Every occurrence of every entry, in text order."""
        found: list[Match[V]] = []
        exact, stems, stem_lengths = self._exact, self._stems, self._stem_lengths
        for i, token in enumerate(tokens):
            candidates = exact.get(token)
            if candidates:
                _match_at(candidates, tokens, i, found)
            for length in stem_lengths:
                if length > len(token):
                    break
                candidates = stems.get(token[:length])
                if candidates:
                    _match_at(candidates, tokens, i, found)
        return found

    def find_longest(self, tokens: list[str]) -> list[Match[V]]:
        """Non-overlapping occurrences, longer phrases first (`email address` hides `address`); entries matching
        exactly the same words are all kept."""
        chosen: list[Match[V]] = []
        spans: set[tuple[int, int]] = set()
        taken: set[int] = set()
        for match in sorted(self.find(tokens), key=lambda m: (m.start - m.end, m.start)):
            span = set(range(match.start, match.end))
            if (match.start, match.end) in spans:  # another entry for the very same words (`arrive`, `arrive*`)
                chosen.append(match)
            elif not span & taken:
                chosen.append(match)
                spans.add((match.start, match.end))
                taken |= span
        return sorted(chosen, key=lambda m: m.start)


def entry_words(entry: str) -> list[str]:
    """The normalised words of a lexicon entry, keeping a trailing `*` on stems."""
    out: list[str] = []
    for raw in normalize(entry).split():
        star = raw.endswith("*")
        parts = _WORD_RE.findall(raw)
        if not parts:
            continue
        if star:
            parts[-1] += "*"
        out.extend(parts)
    return out


def _match_at(candidates: list[tuple[tuple[str, ...], str, V]], tokens: list[str], i: int,
              found: list[Match[V]]) -> None:
    """Append the candidates (entries whose first word matches tokens[i]) whose other words follow it."""
    for pattern, entry, value in candidates:
        end = i + len(pattern)
        if end > len(tokens):
            continue
        for k in range(1, len(pattern)):  # each word is compared once: linear in the text for a given lexicon
            if not _word_matches(pattern[k], tokens[i + k]):
                break
        else:
            found.append(Match(entry, i, end, value))


def _word_matches(pattern: str, token: str) -> bool:
    return token.startswith(pattern[:-1]) if pattern.endswith("*") else token == pattern


@lru_cache(maxsize=None)
def load_lexicons() -> Mapping[str, Any]:
    """The shipped lexicons (`data/lexicons.json`), parsed once per process."""
    with (DATA_DIR / "lexicons.json").open(encoding="utf-8") as handle:
        return json.load(handle)
