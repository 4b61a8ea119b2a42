"""`responder eval --data DIR`: the classifier measured on public benchmarks, one table row per task.

DIR holds any of `tweeteval/` (sentiment/val, offensive/val), `bitext/bitext_dev.csv` and `twcs/*.csv`
(the layout of the project's `../shared/data`); a missing one is skipped with a note. The language task always
runs, on the project's own sentences (`bench/data/language_sentences.tsv`, or `--language-set FILE`).

Each row: task, metric, baseline, ours, published references, and latency of `classify` per mention (one core, in
process, CPU time: mean, p50 and p99).
- sentiment: macro-recall on TweetEval sentiment val and, when `test_text.txt`/`test_labels.txt` are there, test
  (SemEval's literal `\u002c` escapes decoded as the trainer decodes them); baseline: VADER with its own ±0.05
  thresholds; references (test split): VADER 0.57, SVM and FastText 0.63, RoBERTa-base 0.71, the best
  SemEval-2017 system 0.68. The model never trained or tuned on TweetEval (`bench/train_models.py`). With the
  per-class recalls, macro-recall's 95% bootstrap interval: how far the figure could move on another sample.
- topic: Bitext accuracy over `category`, whole file and seeded half B; baseline: the most frequent category.
- intent: per-class precision and recall on labels made by a written procedure (`intent_set`), no data copied:
  Bitext `complaint` → complaint, `review` → feedback, other intents tagged interrogative (`I`) → question
  (the untagged ones mix requests with problem reports: "I'm waiting for a restitution of $299");
  TWCS customers' tweets the brand replied to, labelled twice: first by the brand's first reply (an apology, `sorry`,
  `apologi` → complaint; thanks for kind words, `glad`, `happy to hear`, `kind words` → praise), then checked
  against the customer's own words (`_customer_agrees`: a complaint must not be thanks or praise alone, praise
  must be thanks or praise and not a question); labels the two passes disagree on are dropped.
  Reported on the whole set and on its seeded half B; the intent rules were only ever read against half A.
  Baseline: always `complaint`.
- language: accuracy on short sentences (6 languages); baseline: always `en`.
- offensive: F1 of the offensive class on TweetEval offensive val; baseline: classification v1's abuse lexicon.

Then the per-mention cost of the optional managed backends next to ours (no per-mention fee), from the texts
evaluated above as those backends would send them (`responder.aws.managed_cost`): Amazon Comprehend's sentiment, and
its language detection for mentions without a platform language tag; a Bedrock draft with each priced model.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

SEED = 20240517  # the seed of bench/train_models.py: the same half B
SENTIMENT = {"0": "negative", "1": "neutral", "2": "positive"}
# Macro-recall on TweetEval sentiment test (Barbieri et al., "TweetEval", Findings of EMNLP 2020, table 2;
# SemEval-2017 Task 4 subtask A for its best system; VADER as issue #16 measured it). The baseline column is VADER
# measured here.
SENTIMENT_REFERENCES = "VADER 0.57, SVM/FastText 0.63, SemEval-2017 best 0.68, RoBERTa-base 0.71"
DEFAULT_LANGUAGE_SET = Path(__file__).resolve().parents[2] / "bench" / "data" / "language_sentences.tsv"
_APOLOGY = ("sorry", "apologi", "apolog")
_PRAISE_REPLY = ("glad", "happy to hear", "kind words", "thanks for the love", "love to hear", "pass along",
                 "pass that along", "shout out", "shoutout", "you're welcome", "you're more than welcome",
                 "appreciate the", "thanks for sharing")
_WORDS_RE = re.compile(r"[a-z']+")
_KIND_WORDS = frozenset({"thanks", "thank", "thx", "love", "loved", "great", "awesome", "amazing", "best", "excellent",
                         "appreciate", "appreciated", "fantastic", "wonderful", "kudos", "shoutout", "perfect", "happy",
                         "rock", "rocks", "ty", "thankyou"})
_TROUBLE_WORDS = frozenset({"never", "no", "why", "still", "wrong", "broken", "worst", "terrible", "awful", "problem",
                            "issue", "help", "cancelled", "canceled", "delayed", "late", "missing", "refund", "fix",
                            "error", "down", "fail", "failed", "unable", "ridiculous", "disappointed", "charged"})


def decode_dataset_escapes(text: str) -> str:
    """SemEval's literal escapes decoded, as `bench/train_models.py` reads its data (see textmodel)."""
    from responder.classification.textmodel import decode_dataset_escapes as decode

    return decode(text)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `eval` on the `responder` command's sub-parsers."""
    parser = subparsers.add_parser("eval", help="measure the classifier on public benchmarks (a table per task)",
                                   description=__doc__.split("\n")[0])
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `eval`."""
    parser.add_argument("--data", type=Path, required=True, help="folder with tweeteval/, bitext/, twcs/")
    parser.add_argument("--language-set", type=Path, default=DEFAULT_LANGUAGE_SET,
                        help="language<TAB>text lines (default: the project's own sentences)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many items per task (0: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, stdout: IO[str] | None = None) -> int:
    """Evaluate every task whose data is present; 0 when at least one task ran."""
    from responder.classification.classify import classify, warm_up

    out = stdout or sys.stdout
    started = time.perf_counter()
    warm_up()
    out.write(f"models and lexicons loaded in {(time.perf_counter() - started) * 1000:.0f} ms\n\n")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    details: list[str] = []
    limit = args.limit or None
    seen = _Recorder(classify)
    for task in (_sentiment, _topic, _intent, _language, _offensive):
        task(args, seen, rows, notes, details, limit)
    _table(out, ("task", "metric", "baseline", "ours", "references (test split)", "CPU ms/mention mean p50 p99"), rows)
    for line in details:
        out.write(line + "\n")
    if seen.items:
        out.write("\n")
        managed_costs(out, seen.items)
    for note in notes:
        out.write(f"note: {note}\n")
    return 0 if rows else 1


class _Recorder:
    """`classify`, remembering each text and its classification for the managed backends' cost."""

    def __init__(self, classify: Callable) -> None:
        self._classify = classify
        self.items: list[tuple[str, str | None, Any]] = []

    def __call__(self, text: str) -> Any:
        result = self._classify(text)
        self.items.append((text, None, result))
        return result


