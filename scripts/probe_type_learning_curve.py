#!/usr/bin/env python
"""Would more labelled posts lift the complaint-type head? Its learning curve on the seed set:
the evaluation's 5-fold split, each fold's type head (as shipped: the served encoder's vectors +
character n-grams, C by inner CV) fitted on a random fraction of the fold's training posts and
scored on the whole test fold.

    python scripts/probe_type_learning_curve.py [--fractions 0.25 0.5 1] [--repeats 2]

Prints, per fraction, the training posts per fold and the pooled out-of-fold macro F1 of each
repeat (repeats use different fold shuffles and subsamples).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import DEFAULT_CACHE, DEFAULT_SEED, FOLDS, macro_f1, type_head_probs

from analysis.classifier import Classifier
from analysis.classifier.training import embed, ngram_texts_for
from analysis.classifier.training_data import read_seed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    from sklearn.model_selection import StratifiedKFold

    clf = Classifier.load(args.model)
    names = clf.complaint_types
    seed = read_seed(args.seed_csv)
    x = embed(clf.encoder, seed.texts, desc="seed", cache_dir=DEFAULT_CACHE)
    grams = ngram_texts_for(clf.heads["complaint_type"], seed.texts)
    gold = np.array([names.index(label) for label in seed.labels])
    rng = np.random.default_rng(0)
    for fraction in args.fractions:
        scores = []
        for repeat in range(args.repeats):
            predicted = np.zeros(len(gold), dtype=np.int64)
            splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=42 + repeat)
            for train, test in splitter.split(x, gold):
                train = rng.permutation(train)[: int(len(train) * fraction)]
                predicted[test] = type_head_probs(
                    x, seed.labels, names, clf._mask, grams, train, test).argmax(1)
            scores.append(macro_f1(predicted, gold))
        per_fold = int(len(gold) * (FOLDS - 1) / FOLDS * fraction)
        shown = " ".join(f"{s:.3f}" for s in scores)
        print(f"fraction {fraction:.2f}: {per_fold:>5} training posts per fold, macro F1 {shown}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
