#!/usr/bin/env python
"""Evaluate the committed heads against a TF-IDF + logistic regression baseline.

    python scripts/evaluate_classifier.py [--model DIR] [--data DIR] [--no-throughput]
                                          [--no-baselines] [--only sentiment airline ...]

- sentiment: macro-averaged recall on the TweetEval validation split (never trained on);
  both models train on SemEval 2013-2016 minus the validation texts.
- is-complaint: macro F1, 5-fold stratified CV on the Preotiuc-Pietro et al. complaints data;
  each fold trains on the other folds plus the whole seed set (as the shipped head does).
- complaint type: macro F1, 5-fold stratified CV on the seed set; "type head" is the raw
  12-way head, "as shipped" adds the is-complaint head and the consistency rule. The same folds
  score the is-complaint decision on the seed posts (head trained on complaints + seed folds).
  If the encoder was fine-tuned on the complaint data (train_model.py --with-complaints), only
  the fifth of posts it never saw is scored: the row names say how many.
  Leave one writer out: the raw type head with each writer's batch of the seed set (its `batch`
  column) held out in turn, so the posts scored are in a wording the head never trained on.
- airline (bring your own taxonomy): macro F1, 5-fold stratified CV on the negative tweets of
  Twitter US Airline Sentiment, label `negativereason`, a type head trained per fold exactly as
  `aftershock train complaint` trains it (the served encoder's vectors + balanced LR).
- ECE: expected calibration error of the top label's probability, 15 equal-width bins.
- uncertain: on TweetEval validation, the share of posts flagged `uncertain` and the sentiment
  accuracy of flagged vs unflagged posts.
- batch dependence: labels and scores of the TweetEval validation posts classified one at a
  time vs in batches of 64 (dynamic int8 shares one activation scale per batch).
- language flag: on the seed set (its `lang` column), how often the heuristic flags non-English
  posts, and how often it wrongly flags English ones (seed set and TweetEval validation).
Every C is chosen by CV inside the training part only (nested), for both models.
--no-baselines skips the TF-IDF baselines (they do not depend on the model: most of the time).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from analysis.classifier import Classifier
from analysis.classifier.heads import LinearHead
from analysis.classifier.language import is_supported
from analysis.classifier.model import (
    COMPLAINT_LABELS,
    SENTIMENT_LABELS,
    combine_complaint,
    mix_complaint,
    pick_type,
)
from analysis.classifier.text import normalise
from analysis.classifier.training import (
    DEFAULT_CS,
    embed,
    fit_logreg,
    ngram_texts,
    ngram_texts_for,
)
from analysis.classifier.training_data import (
    COMPLAINT_HOLDOUT_ONE_IN,
    in_hash_slice,
    read_complaints,
    read_seed,
    read_seed_batches,
    read_tweeteval_val,
    seed_as_complaints,
    sentiment_splits,
)

DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
DEFAULT_SEED = REPO_ROOT / "data" / "labels" / "complaint_type_seed.csv"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "embeddings"
FOLDS = 5
TASKS = ("sentiment", "is_complaint", "complaint_type", "airline", "flags")
Probs = NDArray[np.float64]


@dataclass
class Row:
    task: str
    metric: str
    minilm: float
    minilm_ece: float
    tfidf: float | None = None
    tfidf_ece: float | None = None


SKIP_BASELINES = False  # --no-baselines: tfidf_fit_predict returns NaN, rows print "-"
UNSEEN_FIFTH_ONLY = False  # --unseen-fifth: score the --with-complaints hold-out for any model


def f1_row(task: str, ours: Probs, baseline: Probs, gold: NDArray[np.int64]) -> Row:
    """A macro-F1 row: our model against the TF-IDF baseline on the same predictions' gold."""
    if np.isnan(baseline).any():
        return Row(task, "macro F1", macro_f1(ours.argmax(1), gold), ece(ours, gold))
    return Row(task, "macro F1", macro_f1(ours.argmax(1), gold), ece(ours, gold),
               macro_f1(baseline.argmax(1), gold), ece(baseline, gold))