def managed_costs(out: IO[str], items: list[tuple[str, str | None, Any]]) -> None:
    """The cost per mention of the optional managed backends next to ours, measured on `items`."""
    from responder.core.config import DEFAULT_BEDROCK_MODEL_ID
    from responder.aws.managed_cost import (BEDROCK_PRICES, COMPREHEND_MIN_UNITS, COMPREHEND_PRICE_PER_UNIT,
                                        COMPREHEND_UNIT_CHARACTERS, measure)

    cost = measure(items)
    n = cost.mentions

    def money(total: float) -> tuple[str, str]:
        each = cost.per_mention(total)
        return f"${each:.6f}", f"${each * 1e6:,.2f}"

    rows = [("ours: local classifier and templates", "0", "$0", "$0")]
    rows.append(("Comprehend DetectSentiment", f"{cost.sentiment_requests / n:.2f}", *money(cost.sentiment_cost)))
    rows.append(("Comprehend DetectSentiment + DetectDominantLanguage",
                 f"{(cost.sentiment_requests + cost.language_requests) / n:.2f}",
                 *money(cost.sentiment_cost + cost.language_cost)))
    tokens_in = cost.draft_input_tokens / max(cost.drafts, 1)
    tokens_out = cost.draft_output_tokens / max(cost.drafts, 1)
    for model_id in BEDROCK_PRICES:
        mark = " (default)" if model_id == DEFAULT_BEDROCK_MODEL_ID else ""
        rows.append((f"Bedrock draft, {model_id}{mark}", f"{cost.drafts / n:.2f}",
                     *money(cost.draft_cost(model_id) or 0.0)))
    minimum = COMPREHEND_MIN_UNITS * COMPREHEND_UNIT_CHARACTERS
    out.write(f"managed backends, cost per mention from the {n:,} texts evaluated above (mean "
              f"{cost.characters / n:.0f} characters; {cost.over_minimum:,} over Comprehend's {minimum}-character "
              "minimum; us-east-1 on-demand prices)\n")
    _table(out, ("backend", "calls/mention", "per mention", "per million mentions"), rows)
    out.write(f"  Comprehend bills {COMPREHEND_UNIT_CHARACTERS}-character units, at least {COMPREHEND_MIN_UNITS} per call, "
              f"${COMPREHEND_PRICE_PER_UNIT} a unit; "
              "language detection only runs without a platform language tag (X posts carry one).\n"
              f"  Bedrock drafts: about {tokens_in:.0f} input and {tokens_out:.0f} output tokens each (4 characters "
              "a token; the reply as long as the template it rewrites).\n")


# --- tasks ------------------------------------------------------------------------------------------------------


