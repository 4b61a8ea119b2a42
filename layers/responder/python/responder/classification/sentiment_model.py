"""English sentiment and offensiveness from small linear models (`data/sentiment_model.json`,
`data/offensive_model.json`), built by `bench/train_models.py`; see `data/SOURCES.md` for their training data.

The sentiment model reads word, bigram and negation-scope features plus VADER's scores (vaderSentiment, MIT) as
three dense features, so it keeps VADER's handling of emoji, boosters and negation and learns what VADER misses on
tweets, and (option `lexicon`) what VADER's word lexicon and the project's emoji lexicon say of the tokens: how many
positive and negative ones, which came last; its weights hold a regression and naive Bayes added together. It is
trained on the SemEval 2013-2016 tweet pool and ships only features seen in at least `about.min_df` training tweets.
Models load once per process on first use (about 0.1 s); when a file is absent the callers fall back to the
rules of classification v1, so the classifier never breaks for want of a model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from responder.classification.lexicon import DATA_DIR, load_lexicons, strip_handles_and_urls
from responder.classification.textmodel import LinearModel, features, lexicon_features, softmax, tokens

SENTIMENT_MODEL = DATA_DIR / "sentiment_model.json"
OFFENSIVE_MODEL = DATA_DIR / "offensive_model.json"
# VADER reads at most this many words, emoji spelled out ("face with tears of joy"): above the longest of the
# 64,940 tweets and utterances of the evaluation and training sets (140), so their scores are VADER's own, while a
# wall of emoji inside the classified window (lexicon.MAX_CLASSIFIED_CHARS) costs no more than a long post.
VADER_MAX_WORDS = 150


@lru_cache(maxsize=1)
def vader() -> Any:
    """VADER's analyser with the project's overrides (reads its 7,500-word lexicon once); None without it.

    Its linear-time variant (`responder.classification.linear_vader`): the same scores, without vaderSentiment's quadratic cost."""
    try:
        from responder.classification.linear_vader import LinearVader
    except ImportError:
        return None
    analyser = LinearVader(max_words=VADER_MAX_WORDS)
    overrides = load_lexicons()["sentiment"]["vader_overrides"]
    analyser.lexicon.update({word: float(value) for word, value in overrides.items() if not word.startswith("_")})
    return analyser


def vader_scores(text: str) -> dict[str, float] | None:
    """VADER's compound, positive and negative scores of the text without handles and URLs (None without VADER)."""
    analyser = vader()
    if analyser is None:
        return None
    scores = analyser.polarity_scores(strip_handles_and_urls(text))
    return {"vader": float(scores["compound"]), "vpos": float(scores["pos"]), "vneg": float(scores["neg"])}


@lru_cache(maxsize=1)
def sentiment_model() -> LinearModel | None:
    """The shipped sentiment model, or None when its file is absent."""
    return LinearModel.load(SENTIMENT_MODEL) if SENTIMENT_MODEL.exists() else None


@lru_cache(maxsize=1)
def offensive_model() -> LinearModel | None:
    """The shipped offensive-language model, or None when its file is absent."""
    return LinearModel.load(OFFENSIVE_MODEL) if OFFENSIVE_MODEL.exists() else None


def sentiment_logits(text: str, model: LinearModel, dense: dict[str, float] | None = None,
                     toks: list[str] | None = None) -> list[float] | None:
    """The model's logits for (its labels), or None when the model needs VADER and VADER is missing; `dense` is
    `vader_scores(text)` and `toks` is `textmodel.tokens(text)` when the caller already has them."""
    if model.options.get("vader") and dense is None:
        dense = vader_scores(text)
        if dense is None:
            return None
    return model.logits(sentiment_features(text, model.options, dense, toks))


def sentiment_features(text: str, options: dict[str, Any], dense: dict[str, float] | None = None,
                       toks: list[str] | None = None) -> dict[str, float]:
    """The sentiment model's features of a text (training reads them from here too): `textmodel.features`, plus
    what the polarity lexicon (`polarity()`) says of the tokens when `options["lexicon"]`."""
    toks = tokens(text) if toks is None else toks
    feats = features(text, options, dense, toks)
    if options.get("lexicon"):
        table = polarity()
        if table is not None:
            feats.update(lexicon_features(toks, table))
    return feats


@lru_cache(maxsize=1)
def polarity() -> dict[str, float] | None:
    """Word and emoji polarity on VADER's scale: VADER's lexicon (with the project's overrides) and the project's
    emoji lexicon, since a token is one emoji where VADER reads its name ("smiling face with 3 hearts") and the
    tweet pool holds too few emoji for the model to learn them; None without VADER."""
    analyser = vader()
    if analyser is None:
        return None
    table = dict(analyser.lexicon)
    table.update({emoji: float(value) for emoji, value in load_lexicons()["sentiment"]["emoji"].items()})
    return table


def decide(model: LinearModel, logits: list[float], offsets: bool = True) -> tuple[str, float]:
    """The label (after the tuned offsets, unless `offsets` is False: the plain argmax) and a score in -1..1:
    P(positive) - P(negative)."""
    probs = dict(zip(model.labels, softmax(logits), strict=True))
    label = model.decide(logits) if offsets else model.labels[max(range(len(logits)), key=lambda k: (logits[k], -k))]
    return label, probs.get("positive", 0.0) - probs.get("negative", 0.0)


def offensive_probability(text: str, model: LinearModel | None = None, toks: list[str] | None = None) -> float | None:
    """P(offensive) from the offensive model, or None when there is no model (`toks`: `textmodel.tokens(text)`)."""
    model = model or offensive_model()
    if model is None:
        return None
    probs = model.probabilities(features(text, model.options, toks=toks))
    return probs[model.labels.index("offensive")]