def ece(
    probs: Probs, gold: NDArray[np.int64], pred: NDArray[np.int64] | None = None, bins: int = 15
) -> float:
    """Expected calibration error of the predicted label's probability (default: the top one)."""
    pred = probs.argmax(axis=1) if pred is None else pred
    confidence = probs[np.arange(len(pred)), pred]
    correct = pred == gold
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)


def macro_recall(pred: NDArray[np.int64], gold: NDArray[np.int64]) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(gold, pred, average="macro"))


def macro_f1(pred: NDArray[np.int64], gold: NDArray[np.int64]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, average="macro"))


def encoder_tasks(meta: dict[str, Any]) -> set[str]:
    """Every task the model's encoder was fine-tuned on, in any stage."""
    found: set[str] = set()
    stage = meta.get("encoder", {}).get("fine_tuning")
    while isinstance(stage, dict):
        found |= set(stage.get("tasks", {}))
        started = stage.get("started_from", {})
        stage = next(iter(started.values()), None) if isinstance(started, dict) else None
    return found


def unseen_rows(
    clf: Classifier, texts: Sequence[str], always: bool = False
) -> tuple[NDArray[np.bool_], str]:
    """Which complaint/seed posts to score, and a note for the row names. An encoder fine-tuned
    on the complaint data (train_model.py --with-complaints) never saw one post in
    COMPLAINT_HOLDOUT_ONE_IN; out-of-fold scores on the others would be optimistic. `always`
    scores that fifth for any model, to compare one with such an encoder on the same posts."""
    if not always and not encoder_tasks(clf.meta) & {"is_complaint", "complaint_type"}:
        return np.ones(len(texts), dtype=bool), ""
    held_out = np.array([in_hash_slice(t, COMPLAINT_HOLDOUT_ONE_IN) for t in texts], dtype=bool)
    return held_out, f", {held_out.sum()} posts unseen by the encoder"


def only(rows: NDArray[np.bool_], p: dict[str, Probs]) -> dict[str, Probs]:
    return {name: probs[rows] for name, probs in p.items()}


def pick(texts: list[str] | None, rows: Sequence[int] | NDArray[np.int64]) -> list[str] | None:
    return None if texts is None else [texts[i] for i in rows]


def join(*parts: list[str] | None) -> list[str] | None:
    return None if any(p is None for p in parts) else [t for p in parts for t in p or []]


def indices(labels: Sequence[str], names: Sequence[str]) -> NDArray[np.int64]:
    position = {name: i for i, name in enumerate(names)}
    return np.array([position[label] for label in labels], dtype=np.int64)


def tfidf_fit_predict(
    train_texts: list[str],
    train_y: list[str],
    test_texts: list[str],
    names: Sequence[str],
    scoring: str,
    folds: int = 5,
    cs: Sequence[float] = DEFAULT_CS,
) -> Probs:
    """Baseline: word 1-2gram + char 2-5gram TF-IDF, balanced LR, C by inner CV."""
    if SKIP_BASELINES:
        return np.full((len(test_texts), len(names)), np.nan)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=2,
                    sublinear_tf=True,
                    max_features=100_000,
                ),
            ),
        ]
    )
    pipeline = make_pipeline(features, LogisticRegression(class_weight="balanced", max_iter=3000))
    search = GridSearchCV(
        pipeline,
        {"logisticregression__C": list(cs)},
        scoring=scoring,
        cv=StratifiedKFold(folds, shuffle=True, random_state=0),
    )
    search.fit([normalise(t) for t in train_texts], indices(train_y, names))
    return np.asarray(search.predict_proba([normalise(t) for t in test_texts]))