def _timed(classify: Callable, texts: Iterable[str]) -> tuple[list[Any], str]:
    """The classifications and the CPU time of each in ms (mean, p50, p99): the cost of a mention on one core,
    which a machine shared with other work does not inflate the way it inflates wall-clock time."""
    results, times = [], []
    for text in texts:
        t0 = time.thread_time()
        results.append(classify(text))
        times.append((time.thread_time() - t0) * 1000)
    return results, latency(times)


def latency(times_ms: list[float]) -> str:
    """`mean p50 p99` of per-mention times in ms (nearest rank)."""
    if not times_ms:
        return ""
    ranked = sorted(times_ms)

    def rank(q: float) -> float:
        return ranked[min(len(ranked) - 1, max(0, math.ceil(q * len(ranked)) - 1))]

    return f"{statistics.fmean(ranked):.3f} {rank(0.50):.3f} {rank(0.99):.3f}"


def _sentiment(args, classify, rows, notes, details, limit) -> None:
    found = False
    for split in ("val", "test"):
        pairs = tweeteval_split(args.data / "tweeteval", "sentiment", split)
        if pairs is None:
            continue
        found = True
        pairs = [(decode_dataset_escapes(t), SENTIMENT.get(lab, lab)) for t, lab in pairs][:limit]
        results, ms = _timed(classify, (t for t, _ in pairs))
        ours = [r.sentiment for r in results]
        expected = [e for _, e in pairs]
        baseline = [_vader_label(t) for t, _ in pairs]
        rows.append(("sentiment", f"macro-recall, TweetEval {split}", _f(macro_recall(expected, baseline)),
                     _f(macro_recall(expected, ours)), SENTIMENT_REFERENCES if split == "test" else "", ms))
        low, high = macro_recall_interval(expected, ours)
        details.append(f"sentiment per class, TweetEval {split} (recall): " + ", ".join(
            f"{label} {_f(_recall(expected, ours, label))}" for label in ("negative", "neutral", "positive"))
            + f"; macro-recall's 95% interval {_f(low)}–{_f(high)} ({INTERVAL_RESAMPLES} bootstrap resamples of "
            f"the {len(expected):,} tweets)")
    if not found:
        notes.append(f"sentiment skipped: no {args.data / 'tweeteval/sentiment/val_text.txt'}")
    elif tweeteval_split(args.data / "tweeteval", "sentiment", "test") is None:
        notes.append("sentiment test split absent (tweeteval/sentiment/test_text.txt): val only")


def _recall(expected: list[str], predicted: list[str], label: str) -> float:
    support = sum(e == label for e in expected)
    return sum(e == p == label for e, p in zip(expected, predicted, strict=True)) / support if support else 0.0


def _topic(args, classify, rows, notes, details, limit) -> None:
    path = args.data / "bitext" / "bitext_dev.csv"
    if not path.exists():
        notes.append(f"topic and Bitext intent skipped: no {path}")
        return
    with path.open(encoding="utf-8", newline="") as handle:
        pairs = [(row["instruction"], row["category"].lower()) for row in csv.DictReader(handle)][:limit]
    results, ms = _timed(classify, (t for t, _ in pairs))
    expected = [e for _, e in pairs]
    ours = [r.topic for r in results]
    majority = Counter(expected).most_common(1)[0][0]
    rows.append(("topic", "accuracy, Bitext dev", _f(_accuracy(expected, [majority] * len(expected))),
                 _f(_accuracy(expected, ours)), "", ms))
    half_b = set(seeded_half_b(len(pairs)))
    eb = [e for i, e in enumerate(expected) if i in half_b]
    rows.append(("topic", "accuracy, Bitext dev half B", _f(_accuracy(eb, [majority] * len(eb))),
                 _f(_accuracy(eb, [p for i, p in enumerate(ours) if i in half_b])), "", ""))


