"""Reading what alerting needs from the warehouse: the spikes with their best incident link and
whether they are over, what was already sent, and for each alert its top posts and reach."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from analysis.alerting import DIGEST, IncidentLink, SentAlert, SpikeState, spike_ended
from pipelines.alerts.render import TOP_POSTS, TopPost
from pipelines.warehouse.connection import scalar

SPIKES_SQL = """
SELECT spike_id, service, complaint_type, start, peak, "end", peak_rate, expected_rate, posts
FROM spikes ORDER BY start, spike_id
"""

# The incident that best explains each spike.
BEST_LINKS_SQL = """
SELECT l.spike_id, l.provider, l.incident_id, l.relation, l.lead_minutes, l.confidence,
       i.title, i.url, i.impact
FROM incident_links l LEFT JOIN incidents i USING (provider, incident_id)
QUALIFY row_number() OVER (PARTITION BY l.spike_id
                           ORDER BY l.confidence DESC, l.provider, l.incident_id) = 1
"""

# The newest minute the detector saw: the series it ran on ends there (pipelines/analyze.py).
HORIZON_SQL = "SELECT max(created_at) FROM post_records WHERE service IS NOT NULL"

# One row per alert decided (its channels share these columns).
HISTORY_SQL = """
SELECT spike_id, kind, level, any_value(rung) AS rung, any_value(complaints) AS complaints,
       any_value(incident) AS incident, min(sent_at) AS decided_at
FROM alerts_sent WHERE kind <> ? GROUP BY spike_id, kind, level
"""

REACTION_SQL = """
SELECT complaints, reach, distinct_authors, size_vs_median, top_amplifiers
FROM spike_reaction WHERE spike_id = ?
"""

_POST_COLUMNS = """source, id, author, coalesce(author_followers, 0) AS followers, text, url,
       coalesce(reposts, 0) AS reposts, coalesce(likes, 0) AS likes"""

# The spike's complaints among the posts spike_reaction named as its top amplifiers.
AMPLIFIER_POSTS_SQL = f"""
SELECT {_POST_COLUMNS} FROM posts
WHERE service = ? AND list_contains(?, id) AND is_complaint
  AND created_at >= ? AND created_at < ? + INTERVAL 1 MINUTE
  AND (? IS NULL OR complaint_type = ?)
"""

# The spike's most spread original complaints.
TOP_POSTS_SQL = f"""
SELECT {_POST_COLUMNS} FROM posts
WHERE service = ? AND is_complaint AND NOT coalesce(is_repost, false)
  AND created_at >= ? AND created_at < ? + INTERVAL 1 MINUTE
  AND (? IS NULL OR complaint_type = ?)
ORDER BY coalesce(reposts, 0) + coalesce(quotes, 0) DESC, coalesce(likes, 0) DESC,
         coalesce(author_followers, 0) DESC, created_at, source, id
LIMIT ?
"""


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(scalar(con, "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = ?", [name]))


def _dt(value: Any) -> datetime:
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def spike_states(con: duckdb.DuckDBPyConnection, cooldown_minutes: int) -> list[SpikeState]:
    spikes = con.execute(SPIKES_SQL).df()
    links = {r["spike_id"]: r for r in con.execute(BEST_LINKS_SQL).df().to_dict("records")}
    newest = scalar(con, HORIZON_SQL)
    horizon = None if newest is None else _dt(pd.Timestamp(newest).floor("min"))
    out = []
    for r in spikes.to_dict("records"):
        end = _dt(r["end"])
        out.append(SpikeState(
            spike_id=r["spike_id"], service=r["service"],
            complaint_type=_text(r["complaint_type"]),
            start=_dt(r["start"]), peak=_dt(r["peak"]), end=end,
            peak_rate=float(r["peak_rate"]), expected_rate=float(r["expected_rate"]),
            complaints=int(r["posts"]), ended=spike_ended(end, horizon, cooldown_minutes),
            link=_link(links.get(r["spike_id"]))))
    return out


def _link(r: dict[str, Any] | None) -> IncidentLink | None:
    if r is None:
        return None
    return IncidentLink(
        provider=r["provider"], incident_id=r["incident_id"], relation=r["relation"],
        confidence=float(r["confidence"]), lead_minutes=float(r["lead_minutes"]),
        title=_text(r["title"]), url=_text(r["url"]), impact=_text(r["impact"]))


def sent_alerts(con: duckdb.DuckDBPyConnection) -> list[SentAlert]:
    """Alerts decided in earlier runs; none on a warehouse older than the alerts table."""
    if not has_table(con, "alerts_sent"):
        return []
    return [SentAlert(spike_id=r["spike_id"], kind=r["kind"], level=int(r["level"]),
                      rung=int(r["rung"]), complaints=int(r["complaints"]),
                      incident=_text(r["incident"]), decided_at=_dt(r["decided_at"]))
            for r in con.execute(HISTORY_SQL, [DIGEST]).df().to_dict("records")]


def reaction(con: duckdb.DuckDBPyConnection, spike_id: str) -> dict[str, Any] | None:
    """The spike's spike_reaction row, when analyze computed one."""
    if not has_table(con, "spike_reaction"):
        return None
    rows = con.execute(REACTION_SQL, [spike_id]).df().to_dict("records")
    return rows[0] if rows else None


def top_posts(con: duckdb.DuckDBPyConnection, spike: SpikeState,
              amplifiers_json: str | None, limit: int = TOP_POSTS) -> tuple[TopPost, ...]:
    """The spike's top complaints: spike_reaction's top amplifiers that are complaints, in
    their order, then the most spread complaints of the spike's window."""
    window = [spike.start, spike.end, spike.complaint_type, spike.complaint_type]
    chosen: list[dict[str, Any]] = []
    ids = _amplifier_ids(amplifiers_json)
    if ids:
        rows = con.execute(AMPLIFIER_POSTS_SQL, [spike.service, ids, *window]).df()
        order = {post_id: i for i, post_id in enumerate(ids)}
        chosen = sorted(rows.to_dict("records"), key=lambda r: order.get(r["id"], len(ids)))
    if len(chosen) < limit:
        seen = {(r["source"], r["id"]) for r in chosen}
        more = con.execute(TOP_POSTS_SQL, [spike.service, *window, limit + len(chosen)]).df()
        chosen += [r for r in more.to_dict("records") if (r["source"], r["id"]) not in seen]
    return tuple(TopPost(source=str(r["source"]), id=str(r["id"]), author=_text(r["author"]),
                         text=str(r["text"]), url=_text(r["url"]), followers=int(r["followers"]),
                         reposts=int(r["reposts"]), likes=int(r["likes"]))
                 for r in chosen[:limit])


def _amplifier_ids(amplifiers_json: str | None) -> list[str]:
    if not amplifiers_json:
        return []
    try:
        entries = json.loads(amplifiers_json)
    except (TypeError, ValueError):
        return []
    return [str(e["post_id"]) for e in entries if isinstance(e, dict) and e.get("post_id")]