def evaluate_sentiment(clf: Classifier, data: Path, cache: Path | None) -> Row:
    train, val = sentiment_splits(data)
    gold = indices(val.labels, SENTIMENT_LABELS)
    head = clf.heads["sentiment"]
    order = indices(SENTIMENT_LABELS, head.labels)  # head columns -> SENTIMENT_LABELS order
    probs = head.predict_proba(
        embed(clf.encoder, val.texts, desc="TweetEval val", cache_dir=cache),
        ngram_texts_for(head, val.texts),
    )[:, order].astype(np.float64)
    if not SKIP_BASELINES:
        print("fitting the TF-IDF sentiment baseline (~48k tweets)...", flush=True)
    base = tfidf_fit_predict(
        train.texts,
        train.labels,
        val.texts,
        SENTIMENT_LABELS,
        "recall_macro",
        folds=3,
        cs=(0.3, 1.0, 3.0),
    )
    skipped = bool(np.isnan(base).any())
    return Row(
        "sentiment (TweetEval val)",
        "macro recall",
        macro_recall(probs.argmax(1), gold),
        ece(probs, gold),
        None if skipped else macro_recall(base.argmax(1), gold),
        None if skipped else ece(base, gold),
    )


def print_fold(fold: int, predicted: dict[str, NDArray[np.int64]], gold: NDArray[np.int64],
               test: NDArray[np.int64], seconds: float) -> None:
    """A fine-tuning probe's line for one fold: each system's macro F1 on the fold's test rows."""
    line = ", ".join(f"{name} {macro_f1(p[test], gold[test]):.3f}" for name, p in predicted.items())
    print(f"fold {fold}: {line} ({seconds:.0f} s fine-tuning and fitting)", flush=True)


def print_pooled(predicted: dict[str, NDArray[np.int64]], gold: NDArray[np.int64],
                 unit: str) -> None:
    """A fine-tuning probe's summary: each system's macro F1 over the rows predicted so far
    (-1 marks rows of folds not run)."""
    done = next(iter(predicted.values())) >= 0
    for name, p in predicted.items():
        print(f"{name:12s} macro F1 over {done.sum()} out-of-fold {unit}: "
              f"{macro_f1(p[done], gold[done]):.3f}", flush=True)


def fit_type_head(
    x: NDArray[np.float32], labels: Sequence[str], names: Sequence[str], mask: NDArray[np.bool_],
    ngram_in: list[str] | None,
) -> LinearHead:
    """A type head fitted as the shipped one is (vector + n-grams where the shipped head reads
    them, balanced LR, C by inner CV)."""
    head, _ = fit_logreg(x, list(labels), names, scoring="f1_macro", complaint_mask=mask,
                         texts_for_ngrams=ngram_in)
    return head


def type_head_probs(
    x: NDArray[np.float32], labels: Sequence[str], names: Sequence[str], mask: NDArray[np.bool_],
    ngram_in: list[str] | None, train: NDArray[np.int64], test: NDArray[np.int64],
) -> Probs:
    """A type head fitted on the `train` rows as the shipped one is, and its probabilities for
    `test`."""
    head = fit_type_head(x[train], [labels[i] for i in train], names, mask, pick(ngram_in, train))
    return head.predict_proba(x[test], pick(ngram_in, test)).astype(np.float64)


def evaluation_folds(y: NDArray[np.int64]) -> dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """The evaluation's stratified 5-fold split of rows labelled `y`, as {fold number from 1:
    (train rows, test rows)}; every probe whose figures sit beside the evaluation's uses it."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=42)
    return dict(enumerate(splitter.split(np.zeros(len(y)), y), start=1))


def fold_list(text: str) -> list[int]:
    """A probe's `--only 2,3,...` argument: fold numbers, in the order to run them."""
    return [int(fold) for fold in text.split(",")]


def cross_validate(
    y: NDArray[np.int64],
    run_fold: Callable[[NDArray[np.int64], NDArray[np.int64]], dict[str, Probs]],
) -> dict[str, Probs]:
    """Out-of-fold probabilities for each named system, stratified 5-fold."""
    out: dict[str, Probs] = {}
    for fold, (train, test) in evaluation_folds(y).items():
        print(f"  fold {fold}/{FOLDS}", flush=True)
        for name, probs in run_fold(train, test).items():
            out.setdefault(name, np.zeros((len(y), probs.shape[1])))[test] = probs
    return out


