"""Build the classifier's model files reproducibly (fixed seeds, pure Python, data read from path arguments).

    .venv/bin/python -m bench.train_models sentiment --semeval ../shared/data/semeval \
        --tweeteval ../shared/data/tweeteval      # optional: only reported, never used for a choice
    .venv/bin/python -m bench.train_models offensive --tweeteval ../shared/data/tweeteval

(`make models DATA=../shared/data` runs both.) The same data and command give the same file, byte for byte.

Sentiment: a 3-class logistic regression (AdaGrad SGD, seeded order, classes weighted equally) over word,
bigram and negation-scope features, VADER's three scores and what VADER's word lexicon says of the tokens
(`textmodel.lexicon_features`), with naive Bayes' log-probabilities of the same features added to its weights
(`--nb-weight`, Wang & Manning 2012), trained on the SemEval 2013-2016 pool
(`semeval/train.tsv`, 47,473 tweets; see its README and `responder/data/SOURCES.md`). The pool is cut by a seeded
shuffle into a fit part (90 %) and a tuning part (10 %): the tuning part picks the decision offsets (the centre of
those within `--offset-tolerance` of the best macro-recall), the fit part trains (the feature set, naive Bayes'
weight and the learning rate were chosen on other seeded tenths of the pool, see SOURCES.md). Only features present
in at least `--min-df` fit tweets (default 5) are learned and shipped, so no n-gram identifies one tweet or one
person.
The pool's texts keep SemEval's literal `\u002c`-style escapes; they are decoded when read
(`textmodel.decode_dataset_escapes`), as TweetEval's files are by `responder eval`: real posts reach the classifier
as decoded JSON strings and never carry them. With `--tweeteval`, TweetEval sentiment validation (whole split
and its seeded half B) is scored and stored in the model's `about`, nothing else.

Offensive: a 2-class logistic regression trained on TweetEval offensive `train`; its decision threshold is
picked on a seeded 10% slice of train held out from training; `val` is only reported.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from responder.classification import sentiment_model
from responder.classification.sentiment_model import OFFENSIVE_MODEL, SENTIMENT_MODEL, vader_scores
from responder.classification.textmodel import LinearModel, decode_dataset_escapes, features, softmax

SEED = 20240517
MIN_PRECISION = 0.75
SENTIMENT_LABELS = ("negative", "neutral", "positive")
TWEETEVAL_SENTIMENT = {"0": "negative", "1": "neutral", "2": "positive"}
Example = tuple[dict[str, float], int, float]


# --- corpora ----------------------------------------------------------------------------------------------------


def read_semeval(directory: Path) -> list[tuple[str, str]]:
    """(text, label) rows of the SemEval pool's `train.tsv` (id, source, label, text), escapes decoded."""
    path = Path(directory)
    path = path / "train.tsv" if path.is_dir() else path
    rows = []
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if header[:4] != ["id", "source", "label", "text"]:
            raise SystemExit(f"train_models sentiment: {path} is not the SemEval pool (header {header[:4]})")
        for line in handle:
            parts = line.rstrip("\n").split("\t", 3)
            if len(parts) == 4 and parts[2] in TWEETEVAL_SENTIMENT:
                rows.append((decode_dataset_escapes(parts[3]), TWEETEVAL_SENTIMENT[parts[2]]))
    return rows


def tweeteval(root: Path, task: str, split: str) -> list[tuple[str, str]]:
    """(text, raw label) pairs of a TweetEval task split."""
    directory = Path(root) / task
    with (directory / f"{split}_text.txt").open(encoding="utf-8") as t, \
            (directory / f"{split}_labels.txt").open(encoding="utf-8") as lab:
        return [(text.rstrip("\n"), label.strip()) for text, label in zip(t, lab, strict=True)]


