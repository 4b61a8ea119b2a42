"""English sentiment from a small fine-tuned transformer encoder, run in plain numpy (`sentiment_encoder.npz`).

The encoder is the first two layers of all-MiniLM-L6-v2 (Apache-2.0), fine-tuned on the SemEval 2013-2016 tweet
pool by distillation from its first three layers, with a linear head over the first token (`[CLS]`). With
`about.pooling` "cls+means" the head reads the last layer's first token and, after it, the mean over the tokens of
each earlier layer's output and of the embeddings (the head refitted on the fine-tuned encoder by
`bench/refit_head.py`); see `data/SOURCES.md` and `bench/export_encoder.py` for the recipe. Its matrices and word
vectors are stored as int8 with a float32 scale per output column (per row for word vectors); the vector of every
word piece seen in fewer than `about.min_tweets` training tweets, outside the words the pool writes as names, is the
pretrained one, so no vector learned from a single tweet or from a name ships.

The weights and numpy travel in the Classify function's own layer (`layers/encoder`, unpacked at
`/opt/responder-encoder` and `/opt/python`); from a checkout they are read from `layers/encoder`.

Reading is bounded and linear: the BERT tokenizer below (lower-casing, accents stripped, punctuation split,
greedy longest-match word pieces) stops as soon as it has `MAX_TOKENS` pieces, so a mention costs at most one
forward pass over 64 positions whatever its length. Only the Classify function imports this module: numpy never
loads in the webhook.
"""

from __future__ import annotations

import json
import math
import os
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

ENCODER_FILE = "sentiment_encoder.npz"
ENCODER_LAYER_FOLDER = "responder-encoder"  # the layer's folder under /opt (infra/constants.py says the same)
_CANDIDATES = (Path("/opt") / ENCODER_LAYER_FOLDER / ENCODER_FILE,
               Path(__file__).resolve().parents[4] / "encoder" / ENCODER_FILE)  # <checkout>/layers/encoder
ENCODER_MODEL = next((path for path in _CANDIDATES if path.is_file()), _CANDIDATES[-1])
MAX_TOKENS = 64  # [CLS], at most 62 word pieces, [SEP]
# What the head reads: the last layer's first token ("cls"), or that and the mean of each earlier layer's output and
# of the embeddings ("cls+means": width × (layers + 1) values)
POOLINGS = ("cls", "cls+means")
MAX_WORD_CHARS = 100  # a longer word is one [UNK], as BERT's WordPiece reads it


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def _basic_words(text: str):
    """BERT's basic tokenizer (uncased), lazily: control characters dropped, white space split, every CJK character
    and punctuation mark a word of its own, lower case, accents stripped."""
    word: list[str] = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD:
            continue
        category = unicodedata.category(char)
        if char in " \t\n\r" or category == "Zs":
            if word:
                yield "".join(word)
                word = []
            continue
        if category in ("Cc", "Cf"):
            continue
        if _is_cjk(code):
            if word:
                yield "".join(word)
                word = []
            yield char
            continue
        for part in unicodedata.normalize("NFD", char.lower()):
            if unicodedata.category(part) == "Mn":
                continue
            if _is_punctuation(part):
                if word:
                    yield "".join(word)
                    word = []
                yield part
            else:
                word.append(part)
    if word:
        yield "".join(word)


