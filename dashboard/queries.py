"""The dashboard's reads: each function is one SQL query aggregated in DuckDB, run through the
warehouse read API (read-only, on the published snapshot). Results are cached for 30 s keyed on
the snapshot's path and mtime, so a new publish shows up on the next rerun."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from pipelines.warehouse.reader import query

# What counts as a complaint is the classifier's `is_complaint`, the same flag spike detection
# counts; the taxonomy file says which complaint types are complaints.
COMPLAINT_NOTE = (
    "Complaints: classified posts the model marks as complaints (`is_complaint`; types such "
    "as `none`, `praise` and `humor` are not complaints)."
)
BUCKET_CHOICES = (1, 5, 15, 60, 360, 1440)
MAX_POINTS = 2000
_COMPLAINT_SQL = "is_complaint"
_REACH_SQL = "coalesce(author_followers, 0) + coalesce(reposts, 0)"


class Snapshot(NamedTuple):
    """The cache key of a published warehouse: a new publish changes the mtime."""

    path: str
    mtime_ns: int


class Window(NamedTuple):
    """A half-open UTC time window [start, end)."""

    start: datetime
    end: datetime


class Overview(NamedTuple):
    posts: int
    classified: int
    buckets: int
    first: datetime | None
    last: datetime | None
    is_demo: bool


class Headline(NamedTuple):
    posts: int
    complaints: int
    negative_share: float | None  # of the classified posts; None when none are classified
    spikes: int
    linked_incidents: int


def snapshot(db: Path) -> Snapshot | None:
    """The published file's cache key, or None when there is no warehouse yet."""
    try:
        return Snapshot(str(db), os.stat(db).st_mtime_ns)
    except FileNotFoundError:
        return None


