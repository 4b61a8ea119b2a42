"""Classification benchmark: topic accuracy, sentiment macro-recall and per-mention latency, reproducibly.

Run (the data is not part of the project; pass its paths):

    .venv/bin/python -m bench.classify_bench --bitext ../shared/data/bitext/bitext_dev.csv \
        --tweeteval ../shared/data/tweeteval

- Bitext (customer-support utterances, column `category` = routing topic in upper case, `instruction` = text):
  topic accuracy and per-topic recall of `classify(...).topic`.
- TweetEval sentiment validation (`sentiment/val_text.txt`, `val_labels.txt`: 0 negative, 1 neutral,
  2 positive): macro-averaged recall (TweetEval's own sentiment metric) and accuracy of `classify(...).sentiment`.
  `--tune` also prints the thresholds on the score that would maximise macro-recall on that split.
- TweetEval offensive validation, when present: precision and recall of the `abusive` flag (label 1 offensive).
- Latency: the cold first call (lexicons loading), then per-mention time over every text above, in process.
- Footprint: the sentiment model's file size and feature count, and in a fresh interpreter the import of the
  classifier plus the first classification (cold start) with the resident memory it adds.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from responder.classification.classify import NEGATIVE_AT, POSITIVE_AT, classify
from responder.classification.sentiment_model import SENTIMENT_MODEL
from responder.classification.textmodel import LinearModel, decode_dataset_escapes

# Run in a fresh interpreter: the cold start of a Classify function, and the memory the classifier's data adds.
_COLD_START = """
import os, time
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
before = rss()
t0 = time.perf_counter()
from responder.classification.classify import classify
classify("@acme where is my order?")
elapsed = (time.perf_counter() - t0) * 1000
print(f"{elapsed:.0f} {rss() - before:.1f}")
"""

SENTIMENT_LABELS = {"0": "negative", "1": "neutral", "2": "positive"}


def bitext_topics(path: Path) -> list[tuple[str, str]]:
    """(text, expected topic) pairs from the Bitext CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["instruction"], row["category"].lower()) for row in csv.DictReader(handle)]


def tweeteval_split(root: Path, task: str, split: str = "val") -> list[tuple[str, str]] | None:
    """(text, label) pairs of a TweetEval task, or None when the files are absent. `root` may be the task dir."""
    directory = root if (root / f"{split}_text.txt").exists() else root / task
    texts, labels = directory / f"{split}_text.txt", directory / f"{split}_labels.txt"
    if not texts.exists() or not labels.exists():
        return None
    with texts.open(encoding="utf-8") as t, labels.open(encoding="utf-8") as lab:
        return [(decode_dataset_escapes(text.rstrip("\n")), label.strip()) for text, label in zip(t, lab, strict=True)]


def recall_by_class(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Recall of each expected label over (expected, predicted) pairs."""
    totals = Counter(expected for expected, _ in pairs)
    hits = Counter(expected for expected, predicted in pairs if expected == predicted)
    return {label: hits[label] / totals[label] for label in sorted(totals)}


def tune(scores: list[float], expected: list[str]) -> tuple[float, float, float]:
    """The (positive_at, negative_at) thresholds with the best macro-recall, and that recall."""
    best = (0.0, POSITIVE_AT, NEGATIVE_AT)
    grid = [round(x * 0.05, 2) for x in range(0, 17)]
    for pos in grid:
        for neg in grid:
            predicted = ["positive" if s >= pos else "negative" if s <= -neg else "neutral" for s in scores]
            recall = statistics.mean(recall_by_class(list(zip(expected, predicted, strict=True))).values())
            if recall > best[0]:
                best = (recall, pos, -neg)
    return best[1], best[2], best[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bitext", type=Path, required=True, help="path to bitext_dev.csv")
    parser.add_argument("--tweeteval", type=Path, required=True,
                        help="path to the tweeteval directory (or its sentiment/)")
    parser.add_argument("--tune", action="store_true", help="also search sentiment thresholds on the TweetEval split")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    classify("warm up: where is my order?")
    cold_ms = (time.perf_counter() - started) * 1000
    latencies: list[float] = []

    def timed(text: str):
        t0 = time.perf_counter()
        result = classify(text)
        latencies.append((time.perf_counter() - t0) * 1000)
        return result

    topics = bitext_topics(args.bitext)
    topic_pairs = [(expected, timed(text).topic) for text, expected in topics]
    accuracy = sum(e == p for e, p in topic_pairs) / len(topic_pairs)
    print(f"Bitext topics ({args.bitext}): {len(topic_pairs)} utterances, accuracy {accuracy:.3f}, "
          f"macro-recall {statistics.mean(recall_by_class(topic_pairs).values()):.3f}")
    for label, recall in recall_by_class(topic_pairs).items():
        confused = Counter(p for e, p in topic_pairs if e == label and p != label).most_common(2)
        print(f"  {label:<17} recall {recall:.3f}   most often instead: {confused}")

    sentiment = tweeteval_split(args.tweeteval, "sentiment")
    if sentiment is None:
        print(f"TweetEval sentiment: no val_text.txt/val_labels.txt under {args.tweeteval}", file=sys.stderr)
        return 2
    results = [(SENTIMENT_LABELS[label], timed(text)) for text, label in sentiment]
    sentiment_pairs = [(expected, result.sentiment) for expected, result in results]
    recalls = recall_by_class(sentiment_pairs)
    macro = statistics.mean(recalls.values())
    print(f"TweetEval sentiment val: {len(sentiment_pairs)} tweets, macro-recall {macro:.3f}, "
          f"accuracy {sum(e == p for e, p in sentiment_pairs) / len(sentiment_pairs):.3f} "
          f"(thresholds positive ≥ {POSITIVE_AT}, negative ≤ {NEGATIVE_AT}); "
          + ", ".join(f"{label} {value:.3f}" for label, value in recalls.items()))
    languages = Counter(result.language for _, result in results)
    print(f"  detected languages on these English tweets: {dict(languages.most_common(6))}")
    if args.tune:
        pos, neg, best = tune([r.sentiment_score for _, r in results], [e for e, _ in results])
        print(f"  best thresholds on this split: positive ≥ {pos}, negative ≤ {neg}: macro-recall {best:.3f}")

    offensive = tweeteval_split(args.tweeteval, "offensive")
    if offensive is not None:
        flags = [(label == "1", timed(text).abusive) for text, label in offensive]
        flagged = sum(p for _, p in flags)
        true_pos = sum(e and p for e, p in flags)
        print(f"TweetEval offensive val: {len(flags)} tweets, abusive flag precision "
              f"{true_pos / max(flagged, 1):.3f}, recall {true_pos / max(sum(e for e, _ in flags), 1):.3f}")

    tracemalloc.start()
    model = LinearModel.load(SENTIMENT_MODEL)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"Sentiment model: {SENTIMENT_MODEL.stat().st_size / 1e6:.2f} MB file, {held / 1e6:.1f} MB in memory, "
          f"{len(model.weights):,} features, about {model.about}")
    cold = subprocess.run([sys.executable, "-c", _COLD_START], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.split()
    print(f"Cold start in a fresh interpreter: import + first classification {cold[0]} ms, "
          f"resident memory added {cold[1]} MB (Linux)")
    ordered = sorted(latencies)
    print(f"Latency: first call (loads lexicons and VADER) {cold_ms:.1f} ms; then {len(ordered)} mentions: "
          f"mean {statistics.mean(ordered):.3f} ms, p50 {ordered[len(ordered) // 2]:.3f} ms, "
          f"p99 {ordered[int(len(ordered) * 0.99)]:.3f} ms, max {ordered[-1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
