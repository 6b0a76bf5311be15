"""The themes step of `aftershock analyze`: the complaint themes of every all-complaints
spike (analysis.themes)
into `spike_themes`. Each spike contributes its most-reached complaints (at most
MAX_POSTS_PER_SPIKE); every distinct text is encoded once with the classifier's sentence encoder,
however many spikes it falls in. Recomputed as a whole, so re-running never duplicates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.classifier.encoder import Encoder, MiniLMEncoder
from analysis.classifier.errors import ModelLoadError
from analysis.classifier.text import normalise
from analysis.themes import ThemeParams, find_themes
from pipelines.errors import ModelError
from pipelines.warehouse.writer import Warehouse

SPIKE_THEME_COLUMNS = ["spike_id", "theme_id", "label", "posts", "distinct_texts", "share",
                       "representative_id", "representative_source", "representative_text",
                       "sample_ids", "posts_signature"]
# Clustering cost grows with the square of the posts; the most-reached 2,000 say what a spike
# is about (and are what most people saw).
MAX_POSTS_PER_SPIKE = 2000

# Each all-complaints spike's complaints from its start to the end of its last minute,
# most-reached first. Spikes of one complaint type are left out: their posts are a subset of the
# all-complaints spike's at the same time, and the brief shows the latter.
SPIKE_COMPLAINTS_SQL = """
SELECT spike_id, service, source, id, text FROM (
    SELECT s.spike_id, s.service, p.source, p.id, p.text,
           row_number() OVER (
               PARTITION BY s.spike_id
               ORDER BY coalesce(p.author_followers, 0) + coalesce(p.reposts, 0)
                        + coalesce(p.quotes, 0) DESC, p.created_at, p.source, p.id) AS rank
    FROM spikes s JOIN posts p ON p.service = s.service
     AND p.created_at >= s.start AND p.created_at < s."end" + INTERVAL 1 MINUTE
    WHERE p.is_complaint AND s.complaint_type IS NULL
)
WHERE rank <= ?
ORDER BY spike_id, rank
"""


def load_encoder() -> Encoder:
    try:
        return MiniLMEncoder()
    except ModelLoadError as e:
        raise ModelError(f"cannot load the sentence encoder for themes: {e}") from e


def embed_distinct(texts: Sequence[str], encoder: Encoder) -> np.ndarray:
    """One embedding row per text; each distinct (normalised) text is encoded once."""
    clean = [normalise(t) for t in texts]
    distinct = sorted(set(clean))
    if not distinct:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    vectors = encoder.encode(distinct)
    row = {text: i for i, text in enumerate(distinct)}
    return np.asarray(vectors[[row[t] for t in clean]])


def spike_themes(posts: pd.DataFrame, embeddings: np.ndarray,
                 ignore_terms: Mapping[str, Sequence[str]], params: ThemeParams | None = None
                 ) -> pd.DataFrame:
    """posts: spike_id, service, source, id, text (each spike's posts most-reached first) with
    one embedding row each. Returns SPIKE_THEME_COLUMNS rows."""
    rows = []
    for spike_id, part in posts.groupby("spike_id", sort=True):
        at = part.index.to_numpy()
        service = str(part["service"].iloc[0])
        texts = part["text"].tolist()
        themes = find_themes(texts, embeddings[at], params or ThemeParams(),
                             ignore_terms=[service, *ignore_terms.get(service, [])])
        keys = list(zip(part["source"], part["id"], strict=True))
        for t in themes:
            source, post_id = keys[t.representative]
            rows.append({
                "spike_id": spike_id, "theme_id": t.theme_id, "label": t.label,
                "posts": t.posts, "distinct_texts": t.distinct_texts, "share": t.share,
                "representative_id": post_id, "representative_source": source,
                "representative_text": texts[t.representative],
                "sample_ids": json.dumps([{"source": keys[i][0], "id": keys[i][1]}
                                          for i in t.samples]),
                "posts_signature": posts_signature(part),
            })
    return pd.DataFrame(rows, columns=SPIKE_THEME_COLUMNS)


def posts_signature(part: pd.DataFrame) -> str:
    """What a spike's themes depend on: its clustered posts (keys, order and text)."""
    digest = hashlib.sha256()
    for source, post_id, text in zip(part["source"], part["id"], part["text"], strict=True):
        digest.update(f"{source}\x1f{post_id}\x1f{text}\x1e".encode("utf-8", "replace"))
    return digest.hexdigest()


def compute_spike_themes(wh: Warehouse, encoder: Callable[[], Encoder] = load_encoder,
                         ignore_terms: Mapping[str, Sequence[str]] | None = None,
                         max_posts: int = MAX_POSTS_PER_SPIKE) -> int:
    """Writes spike_themes from the spikes table. A spike whose clustered posts are the same
    as when its themes were computed keeps them; only new or changed spikes are encoded and
    clustered, and the encoder loads only when there are some. Returns the number of themes."""
    posts = wh.con.execute(SPIKE_COMPLAINTS_SQL, [max_posts]).df().reset_index(drop=True)
    kept = wh.con.execute(
        f"SELECT {', '.join(SPIKE_THEME_COLUMNS)} FROM spike_themes").df()
    signatures = {str(k): posts_signature(g) for k, g in posts.groupby("spike_id", sort=True)}
    kept = kept[kept["spike_id"].astype(str).map(signatures) == kept["posts_signature"]]
    todo = posts[~posts["spike_id"].isin(set(kept["spike_id"]))].reset_index(drop=True)
    fresh = pd.DataFrame(columns=SPIKE_THEME_COLUMNS)
    if not todo.empty:
        embeddings = embed_distinct(todo["text"].tolist(), encoder())
        fresh = spike_themes(todo, embeddings, ignore_terms or {})
    themes = pd.concat([f for f in (kept, fresh) if not f.empty]) if len(kept) + len(fresh) \
        else pd.DataFrame(columns=SPIKE_THEME_COLUMNS)
    wh.replace_table("spike_themes", themes, SPIKE_THEME_COLUMNS)
    return len(themes)
