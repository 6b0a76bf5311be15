#!/usr/bin/env python
"""Would fine-tuning the encoder on the complaint-type seed set lift the type head? Measured
with the evaluation's protocol (the same stratified 5-fold split of the seed set; each fold's
type head fitted on the other four folds, vector + character n-grams, as the shipped head), on
fp32 vectors of a transformers checkpoint: first as given, then fine-tuned *inside each fold* on
that fold's training posts only (plus sentiment tweets, to keep what the sentiment head reads),
so no test post is ever trained on.

    pip install -e '.[train]'
    python scripts/train_model.py --keep-finetuned .cache/ft3     # the shipped checkpoint
    python scripts/probe_type_finetune.py --checkpoint .cache/ft3

Prints each fold's macro F1 and the pooled out-of-fold macro F1 for both.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import (
    DEFAULT_DATA,
    DEFAULT_SEED,
    FOLDS,
    evaluation_folds,
    print_fold,
    print_pooled,
    type_head_probs,
)

from analysis.classifier.finetune import FinetuneConfig, Task, finetuned_encoder, sentiment_sample
from analysis.classifier.taxonomy import load_taxonomy
from analysis.classifier.text import normalise
from analysis.classifier.torch_encoder import TorchMiniLMEncoder
from analysis.classifier.training_data import read_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="transformers checkpoint to start from (train_model.py "
                        "--keep-finetuned DIR)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--mix-sentiment", type=int, default=2000, metavar="N",
                        help="sentiment training tweets fine-tuned on beside the seed posts")
    parser.add_argument("--folds", type=int, default=FOLDS, help="run only the first N folds")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    args = parser.parse_args(argv)

    taxonomy = load_taxonomy()
    names = tuple(label.name for label in taxonomy)
    mask = np.array([label.is_complaint for label in taxonomy])
    seed = read_seed(args.seed_csv)
    texts = [normalise(t) for t in seed.texts]
    gold = np.array([names.index(label) for label in seed.labels])
    tasks = []
    if args.mix_sentiment:
        tasks.append(sentiment_sample(args.data, args.mix_sentiment))

    def predict(x: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return type_head_probs(x, seed.labels, names, mask, texts, train, test).argmax(1)

    given = TorchMiniLMEncoder(args.checkpoint, threads=2).encode(texts)
    predicted = {"as given": np.full(len(gold), -1), "fine-tuned": np.full(len(gold), -1)}
    for fold, (train, test) in evaluation_folds(gold).items():
        if fold > args.folds:
            break
        predicted["as given"][test] = predict(given, train, test)
        started = time.monotonic()
        task = Task("complaint_type", [seed.texts[i] for i in train],
                    [seed.labels[i] for i in train], names)
        tuned = finetuned_encoder([task, *tasks], FinetuneConfig(
            epochs=args.epochs, start_from=args.checkpoint, desc=f"fold {fold}: fine-tuning"))
        predicted["fine-tuned"][test] = predict(tuned.encode(texts), train, test)
        seconds = time.monotonic() - started
        print_fold(fold, predicted, gold, test, seconds)
    print_pooled(predicted, gold, "posts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
