"""Themes: what exactly people complain about, as clusters of similar posts.

Texts and their sentence embeddings in, themes out: each with a label made of the terms that set
it apart from the other themes, its size and one representative post. Identical and
near-identical texts (reposts, copy-paste pile-ons) are collapsed first, so one viral post
repeated a hundred times cannot make a theme on its own; it still counts towards its theme's
size. The number of themes comes from the data (k-means for each k, the best cosine
silhouette). Deterministic for the same input."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_REPOST_PREFIX = re.compile(r"^(?:rt|reposted?)\b\s*:?\s*", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^\w]+")
_TOKEN = re.compile(r"[a-z][a-z0-9]*(?:'[a-z]+)?")

# Words that carry no topic in posts, beyond sklearn's English list.
_POST_STOPWORDS = frozenset({
    "rt", "amp", "http", "https", "com", "www", "user", "im", "i'm", "it's", "don't", "can't",
    "doesn't", "isn't", "won't", "didn't", "that's", "just", "like", "really", "lol", "lmao",
    "ugh", "got", "get", "getting", "today", "right", "now", "anyone", "else", "guys", "yall",
    "y'all", "gonna", "still", "again", "yet", "also", "even", "literally", "honestly", "ok",
    "does", "did", "doing", "keep", "keeps", "kept", "try", "tried", "trying", "rn", "pls",
    "please", "tho", "wanna", "thing", "things", "way", "lot",
})
STOPWORDS = frozenset(ENGLISH_STOP_WORDS) | _POST_STOPWORDS


@dataclass(frozen=True)
class ThemeParams:
    near_duplicate: float = 0.95   # cosine at or above which two texts count as one
    min_theme_texts: int = 3       # distinct texts a cluster needs to be a theme
    min_themes: int = 3            # when the data has enough texts (see _cluster)
    max_themes: int = 8
    label_terms: int = 3
    samples: int = 5               # further example posts kept per theme
    seed: int = 0


@dataclass(frozen=True)
class Theme:
    theme_id: int                  # 1 is the largest theme
    label: str                     # its distinctive terms, e.g. "status page, update"
    terms: tuple[str, ...]
    posts: int                     # posts in the theme, duplicates included
    distinct_texts: int            # after collapsing (near-)duplicates
    share: float                   # posts / all posts given
    representative: int            # index of the post that best stands for the theme
    samples: tuple[int, ...]       # indices of further posts with other texts, nearest first


def dedupe_key(text: str) -> str:
    """What is left of a post once repost markers, handles, links, case and punctuation are
    gone: two posts with the same key say the same thing."""
    text = _REPOST_PREFIX.sub("", text.strip())
    text = _MENTION.sub(" ", _URL.sub(" ", text))
    return _NOT_WORD.sub(" ", text.lower()).replace("_", " ").strip()


def duplicate_groups(texts: Sequence[str], embeddings: np.ndarray, near_duplicate: float
                     ) -> list[list[int]]:
    """Indices grouped by (near-)identical text, each group in input order, groups ordered by
    their first index. Equal dedupe keys always group; then whole groups merge greedily when
    their first texts' embeddings have cosine >= near_duplicate."""
    by_key: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        by_key.setdefault(dedupe_key(text), []).append(i)
    exact = sorted(by_key.values(), key=lambda g: g[0])
    heads = _unit(embeddings[[g[0] for g in exact]])
    similar = heads @ heads.T >= near_duplicate
    owner = list(range(len(exact)))
    for a in range(len(exact)):
        if owner[a] != a:
            continue
        for b in np.flatnonzero(similar[a, a + 1:]) + a + 1:
            if owner[b] == b:
                owner[b] = a
    merged: dict[int, list[int]] = {}
    for a, group in enumerate(exact):
        merged.setdefault(owner[a], []).extend(group)
    return [sorted(g) for _, g in sorted(merged.items())]


