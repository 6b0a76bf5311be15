"""Fitting and exporting linear heads on frozen encoder embeddings (needs scikit-learn).

Imported only by the training and evaluation scripts; inference never touches sklearn.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.classifier.encoder import Encoder
from analysis.classifier.heads import FloatArray, LinearHead
from analysis.classifier.ngrams import NgramVocabulary, count_all
from analysis.classifier.taxonomy import DEFAULT_NON_COMPLAINT_LABELS, TaxonomyLabel
from analysis.classifier.text import normalise

DEFAULT_CS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
# Beside n-grams the unit-length encoder vector is scaled up so the regulariser does not starve
# it (the TF-IDF row is unit length too, spread over many more weights): 1.5 measured best of
# 1, 1.5, 2 for sentiment on the frozen encoder (docs/model-card.md, "N-grams").
VECTOR_WEIGHT = 1.5
NGRAM_MIN_DF = 2
NGRAM_MAX_FEATURES = 200_000


def ngram_texts(texts: Sequence[str]) -> list[str]:
    """Raw texts normalised exactly as the classifier normalises them, for the n-grams."""
    return [normalise(t) for t in texts]


def ngram_texts_for(head: LinearHead, texts: Sequence[str]) -> list[str] | None:
    """`ngram_texts(texts)` if `head` reads n-grams, else None (a fold head fitted on None
    reads the vector only, like the head it stands for)."""
    return ngram_texts(texts) if head.reads_ngrams else None


def embed(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    desc: str,
    cache_dir: Path | None = None,
    batch_size: int = 64,
) -> FloatArray:
    """Embed normalised texts with a tqdm bar, reusing a per-text cache when given one."""
    from tqdm import tqdm

    normalised = [normalise(t) for t in texts]
    identity = str(getattr(encoder, "fingerprint", encoder.name))
    cache = EmbeddingCache(cache_dir, identity) if cache_dir is not None else None
    vectors = cache.lookup(normalised) if cache is not None else {}
    # Encode the missing distinct texts sorted by length (less padding), then scatter back.
    missing = sorted(set(normalised) - vectors.keys(), key=len)
    with tqdm(
        total=len(missing), desc=f"embedding {desc}", unit="post", disable=not missing
    ) as bar:
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            for text, vector in zip(batch, encoder.encode(batch, batch_size), strict=True):
                vectors[text] = vector
            bar.update(len(batch))
    if cache is not None and missing:
        cache.add({text: vectors[text] for text in missing})
    return np.stack([vectors[t] for t in normalised]).astype(np.float32)


class EmbeddingCache:
    """One .npz per encoder: sha1 of each normalised text -> its vector. Git-ignored."""

    def __init__(self, cache_dir: Path, encoder_name: str) -> None:
        slug = hashlib.sha1(encoder_name.encode("utf-8")).hexdigest()[:12]
        self.path = cache_dir / f"{slug}.npz"

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def _load(self) -> dict[str, FloatArray]:
        if not self.path.is_file():
            return {}
        with np.load(self.path, allow_pickle=False) as data:
            return dict(zip((str(k) for k in data["keys"]), data["vectors"], strict=True))

    def lookup(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        stored = self._load()
        return {t: stored[k] for t in set(texts) if (k := self._key(t)) in stored}

    def add(self, vectors: dict[str, FloatArray]) -> None:
        stored = self._load()
        stored.update({self._key(t): v for t, v in vectors.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        (self.path.parent / ".gitignore").write_text("*\n")  # never commit cached embeddings
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(
            tmp, keys=np.array(list(stored), dtype=np.str_), vectors=np.stack(list(stored.values()))
        )
        os.replace(tmp, self.path)


def head_features(
    x: FloatArray, vocabulary: NgramVocabulary, texts: Sequence[str], weight: float = VECTOR_WEIGHT
) -> Any:
    """What an n-gram head is fitted on: the vector times `weight` beside the texts' TF-IDF
    character n-grams (sparse rows)."""
    from scipy import sparse

    tfidf = vocabulary.transform(texts).to_scipy()
    return sparse.hstack([sparse.csr_matrix(x * weight), tfidf]).tocsr()


def fit_logreg(
    x: FloatArray,
    y: Sequence[str],
    labels: Sequence[str],
    *,
    scoring: str,
    cs: Sequence[float] = DEFAULT_CS,
    folds: int = 5,
    seed: int = 0,
    complaint_mask: NDArray[np.bool_] | None = None,
    texts_for_ngrams: Sequence[str] | None = None,
    calibration: tuple[FloatArray, Sequence[str]] | None = None,
) -> tuple[LinearHead, dict[str, Any]]:
    """Balanced logistic regression; C picked by stratified CV on the training data only, then
    temperature-scaled on the same folds' out-of-fold predictions, or, given `calibration`
    (vectors and labels of rows held out of everything else; vector-only heads), on the fitted
    model's logits for those rows. With `texts_for_ngrams` (the
    normalised text of each row of x) the head also reads character n-grams: their vocabulary
    and idf come from these training texts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    vocabulary = None
    features: Any = x
    if texts_for_ngrams is not None:
        if len(texts_for_ngrams) != len(x):
            raise ValueError(f"{len(x)} vectors but {len(texts_for_ngrams)} texts")

        vocabulary = NgramVocabulary.fit(
            count_all(texts_for_ngrams), min_df=NGRAM_MIN_DF, max_features=NGRAM_MAX_FEATURES
        )
        features = head_features(x, vocabulary, texts_for_ngrams)
    y_idx = _label_indices(y, labels)
    smallest = int(np.bincount(y_idx, minlength=len(labels)).min())
    if smallest < 2:
        raise ValueError(f"every label needs at least 2 examples; labels are {list(labels)}")
    folds = min(folds, smallest)  # StratifiedKFold needs each class in every fold
    search = GridSearchCV(
        LogisticRegression(class_weight="balanced", max_iter=3000),
        {"C": list(cs)},
        scoring=scoring,
        cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        n_jobs=1,
    )
    search.fit(features, y_idx)
    c = float(search.best_params_["C"])
    if calibration is None:
        temperature = fit_temperature(
            features, y_idx, c, StratifiedKFold(folds, shuffle=True, random_state=seed)
        )
    else:
        if texts_for_ngrams is not None:
            raise ValueError("a calibration set is supported for vector-only heads")
        x_cal, y_cal = calibration
        logits = _two_columns(search.best_estimator_.decision_function(x_cal))
        temperature = best_temperature(logits, _label_indices(y_cal, labels))
    head = head_from_sklearn(
        search.best_estimator_, labels, complaint_mask, temperature, vocabulary, x.shape[1]
    )
    info = {
        "C": c,
        "temperature": round(temperature, 4),
        "cv_folds": folds,
        "cv_scoring": scoring,
        "cv_score": round(float(search.best_score_), 4),
        "n_train": len(y_idx),
        "temperature_fitted_on": "out-of-fold predictions" if calibration is None
        else f"{len(calibration[1])} held-out rows",
        "features": "vector" if vocabulary is None else (
            f"vector x {VECTOR_WEIGHT} + {len(vocabulary):,} character 2-5-grams (TF-IDF)"
        ),
        "class_counts": {label: int((y_idx == i).sum()) for i, label in enumerate(labels)},
    }
    return head, info


