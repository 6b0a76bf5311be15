"""Linear classification heads stored as plain .npz arrays (no pickle, numpy-only at run time).

A head reads the encoder vector and, when it has a vocabulary, the text's character n-grams
(analysis/classifier/ngrams.py): logits = vector @ coef.T + tfidf(n-grams) @ ngram_coef.T + b.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from analysis.classifier.errors import ModelLoadError
from analysis.classifier.ngrams import NgramVocabulary

FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class LinearHead:
    """Multinomial (k rows of coef) or binary (1 row, sigmoid) logistic regression."""

    labels: tuple[str, ...]
    coef: FloatArray  # (k, dim) or (1, dim) when binary
    intercept: FloatArray  # (k,) or (1,)
    # Only for the complaint-type head: which labels count as complaints.
    complaint_mask: NDArray[np.bool_] | None = None
    # Optional n-gram half: its vocabulary and (rows, len(vocabulary)) weights.
    ngrams: NgramVocabulary | None = None
    ngram_coef: FloatArray | None = None

    @property
    def dim(self) -> int:
        return int(self.coef.shape[1])

    @property
    def reads_ngrams(self) -> bool:
        return self.ngrams is not None

    def predict_proba(
        self, embeddings: FloatArray, texts: Sequence[str] | None = None
    ) -> FloatArray:
        """Probabilities, one column per label in `labels` order; rows sum to 1. `texts` are
        the embedded texts (normalised), needed when the head reads n-grams."""
        logits = embeddings @ self.coef.T + self.intercept
        if self.ngrams is not None and self.ngram_coef is not None:
            if texts is None or len(texts) != len(embeddings):
                raise ValueError("this head reads n-grams: pass one text per embedding")
            logits = logits + self.ngrams.transform(texts).dot_t(self.ngram_coef)
        if len(self.labels) == 2 and self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1).astype(np.float32)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: Path) -> None:
        arrays: dict[str, NDArray[np.generic]] = {
            "coef": self.coef.astype(np.float32),
            "intercept": self.intercept.astype(np.float32),
            "labels": np.array(self.labels, dtype=np.str_),
        }
        if self.complaint_mask is not None:
            arrays["complaint_mask"] = self.complaint_mask.astype(np.bool_)
        if self.ngrams is not None and self.ngram_coef is not None:
            arrays["ngram_grams"] = np.array(self.ngrams.grams, dtype=np.str_)
            arrays["ngram_idf"] = self.ngrams.idf.astype(np.float32)
            arrays["ngram_coef"] = self.ngram_coef.astype(np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        if not path.is_file():
            raise ModelLoadError(f"head file missing: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                coef = np.asarray(data["coef"], dtype=np.float32)
                intercept = np.asarray(data["intercept"], dtype=np.float32)
                labels = tuple(str(x) for x in data["labels"])
                mask = data["complaint_mask"] if "complaint_mask" in data.files else None
                ngrams, ngram_coef = None, None
                if "ngram_coef" in data.files:
                    ngrams = NgramVocabulary(
                        [str(g) for g in data["ngram_grams"]], data["ngram_idf"]
                    )
                    ngram_coef = np.asarray(data["ngram_coef"], dtype=np.float32)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ModelLoadError(f"head file {path} is corrupt or incomplete: {e}") from e
        head = cls(
            labels,
            coef,
            intercept,
            None if mask is None else mask.astype(np.bool_),
            ngrams,
            ngram_coef,
        )
        head.validate(path)
        return head

    def validate(self, source: Path | str) -> None:
        """Raise ModelLoadError unless the arrays have consistent shapes and finite values."""
        rows = 1 if len(self.labels) == 2 and self.coef.shape[0] == 1 else len(self.labels)
        problems = []
        if self.coef.ndim != 2 or self.coef.shape[0] != rows:
            problems.append(f"coef shape {self.coef.shape} does not fit {len(self.labels)} labels")
        if self.intercept.shape != (rows,):
            problems.append(f"intercept shape {self.intercept.shape}, expected ({rows},)")
        if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
            problems.append(f"labels must be >= 2 distinct names, got {self.labels}")
        if not (np.isfinite(self.coef).all() and np.isfinite(self.intercept).all()):
            problems.append("non-finite weights")
        if self.complaint_mask is not None and self.complaint_mask.shape != (len(self.labels),):
            problems.append("complaint_mask does not match labels")
        if (self.ngrams is None) != (self.ngram_coef is None):
            problems.append("n-gram vocabulary and n-gram weights must come together")
        elif self.ngrams is not None and self.ngram_coef is not None:
            if self.ngram_coef.shape != (rows, len(self.ngrams)):
                problems.append(
                    f"ngram_coef shape {self.ngram_coef.shape}, expected ({rows}, "
                    f"{len(self.ngrams)})"
                )
            elif not (np.isfinite(self.ngram_coef).all() and np.isfinite(self.ngrams.idf).all()):
                problems.append("non-finite n-gram weights")
        if problems:
            raise ModelLoadError(f"head {source} is invalid: " + "; ".join(problems))
