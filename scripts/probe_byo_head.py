#!/usr/bin/env python
"""Which change to the bring-your-own head would lift the airline reasons? Over the
evaluation's 5 folds of the airline negatives (docs/model-card.md, "Known failure cases"), with
C fixed, prints macro F1 and each label's F1 for: the head as `train complaint` fits it
(vector x 1.5 + character n-grams, class-balanced logistic regression), the same with per-label
logit offsets tuned for macro F1 on each training fold's own out-of-fold scores, the n-grams
alone, and the vector weighted 3 instead of 1.5.

    python scripts/probe_byo_head.py --c 3        # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from evaluate_classifier import (
    DEFAULT_DATA,
    FOLDS,
    evaluation_folds,
    indices,
    read_airline_reasons,
)

from analysis.classifier import Classifier
from analysis.classifier.ngrams import NgramVocabulary, count_all
from analysis.classifier.training import (
    NGRAM_MAX_FEATURES,
    NGRAM_MIN_DF,
    VECTOR_WEIGHT,
    embed,
    head_features,
    ngram_texts,
)

VARIANTS = {"as shipped": VECTOR_WEIGHT, "n-grams alone": 0.0, "vector x 3": 3.0}


def tune_offsets(scores: np.ndarray, gold: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-label additive logit offsets maximising macro F1, by coordinate ascent on a grid."""
    from sklearn.metrics import f1_score

    offsets = np.zeros(scores.shape[1])
    best = f1_score(gold, scores.argmax(1), average="macro")
    for _ in range(rounds):
        for label in range(scores.shape[1]):
            for value in np.linspace(-2.0, 2.0, 41):
                trial = offsets.copy()
                trial[label] = value
                score = f1_score(gold, (scores + trial).argmax(1), average="macro")
                if score > best + 1e-9:
                    best, offsets = score, trial
    return offsets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c", type=float, default=3.0, help="inverse regularisation, fixed")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts, labels = read_airline_reasons(args.data)
    names = sorted(set(labels))
    y = indices(labels, names)
    x = embed(Classifier.load(None).encoder, texts, desc="airline negatives")
    grams = ngram_texts(texts)

    def model() -> Any:
        return LogisticRegression(class_weight="balanced", max_iter=3000, C=args.c)

    scores: dict[str, np.ndarray] = {}
    for fold, (train, test) in evaluation_folds(y).items():
        print(f"fold {fold}/{FOLDS}", flush=True)
        vocabulary = NgramVocabulary.fit(count_all([grams[i] for i in train]),
                                         min_df=NGRAM_MIN_DF, max_features=NGRAM_MAX_FEATURES)

        def features(rows: np.ndarray, weight: float, vocabulary: Any = vocabulary) -> Any:
            texts = [grams[i] for i in rows]
            if weight == 0.0:  # the n-grams alone
                return vocabulary.transform(texts).to_scipy()
            return head_features(x[rows], vocabulary, texts, weight)

        for name, weight in VARIANTS.items():
            fitted = model().fit(features(train, weight), y[train])
            test_scores = fitted.decision_function(features(test, weight))
            scores.setdefault(name, np.zeros((len(y), len(names))))[test] = test_scores
            if name == "as shipped":
                inner = cross_val_predict(model(), features(train, weight), y[train],
                                          cv=StratifiedKFold(3, shuffle=True, random_state=0),
                                          method="decision_function")
                offsets = tune_offsets(inner, y[train])
                scores.setdefault("as shipped + tuned offsets",
                                  np.zeros((len(y), len(names))))[test] = test_scores + offsets
    for name, s in scores.items():
        predicted = s.argmax(1)
        per_label = f1_score(y, predicted, average=None)
        print(f"{name}: macro F1 {f1_score(y, predicted, average='macro'):.3f}; " + ", ".join(
            f"{label} {f:.2f}" for label, f in zip(names, per_label, strict=True)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
