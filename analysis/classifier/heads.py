"""Linear classification heads stored as plain .npz arrays (no pickle, numpy-only at run time)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from analysis.classifier.errors import ModelLoadError

FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class LinearHead:
    """Multinomial (k rows of coef) or binary (1 row, sigmoid) logistic regression."""

    labels: tuple[str, ...]
    coef: FloatArray  # (k, dim) or (1, dim) when binary
    intercept: FloatArray  # (k,) or (1,)
    # Only for the complaint-type head: which labels count as complaints.
    complaint_mask: NDArray[np.bool_] | None = None

    @property
    def dim(self) -> int:
        return int(self.coef.shape[1])

    def predict_proba(self, embeddings: FloatArray) -> FloatArray:
        """Probabilities, one column per label in `labels` order; rows sum to 1."""
        logits = embeddings @ self.coef.T + self.intercept
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
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

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
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ModelLoadError(f"head file {path} is corrupt or incomplete: {e}") from e
        head = cls(labels, coef, intercept, None if mask is None else mask.astype(np.bool_))
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
        if problems:
            raise ModelLoadError(f"head {source} is invalid: " + "; ".join(problems))
