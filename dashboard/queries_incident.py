"""Reads for the Incident page: one service's spikes and, for the spike in focus, its reaction
(reach, amplifiers), themes, competitor mentions, status updates and their effect. Each one SQL
query over the tables `aftershock analyze` fills, cached for 30 s like dashboard.queries."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.queries import Snapshot, Window, _run

# The best-explaining incident of each spike (highest confidence).
_BEST_LINK = """
best AS (
    SELECT l.spike_id, l.provider, l.incident_id, l.relation, l.lead_minutes, l.confidence,
           l.provider || ': ' || coalesce(i.title, l.incident_id) AS incident
    FROM incident_links l LEFT JOIN incidents i USING (provider, incident_id)
    QUALIFY row_number() OVER (PARTITION BY l.spike_id
                               ORDER BY l.confidence DESC, l.incident_id) = 1
)"""


@st.cache_data(ttl=30, show_spinner=False)
def spikes(snap: Snapshot, service: str, window: Window, tz: str) -> pd.DataFrame:
    """The service's spikes of all complaints that overlap the window, largest first, with
    their best incident and reaction. Columns: spike_id, start, peak, end (local, naive),
    start_utc, end_utc, peak_rate, expected_rate, ratio, complaints, reach, size_vs_median,
    incident, relation, lead_minutes, confidence."""
    return _run(
        snap,
        f"""
        WITH args AS (SELECT ?::VARCHAR AS svc, ?::TIMESTAMPTZ AS lo, ?::TIMESTAMPTZ AS hi,
                             ?::VARCHAR AS tz),
        {_BEST_LINK}
        SELECT s.spike_id, timezone(tz, s.start) AS start, timezone(tz, s.peak) AS peak,
               timezone(tz, s."end") AS "end", s.start AS start_utc, s."end" AS end_utc,
               s.peak_rate, s.expected_rate,
               s.peak_rate / nullif(s.expected_rate, 0) AS ratio,
               coalesce(r.complaints, s.posts) AS complaints, r.reach, r.size_vs_median,
               b.incident, b.relation, b.lead_minutes, b.confidence
        FROM spikes s CROSS JOIN args
        LEFT JOIN spike_reaction r USING (spike_id) LEFT JOIN best b USING (spike_id)
        WHERE s.service = svc AND s.complaint_type IS NULL AND s.start < hi AND s."end" >= lo
        ORDER BY complaints DESC, s.start
        """,
        [service, window.start, window.end, tz],
    )


@st.cache_data(ttl=30, show_spinner=False)
def reaction(snap: Snapshot, spike_id: str) -> dict[str, Any] | None:
    """The spike's row of spike_reaction (None before `aftershock analyze` filled it)."""
    df = _run(snap, "SELECT * FROM spike_reaction WHERE spike_id = ?", [spike_id])
    return None if df.empty else dict(df.iloc[0])


@st.cache_data(ttl=30, show_spinner=False)
def status_updates(snap: Snapshot, spike_id: str, tz: str) -> pd.DataFrame:
    """Every update of the incidents linked to the spike. Columns: time (local, naive),
    provider, title, status, body, label."""
    return _run(
        snap,
        """
        WITH args AS (SELECT ?::VARCHAR AS sid, ?::VARCHAR AS tz)
        SELECT timezone(tz, u.created_at) AS time, u.provider, i.title, u.status, u.body,
               u.provider || ' ' || u.status AS label
        FROM incident_updates u JOIN incidents i USING (provider, incident_id), args
        WHERE (u.provider, u.incident_id) IN (
            SELECT (provider, incident_id) FROM incident_links WHERE spike_id = sid)
        ORDER BY u.created_at
        """,
        [spike_id, tz],
    )


@st.cache_data(ttl=30, show_spinner=False)
def themes(snap: Snapshot, spike_id: str) -> pd.DataFrame:
    return _run(
        snap,
        "SELECT theme_id, label, posts, share, representative_text FROM spike_themes "
        "WHERE spike_id = ? ORDER BY theme_id",
        [spike_id],
    )


@st.cache_data(ttl=30, show_spinner=False)
def competitors(snap: Snapshot, spike_id: str) -> pd.DataFrame:
    return _run(
        snap,
        "SELECT competitor, mentions, switching_intent, baseline_mentions "
        "FROM competitor_mentions WHERE spike_id = ? ORDER BY mentions DESC, competitor",
        [spike_id],
    )


@st.cache_data(ttl=30, show_spinner=False)
def response_effects(snap: Snapshot, spike_id: str, tz: str) -> pd.DataFrame:
    return _run(
        snap,
        """
        SELECT timezone(?, update_at) AS time, kind, provider, status, window_minutes,
               rate_before, rate_after, rate_change_pct, negative_share_before,
               negative_share_after
        FROM response_effects WHERE spike_id = ? ORDER BY update_at
        """,
        [tz, spike_id],
    )


FOCUS_MARGIN = pd.Timedelta(hours=2)


def focus_window(spike: pd.Series, first: Any, last: Any,
                 margin: pd.Timedelta = FOCUS_MARGIN) -> Window:
    """The spike with `margin` either side, within the data."""
    start = max(pd.Timestamp(spike["start_utc"]) - margin, pd.Timestamp(first))
    end = min(pd.Timestamp(spike["end_utc"]) + margin,
              pd.Timestamp(last) + pd.Timedelta(minutes=1))
    return Window(start.to_pydatetime(), end.to_pydatetime())