def halves(items: Sequence, seed: int = SEED) -> tuple[list, list]:
    """A seeded shuffle cut in two: (tuning half A, report half B)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    cut = len(order) // 2
    return [items[i] for i in order[:cut]], [items[i] for i in order[cut:]]


# --- training ---------------------------------------------------------------------------------------------------


def train(examples: list[Example], labels: Sequence[str], *, epochs: int = 8, rate: float = 0.1, l2: float = 1e-6,
          seed: int = SEED, min_count: int = 2, options: dict | None = None) -> LinearModel:
    """Multinomial logistic regression by AdaGrad SGD over sparse features, in a seeded order."""
    counts: Counter[str] = Counter(name for feats, _, _ in examples for name in feats)
    keep = {name for name, c in counts.items() if c >= min_count or name.startswith("d:")}
    data = [({n: v for n, v in feats.items() if n in keep}, y, w) for feats, y, w in examples]
    n = len(labels)
    weights: dict[str, list[float]] = {}
    squares: dict[str, list[float]] = {}
    bias, bias_sq = [0.0] * n, [1e-8] * n
    order = list(range(len(data)))
    rng = random.Random(seed)
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            feats, y, sample_weight = data[i]
            logits = list(bias)
            for name, value in feats.items():
                row = weights.get(name)
                if row is not None:
                    for k in range(n):
                        logits[k] += row[k] * value
            probs = softmax(logits)
            grads = [(probs[k] - (1.0 if k == y else 0.0)) * sample_weight for k in range(n)]
            for k in range(n):
                bias_sq[k] += grads[k] * grads[k]
                bias[k] -= rate * grads[k] / math.sqrt(bias_sq[k])
            for name, value in feats.items():
                row = weights.setdefault(name, [0.0] * n)
                sq = squares.setdefault(name, [1e-8] * n)
                for k in range(n):
                    g = grads[k] * value + l2 * row[k]
                    sq[k] += g * g
                    row[k] -= rate * g / math.sqrt(sq[k])
    pruned = {name: row for name, row in weights.items() if max(abs(x) for x in row) >= 0.005}
    return LinearModel(labels=tuple(labels), bias=bias, weights=pruned, options=dict(options or {}))


def balanced(rows: list[tuple[dict[str, float], str, float]], labels: Sequence[str]) -> list[Example]:
    """Examples weighted so that every label carries the same total weight (macro-recall cares for each class)."""
    totals = Counter()
    for _, label, w in rows:
        totals[label] += w
    mean = sum(totals.values()) / len(totals)
    return [(feats, labels.index(label), w * mean / totals[label]) for feats, label, w in rows]


def macro_recall(expected: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean over the expected labels of their recall (TweetEval's sentiment metric)."""
    totals = Counter(expected)
    hits = Counter(e for e, p in zip(expected, predicted, strict=True) if e == p)
    return statistics.mean(hits[label] / totals[label] for label in totals)


def tune_offsets(model: LinearModel, logits: list[list[float]], expected: list[str],
                 grid: Sequence[float] = tuple(x / 10 for x in range(-20, 21)),
                 tolerance: float = 0.0) -> tuple[list[float], float]:
    """Offsets for (negative, positive) relative to neutral that maximise macro-recall on (logits, expected), and
    that macro-recall. With a `tolerance`, the mean of every grid point scoring within it of the best: the centre
    of the plateau rather than its highest, luckiest point."""
    neg, neu, pos = (model.labels.index(x) for x in SENTIMENT_LABELS)

    def offsets_of(a: float, b: float) -> list[float]:
        offsets = [0.0] * 3
        offsets[neg], offsets[pos], offsets[neu] = a, b, 0.0
        return offsets

    def score(offsets: list[float]) -> float:
        return macro_recall(expected, [model.labels[max(range(3), key=lambda k, row=row: row[k] + offsets[k])]
                                       for row in logits])

    scores = {(a, b): score(offsets_of(a, b)) for a in grid for b in grid}
    top = max(scores.values())
    if tolerance <= 0:
        a, b = next(point for point, value in scores.items() if value == top)
        return offsets_of(a, b), top
    near = [point for point, value in scores.items() if value >= top - tolerance - 1e-12]
    centre = offsets_of(round(statistics.mean(a for a, _ in near), 2), round(statistics.mean(b for _, b in near), 2))
    return centre, score(centre)


# --- tasks ------------------------------------------------------------------------------------------------------


def sentiment_features(text: str, options: dict) -> dict[str, float]:
    """Features exactly as `responder.classification.sentiment_model.sentiment_logits` computes them."""
    dense = vader_scores(text) if options.get("vader") else None
    return sentiment_model.sentiment_features(text, options, dense)


def naive_bayes(rows: Sequence[tuple[dict[str, float], str, float]], labels: Sequence[str], *, min_count: int,
                alpha: float = 1.0) -> dict[str, list[float]]:
    """Per binary feature (present in at least `min_count` rows; dense `d:` values left out), multinomial naive
    Bayes' log P(feature | label) with add-`alpha` smoothing, centred over the labels: adding a constant to one
    feature's row changes no decision and no softmax, and centred rows stay small in the model file."""
    counts: Counter[str] = Counter(name for feats, _, _ in rows for name in feats if not name.startswith("d:"))
    keep = sorted(name for name, c in counts.items() if c >= min_count)
    index = {name: i for i, name in enumerate(keep)}
    n = len(labels)
    per_label = [[0] * len(keep) for _ in range(n)]
    for feats, label, _ in rows:
        column = per_label[labels.index(label)]
        for name in feats:
            i = index.get(name)
            if i is not None:
                column[i] += 1
    totals = [sum(column) + alpha * len(keep) for column in per_label]
    table = {}
    for name, i in index.items():
        logs = [math.log((per_label[k][i] + alpha) / totals[k]) for k in range(n)]
        mean = sum(logs) / n
        table[name] = [x - mean for x in logs]
    return table