def _intent(args, classify, rows, notes, details, limit) -> None:
    items = intent_set(args.data)
    if not items:
        notes.append("intent skipped: neither bitext/bitext_dev.csv nor twcs/*.csv under --data")
        return
    items = items[:limit]
    results, ms = _timed(classify, (t for t, _, _ in items))
    expected = [e for _, e, _ in items]
    ours = [r.intent for r in results]
    half_b = set(seeded_half_b(len(items)))
    eb = [e for i, e in enumerate(expected) if i in half_b]
    ob = [p for i, p in enumerate(ours) if i in half_b]
    always = macro_recall(expected, ["complaint"] * len(items))
    rows.append(("intent", f"macro-recall, {len(items)} labelled", _f(always), _f(macro_recall(expected, ours)), "",
                 ms))
    rows.append(("intent", f"macro-recall, half B ({len(eb)}, untuned)", _f(macro_recall(eb, ["complaint"] * len(eb))),
                 _f(macro_recall(eb, ob)), "", ""))
    sources = Counter((e, s) for _, e, s in items)
    details.append("intent per class (precision / recall / support; sources: "
                   + ", ".join(f"{e} from {s}: {n}" for (e, s), n in sorted(sources.items())) + ")")
    for name, exp, got in (("all", expected, ours), ("half B", eb, ob)):
        for label in sorted(set(exp)):
            predicted_as = sum(p == label for p in got)
            hits = sum(p == label == e for p, e in zip(got, exp, strict=True))
            support = sum(e == label for e in exp)
            confused = Counter(p for p, e in zip(got, exp, strict=True) if e == label and p != label).most_common(2)
            details.append(f"  {name:<6} {label:<10} precision {_f(hits / predicted_as if predicted_as else 0.0)}  "
                           f"recall {_f(hits / support)}  support {support}  most often instead: {confused}")


def _language(args, classify, rows, notes, details, limit) -> None:
    path = args.language_set
    if not path or not Path(path).exists():
        notes.append(f"language skipped: no {path}")
        return
    pairs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, text = line.split("\t", 1)
            pairs.append((text, lang))
    results, ms = _timed(classify, (t for t, _ in pairs))
    expected = [e for _, e in pairs]
    ours = [r.language for r in results]
    rows.append(("language", f"accuracy, {len(pairs)} own sentences", _f(_accuracy(expected, ["en"] * len(pairs))),
                 _f(_accuracy(expected, ours)), "", ms))
    misses = [(e, p, t) for (t, e), p in zip(pairs, ours, strict=True) if e != p]
    if misses:
        details.append("language misses (expected, got, text): " + "; ".join(f"{e}→{p} {t!r}" for e, p, t in misses))


def _offensive(args, classify, rows, notes, details, limit) -> None:
    pairs = tweeteval_split(args.data / "tweeteval", "offensive", "val")
    if pairs is None:
        notes.append(f"offensive skipped: no {args.data / 'tweeteval/offensive/val_text.txt'}")
        return
    pairs = [(decode_dataset_escapes(t), lab) for t, lab in pairs][:limit]
    results, ms = _timed(classify, (t for t, _ in pairs))
    truth = [lab == "1" for _, lab in pairs]
    ours = [r.abusive for r in results]
    baseline = [_lexicon_abusive(t) for t, _ in pairs]
    rows.append(("offensive", "F1 (offensive), TweetEval val", _f(f1(truth, baseline)), _f(f1(truth, ours)), "", ms))
    rows.append(("offensive", "precision", _f(precision(truth, baseline)), _f(precision(truth, ours)), "", ""))


# --- data and metrics -------------------------------------------------------------------------------------------


def tweeteval_split(root: Path, task: str, split: str) -> list[tuple[str, str]] | None:
    """(text, label) pairs of a TweetEval task split, or None when its files are absent."""
    texts, labels = root / task / f"{split}_text.txt", root / task / f"{split}_labels.txt"
    if not texts.exists() or not labels.exists():
        return None
    with texts.open(encoding="utf-8") as t, labels.open(encoding="utf-8") as lab:
        return [(text.rstrip("\n"), label.strip()) for text, label in zip(t, lab, strict=True)]