class WordPiece:
    """BERT's uncased WordPiece tokenizer over a vocabulary (one piece per line, ids by line number)."""

    def __init__(self, vocab: list[str]) -> None:
        self.ids = {piece: index for index, piece in enumerate(vocab)}
        self.unk, self.cls, self.sep = self.ids["[UNK]"], self.ids["[CLS]"], self.ids["[SEP]"]
        self.longest = max(len(piece.removeprefix("##")) for piece in vocab)

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """`[CLS]`, the text's first `max_tokens - 2` word pieces, `[SEP]`: reads no further than it needs."""
        room = max_tokens - 2
        out = [self.cls]
        for word in _basic_words(text):
            out.extend(self._pieces(word)[:room - len(out) + 1])
            if len(out) > room:
                break
        out.append(self.sep)
        return out

    def _pieces(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = min(len(word), start + self.longest)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(self.ids[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk]
            start = end
        return pieces


class EncoderSentiment:
    """The fine-tuned encoder: `logits(text)` in the order of `labels`."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        import numpy as np

        self.about = json.loads(bytes(arrays["about"]).decode("utf-8"))
        self.labels: list[str] = list(self.about["labels"])
        self.heads = int(self.about["heads"])
        self.tokenizer = WordPiece(bytes(arrays["vocab"]).decode("utf-8").split("\n"))
        self._word, self._word_scale = arrays["word"], arrays["word_scale"]

        def matrix(name: str):
            return (arrays[name].astype(np.float32) * arrays[name + "_scale"]).astype(np.float32)

        self._position, self._type = arrays["position"], arrays["type"]
        self._norm = (arrays["norm_w"], arrays["norm_b"])
        self._layers = []
        for index in range(int(self.about["layers"])):
            p = f"l{index}_"
            self._layers.append({name: (matrix(p + name), arrays[p + name + "_b"])
                                 for name in ("qkv", "out", "up", "down")}
                                | {name: (arrays[p + name + "_w"], arrays[p + name + "_b"])
                                   for name in ("norm1", "norm2")})
        self._head = (arrays["head_w"], arrays["head_b"])
        pooling = self.about.get("pooling", "cls")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} in the encoder's file")
        self._means = pooling == "cls+means"
        width = self._norm[0].shape[0]
        expected = width * (1 + len(self._layers)) if self._means else width
        if self._head[0].shape[0] != expected:
            raise ValueError(f"the head reads {self._head[0].shape[0]} values, {pooling!r} gives {expected}")

    @classmethod
    def load(cls, path: Path) -> "EncoderSentiment":
        import numpy as np

        with np.load(path, allow_pickle=False) as stored:
            return cls({name: stored[name] for name in stored.files})

    def logits(self, text: str) -> list[float]:
        return [float(value) for value in self.forward(self.tokenizer.encode(text))]

    def forward(self, ids: list[int]):
        """One text's logits: embeddings, the layers (the last one for the first token only), the head."""
        return self.pooled(ids, self._means) @ self._head[0] + self._head[1]

    def pooled(self, ids: list[int], means: bool):
        """What a head reads of one text: the last layer's first token, and with `means` after it the mean over the
        tokens of each earlier layer's output, from the last but one down to the embeddings."""
        import numpy as np

        x = self._word[ids].astype(np.float32) * self._word_scale[ids, None]
        x = layer_norm(x + self._position[:len(ids)] + self._type, self._norm)
        if not means:
            return run_layers(x, self._layers, self.heads, first_token_only=True)[0]
        found = [x.mean(0)]
        for index, layer in enumerate(self._layers):
            last = index == len(self._layers) - 1
            x = run_layers(x, [layer], self.heads, first_token_only=last)
            if not last:
                found.append(x.mean(0))
        return np.concatenate([x[0], *reversed(found)])


def layer_norm(x, pair):
    import numpy as np

    centred = x - x.mean(-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(-1, keepdims=True) + 1e-12) * pair[0] + pair[1]


def run_layers(x, layers: list[dict], heads: int, first_token_only: bool):
    """BERT's layers over one text's embeddings `x` (tokens × width). Each layer is a dict of (matrix, bias) pairs
    `qkv`, `out`, `up`, `down` and (weight, bias) pairs `norm1`, `norm2`. With `first_token_only` the last layer
    computes keys and values for every token but queries, attention output and feed-forward for the first alone
    (all that a head on `[CLS]` reads), and the result is that one row."""
    import numpy as np

    count, width = x.shape
    size = width // heads
    last = len(layers) - 1
    for index, layer in enumerate(layers):
        matrix, bias = layer["qkv"]
        if first_token_only and index == last:
            kv = x @ matrix[:, width:] + bias[width:]
            q = (x[:1] @ matrix[:, :width] + bias[:width]).reshape(1, heads, size).transpose(1, 0, 2)
            k = kv[:, :width].reshape(count, heads, size).transpose(1, 2, 0)
            v = kv[:, width:].reshape(count, heads, size).transpose(1, 0, 2)
            x = x[:1]
        else:
            qkv = x @ matrix + bias
            q = qkv[:, :width].reshape(count, heads, size).transpose(1, 0, 2)
            k = qkv[:, width:2 * width].reshape(count, heads, size).transpose(1, 2, 0)
            v = qkv[:, 2 * width:].reshape(count, heads, size).transpose(1, 0, 2)
        scores = (q @ k) * (1 / math.sqrt(size))
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(len(x), width)
        x = layer_norm(attended @ layer["out"][0] + layer["out"][1] + x, layer["norm1"])
        up = x @ layer["up"][0] + layer["up"][1]
        # GELU's tanh form (numpy has no erf); `up ** 3` would cost float32 `pow`, about 3 ms a layer
        up = 0.5 * up * (1 + np.tanh(0.7978845608 * (up + 0.044715 * up * up * up)))
        x = layer_norm(up @ layer["down"][0] + layer["down"][1] + x, layer["norm2"])
    return x


@lru_cache(maxsize=1)
def encoder_model() -> EncoderSentiment | None:
    """The shipped encoder, or None when its file or numpy is absent (the linear model then decides alone)."""
    if not ENCODER_MODEL.exists():
        return None
    # One text's matrices are small: OpenBLAS's worker threads only contend for the function's share of a vCPU.
    # Read when OpenBLAS loads, so it holds where this is numpy's first import (Lambda); Classify's environment has
    # no room left for the variable (test_triage_config).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        import numpy  # noqa: F401 - only to know it is there
    except ImportError:
        return None
    return EncoderSentiment.load(ENCODER_MODEL)
