"""`aftershock brief`: gathers the facts of one spike (and the incident behind it) from the
published warehouse, read-only and from one snapshot, into analysis.brief's BriefData.

The target is a spike_id, an incident_id (optionally `provider:incident_id`), `latest` (the most
recent complaint spike) or `largest` (the incident with the most complaints in the spikes it
best explains; the largest spike when no spike is explained)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from analysis.brief import (
    Amplifier,
    BriefData,
    CompetitorFacts,
    History,
    IncidentFacts,
    OtherSpike,
    Reaction,
    ResponseTimes,
    SentimentPhase,
    SpikeFacts,
    StatusUpdate,
    ThemeFacts,
    UpdateEffect,
)
from pipelines.config import ServicesConfig
from pipelines.errors import AftershockError, WarehouseError
from pipelines.warehouse.connection import open_reader

# Tables written by `aftershock analyze` that a brief uses when they are there.
OPTIONAL_TABLES = ("incident_metrics", "spike_reaction", "competitor_mentions",
                   "response_effects", "spike_themes")
MIN_PHASE_MINUTES = 30

# Each all-complaints spike's most likely incident.
BEST_LINKS_SQL = """
SELECT l.spike_id, l.provider, l.incident_id, s.posts, s.start
FROM incident_links l JOIN spikes s USING (spike_id)
WHERE s.complaint_type IS NULL
QUALIFY row_number() OVER (PARTITION BY l.spike_id
                           ORDER BY l.confidence DESC, l.provider, l.incident_id) = 1
