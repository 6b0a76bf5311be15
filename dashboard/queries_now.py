"""Reads for the Now page, each one SQL query aggregated in DuckDB and cached for 30 s like
dashboard.queries: the state of every service at one moment (`as_of`, the end of the picked
range, which is the newest data unless the user picked an earlier range)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.queries import Snapshot, _run

RECENT_MINUTES = 15       # "now" is the complaint rate over this many minutes
HISTORY_DAYS = 28         # the expected rate: the same hour of day over this many days
SPARK_HOURS = 6


@st.cache_data(ttl=30, show_spinner=False)
def service_status(snap: Snapshot, as_of: datetime) -> pd.DataFrame:
    """Per service: complaints per minute over the last RECENT_MINUTES, the expected rate
    (median complaints per minute in the same hour of day over the previous HISTORY_DAYS days,
    the current hour excluded), the ratio, posts and negative share in the last hour, and the
    number of spikes active at as_of. Columns: service, rate, expected, ratio, posts_1h,
    negative_share_1h, active_spikes."""
    return _run(
        snap,
        """
        WITH args AS (SELECT ?::TIMESTAMPTZ AS t, ?::INTEGER AS recent, ?::INTEGER AS days),
        names AS (SELECT DISTINCT service FROM post_buckets),
        recent AS (
            SELECT service, sum(posts) FILTER (WHERE is_complaint) / any_value(recent) AS rate
            FROM post_buckets, args
            WHERE minute >= t - to_minutes(recent) AND minute < t
            GROUP BY service
        ), hour_1 AS (
            SELECT service, sum(posts) AS posts_1h,
                   coalesce(sum(posts) FILTER (WHERE sentiment = 'negative'), 0)
                       / sum(posts) FILTER (WHERE sentiment IS NOT NULL) AS negative_share_1h
            FROM post_buckets, args WHERE minute >= t - INTERVAL 1 HOUR AND minute < t
            GROUP BY service
        ), same_hours AS (  -- the same hour of day on each of the previous `days` days
            SELECT date_trunc('hour', t) - to_days(range::INTEGER) AS hour
            FROM args, range(1, days + 1)
        ), hourly AS (
            SELECT service, date_trunc('hour', minute) AS hour,
                   sum(posts) FILTER (WHERE is_complaint) AS complaints
            FROM post_buckets
            WHERE date_trunc('hour', minute) IN (SELECT hour FROM same_hours)
            GROUP BY ALL
        ), first_seen AS (
            SELECT service, min(minute) AS first FROM post_buckets GROUP BY service
        ), days AS (  -- zero for a day the service had data but no complaints in that hour
            SELECT f.service, count(*) AS seen, median(coalesce(h.complaints, 0)) AS med
            FROM first_seen f JOIN same_hours s ON s.hour >= date_trunc('hour', f.first)
            LEFT JOIN hourly h ON h.service = f.service AND h.hour = s.hour
            GROUP BY f.service
        ), active AS (
            SELECT service, count(*) AS active_spikes FROM spikes, args
            WHERE complaint_type IS NULL AND start <= t
              AND "end" >= t - to_minutes(recent)
            GROUP BY service
        )
        SELECT n.service, coalesce(r.rate, 0) AS rate,
               CASE WHEN d.seen > 0 THEN d.med / 60 END AS expected,
               coalesce(r.rate, 0) / nullif(d.med / 60, 0) AS ratio,
               coalesce(h.posts_1h, 0)::BIGINT AS posts_1h, h.negative_share_1h,
               coalesce(a.active_spikes, 0)::BIGINT AS active_spikes
        FROM names n LEFT JOIN recent r USING (service) LEFT JOIN hour_1 h USING (service)
        LEFT JOIN days d USING (service) LEFT JOIN active a USING (service)
        ORDER BY active_spikes DESC, ratio DESC NULLS LAST, rate DESC, service
        """,
        [as_of, RECENT_MINUTES, HISTORY_DAYS],
    )


@st.cache_data(ttl=30, show_spinner=False)
def recent_series(snap: Snapshot, as_of: datetime, tz: str) -> pd.DataFrame:
    """Complaints per minute in 5-minute buckets over the last SPARK_HOURS hours, per
    service, zero-filled. Columns: service, time (local, naive), rate."""
    return _run(
        snap,
        """
        WITH args AS (SELECT ?::TIMESTAMPTZ AS t, ?::VARCHAR AS tz, ?::INTEGER AS hours),
        grid AS (
            SELECT range AS bucket FROM args,
                   range(time_bucket(INTERVAL 5 MINUTE, t - to_hours(hours)), t,
                         INTERVAL 5 MINUTE)
        ), names AS (SELECT DISTINCT service FROM post_buckets),
        counts AS (
            SELECT service, time_bucket(INTERVAL 5 MINUTE, minute) AS bucket,
                   sum(posts) AS complaints
            FROM post_buckets, args
            WHERE is_complaint AND minute >= t - to_hours(hours) AND minute < t
            GROUP BY ALL
        )
        SELECT n.service, timezone(tz, g.bucket) AS time,
               coalesce(c.complaints, 0) / 5.0 AS rate
        FROM args, names n CROSS JOIN grid g LEFT JOIN counts c USING (service, bucket)
        ORDER BY n.service, time
        """,
        [as_of, tz, SPARK_HOURS],
    )


@st.cache_data(ttl=30, show_spinner=False)
def open_incidents(snap: Snapshot, providers: tuple[str, ...], as_of: datetime,
                   tz: str) -> pd.DataFrame:
    """Incidents of the given providers open at as_of (started, not yet resolved).
    Columns: provider, title, impact, status, started (local, naive), minutes_open, url."""
    return _run(
        snap,
        """
        WITH args AS (SELECT ?::VARCHAR[] AS provs, ?::TIMESTAMPTZ AS t, ?::VARCHAR AS tz)
        SELECT provider, title, impact, status, timezone(tz, started_at) AS started,
               date_diff('minute', started_at, t) AS minutes_open,
               CASE WHEN regexp_matches(url, '^https?://') THEN url END AS url
        FROM incidents, args
        WHERE list_contains(provs, provider) AND started_at <= t
          AND (resolved_at IS NULL OR resolved_at > t)
        ORDER BY started_at DESC
        """,
        [list(providers), as_of, tz],
    )


@st.cache_data(ttl=30, show_spinner=False)
def source_health(snap: Snapshot, tz: str) -> pd.DataFrame:
    """Per collect source and status poll: the last successful run, the last failed one and
    its error, and how many of the last 10 runs failed. Columns: source, last_success,
    last_failure, last_error, failures_of_last_10."""
    return _run(
        snap,
        """
        WITH args AS (SELECT ?::VARCHAR AS tz),
        runs AS (
            SELECT CASE WHEN flow = 'poll-status' THEN 'status pages'
                        ELSE substr(flow, 9) END AS source,
                   finished_at, status, summary,
                   row_number() OVER (PARTITION BY flow ORDER BY finished_at DESC) AS age
            FROM pipeline_runs WHERE flow LIKE 'collect:%' OR flow = 'poll-status'
        )
        SELECT source,
               timezone(any_value(tz), max(finished_at) FILTER (WHERE status = 'completed'))
                   AS last_success,
               timezone(any_value(tz), max(finished_at) FILTER (WHERE status = 'failed'))
                   AS last_failure,
               arg_max(summary ->> 'error', finished_at) FILTER (WHERE status = 'failed')
                   AS last_error,
               count(*) FILTER (WHERE age <= 10 AND status = 'failed') AS failures_of_last_10
        FROM runs, args GROUP BY source ORDER BY source
        """,
        [tz],
    )