def is_complaint_oof(
    clf: Classifier, data: Path, seed_csv: Path, cache: Path | None
) -> tuple[dict[str, Probs], NDArray[np.int64], str]:
    """Out-of-fold P(not complaint, complaint) on the complaints data: "minilm" as served (fold
    heads on the other folds plus the seed set, blended with the type head), "minilm_only" the
    head without the seed set, and the TF-IDF baselines; with the gold labels and a row note."""
    complaints, _ = read_complaints(data)
    non_complaint = {n for n, m in zip(clf.complaint_types, clf._mask, strict=True) if not m}
    typed_seed = read_seed(seed_csv)
    seed = seed_as_complaints(typed_seed, non_complaint)
    x = embed(clf.encoder, complaints.texts, desc="complaints", cache_dir=cache)
    x_seed = embed(clf.encoder, seed.texts, desc="seed", cache_dir=cache)
    y = indices(complaints.labels, COMPLAINT_LABELS)
    texts = np.array(complaints.texts, dtype=object)
    # Fold heads read n-grams exactly when the shipped head they stand for does.
    ngram_in = ngram_texts_for(clf.heads["is_complaint"], complaints.texts)
    seed_ngram_in = ngram_texts_for(clf.heads["is_complaint"], seed.texts)

    # The served P(complaint) blends in the type head's complaint mass; that head reads the seed
    # set only, so one fit on all of it serves every fold of the complaints data.
    type_head = clf.heads["complaint_type"]
    types = fit_type_head(
        x_seed, typed_seed.labels, clf.complaint_types, clf._mask,
        ngram_texts_for(type_head, typed_seed.texts),
    ).predict_proba(x, ngram_texts_for(type_head, complaints.texts))

    def run_fold(train: NDArray[np.int64], test: NDArray[np.int64]) -> dict[str, Probs]:
        tr_labels = [complaints.labels[i] for i in train]
        with_seed, _ = fit_logreg(
            np.vstack([x[train], x_seed]),
            tr_labels + seed.labels,
            COMPLAINT_LABELS,
            scoring="f1_macro",
            texts_for_ngrams=join(pick(ngram_in, train), seed_ngram_in),
        )
        alone, _ = fit_logreg(
            x[train], tr_labels, COMPLAINT_LABELS, scoring="f1_macro",
            texts_for_ngrams=pick(ngram_in, train),
        )
        test_ngram_in = pick(ngram_in, test)
        p_served = mix_complaint(with_seed.predict_proba(x[test], test_ngram_in)[:, 1],
                                 types[test], clf._mask, clf.complaint_mix).astype(np.float64)
        return {
            "minilm": np.stack([1 - p_served, p_served], axis=1),
            "minilm_only": alone.predict_proba(x[test], test_ngram_in).astype(np.float64),
            "tfidf": tfidf_fit_predict(
                list(texts[train]) + seed.texts,
                tr_labels + seed.labels,
                list(texts[test]),
                COMPLAINT_LABELS,
                "f1_macro",
            ),
            "tfidf_only": tfidf_fit_predict(
                list(texts[train]), tr_labels, list(texts[test]), COMPLAINT_LABELS, "f1_macro"
            ),
        }

    scored, note = unseen_rows(clf, complaints.texts, UNSEEN_FIFTH_ONLY)
    return only(scored, cross_validate(y, run_fold)), y[scored], note


def evaluate_is_complaint(
    clf: Classifier, data: Path, seed_csv: Path, cache: Path | None
) -> list[Row]:
    p, y, note = is_complaint_oof(clf, data, seed_csv, cache)
    return [
        f1_row(f"is-complaint (complaints 5-fold, train + seed{note})", p["minilm"], p["tfidf"],
               y),
        f1_row(f"is-complaint (complaints 5-fold, no seed{note})", p["minilm_only"],
               p["tfidf_only"], y),
    ]


