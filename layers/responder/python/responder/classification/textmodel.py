"""Small linear text classifiers with pure-Python inference: tweet tokens, n-gram features, softmax scores.

Training (`bench/train_models.py`) and inference share `features`, so a model file is only a table of weights:
JSON `{"format": "responder-linear-1", "labels": [...], "bias": [...], "options": {...}, "weights":
{feature: [one weight per label]}, "offsets": [...], "about": {...}}`. A mention has a few dozen features, so
scoring is a few dozen dict look-ups (microseconds); no numpy, no network, deterministic (no hashing, no
randomness at inference).

Features: lower-cased tokens of the text with URLs as `xxurl`, @handles as `xxuser`, letters repeated three
times or more squeezed to two (`sooo` → `soo`, plus an `xxelong` marker), emoji and emoticons as tokens,
`#tag` read as `tag`; word unigrams (`w:`), bigrams (`b:`), unigrams inside a negation scope (`n:`, the three
words after `not`, `never`, `no`, `n't` up to the next punctuation), optional character n-grams of each word
(`c:`, at most MAX_CHAR_WORD characters of a word read, so the count stays linear in the text), and optional dense
features supplied by the caller (`d:`, such as VADER's compound score). `lexicon_features` adds what a word-polarity
lexicon says of the tokens (`l:` bins and two `d:` sums): how many positive and negative words, which came last.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "responder-linear-1"

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE_RE = re.compile(r"(?<![\w@])@\w{1,50}")
_EMOTICON_RE = r"(?:[:;=8xX][-'^]?[()\[\]dDpP/\\|*oO3]+|<3+|\^_*\^|[()\[\]][-'^]?[:;=])(?=\s|$)"
_TOKEN_RE = re.compile(_EMOTICON_RE + r"|[^\W_]+(?:['’][^\W_]+)*|[!?]+|[^\w\s]", re.UNICODE)
_DATASET_ESCAPE_RE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ELONGATED_RE = re.compile(r"(\w)\1{2,}")
_NEGATORS = frozenset({"not", "no", "never", "cannot", "nothing", "nobody", "none", "nor", "neither", "without",
                       "cant", "dont", "didnt", "doesnt", "isnt", "wasnt", "wont", "aint", "havent", "hasnt",
                       "shouldnt", "wouldnt", "couldnt", "arent", "werent"})
_SCOPE_END = frozenset(".,!?;:")
_NEGATION_SCOPE = 3
# A word in a negation scope counts with its polarity reversed and damped, as VADER does (vaderSentiment's N_SCALAR).
NEGATED_POLARITY = -0.74
# The polarity sums are divided by this so that they sit in VADER's -1..1 range for most tweets (a lexicon word
# scores up to 4 in VADER's lexicon, and a tweet rarely holds more than a few).
POLARITY_SCALE = 4.0
# Character n-grams read at most this many characters of a word: a 700-letter "word" costs what a 20-letter one does.
MAX_CHAR_WORD = 20


def decode_dataset_escapes(text: str) -> str:
    """A dataset line with SemEval's literal `\\u002c`-style escapes decoded (`Plus\\u002c` → `Plus,`).

    For the readers of the SemEval and TweetEval files only (training, `responder eval`, `responder classify
    --format tweeteval`): posts from the platforms arrive as decoded JSON strings, so the classifier itself never
    decodes anything and a customer who types a backslash keeps it."""
    return _DATASET_ESCAPE_RE.sub(_unescape, text) if "\\u" in text else text


def _unescape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return match.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)  # half a surrogate pair is not a character


def tokens(text: str) -> list[str]:
    """The lower-cased tokens of a short social-media text (see the module docstring)."""
    text = unicodedata.normalize("NFC", text if isinstance(text, str) else "")
    text = _HANDLE_RE.sub(" xxuser ", _URL_RE.sub(" xxurl ", text))
    out: list[str] = []
    for raw in _TOKEN_RE.findall(text):
        token = raw if _is_emoticon(raw) else raw.casefold().replace("’", "'")
        if token[0].isalnum():
            squeezed = _ELONGATED_RE.sub(r"\1\1", token)
            if squeezed != token:
                out.append("xxelong")
            out.append(squeezed)
        elif token[0] in "!?":
            out.append(token[:3])  # "!!!!!" says what "!!!" says
        elif token != "#":
            out.append(token)
    return out


def _is_emoticon(raw: str) -> bool:
    return len(raw) > 1 and not raw[0].isalnum() and raw[0] not in "!?"


def features(text: str, options: Mapping[str, Any] | None = None,
             dense: Mapping[str, float] | None = None, toks: list[str] | None = None) -> dict[str, float]:
    """The feature values of one text: binary n-gram presence plus the caller's dense values; `toks` is
    `tokens(text)` when the caller already has it (two models read the same mention)."""
    options = options or {}
    toks = tokens(text) if toks is None else toks
    feats: dict[str, float] = {}
    words = [t for t in toks if t[0].isalnum() or t[0] in "!?" or len(t) > 1 or not t.isascii()]
    if options.get("words", True):
        for t in words:
            feats["w:" + t] = 1.0
    if options.get("bigrams", True):
        for a, b in zip(words, words[1:]):
            feats["b:" + a + " " + b] = 1.0
    if options.get("negation", True):
        scope = 0
        for t in toks:
            if t in _SCOPE_END or t[0] in "!?":
                scope = 0
            elif t in _NEGATORS or t.endswith("n't"):
                scope = _NEGATION_SCOPE
            elif scope and t[0].isalnum():
                feats["n:" + t] = 1.0
                scope -= 1
    chars = options.get("chars")
    if chars:  # [shortest, longest]: character n-grams of each word, `<` and `>` marking its edges
        low, high = int(chars[0]), int(chars[1])
        for t in words:
            if t[0].isalnum():
                padded = "<" + t[:MAX_CHAR_WORD] + ">"
                for size in range(low, high + 1):
                    for start in range(len(padded) - size + 1):
                        feats["c:" + padded[start:start + size]] = 1.0
    if options.get("bias_feature", False):
        feats["len:" + str(min(len(words) // 8, 4))] = 1.0
    if dense:
        for name, value in dense.items():
            feats["d:" + name] = float(value)
    return feats


def lexicon_features(toks: list[str], polarity: Mapping[str, float]) -> dict[str, float]:
    """What a word-polarity lexicon (word → score, VADER's scale) says of the tokens, in one pass: the number of
    positive and of negative words (`l:pos0`..`l:pos3`, 3 meaning 3 or more), the polarity of the last one
    (`l:lastpos`, `l:lastneg`, `l:lastnone`) and the positive and negative sums (`d:lpos`, `d:lneg`), a word in a
    negation scope counting reversed."""
    scope = 0
    positive = negative = 0
    pos_sum = neg_sum = 0.0
    last = "none"
    for t in toks:
        if t in _SCOPE_END or t[0] in "!?":
            scope = 0
            continue
        if t in _NEGATORS or t.endswith("n't"):
            scope = _NEGATION_SCOPE
            continue
        negated = bool(scope) and t[0].isalnum()
        if negated:
            scope -= 1
        score = polarity.get(t)
        if not score:
            continue
        if negated:
            score *= NEGATED_POLARITY
        if score > 0:
            positive, pos_sum, last = positive + 1, pos_sum + score, "pos"
        else:
            negative, neg_sum, last = negative + 1, neg_sum + score, "neg"
    return {f"l:pos{min(positive, 3)}": 1.0, f"l:neg{min(negative, 3)}": 1.0, f"l:last{last}": 1.0,
            "d:lpos": pos_sum / POLARITY_SCALE, "d:lneg": neg_sum / POLARITY_SCALE}


@dataclass
class LinearModel:
    """A multinomial logistic regression over named features (weights per label)."""

    labels: tuple[str, ...]
    bias: list[float]
    weights: dict[str, list[float]]
    options: dict[str, Any] = field(default_factory=dict)
    offsets: list[float] | None = None  # decision offsets tuned for the task's metric, added before argmax
    about: dict[str, Any] = field(default_factory=dict)

    def logits(self, feats: Mapping[str, float]) -> list[float]:
        """Bias plus the weighted sum of the features this model knows."""
        out = list(self.bias)
        n = len(out)
        for name, value in feats.items():
            w = self.weights.get(name)
            if w is not None:
                for k in range(n):
                    out[k] += w[k] * value
        return out

    def probabilities(self, feats: Mapping[str, float]) -> list[float]:
        """Softmax of the logits (no decision offsets)."""
        return softmax(self.logits(feats))

    def decide(self, logits: list[float]) -> str:
        """The label with the highest logit after the tuned offsets."""
        offsets = self.offsets or [0.0] * len(logits)
        best = max(range(len(logits)), key=lambda k: (logits[k] + offsets[k], -k))
        return self.labels[best]

    def to_json(self) -> dict[str, Any]:
        """The JSON document this model is stored as (weights rounded to 4 decimals)."""
        return {"format": FORMAT, "labels": list(self.labels), "bias": [round(b, 4) for b in self.bias],
                "offsets": [round(o, 4) for o in self.offsets] if self.offsets else None,
                "options": self.options, "about": self.about,
                "weights": {name: [round(x, 4) for x in w] for name, w in sorted(self.weights.items())}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        """Read a model document; raises ValueError when it is not one."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model")
        labels = tuple(data["labels"])
        weights = {str(k): [float(x) for x in v] for k, v in data["weights"].items()}
        if any(len(w) != len(labels) for w in weights.values()) or len(data["bias"]) != len(labels):
            raise ValueError("weight rows must have one value per label")
        offsets = data.get("offsets")
        return cls(labels=labels, bias=[float(b) for b in data["bias"]], weights=weights,
                   options=dict(data.get("options") or {}), offsets=[float(o) for o in offsets] if offsets else None,
                   about=dict(data.get("about") or {}))

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a model file."""
        with Path(path).open(encoding="utf-8") as handle:
            return cls.from_json(json.load(handle))


def softmax(logits: Iterable[float]) -> list[float]:
    """Probabilities from logits (numerically stable)."""
    values = list(logits)
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]