"""


class BriefTargetError(AftershockError):
    """The spike or incident asked for is not in the warehouse, or has nothing to brief on."""


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
          ) -> list[dict[str, Any]]:
    frame = con.execute(sql, params or []).df()
    return [{k: (None if _missing(v) else v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")]


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, tuple, str)) and bool(pd.isna(value)))


def _dt(value: Any) -> datetime:
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def _maybe_dt(value: Any) -> datetime | None:
    return None if value is None else _dt(value)


def _spike_ids(con: duckdb.DuckDBPyConnection, target: str) -> tuple[str, tuple[str, str] | None]:
    """The spike to brief on and, when the target named an incident, that incident."""
    if target in ("latest", "largest"):
        if target == "largest":
            top = _rows(con, f"""
                SELECT provider, incident_id, sum(posts) AS complaints,
                       arg_max(spike_id, posts) AS spike_id
                FROM ({BEST_LINKS_SQL}) GROUP BY ALL
                ORDER BY complaints DESC, provider, incident_id LIMIT 1""")
            if top:
                return top[0]["spike_id"], (top[0]["provider"], top[0]["incident_id"])
        order = "start DESC" if target == "latest" else "posts DESC, start DESC"
        spikes = _rows(con, "SELECT spike_id FROM spikes WHERE complaint_type IS NULL "
                            f"ORDER BY {order}, spike_id LIMIT 1")
        if not spikes:
            raise BriefTargetError("the warehouse has no complaint spikes; run `aftershock "
                                   "analyze` after importing and classifying posts")
        return spikes[0]["spike_id"], None
    if _rows(con, "SELECT 1 FROM spikes WHERE spike_id = ?", [target]):
        return target, None
    provider, _, incident_id = target.rpartition(":")
    incidents = _rows(con, "SELECT provider, incident_id FROM incidents WHERE incident_id = ? "
                           "AND (? = '' OR provider = ?) ORDER BY provider",
                      [incident_id, provider, provider])
    if not incidents:
        raise BriefTargetError(f"no spike or incident {target!r} in the warehouse (spike ids "
                               "look like notion:all:20240813T1540; `aftershock sql \"SELECT "
                               "spike_id FROM spikes\"` lists them)")
    if len(incidents) > 1:
        names = ", ".join(f"{r['provider']}:{r['incident_id']}" for r in incidents)
        raise BriefTargetError(f"incident id {incident_id!r} is ambiguous: {names}")
    key = (incidents[0]["provider"], incidents[0]["incident_id"])
    linked = _rows(con, f"""
        SELECT l.spike_id FROM incident_links l JOIN spikes s USING (spike_id)
        LEFT JOIN ({BEST_LINKS_SQL}) b ON b.spike_id = l.spike_id AND b.provider = l.provider
             AND b.incident_id = l.incident_id
        WHERE s.complaint_type IS NULL AND l.provider = ? AND l.incident_id = ?
        ORDER BY b.spike_id IS NOT NULL DESC, s.posts DESC, s.spike_id LIMIT 1""", list(key))
    if not linked:
        raise BriefTargetError(f"incident {key[0]}:{key[1]} has no linked complaint spike: "
                               "nobody complained, so there is nothing to brief")
    return linked[0]["spike_id"], key


def gather(published: Path, target: str, config: ServicesConfig) -> BriefData:
    con = open_reader(published)
    try:
        return _gather(con, target, config)
    except duckdb.Error as e:
        raise WarehouseError(f"reading the brief's facts failed: {e}") from e
    finally:
        con.close()


def _gather(con: duckdb.DuckDBPyConnection, target: str, config: ServicesConfig) -> BriefData:
    tables = {r["table_name"] for r in _rows(con, "SELECT table_name FROM duckdb_tables()")}
    spike_id, wanted = _spike_ids(con, target)
    s = _rows(con, 'SELECT * FROM spikes WHERE spike_id = ?', [spike_id])[0]
    service = s["service"]
    spike = SpikeFacts(spike_id, _dt(s["start"]), _dt(s["peak"]), _dt(s["end"]),
                       float(s["peak_rate"]), float(s["expected_rate"]), int(s["posts"]))
    window_end = spike.end + timedelta(minutes=1)

    def service_name(key: str) -> str:
        return config.services[key].name if key in config.services else key

    links = _rows(con, """
        SELECT l.*, i.title, i.impact, i.started_at, i.resolved_at FROM incident_links l
        JOIN incidents i USING (provider, incident_id)
        WHERE l.spike_id = ? ORDER BY l.confidence DESC, l.provider, l.incident_id""",
                  [spike_id])
    facts = [_incident(r, config) for r in links]
    chosen = next((f for f in facts if wanted == (f.provider, f.incident_id)),
                  facts[0] if facts else None)
    alternatives = tuple(f for f in facts if f is not chosen)[:2]

    updates: tuple[StatusUpdate, ...] = ()
    response = None
    also_hit: tuple[OtherSpike, ...] = ()
    if chosen is not None:
        key = [chosen.provider, chosen.incident_id]
        updates = tuple(StatusUpdate(_dt(r["created_at"]), r["status"], r["body"] or "")
                        for r in _rows(con, "SELECT created_at, status, body FROM "
                                            "incident_updates WHERE provider = ? AND "
                                            "incident_id = ? ORDER BY created_at, update_id",
                                       key))
        if "incident_metrics" in tables:
            m = _rows(con, "SELECT * FROM incident_metrics WHERE provider = ? AND "
                           "incident_id = ? AND service = ?", [*key, service])
            response = _response(m[0]) if m else None
        also_hit = tuple(OtherSpike(service_name(r["service"]), int(r["posts"])) for r in _rows(
            con, f"""SELECT s.service, max(s.posts) AS posts FROM ({BEST_LINKS_SQL}) b
                     JOIN spikes s USING (spike_id)
                     WHERE b.provider = ? AND b.incident_id = ? AND s.service <> ?
                     GROUP BY ALL ORDER BY posts DESC, s.service""", [*key, service]))

    history_rows = _rows(con, "SELECT posts FROM spikes WHERE service = ? AND complaint_type "
                              "IS NULL ORDER BY start", [service])
    span = _rows(con, "SELECT min(minute) AS since, max(minute) AS until FROM post_buckets "
                      "WHERE service = ?", [service])[0]
    history = History(tuple(int(r["posts"]) for r in history_rows),
                      _maybe_dt(span["since"]) or spike.start, _maybe_dt(span["until"]) or
                      spike.end)
    mix = _rows(con, """
        SELECT complaint_type, sum(posts) AS n FROM post_buckets
        WHERE service = ? AND is_complaint AND minute >= ? AND minute < ?
        GROUP BY ALL""", [service, spike.start, window_end])
    missing = tuple(t for t in OPTIONAL_TABLES if t not in tables)
    return BriefData(
        service_name=service_name(service), spike=spike, history=history, incident=chosen,
        alternatives=alternatives, updates=updates, response=response,
        reaction=_reaction(con, spike_id) if "spike_reaction" in tables else None,
        complaint_mix=tuple((r["complaint_type"], int(r["n"])) for r in mix),
        themes=_themes(con, spike_id) if "spike_themes" in tables else (),
        competitors=_competitors(con, spike_id) if "competitor_mentions" in tables else (),
        sentiment=_sentiment(con, service, spike.start, window_end),
        update_effects=(_effects(con, spike_id, chosen) if "response_effects" in tables
                        else ()),
        also_hit=also_hit,
        simulated=bool(_rows(con, "SELECT 1 FROM pipeline_runs WHERE run_id = 'demo'")),
        missing=missing,
    )


def _incident(r: dict[str, Any], config: ServicesConfig) -> IncidentFacts:
    provider = r["provider"]
    name = config.providers[provider].name if provider in config.providers else provider
    return IncidentFacts(provider, name, r["incident_id"], r["title"], r["impact"],
                         _dt(r["started_at"]), _maybe_dt(r["resolved_at"]), r["relation"],
                         float(r["confidence"]), float(r["lead_minutes"]))


def _response(m: dict[str, Any]) -> ResponseTimes:
    def number(key: str) -> float | None:
        return None if m.get(key) is None else float(m[key])

    return ResponseTimes(_maybe_dt(m.get("first_complaint_at")),
                         _maybe_dt(m.get("first_update_at")), number("minutes_to_first_update"),
                         number("minutes_to_resolution"), number("minutes_to_recovery"),
                         bool(m.get("silent")))


def _reaction(con: duckdb.DuckDBPyConnection, spike_id: str) -> Reaction | None:
    rows = _rows(con, "SELECT * FROM spike_reaction WHERE spike_id = ?", [spike_id])
    if not rows:
        return None
    r = rows[0]
    amplifiers = tuple(
        Amplifier(str(a.get("author") or "unknown"), int(a.get("followers") or 0),
                  int(a.get("reposts") or 0))
        for a in json.loads(r["top_amplifiers"] or "[]") if isinstance(a, dict))
    return Reaction(int(r["posts"]), int(r["distinct_authors"]), int(r["reposts"]),
                    int(r["quotes"]), int(r["likes"]), int(r["reach"]),
                    int(r["velocity_per_min"]), amplifiers)


def _themes(con: duckdb.DuckDBPyConnection, spike_id: str) -> tuple[ThemeFacts, ...]:
    return tuple(
        ThemeFacts(r["label"], int(r["posts"]), float(r["share"]), r["representative_text"],
                   r["representative_source"], r["representative_id"])
        for r in _rows(con, "SELECT * FROM spike_themes WHERE spike_id = ? ORDER BY theme_id",
                       [spike_id]))


def _competitors(con: duckdb.DuckDBPyConnection, spike_id: str) -> tuple[CompetitorFacts, ...]:
    return tuple(
        CompetitorFacts(r["competitor"], int(r["mentions"]), int(r["switching_intent"]),
                        int(r["baseline_mentions"]))
        for r in _rows(con, "SELECT * FROM competitor_mentions WHERE spike_id = ? "
                            "ORDER BY mentions DESC, competitor", [spike_id]))


def _sentiment(con: duckdb.DuckDBPyConnection, service: str, start: datetime, end: datetime
               ) -> tuple[SentimentPhase, ...]:
    """All of the service's posts (not only complaints) in the spike and in windows of the same
    length (at least MIN_PHASE_MINUTES) before and after it."""
    length = max(end - start, timedelta(minutes=MIN_PHASE_MINUTES))
    phases = []
    for name, lo, hi in (("before", start - length, start), ("during", start, end),
                         ("after", end, end + length)):
        counts = {r["sentiment"]: int(r["n"]) for r in _rows(con, """
            SELECT sentiment, sum(posts) AS n FROM post_buckets
            WHERE service = ? AND minute >= ? AND minute < ? GROUP BY ALL""",
                                                             [service, lo, hi])}
        phases.append(SentimentPhase(name, lo, hi, counts.get("negative", 0),
                                     counts.get("neutral", 0), counts.get("positive", 0)))
    return tuple(phases)


def _effects(con: duckdb.DuckDBPyConnection, spike_id: str, incident: IncidentFacts | None
             ) -> tuple[UpdateEffect, ...]:
    """Status updates of the brief's incident, and the service's own official posts."""
    rows = _rows(con, """
        SELECT * FROM response_effects WHERE spike_id = ?
          AND (kind = 'official_post' OR (provider = ? AND incident_id = ?))
        ORDER BY update_at, update_id""",
                 [spike_id, incident.provider if incident else None,
                  incident.incident_id if incident else None])

    def share(value: Any) -> float | None:
        return None if value is None else float(value)

    return tuple(
        UpdateEffect(_dt(r["update_at"]), r["status"] or "", float(r["window_minutes"]),
                     float(r["rate_before"]), float(r["rate_after"]),
                     share(r["negative_share_before"]), share(r["negative_share_after"]),
                     share(r["rate_change_pct"]), r["kind"] or "status_update")
        for r in rows)