def interpolate(model: LinearModel, table: dict[str, list[float]], weight: float) -> None:
    """Add `weight` times naive Bayes' log-probabilities to the model's weights (Wang & Manning 2012: NB and a
    discriminative model interpolated beat either on short texts); still one weight per feature and label."""
    n = len(model.labels)
    for name, row in table.items():
        current = model.weights.get(name, [0.0] * n)
        model.weights[name] = [current[k] + weight * row[k] for k in range(n)]
    model.weights = {name: row for name, row in model.weights.items() if max(abs(x) for x in row) >= 0.005}


# Sentence openers and shouting say nothing of a word's case; only a word inside a sentence, in mixed case, does.
_SENTENCE_END = frozenset(".!?:;\"()[]…|-–—")
# Not people, and said capitalised anyway: "I", the days and months.
_NOT_NAMES = frozenset({"i", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                        "january", "february", "march", "april", "may", "june", "july", "august", "september",
                        "october", "november", "december"})


def names(texts: Sequence[str], *, min_count: int = 3, share: float = 0.6,
          keep: Callable[[str], bool] = lambda word: False) -> frozenset[str]:
    """The words the texts write as proper names: capitalised (not all capitals) in at least `share` of their
    at least `min_count` occurrences inside a sentence, for example `Obama`, `Bieber`, `London`. No feature with
    one of them is learned, so the shipped weights carry no person's name (the pool's README); `keep` spares
    words known to be something else (a sentiment lexicon's words are not names)."""
    from responder.classification.textmodel import _HANDLE_RE, _TOKEN_RE, _URL_RE

    capital: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for text in texts:
        previous = None
        for raw in _TOKEN_RE.findall(_HANDLE_RE.sub(" . ", _URL_RE.sub(" . ", text))):
            inside = previous is not None and previous not in _SENTENCE_END and previous[0] not in "!?"
            previous = raw
            if not inside or not raw[0].isalpha() or raw.isupper():
                continue
            word = raw.casefold().replace("’", "'")
            seen[word] += 1
            if raw[0].isupper():
                capital[word] += 1
    return frozenset(word for word, n in capital.items()
                     if seen[word] >= min_count and n >= share * seen[word] and word not in _NOT_NAMES
                     and not word.startswith("i'") and not keep(word))


def without_names(feats: dict[str, float], named: frozenset[str]) -> dict[str, float]:
    """The features of one text less those with a name in them (a word, either word of a bigram, a negated word)."""
    return {name: value for name, value in feats.items()
            if name[:2] not in ("w:", "b:", "n:") or not any(part in named for part in name[2:].split(" "))}


