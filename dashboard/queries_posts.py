"""Reads for the Posts page: the posts matching the page's filters, filtered and sorted in
DuckDB, cached for 30 s like dashboard.queries."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import streamlit as st

from dashboard.queries import Snapshot, Window, _run

MAX_ROWS = 500


class PostFilter(NamedTuple):
    services: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    complaint_types: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    text: str = ""           # case-insensitive substring of the post text
    order: str = "reach"     # reach | newest


@st.cache_data(ttl=30, show_spinner=False)
def facets(snap: Snapshot, window: Window) -> dict[str, list[str]]:
    """The values each filter can take in the window (most frequent first)."""
    df = _run(
        snap,
        """
        WITH args AS (SELECT ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi),
        p AS (SELECT * FROM posts, args WHERE created_at >= lo AND created_at < hi)
        SELECT 'services' AS facet, service AS value, count(*) AS n FROM p
            WHERE service IS NOT NULL GROUP BY ALL
        UNION ALL SELECT 'sources', source, count(*) FROM p GROUP BY ALL
        UNION ALL SELECT 'sentiments', sentiment, count(*) FROM p
            WHERE sentiment IS NOT NULL GROUP BY ALL
        UNION ALL SELECT 'complaint_types', complaint_type, count(*) FROM p
            WHERE complaint_type IS NOT NULL GROUP BY ALL
        UNION ALL SELECT 'langs', lang, count(*) FROM p WHERE lang IS NOT NULL GROUP BY ALL
        ORDER BY facet, n DESC, value
        """,
        [window.start, window.end],
    )
    return {str(k): list(g["value"]) for k, g in df.groupby("facet")}


_WHERE = """
    created_at >= lo AND created_at < hi
    AND (len(svcs) = 0 OR list_contains(svcs, service))
    AND (len(srcs) = 0 OR list_contains(srcs, source))
    AND (len(sents) = 0 OR list_contains(sents, sentiment))
    AND (len(ctypes) = 0 OR list_contains(ctypes, complaint_type))
    AND (len(langs_) = 0 OR list_contains(langs_, lang))
    AND (needle = '' OR contains(lower(text), lower(needle)))
"""
_ARGS = """args AS (
    SELECT ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi, ?::VARCHAR[] AS svcs,
           ?::VARCHAR[] AS srcs, ?::VARCHAR[] AS sents, ?::VARCHAR[] AS ctypes,
           ?::VARCHAR[] AS langs_, ?::VARCHAR AS needle, ?::VARCHAR AS tz)"""


def _params(window: Window, f: PostFilter, tz: str) -> list[object]:
    return [window.start, window.end, list(f.services), list(f.sources), list(f.sentiments),
            list(f.complaint_types), list(f.langs), f.text.strip(), tz]


@st.cache_data(ttl=30, show_spinner=False)
def count_posts(snap: Snapshot, window: Window, f: PostFilter, tz: str) -> int:
    df = _run(snap, f"WITH {_ARGS} SELECT count(*) AS n FROM posts, args WHERE {_WHERE}",
              _params(window, f, tz))
    return int(df["n"].iloc[0])


@st.cache_data(ttl=30, show_spinner=False)
def find_posts(snap: Snapshot, window: Window, f: PostFilter, tz: str,
               limit: int = MAX_ROWS) -> pd.DataFrame:
    """Matching posts with their metrics and labels (each with its score). Only http(s)
    links are returned: a post's url is untrusted input."""
    order = "created_at DESC" if f.order == "newest" else "reach DESC, created_at DESC"
    return _run(
        snap,
        f"""
        WITH {_ARGS}
        SELECT timezone(tz, created_at) AS time, source, service, author, text,
               coalesce(author_followers, 0) + coalesce(reposts, 0) AS reach,
               author_followers AS followers, likes, reposts, replies, quotes, lang,
               sentiment, (sentiment_scores ->> sentiment)::DOUBLE AS sentiment_score,
               is_complaint, complaint_probability, complaint_type,
               (complaint_scores ->> complaint_type)::DOUBLE AS type_score,
               CASE WHEN regexp_matches(url, '^https?://') THEN url END AS link
        FROM posts, args
        WHERE {_WHERE}
        ORDER BY {order}, source, id
        LIMIT ?
        """,
        [*_params(window, f, tz), limit],
    )
