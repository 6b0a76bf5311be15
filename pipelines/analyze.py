"""The analyze step: per-minute buckets aggregated in DuckDB, spike detection per service and
complaint type (analysis.spikes), and links to incidents (analysis.linking). Outputs are
recomputed as a whole each run, so re-running never duplicates them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from analysis.attribution import INCIDENT_METRIC_COLUMNS, explained, incident_metrics
from analysis.linking import LINK_COLUMNS, Dependency, link_spikes
from analysis.response import EFFECT_COLUMNS, official_posts, response_effects
from analysis.spikes import SpikeParams, detect_spikes
from analysis.switching import MENTION_COLUMNS, competitor_mentions
from analysis.virality import REACTION_COLUMNS, spike_reaction
from pipelines.config import Service
from pipelines.themes_step import compute_spike_themes
from pipelines.warehouse.writer import Warehouse

SPIKE_COLUMNS = ["spike_id", "service", "complaint_type", "start", "peak", "end", "peak_rate",
                 "expected_rate", "score", "posts", "flagged", "kind", "independent_posts",
                 "viral"]
BUCKET_COLUMNS = ["service", "minute", "complaint_type", "sentiment", "is_complaint", "posts",
                  "reach"]
# A complaint type needs this many complaints in the data before it gets its own detector.
MIN_TYPE_VOLUME = 30

BUCKETS_SQL = """
SELECT service, date_trunc('minute', created_at) AS minute, complaint_type, sentiment,
       is_complaint, count(*) AS posts, coalesce(sum(author_followers), 0) AS reach
FROM posts
WHERE service IS NOT NULL AND sentiment IS NOT NULL
GROUP BY ALL
"""

# Complaints per minute, and the independent ones among them: not a repost, an author's first
# complaint of the minute, and a text's first appearance in its hour (copies count once).
COMPLAINT_SERIES_SQL = """
WITH complaints AS (
    SELECT service, complaint_type, created_at, is_repost,
           row_number() OVER (PARTITION BY service, date_trunc('minute', created_at),
                              coalesce(author, source || ':' || id)
                              ORDER BY created_at, source, id) AS authors_nth,
           row_number() OVER (PARTITION BY service, date_trunc('hour', created_at),
                              lower(trim(text)) ORDER BY created_at, source, id) AS texts_nth
    FROM posts
    WHERE service IS NOT NULL AND is_complaint
)
SELECT service, complaint_type, date_trunc('minute', created_at) AS minute, count(*) AS n,
       count(*) FILTER (WHERE NOT coalesce(is_repost, false) AND authors_nth = 1
                        AND texts_nth = 1) AS independent