def split_pool(rows: Sequence, seed: int = SEED, tune_share: int = 10) -> tuple[list, list]:
    """A seeded shuffle of the pool cut into (fit part, tuning part: one row in `tune_share`)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    cut = len(order) // tune_share
    return [rows[i] for i in order[cut:]], [rows[i] for i in order[:cut]]


def _vader_lexicon() -> frozenset[str]:
    from responder.classification.sentiment_model import polarity

    return frozenset(polarity() or {})


def sentiment_options(args: argparse.Namespace) -> dict:
    """The feature options stored in the model (what inference reads)."""
    options: dict = {"words": not args.dense_only, "bigrams": not args.dense_only and not args.no_bigrams,
                     "negation": not args.dense_only, "vader": True, "lexicon": not args.no_lexicon}
    if args.chars:
        options["chars"] = [int(x) for x in args.chars.split(",")]
    return options


def build_sentiment(args: argparse.Namespace, log: Callable[[str], None]) -> LinearModel:
    """Train on the pool's fit part, pick offsets on its tuning part, report TweetEval val; returns the model."""
    options = sentiment_options(args)
    pool = read_semeval(args.semeval)
    fit, tune = split_pool(pool)
    log(f"sentiment: SemEval pool {len(pool)} tweets {dict(Counter(lab for _, lab in pool))}; "
        f"fit {len(fit)}, tuning {len(tune)}")
    started = time.perf_counter()
    named = names([t for t, _ in fit], keep=lambda word: word in _vader_lexicon()) if args.drop_names \
        else frozenset()
    log(f"  {len(named)} words written as names left out of the features" if args.drop_names else
        "  names kept (--keep-names)")
    rows = [(without_names(sentiment_features(t, options), named), lab, 1.0) for t, lab in fit]
    model = train(balanced(rows, SENTIMENT_LABELS), SENTIMENT_LABELS, epochs=args.epochs, rate=args.rate,
                  l2=args.l2, min_count=args.min_df, options=options)
    if args.nb_weight:
        interpolate(model, naive_bayes(rows, SENTIMENT_LABELS, min_count=args.min_df, alpha=args.nb_alpha),
                    args.nb_weight)
    log(f"  trained in {time.perf_counter() - started:.1f} s: {len(model.weights)} features (df >= {args.min_df})")
    tune_logits = [model.logits(sentiment_features(t, options)) for t, _ in tune]
    expected = [e for _, e in tune]
    plain = macro_recall(expected, [model.decide(row) for row in tune_logits])
    model.offsets, tuned = tune_offsets(model, tune_logits, expected, tolerance=args.offset_tolerance)
    log(f"  pool tuning part: macro-recall {plain:.3f} without offsets, {tuned:.3f} with offsets "
        f"{[round(o, 2) for o in model.offsets]} (the centre of those within {args.offset_tolerance} of the best)")
    about: dict = {"task": "sentiment", "seed": SEED, "sources": ["semeval-2013-2016-pool"],
                   "training_tweets": len(fit), "tuning_tweets": len(tune), "min_df": args.min_df,
                   "epochs": args.epochs, "rate": args.rate, "l2": args.l2, "nb_weight": args.nb_weight,
                   "nb_alpha": args.nb_alpha, "offset_tolerance": args.offset_tolerance,
                   "names_left_out": len(named),
                   "pool_tuning_macro_recall": round(tuned, 4)}
    if args.tweeteval:
        pairs = [(decode_dataset_escapes(t), TWEETEVAL_SENTIMENT[lab])
                 for t, lab in tweeteval(args.tweeteval, "sentiment", "val")]
        predicted = [model.decide(model.logits(sentiment_features(t, options))) for t, _ in pairs]
        whole = macro_recall([e for _, e in pairs], predicted)
        half_b = set(halves(list(range(len(pairs))))[1])
        report = macro_recall([e for i, (_, e) in enumerate(pairs) if i in half_b],
                              [p for i, p in enumerate(predicted) if i in half_b])
        log(f"  TweetEval val (never tuned on): macro-recall {whole:.3f} ({len(pairs)} tweets), "
            f"half B {report:.3f}")
        about.update(tweeteval_val_macro_recall=round(whole, 4), tweeteval_val_half_b_macro_recall=round(report, 4))
    model.about = about
    return model


def build_offensive(args: argparse.Namespace, log: Callable[[str], None]) -> LinearModel:
    """Train on TweetEval offensive train (less a seeded 10% for the threshold); report F1 on val."""
    options = {"bigrams": True, "negation": False, "vader": False}
    labels = ("not_offensive", "offensive")
    pairs = [(t, labels[int(lab)]) for t, lab in tweeteval(args.tweeteval, "offensive", "train")]
    order = list(range(len(pairs)))
    random.Random(SEED).shuffle(order)
    cut = len(order) // 10
    held = [pairs[i] for i in order[:cut]]
    fit = [pairs[i] for i in order[cut:]]
    # As for sentiment: no feature of fewer than --min-df tweets, none with a word the tweets write as a name.
    named = names([t for t, _ in fit]) if args.drop_names else frozenset()
    rows = [(without_names(features(t, options), named), lab, 1.0) for t, lab in fit]
    model = train(balanced(rows, labels), labels, epochs=args.epochs, rate=args.rate, l2=args.l2, options=options,
                  min_count=args.min_df)
    held_probs = [model.probabilities(features(t, options))[1] for t, _ in held]
    held_truth = [e == "offensive" for _, e in held]
    # A flag an agent sees on a polite customer is worse than a missed insult: the lowest threshold whose
    # precision on the held-out slice reaches MIN_PRECISION (F1 decides only when none does).
    candidates = [x / 100 for x in range(10, 96)]
    precise = [th for th in candidates if precision(held_truth, [p >= th for p in held_probs]) >= MIN_PRECISION]
    threshold = precise[0] if precise else max(candidates, key=lambda th: f1(held_truth, [p >= th for p in held_probs]))
    best = (f1(held_truth, [p >= threshold for p in held_probs]), threshold)
    # the threshold as an offset on the offensive logit: p >= th  <=>  logit1 - logit0 >= log(th / (1 - th))
    model.offsets = [0.0, -math.log(threshold / (1 - threshold))]
    about = {"task": "offensive", "seed": SEED, "sources": ["tweeteval-offensive-train"], "threshold": threshold,
             "held_out_f1": round(best[0], 4), "min_df": args.min_df, "names_left_out": len(named)}
    log(f"offensive: {len(fit)} training tweets, {len(model.weights)} features; threshold {threshold:.2f} "
        f"(F1 {best[0]:.3f} on {len(held)} held-out train tweets)")
    val = tweeteval(args.tweeteval, "offensive", "val")
    predicted = [model.decide(model.logits(features(t, options))) == "offensive" for t, _ in val]
    truth = [lab == "1" for _, lab in val]
    val_f1 = f1(truth, predicted)
    about.update(val_f1=round(val_f1, 4), val_precision=round(precision(truth, predicted), 4))
    log(f"  TweetEval offensive val: F1 (offensive) {val_f1:.3f}, precision {precision(truth, predicted):.3f}")
    model.about = about
    return model


