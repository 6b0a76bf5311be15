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
from functools import lru_cache
from itertools import chain, repeat

import numpy as np
from numpy.typing import NDArray

MIN_N, MAX_N = 2, 5
MAX_WORD_CHARS = 40  # a longer "word" (a hash, base64) adds noise and thousands of grams
WORD_CACHE_SIZE = 50_000  # words, per vocabulary: the common ones stay, memory stays bounded

GramCounts = Counter[str]


def words_of(text: str) -> list[str]:
    """The lower-cased words of one (already normalised) text, as the n-grams see them."""
    return text.lower().replace("\x00", " ").split()  # numpy str arrays drop NULs


def count_ngrams(text: str) -> GramCounts:
    """The n-gram counts of one (already normalised) text."""
    return Counter(chain.from_iterable(map(_word_grams, words_of(text))))


@lru_cache(maxsize=1 << 15)
def _word_grams(word: str) -> tuple[str, ...]:
    # Words repeat across posts (Zipf), so remembering each one's grams saves most of the work.
    padded = f" {word[:MAX_WORD_CHARS]} "
    size = len(padded)
    return tuple(
        padded[i : i + n] for n in range(MIN_N, min(MAX_N, size) + 1) for i in range(size - n + 1)
    )


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
        out = np.zeros((self.n_rows, coef.shape[0]), dtype=np.float32)
        filled = np.diff(self.indptr) > 0  # reduceat would copy a row's start into empty rows
        if filled.any():
            # Gather each n-gram's weights as one contiguous row: (nnz, k).
            weighted = np.ascontiguousarray(coef.T)[self.indices] * self.data[:, None]
            out[filled] = np.add.reduceat(weighted, self.indptr[:-1][filled], axis=0)
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
        # word -> the columns of its known n-grams: words repeat across posts, so a text costs
        # a lookup per word rather than per n-gram.
        self._word_columns: dict[str, tuple[int, ...]] = {}

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

    def transform(self, texts: Sequence[str]) -> SparseRows:
        """TF-IDF rows of (already normalised) texts over this vocabulary."""
        n = len(texts)
        columns = [list(chain.from_iterable(map(self._columns, words_of(t)))) for t in texts]
        sizes = np.fromiter(map(len, columns), dtype=np.int64, count=n)
        cols = np.fromiter(chain.from_iterable(columns), dtype=np.int64, count=int(sizes.sum()))
        # Count each (row, column) pair: np.unique sorts the keys, which is CSR order.
        keys, tallies = np.unique(np.repeat(np.arange(n), sizes) * len(self) + cols,
                                  return_counts=True)
        rows, cols = np.divmod(keys, len(self))
        data = (1.0 + np.log(tallies)) * self.idf[cols]
        # L2-normalise each row (a row with no known n-gram stays all zero).
        norms = np.sqrt(np.bincount(rows, weights=data**2, minlength=n))
        data = data / np.maximum(norms, 1e-12)[rows]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return SparseRows(indptr, cols, data.astype(np.float32), len(self.grams))

    def _columns(self, word: str) -> tuple[int, ...]:
        columns = self._word_columns.get(word)
        if columns is None:
            if len(self._word_columns) >= WORD_CACHE_SIZE:  # bounded: a stream has no end
                self._word_columns.clear()
            found = map(self.index.get, _word_grams(word), repeat(-1))
            columns = tuple(filter((-1).__ne__, found))
            self._word_columns[word] = columns
        return columns