def evaluate_complaint_type(
    clf: Classifier, data: Path, seed_csv: Path, cache: Path | None
) -> list[Row]:
    names = clf.complaint_types
    mask = clf._mask
    seed = read_seed(seed_csv)
    complaints, _ = read_complaints(data)
    binary_seed = seed_as_complaints(seed, {n for n, m in zip(names, mask, strict=True) if not m})
    x = embed(clf.encoder, seed.texts, desc="seed", cache_dir=cache)
    x_complaints = embed(clf.encoder, complaints.texts, desc="complaints", cache_dir=cache)
    y = indices(seed.labels, names)
    type_ngram_in = ngram_texts_for(clf.heads["complaint_type"], seed.texts)
    binary_ngram_in = ngram_texts_for(clf.heads["is_complaint"], seed.texts)
    complaint_ngram_in = ngram_texts_for(clf.heads["is_complaint"], complaints.texts)

    def run_fold(train: NDArray[np.int64], test: NDArray[np.int64]) -> dict[str, Probs]:
        tr_types = [seed.labels[i] for i in train]
        binary, _ = fit_logreg(
            np.vstack([x_complaints, x[train]]),
            complaints.labels + [binary_seed.labels[i] for i in train],
            COMPLAINT_LABELS,
            scoring="f1_macro",
            texts_for_ngrams=join(complaint_ngram_in, pick(binary_ngram_in, train)),
        )
        raw = type_head_probs(x, seed.labels, names, mask, type_ngram_in, train, test)
        p_complaint = mix_complaint(
            binary.predict_proba(x[test], pick(binary_ngram_in, test))[:, 1], raw, mask,
            clf.complaint_mix)
        shipped = np.zeros_like(raw)
        picked = np.zeros_like(raw)  # one-hot: the shipped complaint_type, not the joint argmax
        for row, (p, q) in enumerate(zip(p_complaint, raw, strict=True)):
            joint = combine_complaint(float(p), q.astype(np.float32), mask)
            shipped[row] = joint
            picked[row, pick_type(bool(p >= 0.5), joint, mask)] = 1.0
        texts = [seed.texts[i] for i in train]
        test_texts = [seed.texts[i] for i in test]
        return {
            "raw": raw,
            "shipped": shipped,
            "picked": picked,
            "binary": np.stack([1 - p_complaint, p_complaint], axis=1),
            "tfidf": tfidf_fit_predict(texts, tr_types, test_texts, names, "f1_macro"),
            "tfidf_binary": tfidf_fit_predict(
                complaints.texts + texts,
                complaints.labels + [binary_seed.labels[i] for i in train],
                test_texts,
                COMPLAINT_LABELS,
                "f1_macro",
            ),
        }

    scored, note = unseen_rows(clf, seed.texts, UNSEEN_FIFTH_ONLY)
    p, y = only(scored, cross_validate(y, run_fold)), y[scored]
    y_binary = mask[y].astype(np.int64)
    return [
        f1_row(f"is-complaint (seed 5-fold, train + complaints{note})", p["binary"],
               p["tfidf_binary"], y_binary),
        f1_row(f"complaint type (seed 5-fold{note}), type head", p["raw"], p["tfidf"], y),
        Row(
            f"complaint type (seed 5-fold{note}), as shipped",
            "macro F1",
            macro_f1(p["picked"].argmax(1), y),
            ece(p["shipped"], y, p["picked"].argmax(1)),
        ),
    ]