def precision(expected: Sequence[bool], predicted: Sequence[bool]) -> float:
    """Precision of the positive class (1.0 when nothing is predicted)."""
    flagged = sum(predicted)
    return sum(e and p for e, p in zip(expected, predicted, strict=True)) / flagged if flagged else 1.0


def f1(expected: Sequence[bool], predicted: Sequence[bool]) -> float:
    """F1 of the positive class."""
    tp = sum(e and p for e, p in zip(expected, predicted, strict=True))
    fp = sum(p and not e for e, p in zip(expected, predicted, strict=True))
    fn = sum(e and not p for e, p in zip(expected, predicted, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def write(model: LinearModel, path: Path, log: Callable[[str], None]) -> None:
    """Write the model as compact JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    log(f"  wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    tasks = parser.add_subparsers(dest="task", required=True)
    sentiment = tasks.add_parser("sentiment", help="English sentiment model")
    sentiment.add_argument("--semeval", type=Path, required=True,
                           help="folder with the SemEval pool's train.tsv (or the file itself)")
    sentiment.add_argument("--tweeteval", type=Path, help="TweetEval folder: sentiment val is reported, never tuned on")
    sentiment.add_argument("--min-df", type=int, default=5,
                           help="learn and ship only features present in at least this many training tweets")
    sentiment.add_argument("--dense-only", action="store_true", help="VADER's scores only (no word features)")
    sentiment.add_argument("--no-bigrams", action="store_true")
    sentiment.add_argument("--no-lexicon", action="store_true", help="no features from VADER's word lexicon")
    sentiment.add_argument("--nb-weight", type=float, default=0.2,
                           help="weight of naive Bayes' log-probabilities added to the regression's (0: none)")
    sentiment.add_argument("--nb-alpha", type=float, default=1.0, help="naive Bayes' add-alpha smoothing")
    sentiment.add_argument("--offset-tolerance", type=float, default=0.005,
                           help="decision offsets: the centre of the grid points within this macro-recall of the best "
                                "on the tuning part (0: the best point)")
    sentiment.add_argument("--keep-names", dest="drop_names", action="store_false",
                           help="learn words written as proper names too (never for a shipped model)")
    sentiment.add_argument("--chars", help="character n-grams of each word: shortest,longest (e.g. 3,4); default off")
    sentiment.add_argument("--output", type=Path, default=SENTIMENT_MODEL)
    offensive = tasks.add_parser("offensive", help="offensive-language flag")
    offensive.add_argument("--tweeteval", type=Path, required=True, help="TweetEval folder (offensive/train, val)")
    offensive.add_argument("--output", type=Path, default=OFFENSIVE_MODEL)
    offensive.add_argument("--min-df", type=int, default=5,
                           help="learn and ship only features present in at least this many training tweets")
    offensive.add_argument("--keep-names", dest="drop_names", action="store_false",
                           help="learn words written as proper names too (never for a shipped model)")
    for sub, epochs, rate in ((sentiment, 10, 0.02), (offensive, 6, 0.1)):
        sub.add_argument("--epochs", type=int, default=epochs)
        sub.add_argument("--rate", type=float, default=rate)
        sub.add_argument("--l2", type=float, default=1e-5)
        sub.add_argument("--dry-run", action="store_true", help="train and report, write nothing")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    model = build_sentiment(args, log) if args.task == "sentiment" else build_offensive(args, log)
    if not args.dry_run:
        write(model, args.output, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