def fit_temperature(x: Any, y_idx: NDArray[np.int64], c: float, cv: Any) -> float:
    """Temperature T minimising the log loss of out-of-fold logits / T.

    Class-balanced heads on small sets come out under-confident; dividing the weights by T fixes
    the probabilities without changing any argmax or the 0.5 complaint threshold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    model = LogisticRegression(class_weight="balanced", max_iter=3000, C=c)
    logits = cross_val_predict(model, x, y_idx, cv=cv, method="decision_function")
    return best_temperature(_two_columns(logits), y_idx)


def _two_columns(logits: Any) -> NDArray[np.float64]:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:  # binary: one logit for class 1
        logits = np.stack([np.zeros_like(logits), logits], axis=1)
    return logits


def best_temperature(logits: NDArray[np.float64], y_idx: NDArray[np.int64]) -> float:
    """The T in [0.1, 10] (log grid) minimising the log loss of logits / T."""
    candidates = np.exp(np.linspace(np.log(0.1), np.log(10.0), 161))
    losses = [_log_loss(logits / t, y_idx) for t in candidates]
    return float(candidates[int(np.argmin(losses))])


def _log_loss(logits: NDArray[np.float64], y_idx: NDArray[np.int64]) -> float:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y_idx)), y_idx].mean())


def head_from_sklearn(
    model: Any,
    labels: Sequence[str],
    complaint_mask: NDArray[np.bool_] | None = None,
    temperature: float = 1.0,
    vocabulary: NgramVocabulary | None = None,
    dim: int | None = None,
) -> LinearHead:
    """Export a fitted LogisticRegression, weights divided by `temperature`. With a
    `vocabulary`, the first `dim` columns were the vector (times VECTOR_WEIGHT) and the rest
    the n-grams: the weights are split back into the head's two halves."""
    classes = [int(c) for c in model.classes_]
    if classes != list(range(len(labels))):
        raise ValueError(f"training data lacks some labels: saw {classes} of {list(labels)}")
    coef = np.asarray(model.coef_, dtype=np.float32) / np.float32(temperature)
    intercept = np.asarray(model.intercept_, dtype=np.float32) / np.float32(temperature)
    ngram_coef = None
    if vocabulary is not None:
        assert dim is not None
        coef, ngram_coef = coef[:, :dim] * np.float32(VECTOR_WEIGHT), coef[:, dim:]
    head = LinearHead(tuple(labels), coef, intercept, complaint_mask, vocabulary, ngram_coef)
    head.validate("freshly trained head")
    return head


