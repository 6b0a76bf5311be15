"""Character n-gram TF-IDF features beside the encoder vector, numpy-only at run time.

A frozen sentence encoder loses word-level cues ("late flight" vs "cancelled flight", "smh",
emoji) that sentiment and fine-grained complaint reasons hang on; a head that reads the vector and
these n-grams together does better (docs/model-card.md). The same code featurises for training
and serving, so there is no scikit-learn vectoriser to match at run time: a head stores its own
vocabulary and idf table next to its weights.

Features: lower-cased character 2-5-grams inside each whitespace-separated word padded with one
space each side (scikit-learn's "char_wb"), sublinear tf (1 + log count) times smoothed idf,
each row L2-normalised.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from numpy.typing import NDArray

MIN_N, MAX_N = 2, 5
MAX_WORD_CHARS = 40  # a longer "word" (a hash, base64) adds noise and thousands of grams

GramCounts = Counter[str]


def count_ngrams(text: str) -> GramCounts:
    """The n-gram counts of one (already normalised) text."""
    grams: list[str] = []
    for word in text.lower().replace("\x00", " ").split():  # numpy str arrays drop NULs
        padded = f" {word[:MAX_WORD_CHARS]} "
        size = len(padded)
        for n in range(MIN_N, min(MAX_N, size) + 1):
            grams.extend([padded[i : i + n] for i in range(size - n + 1)])
    return Counter(grams)


def count_all(texts: Iterable[str]) -> list[GramCounts]:
    return [count_ngrams(t) for t in texts]


@dataclass(frozen=True)
class SparseRows:
    """Rows of a sparse matrix in CSR form (no scipy at run time)."""

    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    data: NDArray[np.float32]
    width: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def dot_t(self, coef: NDArray[np.float32]) -> NDArray[np.float32]:
        """self @ coef.T for a dense (k, width) coef: one (n_rows, k) block of logits."""
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        weighted = coef[:, self.indices] * self.data  # (k, nnz)
        out = np.empty((self.n_rows, coef.shape[0]), dtype=np.float32)
        for k in range(coef.shape[0]):
            out[:, k] = np.bincount(rows, weights=weighted[k], minlength=self.n_rows)
        return out

    def to_scipy(self):  # type: ignore[no-untyped-def]  # training only: scipy comes with sklearn
        from scipy import sparse

        return sparse.csr_matrix(
            (self.data, self.indices, self.indptr), shape=(self.n_rows, self.width)
        )


class NgramVocabulary:
    """The n-grams a head reads, with their idf weights, in column order."""

    def __init__(self, grams: Sequence[str], idf: NDArray[np.float32]) -> None:
        if len(grams) != len(idf):
            raise ValueError(f"{len(grams)} n-grams but {len(idf)} idf weights")
        self.grams = tuple(grams)
        self.idf = np.asarray(idf, dtype=np.float32)
        self.index = {g: i for i, g in enumerate(self.grams)}

    def __len__(self) -> int:
        return len(self.grams)

    @classmethod
    def fit(
        cls, counts: Sequence[GramCounts], *, min_df: int = 2, max_features: int = 200_000
    ) -> NgramVocabulary:
        """Keep the n-grams in at least `min_df` texts, the `max_features` commonest ones
        (ties broken alphabetically, so the vocabulary is reproducible); idf is scikit-learn's
        smoothed ln((1 + n) / (1 + df)) + 1."""
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        kept = sorted((g for g, d in df.items() if d >= min_df), key=lambda g: (-df[g], g))
        kept = sorted(kept[:max_features])
        n = len(counts)
        idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float32)
        return cls(kept, idf)

    def transform(self, counts: Sequence[GramCounts]) -> SparseRows:
        # One Python pass collects (column or -1, count) for every gram of every row; numpy
        # does the rest (about 3x faster than building each row in Python).
        columns: list[int] = []
        tallies: list[int] = []
        for c in counts:
            columns.extend(map(self.index.get, c.keys(), repeat(-1)))
            tallies.extend(c.values())
        n = len(counts)
        row_of = np.repeat(np.arange(n), [len(c) for c in counts])
        cols = np.array(columns, dtype=np.int64)
        known = cols >= 0
        cols, rows = cols[known], row_of[known]
        data = (1.0 + np.log(np.array(tallies, dtype=np.float64)[known])) * self.idf[cols]
        # L2-normalise each row (a row with no known n-gram stays all zero).
        norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=n))
        data = data / np.maximum(norms, 1e-12)[rows]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return SparseRows(indptr, cols, data.astype(np.float32), len(self.grams))
