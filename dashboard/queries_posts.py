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
        -- Labels from the per-minute aggregate, the rest from the table (not the posts
        -- view, whose join costs ~0.5 s at 1M posts).
        b AS (SELECT * FROM post_buckets, args WHERE minute >= lo AND minute < hi),
        p AS (SELECT source, lang FROM post_records, args
              WHERE created_at >= lo AND created_at < hi)
        SELECT 'services' AS facet, service AS value, sum(posts) AS n FROM b GROUP BY ALL
        UNION ALL SELECT 'sources', source, count(*) FROM p GROUP BY ALL
        UNION ALL SELECT 'sentiments', sentiment, sum(posts) FROM b GROUP BY ALL
        UNION ALL SELECT 'complaint_types', complaint_type, sum(posts) FROM b GROUP BY ALL
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
    AND (len(langs_) = 0 OR list_contains(langs_, lang))
    AND (needle = '' OR text ILIKE '%' || replace(replace(replace(needle, '\\', '\\\\'),
                                           '%', '\\%'), '_', '\\_') || '%' ESCAPE '\\')
"""
_LABELS = """
    AND (len(sents) = 0 OR list_contains(sents, sentiment))
    AND (len(ctypes) = 0 OR list_contains(ctypes, complaint_type))
"""
_ARGS = """args AS (
    SELECT ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi, ?::VARCHAR[] AS svcs,
           ?::VARCHAR[] AS srcs, ?::VARCHAR[] AS sents, ?::VARCHAR[] AS ctypes,
           ?::VARCHAR[] AS langs_, ?::VARCHAR AS needle, ?::VARCHAR AS tz)"""


def _params(window: Window, f: PostFilter, tz: str) -> list[object]:
    return [window.start, window.end, list(f.services), list(f.sources), list(f.sentiments),
            list(f.complaint_types), list(f.langs), f.text.strip(), tz]


def _from_where(f: PostFilter) -> str:
    """FROM and WHERE of the matching posts: the posts view when a label filter needs the
    classifications, else the table alone (the view's join costs ~0.5 s at 1M posts)."""
    if f.sentiments or f.complaint_types:
        return f"FROM posts, args WHERE {_WHERE} {_LABELS}"
    return f"FROM post_records, args WHERE {_WHERE}"


@st.cache_data(ttl=30, show_spinner=False)
def count_posts(snap: Snapshot, window: Window, f: PostFilter, tz: str) -> int:
    df = _run(snap, f"WITH {_ARGS} SELECT count(*) AS n {_from_where(f)}",
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
        WITH {_ARGS},
        top AS (  -- the matching keys first; the view's join is then paid for `limit` rows
            SELECT source, id, created_at,
                   coalesce(author_followers, 0) + coalesce(reposts, 0) AS reach
            {_from_where(f)}
            ORDER BY {order}, source, id
            LIMIT ?
        )
        SELECT timezone(tz, created_at) AS time, source, service, author, text, top.reach,
               author_followers AS followers, likes, reposts, replies, quotes, lang,
               sentiment, (sentiment_scores ->> sentiment)::DOUBLE AS sentiment_score,
               is_complaint, complaint_probability, complaint_type,
               (complaint_scores ->> complaint_type)::DOUBLE AS type_score,
               CASE WHEN regexp_matches(url, '^https?://') THEN url END AS link
        FROM top JOIN posts USING (source, id, created_at), args
        ORDER BY {order}, source, id
        """,
        [*_params(window, f, tz), limit],
    )