def _label_indices(y: Sequence[str], labels: Sequence[str]) -> NDArray[np.int64]:
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(y) - index.keys())
    if unknown:
        raise ValueError(f"labels not in the label set {list(labels)}: {unknown}")
    return np.array([index[v] for v in y], dtype=np.int64)


def weights_digest(encoder_sha256: str, heads: dict[str, LinearHead]) -> str:
    """8 hex digits naming these exact weights, for model_version: two models trained on one
    day must not share a version (a backfill resumes only under its own model's version)."""
    digest = hashlib.sha256(encoder_sha256.encode("ascii"))
    for name in sorted(heads):
        head = heads[name]
        for part in (head.coef, head.intercept, head.ngram_coef):
            if part is not None:
                digest.update(np.ascontiguousarray(part, dtype=np.float32).tobytes())
    return digest.hexdigest()[:8]


def write_model(out_dir: Path, heads: dict[str, LinearHead], meta: dict[str, Any]) -> None:
    """Write heads (.npz) and meta.json; meta.json last, so a half-written dir fails to load."""
    from analysis.classifier.model import HEAD_FILES

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meta.json").unlink(missing_ok=True)
    for name, head in heads.items():
        head.save(out_dir / HEAD_FILES[name])
    text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    (out_dir / "meta.json").write_text(text, encoding="utf-8")


def retrain_complaint_type(
    encoder: Encoder,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    base_dir: Path,
    out_dir: Path,
    taxonomy: Sequence[TaxonomyLabel] | None = None,
    data_note: str = "user-supplied CSV",
) -> dict[str, Any]:
    """Train a new complaint-type head on a user's labelled posts and write a complete model
    dir (the base model's sentiment and is-complaint heads, the new type head). For
    `aftershock train complaint`. Label order comes from `taxonomy` when given, else sorted;
    humor/praise/none count as non-complaints unless the taxonomy says otherwise."""
    from analysis.classifier.model import HEAD_FILES, read_meta

    meta = read_meta(base_dir)
    if taxonomy is not None:
        names = [label.name for label in taxonomy]
        mask = np.array([label.is_complaint for label in taxonomy])
    else:
        names = sorted(set(labels))
        mask = np.array([name not in DEFAULT_NON_COMPLAINT_LABELS for name in names])
    x = embed(encoder, texts, desc="labelled posts")
    head, info = fit_logreg(
        x, labels, names, scoring="f1_macro", complaint_mask=mask,
        texts_for_ngrams=ngram_texts(texts)
    )
    heads = {name: LinearHead.load(base_dir / file) for name, file in HEAD_FILES.items()}
    heads["complaint_type"] = head
    today = datetime.now(UTC)
    digest = weights_digest(str(meta["encoder"].get("sha256", "")), heads)
    meta["model_version"] = f"{meta['model_version']}+custom-{today:%Y.%m.%d}.{digest}"
    meta["trained_at"] = today.isoformat(timespec="seconds")
    # The blend weight was measured for the bundled type head, not the user's: decide
    # complaint vs not by the is-complaint head alone.
    meta["complaint_mix"] = 1.0
    meta["heads"]["complaint_type"] = {
        "labels": names,
        "non_complaint_labels": [n for n, m in zip(names, mask, strict=True) if not m],
        "training": info,
        "data": data_note,
    }
    copy_encoder(base_dir, out_dir)
    write_model(out_dir, heads, meta)
    return info


def copy_encoder(src_dir: Path, out_dir: Path) -> None:
    """Put the encoder files beside the heads (a hard link where possible: ~23 MB)."""
    from analysis.classifier.encoder import ONNX_FILE, TOKENIZER_FILE

    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (ONNX_FILE, TOKENIZER_FILE):
        source, target = src_dir / name, out_dir / name
        if target.exists() and target.samefile(source):
            continue
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
