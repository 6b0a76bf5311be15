#!/usr/bin/env python
"""Would fine-tuning the encoder on the complaints data lift is-complaint to its mark? Measured
with the evaluation's protocol (docs/model-card.md, "Evaluation"): the same stratified 5-fold
split of the complaints data, each fold's head fitted on the other four folds plus the whole
seed set (vector + character n-grams, as the shipped head), but on fp32 vectors of a
transformers checkpoint: first as given, then fine-tuned *inside each fold* on that fold's
training rows only (complaints + seed), so no test tweet is ever trained on.

    pip install -e '.[train]'
    python scripts/probe_complaint_finetune.py --epochs 3            # from the stock MiniLM
    python scripts/probe_complaint_finetune.py --checkpoint DIR      # e.g. train_model.py --keep-finetuned DIR

Prints each fold's macro F1 and the pooled out-of-fold macro F1 for both; about 20 minutes on
2 cores with the 6-layer stock model.
"""

from __future__ import annotations

import argparse
import json
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
    fold_list,
    print_fold,
    print_pooled,
)

from analysis.classifier.finetune import FinetuneConfig, Task, finetuned_encoder, sentiment_sample
from analysis.classifier.text import normalise
from analysis.classifier.torch_encoder import TorchMiniLMEncoder
from analysis.classifier.training import fit_logreg
from analysis.classifier.training_data import (
    read_complaints,
    read_seed,
    seed_as_complaints,
)

LABELS = ("not_complaint", "complaint")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="transformers checkpoint to start from (default: the stock MiniLM)")
    parser.add_argument("--layers", type=int, default=None,
                        help="keep the first N layers (as the served 3-layer encoder)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--without-seed", action="store_true",
                        help="fine-tune on the complaints data alone (the heads still read the "
                        "seed set), so the seed set's own cross-validation would stay honest")
    parser.add_argument("--mix-sentiment", type=int, default=0, metavar="N",
                        help="also fine-tune on N sentiment training tweets (a second task, "
                        "as a complaint stage after the sentiment stages would, to keep "
                        "sentiment); they are never complaints test tweets")
    parser.add_argument("--folds", type=int, default=FOLDS, help="run only the first N folds")
    parser.add_argument("--only", type=fold_list, default=None,
                        metavar="2,3,...", help="run only these folds, in this order")
    parser.add_argument("--save", type=Path, default=None, metavar="DIR",
                        help="keep each fold's predictions in DIR/fold-N.npz and skip folds "
                        "already there, so a long run (hours on 2 cores) resumes where it "
                        "stopped and pools the folds of earlier runs")
    parser.add_argument("--keep-encoders", action="store_true",
                        help="with --save: also keep each fold's fine-tuned checkpoint in "
                        "DIR/fold-N/ (a teacher for a distillation probe; 440 MB a fold for mpnet)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.keep_encoders and not args.save:
        parser.error("--keep-encoders keeps the checkpoints under --save DIR")
    complaints, _ = read_complaints(args.data)
    seed = seed_as_complaints(read_seed(args.seed_csv))
    texts = [normalise(t) for t in complaints.texts]
    seed_texts = [normalise(t) for t in seed.texts]
    gold = np.array([LABELS.index(label) for label in complaints.labels])
    tasks = []
    if args.mix_sentiment:
        tasks.append(sentiment_sample(args.data, args.mix_sentiment))

    def vectors(encoder: TorchMiniLMEncoder) -> tuple[np.ndarray, np.ndarray]:
        return encoder.encode(texts), encoder.encode(seed_texts)

    def predict(x: np.ndarray, x_seed: np.ndarray, train: np.ndarray, test: np.ndarray
                ) -> np.ndarray:
        head, _ = fit_logreg(
            np.vstack([x[train], x_seed]),
            [complaints.labels[i] for i in train] + list(seed.labels), LABELS,
            scoring="f1_macro", texts_for_ngrams=[texts[i] for i in train] + seed_texts,
        )
        return head.predict_proba(x[test], [texts[i] for i in test]).argmax(1)

    predicted = {"as given": np.full(len(gold), -1), "fine-tuned": np.full(len(gold), -1)}
    splits = evaluation_folds(gold)
    order = args.only or list(range(1, args.folds + 1))
    if args.save:
        check_settings(args.save, {
            "checkpoint": args.checkpoint.name if args.checkpoint else "stock MiniLM",
            "layers": args.layers, "epochs": args.epochs, "without_seed": args.without_seed,
            "mix_sentiment": args.mix_sentiment, "seed_csv": args.seed_csv.name}, parser)
    saved = {fold: args.save / f"fold-{fold}.npz" for fold in order} if args.save else {}
    for fold, path in saved.items():
        if path.exists():
            with np.load(path) as kept:
                for name, key in (("as given", "given"), ("fine-tuned", "tuned")):
                    predicted[name][splits[fold][1]] = kept[key]
            print_fold(fold, predicted, gold, splits[fold][1], 0.0)
    order = [fold for fold in order if not (fold in saved and saved[fold].exists())]
    # The checkpoint's own vectors, read once for every fold still to run.
    given: tuple[np.ndarray, np.ndarray] = vectors(
        TorchMiniLMEncoder(args.checkpoint, threads=2, layers=args.layers)) \
        if order else (np.empty(0), np.empty(0))
    for fold in order:
        train, test = splits[fold]
        predicted["as given"][test] = predict(*given, train, test)
        started = time.monotonic()
        extra = ([], []) if args.without_seed else (list(seed.texts), list(seed.labels))
        task = Task("complaint", [complaints.texts[i] for i in train] + extra[0],
                    [complaints.labels[i] for i in train] + extra[1], LABELS)
        tuned = finetuned_encoder([task, *tasks], FinetuneConfig(
            epochs=args.epochs, start_from=args.checkpoint, layers=args.layers,
            desc=f"fold {fold}: fine-tuning"),
            keep_in=args.save / f"fold-{fold}" if args.save and args.keep_encoders else None)
        predicted["fine-tuned"][test] = predict(*vectors(tuned), train, test)
        seconds = time.monotonic() - started
        print_fold(fold, predicted, gold, test, seconds)
        if args.save:  # check_settings made the directory
            np.savez(saved[fold], given=predicted["as given"][test],
                     tuned=predicted["fine-tuned"][test])
    print_pooled(predicted, gold, "tweets")
    return 0


def check_settings(save: Path, settings: dict[str, object], parser: argparse.ArgumentParser
                   ) -> None:
    """Folds kept in `save` pool only with folds run the same way: refuse other settings."""
    path = save / "settings.json"
    if path.exists():
        kept = json.loads(path.read_text())
        if kept != settings:
            parser.error(f"{save} holds folds run with {kept}, not {settings}")
    else:
        save.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
