#!/usr/bin/env python
"""How much of the airline reasons' error is the labels' own? Twitter US Airline Sentiment gives
each `negativereason` a `negativereason_confidence`: the crowd workers' agreement on it (1.0: all
agreed). Over the evaluation's 5 folds of the airline negatives, with C fixed, prints the
bring-your-own head's macro F1 on all tweets and on each agreement band, for the head as
`train complaint` fits it (every training tweet) and fitted on the tweets with agreement >= 0.7
only (scored on all). A head that scores far better where the workers agreed is held back by the
labels, not only by the model (docs/model-card.md, "Known failure cases").

    python scripts/probe_airline_agreement.py --c 3     # about 5 minutes on 2 cores
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
    DEFAULT_DATA,
    FOLDS,
    evaluation_folds,
    indices,
    read_airline_negatives,
)

from analysis.classifier import Classifier
from analysis.classifier.ngrams import NgramVocabulary, count_all
from analysis.classifier.training import (
    NGRAM_MAX_FEATURES,
    NGRAM_MIN_DF,
    embed,
    head_features,
    ngram_texts,
)

CONFIDENT = 0.7
BANDS = {"agreement 1.0": (1.0, 1.01), "0.7-1.0": (0.7, 1.0), "below 0.7": (0.0, 0.7)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--c", type=float, default=3.0, help="inverse regularisation, fixed")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    frame = read_airline_negatives(args.data)
    texts, labels = frame["text"].tolist(), frame["negativereason"].tolist()
    agreement = frame["negativereason_confidence"].astype(float).to_numpy()
    names = sorted(set(labels))
    y = indices(labels, names)
    x = embed(Classifier.load(None).encoder, texts, desc="airline negatives")
    grams = ngram_texts(texts)

    predicted = {"every training tweet": np.zeros(len(y), int),
                 f"training tweets with agreement >= {CONFIDENT}": np.zeros(len(y), int)}
    for fold, (train, test) in evaluation_folds(y).items():
        print(f"fold {fold}/{FOLDS}", flush=True)
        for name, rows in zip(predicted, (train, train[agreement[train] >= CONFIDENT]),
                              strict=True):
            vocabulary = NgramVocabulary.fit(count_all([grams[i] for i in rows]),
                                             min_df=NGRAM_MIN_DF, max_features=NGRAM_MAX_FEATURES)
            model = LogisticRegression(class_weight="balanced", max_iter=3000, C=args.c)
            model.fit(head_features(x[rows], vocabulary, [grams[i] for i in rows]), y[rows])
            predicted[name][test] = model.predict(
                head_features(x[test], vocabulary, [grams[i] for i in test]))
    print(f"{len(y)} tweets; " + ", ".join(
        f"{band} {np.mean((agreement >= lo) & (agreement < hi)):.0%}"
        for band, (lo, hi) in BANDS.items()))
    for name, chosen in predicted.items():
        parts = [f"all {f1_score(y, chosen, average='macro'):.3f}"]
        for band, (lo, hi) in BANDS.items():
            rows = (agreement >= lo) & (agreement < hi)
            parts.append(f"{band} {f1_score(y[rows], chosen[rows], average='macro'):.3f}")
        print(f"head fitted on {name}: macro F1 " + ", ".join(parts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