def seeded_half_b(n: int, seed: int = SEED) -> list[int]:
    """The indices of the report half (B) of an n-item split, as `bench.train_models.halves` cuts it."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order[n // 2:]


def intent_set(data: Path) -> list[tuple[str, str, str]]:
    """(text, intent, source) labelled by the procedure in the module docstring (nothing is stored)."""
    items: list[tuple[str, str, str]] = []
    bitext = data / "bitext" / "bitext_dev.csv"
    if bitext.exists():
        with bitext.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                intent = row.get("intent", "")
                if intent == "complaint":
                    items.append((row["instruction"], "complaint", "bitext"))
                elif intent == "review":
                    items.append((row["instruction"], "feedback", "bitext"))
                elif "I" in row.get("tags", ""):  # requests without the tag are often problem reports
                    items.append((row["instruction"], "question", "bitext"))
    for path in sorted((data / "twcs").glob("*.csv")) if (data / "twcs").is_dir() else ():
        items.extend(_twcs_items(path))
    return items


def _twcs_items(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        tweets = list(csv.DictReader(handle))
    by_id = {row["tweet_id"]: row for row in tweets}
    items = []
    for row in tweets:
        if row.get("inbound") != "True":
            continue  # only customers' tweets (openers and follow-ups) that the brand answered
        replies = [by_id.get(r.strip()) for r in (row.get("response_tweet_id") or "").split(",") if r.strip()]
        brand = next((r for r in replies if r and r.get("inbound") == "False"), None)
        if brand is None:
            continue
        reply = brand["text"].lower()
        label = ("complaint" if any(word in reply for word in _APOLOGY)
                 else "praise" if any(phrase in reply for phrase in _PRAISE_REPLY) else None)
        if label is not None and _customer_agrees(row["text"], label):
            items.append((row["text"], label, "twcs"))
    return items


def _customer_agrees(text: str, label: str) -> bool:
    """The second pass: the customer's own words must not contradict the label the brand's reply gave.

    Written for labelling, apart from the classifier's lexicons: a complaint that only thanks or praises (the
    brand apologised for something else) and praise that asks a question or names a problem are dropped."""
    words = set(_WORDS_RE.findall(text.lower()))
    kind = bool(words & _KIND_WORDS)
    trouble = bool(words & _TROUBLE_WORDS) or "n't" in text.lower() or "not" in words
    if label == "complaint":
        return trouble or not kind
    return kind and not trouble and "?" not in text


def _vader_label(text: str) -> str:
    from responder.classification.sentiment_model import vader_scores

    scores = vader_scores(text)
    compound = scores["vader"] if scores else 0.0
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def _lexicon_abusive(text: str) -> bool:
    from responder.classification.classify import _MASKED_ABUSE_RE, _lexicons
    from responder.classification.language import SUPPORTED
    from responder.classification.lexicon import words

    lex, tokens = _lexicons(), words(text)
    return any(lex.abusive[lg].find(tokens) for lg in SUPPORTED) or bool(_MASKED_ABUSE_RE.search(text))


def macro_recall(expected: list[str], predicted: list[str]) -> float:
    """Mean of per-class recall over the expected classes."""
    totals = Counter(expected)
    hits = Counter(e for e, p in zip(expected, predicted, strict=True) if e == p)
    return statistics.mean(hits[label] / totals[label] for label in totals) if totals else 0.0


# Resamples behind a macro-recall's interval: its ends move by about 0.003 from one seed to another on TweetEval
# validation's 2,000 tweets; 0.7 s there, 4 s for as many as the test split's 12,284.
INTERVAL_RESAMPLES = 2000


def macro_recall_interval(expected: list[str], predicted: list[str], resamples: int = INTERVAL_RESAMPLES,
                          seed: int = SEED) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of `macro_recall`: the texts drawn with replacement `resamples` times
    (seeded, so a run repeats), the 2.5th and 97.5th percentiles of the scores. How far the figure could move on
    another sample of the same kind of text: a gap to a goal narrower than the interval is not yet a measured gap."""
    if not expected:
        return 0.0, 0.0
    labels = sorted(set(expected))
    code = {label: k for k, label in enumerate(labels)}
    # Each text as one number: its class, and whether it was recalled (class × 2 + hit)
    items = [code[e] * 2 + (e == p) for e, p in zip(expected, predicted, strict=True)]
    rng, n = random.Random(seed), len(items)
    scores = []
    for _ in range(resamples):
        counts = Counter(rng.choices(items, k=n))
        recalls = [counts[k * 2 + 1] / (counts[k * 2] + counts[k * 2 + 1]) for k in range(len(labels))
                   if counts[k * 2] + counts[k * 2 + 1]]
        scores.append(statistics.fmean(recalls))
    scores.sort()
    return scores[int(0.025 * (resamples - 1))], scores[math.ceil(0.975 * (resamples - 1))]


def precision(truth: list[bool], predicted: list[bool]) -> float:
    """Precision of the positive class (0 when nothing is flagged)."""
    flagged = sum(predicted)
    return sum(t and p for t, p in zip(truth, predicted, strict=True)) / flagged if flagged else 0.0


def f1(truth: list[bool], predicted: list[bool]) -> float:
    """F1 of the positive class."""
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    wrong = sum(t != p for t, p in zip(truth, predicted, strict=True))
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def _accuracy(expected: list[str], predicted: list[str]) -> float:
    return sum(e == p for e, p in zip(expected, predicted, strict=True)) / len(expected) if expected else 0.0


def _f(value: float) -> str:
    return f"{value:.3f}"


def _table(out: IO[str], header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        out.write("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m responder_cli.eval_cmd`: the sub-command on its own."""
    parser = argparse.ArgumentParser(prog="responder eval", description=__doc__.split("\n")[0])
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