def find_themes(texts: Sequence[str], embeddings: np.ndarray,
                params: ThemeParams = ThemeParams(), ignore_terms: Iterable[str] = ()
                ) -> list[Theme]:
    """Themes of `texts` (one embedding row each), largest first. Give the posts most-reached
    first: a duplicate group is represented by its first post. `ignore_terms` (e.g. the
    service's own name) never appear in labels."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"{len(texts)} texts but embeddings of shape {vectors.shape}")
    if not texts:
        return []
    groups = duplicate_groups(texts, vectors, params.near_duplicate)
    points = _unit(vectors[[g[0] for g in groups]])
    labels = _cluster(points, params)
    ignored = _Ignored(ignore_terms)
    tokens = [_tokens(texts[g[0]], ignored) for g in groups]
    clusters = [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)]
    clusters = [m for m in clusters if len(m) >= params.min_theme_texts]
    terms = _distinctive_terms(tokens, clusters, params.label_terms)
    themes = []
    for members, cluster_terms in zip(clusters, terms, strict=True):
        centre = _unit(points[members].mean(axis=0, keepdims=True))[0]
        # Nearest the centre first; ties by input order, so the result is deterministic.
        order = sorted(members, key=lambda g: (-round(float(points[g] @ centre), 6), g))
        posts = sum(len(groups[g]) for g in members)
        themes.append(Theme(
            theme_id=0, label=", ".join(cluster_terms), terms=tuple(cluster_terms), posts=posts,
            distinct_texts=len(members), share=posts / len(texts),
            representative=groups[order[0]][0],
            samples=tuple(groups[g][0] for g in order[1:1 + params.samples]),
        ))
    themes.sort(key=lambda t: (-t.posts, -t.distinct_texts, t.representative))
    return [Theme(i + 1, t.label, t.terms, t.posts, t.distinct_texts, t.share,
                  t.representative, t.samples) for i, t in enumerate(themes)]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms > 0, norms, 1.0), dtype=np.float64)


def _cluster(points: np.ndarray, params: ThemeParams) -> np.ndarray:
    """A cluster label per point. k runs from min_themes (or 2, with fewer texts) to as many
    themes as the data can fill; the k with the best cosine silhouette wins (the smaller k on a
    tie). Too few texts: one cluster. On posts the silhouette favours the coarsest split (one
    language, one viral post and its copies against the rest: measured on the demo spikes), and
    two themes tell a comms lead little, hence the floor of min_themes."""
    n = len(points)
    max_k = min(params.max_themes, n // params.min_theme_texts)
    if max_k < 2 or np.allclose(points, points[0]):
        return np.zeros(n, dtype=int)
    min_k = max(2, min(params.min_themes, max_k))
    distances = np.clip(1.0 - points @ points.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    best: tuple[float, np.ndarray] | None = None
    # One thread: the matrices are small, and OpenMP start-up on shared cores costs more
    # than the work (7x slower measured on 2 busy cores).
    with threadpool_limits(limits=1):
        for k in range(min_k, max_k + 1):
            labels = KMeans(n_clusters=k, n_init=4, random_state=params.seed).fit_predict(points)
            if len(set(labels.tolist())) < 2:
                continue
            score = round(float(silhouette_score(distances, labels, metric="precomputed")), 6)
            if best is None or score > best[0]:
                best = (score, labels)
    return np.zeros(n, dtype=int) if best is None else best[1]


class _Ignored:
    """The ignored terms' words, their misspellings ("cluade", "chatgtp") and hashtags glued
    to them ("chatgptdown"): posts write the service's name every which way."""

    def __init__(self, terms: Iterable[str]) -> None:
        self.words = frozenset(t for term in terms for t in _TOKEN.findall(term.lower()))
        self._seen: dict[str, bool] = {}

    def __contains__(self, word: str) -> bool:
        if word not in self._seen:
            self._seen[word] = word in self.words or any(
                len(w) >= 4 and (word.startswith(w)
                                 or SequenceMatcher(None, word, w).ratio() >= 0.8)
                for w in self.words)
        return self._seen[word]


def _tokens(text: str, ignored: _Ignored) -> set[str]:
    """Unigrams and bigrams of a post's topic words (stopwords, handles and links removed)."""
    clean = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    words = [w for w in _TOKEN.findall(clean) if w not in STOPWORDS and len(w) > 2
             and w not in ignored]
    return set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words) if a != b}


def _distinctive_terms(tokens: list[set[str]], clusters: list[np.ndarray], how_many: int
                       ) -> list[list[str]]:
    """Per cluster, the terms frequent inside it and rare outside it: share inside times the
    log-ratio of the shares inside and outside. A term needs two texts of the cluster."""
    everywhere = Counter(t for toks in tokens for t in toks)
    total = len(tokens)
    result = []
    for members in clusters:
        inside = Counter(t for m in members for t in tokens[m])
        outside_n = max(total - len(members), 1)
        scored = []
        for term, count in inside.items():
            if count < 2:
                continue
            p_in = count / len(members)
            p_out = (everywhere[term] - count) / outside_n
            scored.append((-p_in * math.log((p_in + 0.01) / (p_out + 0.01)), term))
        result.append(_pick_terms([term for _, term in sorted(scored)], how_many))
    return result


def _pick_terms(ranked: list[str], how_many: int) -> list[str]:
    """The best terms, skipping a word already inside a chosen phrase, a phrase made of
    chosen words, and the plural of a chosen word (or its singular)."""
    chosen: list[str] = []
    for term in ranked:
        words = _stems(term)
        if any(words <= c or c <= words for c in map(_stems, chosen)):
            continue
        chosen.append(term)
        if len(chosen) == how_many:
            break
    return chosen


def _stems(term: str) -> set[str]:
    return {w.removesuffix("s") if len(w) > 3 else w for w in term.split()}
