#!/usr/bin/env python
"""How much would a bigger encoder give the complaint heads? Any mean-pooled transformers
checkpoint, frozen (fp32, no fine-tuning), under the heads the shipped model fits: is-complaint on
the complaints data (the evaluation's 5 folds, each fold's head on the other four plus the whole
seed set) and the airline reasons as `train complaint` fits them (the evaluation's 5 folds),
both with character n-grams beside the vector.

    pip install -e '.[train]'
    python scripts/probe_frozen_encoder.py                      # the stock all-MiniLM-L6-v2
    python scripts/probe_frozen_encoder.py --checkpoint DIR     # e.g. all-mpnet-base-v2

Prints the pooled out-of-fold macro F1 of each; with --vector-only also the heads on the vector
alone. Vectors are cached in .cache/embeddings under the checkpoint's path. The stock MiniLM
takes about 10 minutes on 2 cores; all-mpnet-base-v2 (12 layers, 768-d) about 40.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import (
    DEFAULT_CACHE,
    DEFAULT_DATA,
    DEFAULT_SEED,
    cross_validate,
    indices,
    join,
    macro_f1,
    pick,
    read_airline_reasons,
)

from analysis.classifier.model import COMPLAINT_LABELS
from analysis.classifier.torch_encoder import TorchMiniLMEncoder, base_model_dir
from analysis.classifier.training import embed, fit_logreg, ngram_texts
from analysis.classifier.training_data import (
    LabelledTexts,
    read_complaints,
    read_seed,
    seed_as_complaints,
)


def is_complaint_f1(x: np.ndarray, x_seed: np.ndarray, complaints: LabelledTexts,
                    seed: LabelledTexts, with_ngrams: bool) -> float:
    """Pooled out-of-fold macro F1 of the is-complaint head, each fold's head fitted on the
    other folds plus the whole seed set."""
    grams = ngram_texts(complaints.texts) if with_ngrams else None
    seed_grams = ngram_texts(seed.texts) if with_ngrams else None
    y = indices(complaints.labels, COMPLAINT_LABELS)

    def fold(train: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
        head, _ = fit_logreg(
            np.vstack([x[train], x_seed]),
            [complaints.labels[i] for i in train] + seed.labels, COMPLAINT_LABELS,
            scoring="f1_macro", texts_for_ngrams=join(pick(grams, train), seed_grams),
        )
        return {"head": head.predict_proba(x[test], pick(grams, test))}

    return macro_f1(cross_validate(y, fold)["head"].argmax(1), y)


def airline_f1(x: np.ndarray, texts: list[str], reasons: list[str], with_ngrams: bool) -> float:
    """Pooled out-of-fold macro F1 of a `train complaint` head on the airline reasons."""
    names = sorted(set(reasons))
    y = indices(reasons, names)
    grams = ngram_texts(texts) if with_ngrams else None

    def fold(train: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
        head, _ = fit_logreg(x[train], [reasons[i] for i in train], names,
                             scoring="f1_macro", texts_for_ngrams=pick(grams, train))
        return {"head": head.predict_proba(x[test], pick(grams, test))}

    return macro_f1(cross_validate(y, fold)["head"].argmax(1), y)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="transformers checkpoint dir (default: the stock all-MiniLM-L6-v2)")
    parser.add_argument("--vector-only", action="store_true",
                        help="also score heads on the vector alone, without n-grams")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)

    checkpoint = (args.checkpoint or base_model_dir()).resolve()
    encoder = TorchMiniLMEncoder(checkpoint, name=f"frozen fp32 {checkpoint}", threads=2)
    complaints, _ = read_complaints(args.data)
    seed = seed_as_complaints(read_seed(args.seed_csv))
    airline, reasons = read_airline_reasons(args.data)
    x = embed(encoder, complaints.texts, desc="complaints", cache_dir=args.cache_dir)
    x_seed = embed(encoder, seed.texts, desc="seed", cache_dir=args.cache_dir)
    x_air = embed(encoder, airline, desc="airline negatives", cache_dir=args.cache_dir)
    print(f"encoder {checkpoint} ({encoder.dim}-d, frozen)")

    for with_ngrams in (True, False) if args.vector_only else (True,):
        features = "vector + n-grams" if with_ngrams else "vector only"
        f1 = is_complaint_f1(x, x_seed, complaints, seed, with_ngrams)
        print(f"is-complaint (complaints 5-fold, train + seed, {features}): macro F1 {f1:.3f}",
              flush=True)
        f1 = airline_f1(x_air, airline, reasons, with_ngrams)
        print(f"airline reasons (5-fold, BYO, {features}): macro F1 {f1:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
