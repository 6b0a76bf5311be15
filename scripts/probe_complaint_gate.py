#!/usr/bin/env python
"""Two cheap levers on the complaint decision, with the heads' features and the evaluation's
folds (docs/model-card.md, "Known failure cases"): weighting the seed rows in the is-complaint
head's training (x1, x2, x4), and mixing the type head's complaint mass g into the decision,
p' = w p + (1 - w) g (w = 1, 0.75, 0.5). For each pair prints the complaint type as shipped
(seed 5-fold), is-complaint on the seed posts (seed 5-fold) and is-complaint on the complaints
data (complaints 5-fold, heads on the other folds + the whole seed set), all macro F1.
C fixed (is-complaint 3, type 30: the values the heads' CV picks); no temperature (the 0.5
threshold does not depend on it).

    python scripts/probe_complaint_gate.py        # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import (
    COMPLAINT_LABELS,
    DEFAULT_DATA,
    DEFAULT_SEED,
    evaluation_folds,
    indices,
)

from analysis.classifier import Classifier
from analysis.classifier.model import combine_complaint, mix_complaint, pick_type
from analysis.classifier.ngrams import NgramVocabulary, count_all
from analysis.classifier.training import (
    NGRAM_MAX_FEATURES,
    NGRAM_MIN_DF,
    embed,
    head_features,
    ngram_texts,
)
from analysis.classifier.training_data import read_complaints, read_seed, seed_as_complaints

SEED_WEIGHTS = (1.0, 2.0, 4.0)
MIX = (1.0, 0.75, 0.5)
Predict = Callable[[np.ndarray, list[str]], np.ndarray]


def fit(x: np.ndarray, grams: list[str], y: np.ndarray, c: float,
        weights: np.ndarray | None = None) -> Predict:
    """Class-balanced logistic regression on vector x 1.5 + character n-grams, as the heads."""
    from sklearn.linear_model import LogisticRegression

    vocabulary = NgramVocabulary.fit(count_all(grams), min_df=NGRAM_MIN_DF,
                                     max_features=NGRAM_MAX_FEATURES)
    model = LogisticRegression(class_weight="balanced", max_iter=3000, C=c)
    model.fit(head_features(x, vocabulary, grams), y, sample_weight=weights)
    return lambda x_, grams_: np.asarray(
        model.predict_proba(head_features(x_, vocabulary, grams_)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--seed-weights", type=float, nargs="+", default=SEED_WEIGHTS,
                        help="weights of a seed row beside a complaints-data row's 1 (default: "
                        "1 2 4)")
    parser.add_argument("--mix", type=float, nargs="+", default=MIX,
                        help="weights w of the is-complaint head's probability (default: 1 0.75 0.5)")
    args = parser.parse_args(argv)
    from sklearn.metrics import f1_score

    clf = Classifier.load(None)
    names, mask = clf.complaint_types, clf._mask
    seed = read_seed(args.seed_csv)
    complaints, _ = read_complaints(args.data)
    seed_binary = seed_as_complaints(seed, {n for n, m in zip(names, mask, strict=True) if not m})
    x_seed = embed(clf.encoder, seed.texts, desc="seed")
    x_comp = embed(clf.encoder, complaints.texts, desc="complaints")
    g_seed, g_comp = ngram_texts(seed.texts), ngram_texts(complaints.texts)
    y_type = indices(seed.labels, names)
    y_seed = indices(seed_binary.labels, COMPLAINT_LABELS)
    y_comp = indices(complaints.labels, COMPLAINT_LABELS)

    def pick(items: list[str], rows: np.ndarray) -> list[str]:
        return [items[i] for i in rows]

    shipped: dict[tuple[float, float], np.ndarray] = {}
    on_seed: dict[tuple[float, float], np.ndarray] = {}
    for train, test in evaluation_folds(y_type).values():
        raw = fit(x_seed[train], pick(g_seed, train), y_type[train], 30.0)(
            x_seed[test], pick(g_seed, test))
        for weight in args.seed_weights:
            binary = fit(np.vstack([x_comp, x_seed[train]]), g_comp + pick(g_seed, train),
                         np.concatenate([y_comp, y_seed[train]]), 3.0,
                         np.concatenate([np.ones(len(y_comp)), np.full(len(train), weight)]))
            p = binary(x_seed[test], pick(g_seed, test))[:, 1]
            for w in args.mix:
                mixed = mix_complaint(p, raw, mask, w)
                types = [pick_type(bool(q >= 0.5), combine_complaint(float(q), r.astype(np.float32),
                                                                      mask), mask)
                         for q, r in zip(mixed, raw, strict=True)]
                shipped.setdefault((weight, w), np.zeros(len(y_type), int))[test] = types
                on_seed.setdefault((weight, w), np.zeros(len(y_type), int))[test] = mixed >= 0.5
    print("seed folds done", flush=True)
    types_comp = fit(x_seed, g_seed, y_type, 30.0)(x_comp, g_comp)
    on_comp: dict[tuple[float, float], np.ndarray] = {}
    for train, test in evaluation_folds(y_comp).values():
        for weight in args.seed_weights:
            binary = fit(np.vstack([x_comp[train], x_seed]), pick(g_comp, train) + g_seed,
                         np.concatenate([y_comp[train], y_seed]), 3.0,
                         np.concatenate([np.ones(len(train)), np.full(len(y_seed), weight)]))
            p = binary(x_comp[test], pick(g_comp, test))[:, 1]
            for w in args.mix:
                on_comp.setdefault((weight, w), np.zeros(len(y_comp), int))[test] = (
                    mix_complaint(p, types_comp[test], mask, w) >= 0.5)
    print("seed weight, w: complaint type as shipped / is-complaint on seed posts / "
          "is-complaint on the complaints data (macro F1)")
    for key, chosen in shipped.items():
        print(f"x{key[0]:g}, w={key[1]:g}: {f1_score(y_type, chosen, average='macro'):.3f}"
              f" / {f1_score(y_seed, on_seed[key], average='macro'):.3f}"
              f" / {f1_score(y_comp, on_comp[key], average='macro'):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
