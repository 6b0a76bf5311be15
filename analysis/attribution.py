"""Incident attribution seen from the incident's side: for each incident and each watched
service it can affect, when social media first complained, when the status page first spoke,
when the incident was resolved and when complaints were back to expected, and whether there
was any social reaction at all (a silent incident). Spikes with no incident are unexplained.

Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

INCIDENT_METRIC_COLUMNS = [
    "provider", "incident_id", "service", "relation", "started_at", "first_complaint_at",
    "first_update_at", "resolved_at", "recovered_at", "minutes_to_first_update",
    "minutes_to_resolution", "minutes_to_recovery", "linked_spikes", "max_confidence",
    "complaints", "silent",
]
MINUTE = pd.Timedelta(minutes=1)


@dataclass(frozen=True)
class AttributionParams:
    # Window in which a silent incident's complaints are counted when it has no resolved time.
    open_incident_minutes: float = 240.0


def explained(spikes: pd.DataFrame, links: pd.DataFrame) -> pd.Series:
    """Per spike (aligned with `spikes`): whether at least one incident link explains it."""
    return spikes["spike_id"].isin(set(links["spike_id"])).rename("explained")


def incident_metrics(incidents: pd.DataFrame, updates: pd.DataFrame, affected: pd.DataFrame,
                     links: pd.DataFrame, spikes: pd.DataFrame, complaints: pd.DataFrame,
                     params: AttributionParams = AttributionParams()) -> pd.DataFrame:
    """One row per incident and affected service (INCIDENT_METRIC_COLUMNS).

    incidents: provider, incident_id, started_at, resolved_at (optionally created_at, the
    fallback first update when an incident has no updates); updates: provider, incident_id,
    created_at; affected: provider, incident_id, service, relation (the services whose
    dependency map lets the incident explain their spikes); links: spike_id, provider,
    incident_id, service, relation, confidence; spikes: spike_id, start, end (end is the last
    raised minute) and optionally complaint_type; complaints: service, minute, complaints
    (per-minute counts).

    The reaction of a service to an incident is the span of the spikes linked to it (of all
    complaints; of single complaint types only when none of all complaints is linked): the
    first complaint is the earliest linked spike's onset, the recovery the minute after the
    last linked spike ends; linked_spikes counts those spikes. An incident that no watched service depends on gets one row with a null
    service. Minutes are measured from the first complaint: minutes_to_first_update > 0 when
    social media saw the problem before the status page."""
    pairs = _pairs(incidents, affected, links)
    frame = pairs.merge(_incident_times(incidents, updates), on=["provider", "incident_id"],
                        how="left")
    frame = frame.merge(_reaction_spans(links, spikes), how="left",
                        on=["provider", "incident_id", "service"])
    for column in ["started_at", "first_update_at", "resolved_at", "first_complaint_at",
                   "last_end"]:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["linked_spikes"] = frame["linked_spikes"].fillna(0).astype(int)
    frame["silent"] = frame["linked_spikes"] == 0
    frame["recovered_at"] = frame["last_end"] + MINUTE
    for column, target in [("minutes_to_first_update", "first_update_at"),
                           ("minutes_to_resolution", "resolved_at"),
                           ("minutes_to_recovery", "recovered_at")]:
        frame[column] = ((frame[target] - frame["first_complaint_at"]) / MINUTE).round(2)
    frame["complaints"] = _complaints_in_reaction(frame, complaints, params)
    return frame[INCIDENT_METRIC_COLUMNS].sort_values(
        ["started_at", "provider", "incident_id", "service"], na_position="last"
    ).reset_index(drop=True)


def _pairs(incidents: pd.DataFrame, affected: pd.DataFrame, links: pd.DataFrame
           ) -> pd.DataFrame:
    """(incident, service, relation) rows: the dependency map's, plus any linked pair it lacks,
    plus a null-service row for incidents no watched service depends on."""
    keys = ["provider", "incident_id", "service", "relation"]
    pairs = pd.concat([affected[keys], links[keys]], ignore_index=True).drop_duplicates(
        subset=["provider", "incident_id", "service"])
    ids = incidents[["provider", "incident_id"]].drop_duplicates()
    unwatched = ids.merge(pairs[["provider", "incident_id"]].drop_duplicates(), how="left",
                          indicator=True)
    unwatched = unwatched[unwatched["_merge"] == "left_only"].drop(columns="_merge")
    unwatched = unwatched.assign(service=None, relation=None)
    known = pairs.merge(ids, on=["provider", "incident_id"])  # drop links to unknown incidents
    return pd.concat([known, unwatched[keys]], ignore_index=True)


def _incident_times(incidents: pd.DataFrame, updates: pd.DataFrame) -> pd.DataFrame:
    first = (updates.groupby(["provider", "incident_id"], as_index=False)["created_at"].min()
             .rename(columns={"created_at": "first_update_at"}))
    times = incidents.merge(first, on=["provider", "incident_id"], how="left")
    if "created_at" in times:
        times["first_update_at"] = times["first_update_at"].fillna(times["created_at"])
    return times[["provider", "incident_id", "started_at", "first_update_at", "resolved_at"]]


def _reaction_spans(links: pd.DataFrame, spikes: pd.DataFrame) -> pd.DataFrame:
    """Per (incident, service): the span of its linked spikes of all complaints; the spikes of
    single complaint types only when no spike of all complaints is linked (a type's spike can
    drag on for days at a low level and would make the recovery meaningless)."""
    columns = ["spike_id", "start", "end"] + (
        ["complaint_type"] if "complaint_type" in spikes else [])
    linked = links.merge(spikes[columns], on="spike_id")
    keys = ["provider", "incident_id", "service"]
    whole = (linked["complaint_type"].isna() if "complaint_type" in linked
             else pd.Series(True, index=linked.index))
    has_whole = whole.groupby([linked[k] for k in keys]).transform("any")
    linked = linked[whole | ~has_whole.astype(bool)]
    return linked.groupby(keys, as_index=False).agg(
        first_complaint_at=("start", "min"), last_end=("end", "max"),
        linked_spikes=("spike_id", "nunique"), max_confidence=("confidence", "max"))


def _complaints_in_reaction(frame: pd.DataFrame, complaints: pd.DataFrame,
                            params: AttributionParams) -> pd.Series:
    """Complaints from the first complaint to the recovery; for a silent incident, during the
    incident itself (how quiet it really was)."""
    open_end = frame["started_at"] + pd.Timedelta(minutes=params.open_incident_minutes)
    start = frame["first_complaint_at"].where(~frame["silent"], frame["started_at"])
    end = frame["recovered_at"].where(~frame["silent"], frame["resolved_at"].fillna(open_end))
    series = {s: part.set_index("minute")["complaints"].sort_index()
              for s, part in complaints.groupby("service")}
    totals: list[float | None] = []
    for service, lo, hi in zip(frame["service"], start, end, strict=True):
        if service is None or pd.isna(service):
            totals.append(None)
            continue
        totals.append(_window_sum(series.get(service), lo, hi))
    return pd.Series(totals, index=frame.index, dtype="Int64")


def _window_sum(series: pd.Series | None, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Sum of a minute series over [start, end)."""
    if series is None or series.empty:
        return 0
    index = series.index
    lo, hi = index.searchsorted(start, side="left"), index.searchsorted(end, side="left")
    return int(np.sum(series.to_numpy()[lo:hi]))
