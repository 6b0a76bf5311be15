#!/usr/bin/env python
"""Does fine-tuning the encoder on a user's own labels help `train complaint`? Measured on the
airline reasons (docs/model-card.md, "Known failure cases"): one stratified 80/20 split, fp32
vectors of a transformers checkpoint, the head fitted as `train complaint` fits it (with and
without character n-grams), before and after fine-tuning the checkpoint on the 80%.

    pip install -e '.[train]'
    python scripts/train_model.py --keep-finetuned .cache/ft3     # the checkpoint to start from
    python scripts/probe_byo_finetune.py --checkpoint .cache/ft3 --epochs 3

Prints macro F1 on the 20% for each; about 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import DEFAULT_DATA, macro_f1, read_airline_reasons

from analysis.classifier.finetune import FinetuneConfig, Task, finetune
from analysis.classifier.text import normalise
from analysis.classifier.torch_encoder import TorchMiniLMEncoder
from analysis.classifier.training import fit_logreg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="transformers checkpoint (e.g. one saved by train_model.py "
                        "--keep-finetuned)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    from sklearn.model_selection import train_test_split

    texts, labels = read_airline_reasons(args.data)
    names = sorted(set(labels))
    train, test = train_test_split(
        np.arange(len(texts)), test_size=0.2, stratify=labels, random_state=0
    )
    normalised = [normalise(t) for t in texts]
    gold = np.array([names.index(label) for label in labels])

    def score(checkpoint: Path, tag: str) -> None:
        x = TorchMiniLMEncoder(checkpoint, threads=2).encode(normalised)
        for with_ngrams in (False, True):
            head, info = fit_logreg(
                x[train], [labels[i] for i in train], names, scoring="f1_macro", folds=3,
                texts_for_ngrams=[normalised[i] for i in train] if with_ngrams else None,
            )
            probs = head.predict_proba(x[test], [normalised[i] for i in test] if with_ngrams
                                       else None)
            print(f"{tag:24s} n-grams {'yes' if with_ngrams else 'no ':3s} macro F1 "
                  f"{macro_f1(probs.argmax(1), gold[test]):.3f} (C={info['C']})", flush=True)

    score(args.checkpoint, "checkpoint as given")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        task = Task("reason", [texts[i] for i in train], [labels[i] for i in train], tuple(names))
        finetune([task], Path(tmp), FinetuneConfig(epochs=args.epochs, start_from=args.checkpoint,
                                                   desc="fine-tuning on the 80%"))
        print(f"fine-tuned in {time.monotonic() - started:.0f} s", flush=True)
        score(Path(tmp), f"fine-tuned {args.epochs:g} epochs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
