"""Refit the sentiment encoder's head on more of what its layers compute, the fine-tuned layers left as they are.

The fine-tuned head reads the last layer's first token alone. This one also reads the mean over the tokens of each
earlier layer's output and of the embeddings (`about.pooling` "cls+means": 384 × 3 values for 2 layers), which the
forward pass computes anyway, so a mention costs the same. It is a logistic regression with classes balanced (the
measure is macro-recall), fitted with scikit-learn on the pool's fit part (the same seed-7 split the encoder was
fine-tuned on; the tenth stays out for `bench.blend_probe`), over standardised inputs whose mean and scale are then
folded into the weights, so Classify runs one matrix product. Deterministic: the same file and pool give the same
head. Run between the export and the blend's weight (`bench/export_encoder.py`, step 4 of 5), in the probe
environment (numpy and scikit-learn), the project on the path; about 7 minutes on two cores:

    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.refit_head \\
        --encoder-file layers/encoder/sentiment_encoder.npz --semeval ../shared/data/semeval

`--c` is the regression's inverse regularisation (0.003 is the best of 0.001, 0.003, 0.01 and 0.03 on the tenth,
blended as Classify blends). It prints the encoder's macro-recall alone on the tenth before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench.encoder_probe import missing_environment
from bench.finetune_probe import LABELS, POOL_SEED

OUT = Path(__file__).resolve().parent.parent / "layers/encoder/sentiment_encoder.npz"
_worker = None  # each process's encoder


def _start(path: str) -> None:
    global _worker
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from responder.classification.encoder import EncoderSentiment

    _worker = EncoderSentiment.load(Path(path))


def _pooled(texts: list[str]):
    import numpy as np

    return np.stack([_worker.pooled(_worker.tokenizer.encode(text), True) for text in texts])


def pooled_features(path: Path, texts: list[str], processes: int):
    """Each text's "cls+means" inputs, in order, computed in `processes` processes."""
    import numpy as np

    chunks = [texts[start:start + 500] for start in range(0, len(texts), 500)]
    if processes <= 1:
        _start(str(path))
        return np.concatenate([_pooled(chunk) for chunk in chunks])
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(processes, initializer=_start, initargs=(str(path),)) as pool:
        return np.concatenate(pool.map(_pooled, chunks))


def folded(coef, intercept, mean, scale):
    """(weights as inputs × classes, bias), float32, that give on raw inputs what a regression (`coef`, `intercept`)
    gives on inputs standardised by `mean` and `scale`: ((x − mean) / scale) · Wᵀ + b = x · (W / scale)ᵀ +
    (b − (mean / scale) · Wᵀ)."""
    import numpy as np

    return (coef / scale).T.astype(np.float32), (intercept - (mean / scale) @ coef.T).astype(np.float32)


def macro_recall(truth, predicted) -> float:
    import numpy as np

    return float(np.mean([np.mean(predicted[truth == k] == k) for k in range(len(LABELS))]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder-file", type=Path, default=OUT, help="an export of bench/export_encoder.py")
    parser.add_argument("--semeval", type=Path, required=True, help="the pool the encoder was fine-tuned on")
    parser.add_argument("--c", type=float, default=0.003, help="inverse regularisation strength")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, help="where to write (default: over --encoder-file)")
    args = parser.parse_args(argv)
    try:
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        import bench.train_models as tm
    except ImportError as error:
        return missing_environment(error)

    with np.load(args.encoder_file, allow_pickle=False) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    about = json.loads(arrays["about"].tobytes().decode("utf-8"))
    if about["labels"] != list(LABELS):
        raise SystemExit(f"the file's labels {about['labels']} are not {list(LABELS)}")
    fit, tenth = tm.split_pool(tm.read_semeval(args.semeval), seed=POOL_SEED)
    features = pooled_features(args.encoder_file, [text for text, _ in fit + tenth], args.processes)
    truth = np.array([LABELS.index(label) for _, label in fit + tenth])
    fit_x, fit_y, tenth_x, tenth_y = features[:len(fit)], truth[:len(fit)], features[len(fit):], truth[len(fit):]

    scaler = StandardScaler().fit(fit_x)
    regression = LogisticRegression(C=args.c, class_weight="balanced", max_iter=5000)
    regression.fit(scaler.transform(fit_x), fit_y)
    weights, bias = folded(regression.coef_, regression.intercept_, scaler.mean_, scaler.scale_)

    width = arrays["norm_w"].shape[0]
    before = tenth_x[:, :width] @ arrays["head_w"] + arrays["head_b"] if about.get("pooling", "cls") == "cls" \
        else tenth_x @ arrays["head_w"] + arrays["head_b"]
    after = tenth_x @ weights + bias
    print(f"encoder alone on the pool's tenth ({len(tenth):,} tweets, macro-recall): "
          f"{macro_recall(tenth_y, before.argmax(1)):.4f} with the file's head ({about.get('pooling', 'cls')}), "
          f"{macro_recall(tenth_y, after.argmax(1)):.4f} refitted (cls+means, C {args.c})", flush=True)

    arrays["head_w"], arrays["head_b"] = weights, bias
    about.update(pooling="cls+means", head={"fit": "logistic regression, classes balanced", "c": args.c,
                                            "fit_tweets": len(fit)})
    arrays["about"] = np.frombuffer(json.dumps(about, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    out = args.out or args.encoder_file
    with out.open("wb") as handle:
        np.savez(handle, **{name: np.ascontiguousarray(value) for name, value in arrays.items()})
    print(f"{out}: head {weights.shape[0]} × {weights.shape[1]}, about.pooling cls+means")
    return 0


if __name__ == "__main__":
    sys.exit(main())