# -- time windows (pure) ---------------------------------------------------------------------
def local_day_window(first: date, last: date, tz: str) -> Window:
    """The UTC window covering local days first..last (inclusive) in time zone tz."""
    zone = ZoneInfo(tz)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
    return Window(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")))


def clamp_window(window: Window, first: datetime, last: datetime) -> Window:
    """Narrows a picked window to the data (so charts do not show empty days around it);
    `last` is the last minute with data, so the window ends one minute after it."""
    start = max(window.start, first)
    end = min(window.end, last + timedelta(minutes=1))
    return Window(start, max(end, start + timedelta(minutes=1)))


def auto_bucket_minutes(window: Window, max_points: int = MAX_POINTS) -> int:
    """The finest bucket that keeps the series at or under max_points points."""
    minutes = (window.end - window.start).total_seconds() / 60
    for choice in BUCKET_CHOICES:
        if minutes / choice <= max_points:
            return choice
    return BUCKET_CHOICES[-1]


def to_local_date(ts: datetime, tz: str) -> date:
    return ts.astimezone(ZoneInfo(tz)).date()


# -- queries ---------------------------------------------------------------------------------
def _run(snap: Snapshot, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    return query(Path(snap.path), sql, params)


@st.cache_data(ttl=30, show_spinner=False)
def overview(snap: Snapshot) -> Overview:
    """What the warehouse holds at all: decides which empty state (if any) to show."""
    df = _run(
        snap,
        """
        SELECT
          -- The tables, not the posts view: its join costs ~0.5 s at 1M posts.
          (SELECT count(*) FROM post_records) AS posts,
          (SELECT count(*) FROM classifications) AS classified,
          (SELECT count(*) FROM post_buckets) AS buckets,
          (SELECT min(t) FROM (SELECT min(created_at) AS t FROM post_records
                               UNION ALL SELECT min(minute) FROM post_buckets)) AS first,
          (SELECT max(t) FROM (SELECT max(created_at) AS t FROM post_records
                               UNION ALL SELECT max(minute) FROM post_buckets)) AS last,
          EXISTS (SELECT 1 FROM pipeline_runs WHERE flow = 'demo') AS is_demo
        """,
    )
    row = df.iloc[0]
    return Overview(
        posts=int(row["posts"]),
        classified=int(row["classified"]),
        buckets=int(row["buckets"]),
        first=_to_datetime(row["first"]),
        last=_to_datetime(row["last"]),
        is_demo=bool(row["is_demo"]),
    )


@st.cache_data(ttl=30, show_spinner=False)
def services(snap: Snapshot) -> pd.DataFrame:
    """Services present in posts or post_buckets, most complaints first:
    columns service, complaints, posts."""
    return _run(
        snap,
        f"""
        WITH names AS (
            SELECT service FROM post_records WHERE service IS NOT NULL
            UNION SELECT service FROM post_buckets
        ), complaints AS (
            SELECT service, sum(posts) AS complaints FROM post_buckets
            WHERE {_COMPLAINT_SQL} GROUP BY service
        ), counts AS (
            SELECT service, count(*) AS posts FROM post_records GROUP BY service
        )
        SELECT service, coalesce(complaints, 0)::BIGINT AS complaints,
               coalesce(posts, 0)::BIGINT AS posts
        FROM names LEFT JOIN complaints USING (service) LEFT JOIN counts USING (service)
        ORDER BY complaints DESC, posts DESC, service
        """,
    )


# The queries below bind their `?` parameters once, in an `args` CTE, under names that no
# table column uses, so the SQL reads like named parameters.
_SERIES_ARGS = """args AS (
    SELECT ?::VARCHAR AS svc, ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi,
           to_minutes(?::BIGINT) AS step, ?::DOUBLE AS step_minutes, ?::VARCHAR AS tz)"""


def _series_params(service: str, window: Window, bucket_minutes: int, tz: str) -> list[object]:
    return [service, window.start, window.end, bucket_minutes, bucket_minutes, tz]


@st.cache_data(ttl=30, show_spinner=False)
def headline(snap: Snapshot, service: str, window: Window) -> Headline:
    """Posts, complaints and negative share of the service's posts in the window, and the
    all-complaint spikes peaking in it with the distinct incidents linked to them."""
    df = _run(
        snap,
        f"""
        WITH args AS (SELECT ?::VARCHAR AS svc, ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi),
        b AS (  -- the classified posts, already aggregated per minute by `aftershock analyze`
            SELECT sentiment, is_complaint, posts FROM post_buckets, args
            WHERE service = svc AND minute >= lo AND minute < hi
        ), s AS (
            SELECT spike_id FROM spikes, args
            WHERE service = svc AND complaint_type IS NULL AND peak >= lo AND peak < hi
        )
        SELECT
          (SELECT count(*) FROM post_records, args
           WHERE service = svc AND created_at >= lo AND created_at < hi) AS posts,
          (SELECT coalesce(sum(posts), 0) FROM b WHERE {_COMPLAINT_SQL}) AS complaints,
          (SELECT sum(posts) FILTER (WHERE sentiment = 'negative') / sum(posts) FROM b)
              AS negative_share,
          (SELECT count(*) FROM s) AS spikes,
          (SELECT count(DISTINCT (provider, incident_id)) FROM incident_links
           WHERE spike_id IN (SELECT spike_id FROM s)) AS linked_incidents
        """,
        [service, window.start, window.end],
    )
    row = df.iloc[0]
    share = row["negative_share"]
    return Headline(
        posts=int(row["posts"]),
        complaints=int(row["complaints"]),
        negative_share=None if pd.isna(share) else float(share),
        spikes=int(row["spikes"]),
        linked_incidents=int(row["linked_incidents"]),
    )


@st.cache_data(ttl=30, show_spinner=False)
def complaint_series(
    snap: Snapshot, service: str, window: Window, bucket_minutes: int, tz: str
) -> pd.DataFrame:
    """Complaints per minute (averaged over each bucket) by complaint type, zero-filled over
    the window so stacked areas do not interpolate across quiet buckets.
    Columns: time (local, naive), complaint_type, rate, complaints."""
    return _run(
        snap,
        f"""
        WITH {_SERIES_ARGS},
        counts AS (
            SELECT time_bucket(step, minute) AS bucket, complaint_type,
                   sum(posts) AS complaints
            FROM post_buckets, args
            WHERE service = svc AND minute >= lo AND minute < hi AND {_COMPLAINT_SQL}
            GROUP BY ALL
        ), types AS (
            SELECT DISTINCT complaint_type FROM counts
        ), grid AS (
            SELECT range AS bucket FROM args, range(time_bucket(step, lo), hi, step)
        )
        SELECT timezone(tz, grid.bucket) AS time, types.complaint_type,
               coalesce(counts.complaints, 0) / step_minutes AS rate,
               coalesce(counts.complaints, 0)::BIGINT AS complaints
        FROM args, grid CROSS JOIN types
        LEFT JOIN counts USING (bucket, complaint_type)
        ORDER BY time, complaint_type
        """,
        _series_params(service, window, bucket_minutes, tz),
    )


@st.cache_data(ttl=30, show_spinner=False)
def post_series(
    snap: Snapshot, service: str, window: Window, bucket_minutes: int, tz: str
) -> pd.DataFrame:
    """Posts per minute (averaged over each bucket) whatever their classification: what the
    dashboard can still show before posts are classified. Columns: time, rate, posts."""
    return _run(
        snap,
        f"""
        WITH {_SERIES_ARGS},
        counts AS (
            SELECT time_bucket(step, created_at) AS bucket, count(*) AS posts
            FROM posts, args
            WHERE service = svc AND created_at >= lo AND created_at < hi
            GROUP BY ALL
        ), grid AS (
            SELECT range AS bucket FROM args, range(time_bucket(step, lo), hi, step)
        )
        SELECT timezone(tz, grid.bucket) AS time,
               coalesce(counts.posts, 0) / step_minutes AS rate,
               coalesce(counts.posts, 0)::BIGINT AS posts
        FROM args, grid LEFT JOIN counts USING (bucket)
        ORDER BY time
        """,
        _series_params(service, window, bucket_minutes, tz),
    )


@st.cache_data(ttl=30, show_spinner=False)
def sentiment_series(
    snap: Snapshot, service: str, window: Window, bucket_minutes: int, tz: str
) -> pd.DataFrame:
    """Share of negative/neutral/positive posts per bucket.
    Columns: time, time_end (the bucket's bounds, local, naive), sentiment, posts, share."""
    return _run(
        snap,
        f"""
        WITH {_SERIES_ARGS},
        counts AS (
            SELECT time_bucket(step, minute) AS bucket, sentiment, sum(posts) AS posts
            FROM post_buckets, args
            WHERE service = svc AND minute >= lo AND minute < hi
            GROUP BY ALL
        )
        SELECT timezone(tz, bucket) AS time, timezone(tz, bucket + step) AS time_end,
               sentiment, posts::BIGINT AS posts,
               posts / sum(posts) OVER (PARTITION BY bucket) AS share
        FROM counts, args
        ORDER BY time, sentiment
        """,
        _series_params(service, window, bucket_minutes, tz),
    )


@st.cache_data(ttl=30, show_spinner=False)
def incident_bands(
    snap: Snapshot, service: str, providers: tuple[str, ...], window: Window, tz: str
) -> pd.DataFrame:
    """Incidents of the service's providers (and any incident linked to its spikes) that
    overlap the window, clipped to it; an unresolved incident runs to the window's end.
    Columns: provider, incident_id, title, impact, start, end (local, naive), label."""
    return _run(
        snap,
        """
        WITH args AS (
            SELECT ?::VARCHAR AS svc, ?::VARCHAR[] AS deps, ?::TIMESTAMPTZ AS lo,
                   ?::TIMESTAMPTZ AS hi, ?::VARCHAR AS tz)
        SELECT provider, incident_id, title, impact,
               timezone(tz, greatest(started_at, lo)) AS start,
               timezone(tz, least(coalesce(resolved_at, hi), hi)) AS "end",
               provider || ': ' || title AS label
        FROM incidents, args
        WHERE (list_contains(deps, provider)
               OR (provider, incident_id) IN (
                   SELECT (provider, incident_id) FROM incident_links WHERE service = svc))
          AND started_at < hi AND coalesce(resolved_at, hi) > lo
        ORDER BY started_at
        """,
        [service, list(providers), window.start, window.end, tz],
    )


@st.cache_data(ttl=30, show_spinner=False)
def spike_markers(snap: Snapshot, service: str, window: Window, tz: str) -> pd.DataFrame:
    """All-complaint spikes peaking in the window, each with its most confident linked
    incident (if any). Columns: spike_id, start, peak, end (local, naive), peak_rate,
    expected_rate, score, posts, incident, relation, lead_minutes, confidence."""
    return _run(
        snap,
        """
        WITH args AS (
            SELECT ?::VARCHAR AS svc, ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi,
                   ?::VARCHAR AS tz),
        best AS (
            SELECT l.spike_id, l.provider || ': ' || coalesce(i.title, l.incident_id)
                       AS incident,
                   l.relation, l.lead_minutes, l.confidence
            FROM incident_links l
            LEFT JOIN incidents i USING (provider, incident_id)
            QUALIFY row_number() OVER (PARTITION BY l.spike_id
                                       ORDER BY l.confidence DESC, l.incident_id) = 1
        )
        SELECT s.spike_id, timezone(tz, s.start) AS start, timezone(tz, s.peak) AS peak,
               timezone(tz, s."end") AS "end", s.peak_rate, s.expected_rate, s.score,
               s.posts, b.incident, b.relation, b.lead_minutes, b.confidence
        FROM spikes s CROSS JOIN args LEFT JOIN best b USING (spike_id)
        WHERE s.service = svc AND s.complaint_type IS NULL AND s.peak >= lo AND s.peak < hi
        ORDER BY s.peak
        """,
        [service, window.start, window.end, tz],
    )


@st.cache_data(ttl=30, show_spinner=False)
def top_posts(
    snap: Snapshot, service: str, window: Window, tz: str, limit: int = 25
) -> pd.DataFrame:
    """The service's posts with the most reach (author followers + reposts) in the window.
    Only http(s) links are returned: a post's url is untrusted input."""
    return _run(
        snap,
        f"""
        WITH args AS (
            SELECT ?::VARCHAR AS svc, ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi,
                   ?::VARCHAR AS tz),
        top AS (  -- the top keys first, from the table: the view's join is paid for `limit` rows
            SELECT source, id, {_REACH_SQL} AS reach FROM post_records, args
            WHERE service = svc AND created_at >= lo AND created_at < hi
            ORDER BY reach DESC, created_at, source, id
            LIMIT ?
        )
        SELECT timezone(tz, created_at) AS time, source, author, text, likes, reposts,
               top.reach, sentiment, complaint_type,
               CASE WHEN regexp_matches(url, '^https?://') THEN url END AS link
        FROM top JOIN posts USING (source, id), args
        ORDER BY top.reach DESC, created_at, source, id
        """,
        [service, window.start, window.end, tz, limit],
    )


@st.cache_data(ttl=30, show_spinner=False)
def spike_service(snap: Snapshot, spike_id: str) -> str | None:
    df = _run(snap, "SELECT service FROM spikes WHERE spike_id = ?", [spike_id])
    return None if df.empty else str(df["service"].iloc[0])


def _to_datetime(value: object) -> datetime | None:
    """A TIMESTAMPTZ cell as an aware UTC datetime (None for NULL/NaT)."""
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return None
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()
