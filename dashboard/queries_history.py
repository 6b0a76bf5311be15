"""Reads for the History page: incidents side by side — size, duration, lead time, sentiment,
switching — from the tables `aftershock analyze` fills; one SQL query, cached for 30 s."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.queries import Snapshot, Window, _run


@st.cache_data(ttl=30, show_spinner=False)
def incidents(snap: Snapshot, window: Window, tz: str,
              services: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per incident and affected service that started in the window, with a social
    reaction (its linked spikes), most complaints first, ranked within its service.
    Columns: service, provider, incident_id, title, relation, started (local, naive),
    duration_min, complaints, peak_ratio, reach, negative_share, lead_minutes,
    minutes_to_recovery, switching, rank, of."""
    return _run(
        snap,
        """
        WITH args AS (SELECT ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi, ?::VARCHAR AS tz,
                             ?::VARCHAR[] AS svcs),
        m AS (
            SELECT m.*, i.title FROM incident_metrics m
            JOIN incidents i USING (provider, incident_id), args
            WHERE NOT m.silent AND m.service IS NOT NULL
              AND i.started_at >= lo AND i.started_at < hi
              AND (len(svcs) = 0 OR list_contains(svcs, m.service))
        ), spikes_of AS (  -- the all-complaint spikes linked to each incident and service
            SELECT l.provider, l.incident_id, s.service, s.spike_id, s.start, s."end",
                   s.peak_rate / nullif(s.expected_rate, 0) AS ratio
            FROM incident_links l JOIN spikes s USING (spike_id)
            WHERE s.complaint_type IS NULL
        ), per_incident AS (
            SELECT provider, incident_id, service, max(ratio) AS peak_ratio,
                   sum(r.reach) AS reach, list(spike_id) AS spike_ids,
                   min(start) AS first_start, max("end") AS last_end
            FROM spikes_of LEFT JOIN spike_reaction r USING (spike_id, service)
            GROUP BY ALL
        ), sentiment AS (
            SELECT p.provider, p.incident_id, p.service,
                   sum(b.posts) FILTER (WHERE b.sentiment = 'negative') / sum(b.posts)
                       AS negative_share
            FROM per_incident p JOIN post_buckets b
              ON b.service = p.service AND b.minute >= p.first_start
             AND b.minute <= p.last_end
            GROUP BY ALL
        ), switching AS (
            SELECT p.provider, p.incident_id, p.service, sum(c.switching_intent) AS switching
            FROM per_incident p JOIN competitor_mentions c
              ON list_contains(p.spike_ids, c.spike_id)
            GROUP BY ALL
        )
        SELECT m.service, m.provider, m.incident_id, m.title, m.relation,
               timezone(tz, m.started_at) AS started,
               date_diff('minute', m.started_at, m.resolved_at) AS duration_min,
               m.complaints, p.peak_ratio, p.reach, s.negative_share,
               m.minutes_to_first_update AS lead_minutes, m.minutes_to_recovery,
               coalesce(w.switching, 0) AS switching,
               rank() OVER (PARTITION BY m.service ORDER BY m.complaints DESC) AS rank,
               count(*) OVER (PARTITION BY m.service) AS "of"
        FROM m CROSS JOIN args
        LEFT JOIN per_incident p USING (provider, incident_id, service)
        LEFT JOIN sentiment s USING (provider, incident_id, service)
        LEFT JOIN switching w USING (provider, incident_id, service)
        ORDER BY m.complaints DESC NULLS LAST, m.started_at DESC
        """,
        [window.start, window.end, tz, list(services)],
    )


@st.cache_data(ttl=30, show_spinner=False)
def silent_incidents(snap: Snapshot, window: Window, tz: str) -> pd.DataFrame:
    """Incidents in the window that no watched service's social media reacted to."""
    return _run(
        snap,
        """
        SELECT provider, title, impact, timezone(?, started_at) AS started,
               date_diff('minute', started_at, resolved_at) AS duration_min
        FROM silent_incidents WHERE started_at >= ? AND started_at < ?
        ORDER BY started_at DESC
        """,
        [tz, window.start, window.end],
    )
