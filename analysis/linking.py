"""Linking spikes to the status-page incidents that can explain them: the service's own
provider and the upstream providers it depends on (the dependency map)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class LinkParams:
    max_gap_minutes: float = 60.0        # spike and incident further apart than this: unrelated
    open_incident_minutes: float = 240.0  # assumed length of an incident with no resolved time
    decay_minutes: float = 60.0          # how fast confidence falls with distance in time
    upstream_weight: float = 0.85        # an upstream incident explains a little less surely
    min_confidence: float = 0.2


@dataclass(frozen=True)
class Dependency:
    """A provider whose incidents can explain a service's spikes. `own`: the service's own
    status page; `upstream`: a provider it builds on. With `components`, only incidents that
    touch one of them (or name no component at all) count: Notion AI -> Anthropic's API, not
    claude.ai."""

    provider: str
    relation: str = "upstream"
    components: frozenset[str] = frozenset()

    def explains(self, incident_components: object) -> bool:
        if not self.components:
            return True
        touched = {str(c).lower() for c in _as_list(incident_components)}
        return not touched or bool(touched & {c.lower() for c in self.components})


def _as_list(value: object) -> list[object]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return list(value)  # type: ignore[call-overload]


LINK_COLUMNS = ["spike_id", "incident_id", "provider", "service", "relation", "lead_minutes",
                "overlap_minutes", "confidence"]


def link_spikes(spikes: pd.DataFrame, incidents: pd.DataFrame,
                dependencies: dict[str, list[Dependency]], params: LinkParams = LinkParams()
                ) -> pd.DataFrame:
    """spikes: spike_id, service, start, end; incidents: provider, incident_id, started_at,
    resolved_at and optionally components. Returns one row per plausible (spike, incident)
    pair, LINK_COLUMNS."""
    rows = []
    by_provider = {p: group for p, group in incidents.groupby("provider")}
    for spike in spikes.itertuples(index=False):
        for dep in dependencies.get(spike.service, []):
            candidates = by_provider.get(dep.provider)
            if candidates is None:
                continue
            for inc in candidates.itertuples(index=False):
                if not dep.explains(getattr(inc, "components", None)):
                    continue
                row = _link(spike, inc, dep.relation, params)
                if row is not None:
                    rows.append(row)
    return pd.DataFrame(rows, columns=LINK_COLUMNS)


def _link(spike: object, inc: object, relation: str, params: LinkParams
          ) -> dict[str, object] | None:
    s_start, s_end = pd.Timestamp(spike.start), pd.Timestamp(spike.end)  # type: ignore[attr-defined]
    i_start = pd.Timestamp(inc.started_at)  # type: ignore[attr-defined]
    resolved = inc.resolved_at  # type: ignore[attr-defined]
    i_end = pd.Timestamp(resolved) if pd.notna(resolved) else i_start + pd.Timedelta(
        minutes=params.open_incident_minutes)
    i_end = max(i_end, i_start)
    overlap = (min(s_end, i_end) - max(s_start, i_start)) / pd.Timedelta(minutes=1)
    gap = max(0.0, -overlap)
    if gap > params.max_gap_minutes:
        return None
    lead = (i_start - s_start) / pd.Timedelta(minutes=1)
    spike_minutes = max((s_end - s_start) / pd.Timedelta(minutes=1), 1.0)
    overlap_share = max(overlap, 0.0) / spike_minutes
    # Near in time matters most; covering the spike adds; a silent hour-long lead still counts.
    proximity = math.exp(-max(abs(lead) - 15.0, 0.0) / params.decay_minutes)
    weight = 1.0 if relation == "own" else params.upstream_weight
    confidence = weight * (0.5 * proximity + 0.5 * min(overlap_share, 1.0))
    if confidence < params.min_confidence:
        return None
    return {
        "spike_id": spike.spike_id, "incident_id": inc.incident_id,  # type: ignore[attr-defined]
        "provider": inc.provider, "service": spike.service,  # type: ignore[attr-defined]
        "relation": relation, "lead_minutes": round(lead, 2),
        "overlap_minutes": round(max(overlap, 0.0), 2), "confidence": round(confidence, 3),
    }
