"""The analyze step: per-minute buckets aggregated in DuckDB, spike detection per service and
complaint type (analysis.spikes), and links to incidents (analysis.linking). Outputs are
recomputed as a whole each run, so re-running never duplicates them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.linking import LINK_COLUMNS, Dependency, link_spikes
from analysis.spikes import SpikeParams, detect_spikes
from pipelines.warehouse.writer import Warehouse

SPIKE_COLUMNS = ["spike_id", "service", "complaint_type", "start", "peak", "end", "peak_rate",
                 "expected_rate", "score", "posts"]
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

    def line(self) -> str:
        return f"{self.buckets} buckets, {self.spikes} spikes, {self.links} incident links"


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


def analyze(wh: Warehouse, dependencies: dict[str, list[Dependency]]) -> AnalyzeSummary:
    buckets = wh.con.execute(BUCKETS_SQL).df()
    series = wh.con.execute(COMPLAINT_SERIES_SQL).df()
    span = wh.con.execute(SPAN_SQL).fetchall()[0]
    spikes = find_spikes(series, pd.Timestamp(span[0]), pd.Timestamp(span[1]))
    incidents = wh.con.execute(
        "SELECT provider, incident_id, started_at, resolved_at, components FROM incidents"
    ).df()
    links = link_spikes(spikes, incidents, dependencies) if not spikes.empty else pd.DataFrame(
        columns=LINK_COLUMNS)
    wh.replace_table("post_buckets", buckets, BUCKET_COLUMNS)
    wh.replace_table("spikes", spikes, SPIKE_COLUMNS)
    wh.replace_table("incident_links", links, LINK_COLUMNS)
    return AnalyzeSummary(len(buckets), len(spikes), len(links))