def evaluate_type_by_writer(clf: Classifier, seed_csv: Path, cache: Path | None) -> list[Row]:
    """The raw type head with one writer's whole batch held out at a time: how it does on a
    writer whose wording it never saw (random folds share each writer's habits)."""
    from sklearn.model_selection import LeaveOneGroupOut

    seed = read_seed(seed_csv)
    batches = np.array(read_seed_batches(seed_csv))
    if len(set(batches)) < 2:
        return []
    names = clf.complaint_types
    x = embed(clf.encoder, seed.texts, desc="seed", cache_dir=cache)
    y = indices(seed.labels, names)
    ngram_in = ngram_texts_for(clf.heads["complaint_type"], seed.texts)
    ours, base = np.zeros((len(y), len(names))), np.zeros((len(y), len(names)))
    for train, test in LeaveOneGroupOut().split(x, y, batches):
        print(f"  holding out batch {batches[test[0]]}", flush=True)
        tr_types = [seed.labels[i] for i in train]
        ours[test] = type_head_probs(x, seed.labels, names, clf._mask, ngram_in, train, test)
        base[test] = tfidf_fit_predict([seed.texts[i] for i in train], tr_types,
                                       [seed.texts[i] for i in test], names, "f1_macro")
    n = len(set(batches))
    return [f1_row(f"complaint type (seed, leave one of {n} writers out), type head", ours, base,
                   y)]


def read_airline_negatives(data: Path) -> Any:
    """Negative tweets of Twitter US Airline Sentiment that have a `negativereason`, one row per
    distinct text (155 tweet ids repeat), every column as a string (a pandas DataFrame)."""
    import pandas as pd

    frame = pd.read_csv(data / "airline" / "tweets_train.csv", dtype=str, keep_default_na=False)
    frame = frame[(frame["airline_sentiment"] == "negative") & (frame["negativereason"] != "")]
    return frame.drop_duplicates("text")


def read_airline_reasons(data: Path) -> tuple[list[str], list[str]]:
    """The airline negatives' texts and `negativereason` labels."""
    frame = read_airline_negatives(data)
    return frame["text"].tolist(), frame["negativereason"].tolist()


def evaluate_airline(clf: Classifier, data: Path, cache: Path | None) -> Row:
    """The bring-your-own-taxonomy path: a type head per fold, as `train complaint` fits it."""
    texts, labels = read_airline_reasons(data)
    names = sorted(set(labels))
    x = embed(clf.encoder, texts, desc="airline negatives", cache_dir=cache)
    y = indices(labels, names)
    array = np.array(texts, dtype=object)
    ngram_in = ngram_texts(texts)  # `train complaint` heads always read n-grams

    def run_fold(train: NDArray[np.int64], test: NDArray[np.int64]) -> dict[str, Probs]:
        tr_labels = [labels[i] for i in train]
        head, _ = fit_logreg(
            x[train], tr_labels, names, scoring="f1_macro",
            texts_for_ngrams=pick(ngram_in, train),
        )
        return {
            "ours": head.predict_proba(x[test], pick(ngram_in, test)).astype(np.float64),
            "tfidf": tfidf_fit_predict(
                list(array[train]), tr_labels, list(array[test]), names, "f1_macro"
            ),
        }

    p = cross_validate(y, run_fold)
    return f1_row(f"airline reasons ({len(texts)} negatives 5-fold, BYO)", p["ours"],
                  p["tfidf"], y)


def uncertainty_report(clf: Classifier, data: Path) -> str:
    val = read_tweeteval_val(data)
    results = clf.classify(val.texts)
    right = np.array([r.sentiment == g for r, g in zip(results, val.labels, strict=True)])
    flagged = np.array([r.uncertain for r in results])
    return (
        f"uncertain flag on TweetEval val: {flagged.mean():.1%} of posts flagged; sentiment "
        f"accuracy {right[flagged].mean():.3f} flagged vs {right[~flagged].mean():.3f} not "
        f"(all {right.mean():.3f})"
    )


def batch_report(clf: Classifier, data: Path) -> str:
    """Dynamic int8 quantises each batch's activations with one scale for the whole batch, so a
    post's scores depend a little on its batch neighbours: batch size 1 vs 64, same posts."""
    texts = read_tweeteval_val(data).texts
    alone = clf.classify(texts, batch_size=1)
    batched = clf.classify(texts, batch_size=64)
    diffs = np.array([abs(a.complaint_probability - b.complaint_probability)
                      for a, b in zip(alone, batched, strict=True)])
    same = np.mean([(a.sentiment, a.is_complaint, a.complaint_type)
                    == (b.sentiment, b.is_complaint, b.complaint_type)
                    for a, b in zip(alone, batched, strict=True)])
    return (f"batch 1 vs 64 on TweetEval val: all three labels equal for {same:.1%} of posts; "
            f"|complaint_probability difference| median {np.median(diffs):.3f}, "
            f"p95 {np.percentile(diffs, 95):.3f}, max {diffs.max():.3f}")


