"""Experiment, not shipped: does a sentiment head on [encoder vector, TF-IDF n-grams] beat the
shipped head on the encoder vector alone? Prints macro recall on the TweetEval validation split
(never trained on) for the encoder alone, TF-IDF alone and both, each a class-balanced logistic
regression trained on the same SemEval data as the shipped head (`sentiment_splits`).

    python scripts/experiment_hybrid_sentiment.py              # ~10 min on 2 idle cores
    python scripts/experiment_hybrid_sentiment.py --analyzer word

Encoder vectors come from the evaluation cache (.cache/embeddings, filled by
scripts/evaluate_classifier.py or scripts/train_model.py); missing ones are encoded first.
Serving the hybrid would need a TF-IDF featuriser without scikit-learn at run time; see the
model card ("Next steps") for what it measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # evaluate_classifier's metrics

from evaluate_classifier import DEFAULT_CACHE, DEFAULT_DATA, indices, macro_recall

from analysis.classifier import Classifier
from analysis.classifier.model import SENTIMENT_LABELS
from analysis.classifier.text import normalise
from analysis.classifier.training import embed
from analysis.classifier.training_data import sentiment_splits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--analyzer", choices=["char", "word"], default="char",
                        help="TF-IDF on character 2-5-grams within words, or word 1-2-grams")
    parser.add_argument("--vector-weight", type=float, default=1.5,
                        help="scale of the (unit-length) encoder vector beside the TF-IDF row")
    parser.add_argument("-C", type=float, default=1.0, help="inverse regularisation strength")
    args = parser.parse_args(argv)

    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    clf = Classifier.load()
    train, val = sentiment_splits(args.data)
    y_train = indices(train.labels, SENTIMENT_LABELS)
    y_val = indices(val.labels, SENTIMENT_LABELS)
    x_train = embed(clf.encoder, train.texts, desc="SemEval train", cache_dir=DEFAULT_CACHE)
    x_val = embed(clf.encoder, val.texts, desc="TweetEval val", cache_dir=DEFAULT_CACHE)
    if args.analyzer == "char":
        tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3,
                                sublinear_tf=True, max_features=200_000)
    else:
        tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    t_train = tfidf.fit_transform([normalise(t) for t in train.texts])
    t_val = tfidf.transform([normalise(t) for t in val.texts])
    w = args.vector_weight
    systems = {
        "encoder vector alone (as shipped)": (x_train, x_val),
        f"TF-IDF {args.analyzer} n-grams alone": (t_train, t_val),
        "both": (sparse.hstack([sparse.csr_matrix(x_train * w), t_train]).tocsr(),
                 sparse.hstack([sparse.csr_matrix(x_val * w), t_val]).tocsr()),
    }
    print(f"{len(y_train):,} training tweets, {len(y_val):,} validation tweets", flush=True)
    for name, (fit_x, val_x) in systems.items():
        start = time.perf_counter()
        model = LogisticRegression(C=args.C, max_iter=2000, class_weight="balanced")
        model.fit(fit_x, y_train)
        score = macro_recall(np.asarray(model.predict(val_x)), y_val)
        print(f"{name:40s} macro recall {score:.3f}  ({time.perf_counter() - start:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