FROM complaints
GROUP BY ALL
"""

SPAN_SQL = """
SELECT min(date_trunc('minute', created_at)), max(date_trunc('minute', created_at))
FROM posts WHERE service IS NOT NULL
"""


@dataclass
class AnalyzeSummary:
    buckets: int
    spikes: int
    links: int
    incident_rows: int = 0
    silent_incidents: int = 0
    unexplained_spikes: int = 0
    competitor_mentions: int = 0
    response_effects: int = 0
    themes: int = 0

    def line(self) -> str:
        return (f"{self.buckets} buckets, {self.spikes} spikes, {self.links} incident links, "
                f"{self.unexplained_spikes} unexplained spikes, {self.incident_rows} incident "
                f"metrics ({self.silent_incidents} silent), {self.competitor_mentions} "
                f"competitor mentions, {self.response_effects} response effects, "
                f"{self.themes} spike themes")


def find_spikes(series_rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                params: SpikeParams | None = None) -> pd.DataFrame:
    """Spikes of all complaints per service and of each complaint type with enough volume.
    `start`..`end` is the span of all posts: minutes without complaints count as zeros."""
    params = params or SpikeParams()
    if series_rows.empty:
        return pd.DataFrame(columns=SPIKE_COLUMNS)
    full = pd.date_range(start, end, freq="min")
    rows = []
    for service, per_service in series_rows.groupby("service"):
        groups: list[tuple[str | None, pd.DataFrame]] = [(None, per_service)]
        for ctype, per_type in per_service.groupby("complaint_type"):
            if per_type["n"].sum() >= MIN_TYPE_VOLUME:
                groups.append((str(ctype), per_type))
        for ctype, part in groups:
            minutes = part.groupby("minute")
            counts = minutes["n"].sum().reindex(full, fill_value=0)
            independent = (minutes["independent"].sum().reindex(full, fill_value=0)
                           if "independent" in part else None)
            for spike in detect_spikes(counts, params, independent):
                rows.append({
                    "spike_id": f"{service}:{ctype or 'all'}:{spike.start:%Y%m%dT%H%M}",
                    "service": service, "complaint_type": ctype, "start": spike.start,
                    "peak": spike.peak, "end": spike.end, "peak_rate": spike.peak_rate,
                    "expected_rate": spike.expected_rate, "score": spike.score,
                    "posts": int(spike.total), "flagged": spike.flagged, "kind": spike.kind,
                    "independent_posts": (None if spike.independent is None
                                          else int(spike.independent)),
                    "viral": spike.viral,
                })
    return pd.DataFrame(rows, columns=SPIKE_COLUMNS)


def analyze(wh: Warehouse, dependencies: dict[str, list[Dependency]],
            services: Mapping[str, Service] | None = None) -> AnalyzeSummary:
    """Buckets, spikes and incident links, then the attribution and reaction tables.
    `services` (the config's services) supplies competitors and official handles."""
    buckets = wh.con.execute(BUCKETS_SQL).df()
    series = wh.con.execute(COMPLAINT_SERIES_SQL).df()
    span = wh.con.execute(SPAN_SQL).fetchall()[0]
    spikes = find_spikes(series, pd.Timestamp(span[0]), pd.Timestamp(span[1]))
    incidents = wh.con.execute(
        "SELECT provider, incident_id, created_at, started_at, resolved_at, components "
        "FROM incidents").df()
    links = link_spikes(spikes, incidents, dependencies) if not spikes.empty else pd.DataFrame(
        columns=LINK_COLUMNS)
    wh.replace_table("post_buckets", buckets, BUCKET_COLUMNS)
    wh.replace_table("spikes", spikes, SPIKE_COLUMNS)
    wh.replace_table("incident_links", links, LINK_COLUMNS)
    reaction = analyze_reaction(wh, spikes, links, incidents, dependencies, services or {})
    # Themes last: the sentence encoder is loaded only when some spike has complaints.
    themes = compute_spike_themes(wh, ignore_terms={
        key: [s.name, *s.keywords, *s.handles] for key, s in (services or {}).items()})
    return AnalyzeSummary(len(buckets), len(spikes), len(links), **reaction, themes=themes)


# -- attribution and reaction (read back the spikes and links written above) ----------------

# Complaints, posts and negative posts per service and minute, from post_buckets.
MINUTE_SERIES_SQL = """
SELECT service, minute, sum(posts) AS posts,
       coalesce(sum(posts) FILTER (WHERE is_complaint), 0) AS complaints,
       coalesce(sum(posts) FILTER (WHERE sentiment = 'negative'), 0) AS negative
FROM post_buckets GROUP BY ALL ORDER BY service, minute
"""

UPDATES_SQL = "SELECT provider, incident_id, update_id, status, created_at FROM incident_updates"

# A spike's posts: its service's posts from start to the end of its last minute; a spike of
# one complaint type keeps only posts of that type.
SPIKE_POSTS_SQL = """
SELECT s.spike_id, p.id AS post_id, p.created_at, p.author, p.author_followers, p.likes,
       p.reposts, p.quotes, p.is_repost, p.is_complaint
FROM spikes s JOIN posts p ON p.service = s.service
 AND p.created_at >= s.start AND p.created_at < s."end" + INTERVAL 1 MINUTE
 AND (s.complaint_type IS NULL OR p.complaint_type = s.complaint_type)
"""

# Posts of each all-complaints spike and of the same-length window before it.
WINDOW_POSTS_SQL = """
SELECT DISTINCT p.service, p.source, p.id, p.created_at, p.text
FROM spikes s JOIN posts p ON p.service = s.service
 AND p.created_at >= s.start - (s."end" + INTERVAL 1 MINUTE - s.start)
 AND p.created_at < s."end" + INTERVAL 1 MINUTE
WHERE s.complaint_type IS NULL
"""

AUTHORED_SQL = """
SELECT service, id, created_at, author FROM posts
WHERE service IS NOT NULL AND list_contains(?, lower(ltrim(author, '@')))
"""


def analyze_reaction(wh: Warehouse, spikes: pd.DataFrame, links: pd.DataFrame,
                     incidents: pd.DataFrame, dependencies: dict[str, list[Dependency]],
                     services: Mapping[str, Service]) -> dict[str, int]:
    """Writes incident_metrics, spike_reaction, competitor_mentions and response_effects;
    returns the counts for the summary."""
    minutes = wh.con.execute(MINUTE_SERIES_SQL).df()
    updates = wh.con.execute(UPDATES_SQL).df()
    metrics = incident_metrics(incidents, updates, affected_services(incidents, dependencies),
                               links, spikes, minutes)
    spike_posts = wh.con.execute(SPIKE_POSTS_SQL).df()
    reactions = spike_reaction(spikes, spike_posts, set(links["spike_id"]))
    whole = spikes[spikes["complaint_type"].isna()]
    competitors = {key: s.competitors for key, s in services.items()}
    mentions = competitor_mentions(whole, wh.con.execute(WINDOW_POSTS_SQL).df(), competitors)
    handles = {key: s.handles for key, s in services.items()}
    effects = response_effects(whole, links, updates, _official_posts(wh, handles), minutes)
    wh.replace_table("incident_metrics", metrics, INCIDENT_METRIC_COLUMNS)
    wh.replace_table("spike_reaction", reactions, REACTION_COLUMNS)
    wh.replace_table("competitor_mentions", mentions, MENTION_COLUMNS)
    wh.replace_table("response_effects", effects, EFFECT_COLUMNS)
    silent = metrics.groupby(["provider", "incident_id"])["silent"].all()
    return {"incident_rows": len(metrics), "silent_incidents": int(silent.sum()),
            "unexplained_spikes": int((~explained(whole, links)).sum()),
            "competitor_mentions": int(mentions["mentions"].sum()) if len(mentions) else 0,
            "response_effects": len(effects)}


def affected_services(incidents: pd.DataFrame, dependencies: dict[str, list[Dependency]]
                      ) -> pd.DataFrame:
    """(provider, incident_id, service, relation) for every service whose dependency map lets
    the incident explain its spikes (components included)."""
    rows = []
    for service, deps in dependencies.items():
        for dep in deps:
            mine = incidents[incidents["provider"] == dep.provider]
            for inc in mine.itertuples(index=False):
                if dep.explains(getattr(inc, "components", None)):
                    rows.append({"provider": inc.provider, "incident_id": inc.incident_id,
                                 "service": service, "relation": dep.relation})
    return pd.DataFrame(rows, columns=["provider", "incident_id", "service", "relation"])


def _official_posts(wh: Warehouse, handles: Mapping[str, list[str]]) -> pd.DataFrame:
    names = sorted({h.lstrip("@").lower() for hs in handles.values() for h in hs})
    if not names:
        return pd.DataFrame(columns=["service", "id", "created_at", "author"])
    return official_posts(wh.con.execute(AUTHORED_SQL, [names]).df(), handles)