def language_report(data: Path, seed_csv: Path) -> str:
    import csv

    with seed_csv.open(encoding="utf-8", newline="") as f:
        rows = [(r["text"], r["lang"]) for r in csv.DictReader(f)]
    flags = [(not is_supported(None, text)[1], lang) for text, lang in rows]
    foreign = [flag for flag, lang in flags if lang != "en"]
    english = [flag for flag, lang in flags if lang == "en"]
    val = read_tweeteval_val(data).texts
    val_flags = [not is_supported(None, t)[1] for t in val]
    return (
        f"language flag: {sum(foreign)}/{len(foreign)} non-English seed posts flagged; "
        f"English wrongly flagged: {sum(english)}/{len(english)} seed posts, "
        f"{sum(val_flags)}/{len(val_flags)} TweetEval val tweets"
    )


def throughput(clf: Classifier, texts: list[str]) -> float:
    started = time.perf_counter()
    clf.classify(texts)
    return len(texts) / (time.perf_counter() - started)


def print_table(rows: list[Row], meta: dict[str, Any]) -> None:
    def fmt(v: float | None) -> str:
        return "   -  " if v is None else f"{v:6.3f}"

    header = f"{'task':50} {'metric':12} {'ours':>9} {'ECE':>6} {'TF-IDF+LR':>9} {'ECE':>6}"
    print(f"\nmodel {meta['model_version']} (encoder {meta['encoder']['name']})")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.task:50} {r.metric:12} {fmt(r.minilm):>9} {fmt(r.minilm_ece)} "
            f"{fmt(r.tfidf):>9} {fmt(r.tfidf_ece)}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: bundled)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed-csv", type=Path, default=DEFAULT_SEED)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-baselines", action="store_true", help="skip the TF-IDF baselines")
    parser.add_argument("--only", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--unseen-fifth", action="store_true",
                        help="score the complaint heads on the fifth of posts that "
                        "train_model.py --with-complaints holds out, whatever the encoder saw "
                        "(to compare a model with one whose encoder saw the rest)")
    args = parser.parse_args(argv)
    cache = None if args.no_cache else args.cache_dir
    global SKIP_BASELINES, UNSEEN_FIFTH_ONLY
    SKIP_BASELINES = args.no_baselines
    UNSEEN_FIFTH_ONLY = args.unseen_fifth

    clf = Classifier.load(args.model)
    rows: list[Row] = []
    if "sentiment" in args.only:
        rows.append(evaluate_sentiment(clf, args.data, cache))
    if "is_complaint" in args.only:
        print("is-complaint cross-validation...", flush=True)
        rows += evaluate_is_complaint(clf, args.data, args.seed_csv, cache)
    if "complaint_type" in args.only:
        print("complaint-type cross-validation...", flush=True)
        rows += evaluate_complaint_type(clf, args.data, args.seed_csv, cache)
        rows += evaluate_type_by_writer(clf, args.seed_csv, cache)
    if "airline" in args.only:
        print("airline bring-your-own-taxonomy cross-validation...", flush=True)
        rows.append(evaluate_airline(clf, args.data, cache))
    print_table(rows, clf.meta)
    if "flags" in args.only:
        print("\n" + uncertainty_report(clf, args.data))
        print(language_report(args.data, args.seed_csv))
        print(batch_report(clf, args.data))
    if not args.no_throughput:
        texts = read_tweeteval_val(args.data).texts
        rate = throughput(clf, texts)
        print(
            f"\nclassify() throughput: {rate:.0f} posts/s on {len(texts)} TweetEval val tweets "
            "(batch 64, int8 ONNX, CPU)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
