"""Response effect: around each status update of an incident linked to a spike, and each post
by the service's own accounts during the spike, the complaint rate and negative share of the
service's posts in the window before and the window after. It is a before/after comparison,
not a causal estimate: an update posted on a spike's rising edge will show a rise.

Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

EFFECT_COLUMNS = [
    "spike_id", "service", "kind", "provider", "incident_id", "update_id", "update_at",
    "status", "window_minutes", "complaints_before", "complaints_after", "rate_before",
    "rate_after", "negative_share_before", "negative_share_after", "rate_change_pct",
]
STATUS_UPDATE = "status_update"
OFFICIAL_POST = "official_post"
MINUTE = pd.Timedelta(minutes=1)


@dataclass(frozen=True)
class ResponseParams:
    window_minutes: int = 30


def official_posts(posts: pd.DataFrame, handles: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """The posts written by one of their own service's accounts (handles from the services
    config, '@' and case ignored). posts: service, id, created_at, author."""
    pairs = {(service, h.lstrip("@").lower()) for service, hs in handles.items() for h in hs}
    author = posts["author"].fillna("").astype(str).str.lstrip("@").str.lower()
    mine = pd.Series([(s, a) in pairs for s, a in zip(posts["service"], author, strict=True)],
                     index=posts.index, dtype=bool)
    return posts[mine].reset_index(drop=True)


def response_effects(spikes: pd.DataFrame, links: pd.DataFrame, updates: pd.DataFrame,
                     official: pd.DataFrame, minutes: pd.DataFrame,
                     params: ResponseParams = ResponseParams()) -> pd.DataFrame:
    """One row per (spike, event) (EFFECT_COLUMNS), events being the status updates of the
    incidents linked to the spike and the service's official posts, from `window_minutes`
    before the spike's start to `window_minutes` after its end.

    spikes: spike_id, service, start, end; links: spike_id, provider, incident_id; updates:
    provider, incident_id, update_id, status, created_at; official: service, id, created_at;
    minutes: service, minute, posts, complaints, negative (per-minute counts).

    The windows are whole minutes: before = [floor(t) - w, floor(t)), after = [ceil(t),
    ceil(t) + w), so the minute an update lands in is in neither unless it lands on the
    minute. Rates are complaints per minute; a share is null with no posts in its window;
    rate_change_pct is null when the rate before is zero."""
    window = pd.Timedelta(minutes=params.window_minutes)
    events = _events(spikes, links, updates, official, window)
    series = {s: part.set_index("minute")[["posts", "complaints", "negative"]].sort_index()
              for s, part in minutes.groupby("service")}
    rows = []
    for event in events.to_dict("records"):
        at = pd.Timestamp(event["update_at"])
        before = _sums(series.get(event["service"]), at.floor("min") - window, at.floor("min"))
        after = _sums(series.get(event["service"]), at.ceil("min"), at.ceil("min") + window)
        rate_before = before["complaints"] / params.window_minutes
        rate_after = after["complaints"] / params.window_minutes
        rows.append({
            **event, "window_minutes": params.window_minutes,
            "complaints_before": before["complaints"], "complaints_after": after["complaints"],
            "rate_before": round(rate_before, 3), "rate_after": round(rate_after, 3),
            "negative_share_before": _share(before), "negative_share_after": _share(after),
            "rate_change_pct": (round((rate_after - rate_before) / rate_before * 100, 1)
                                if rate_before > 0 else None),
        })
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def _events(spikes: pd.DataFrame, links: pd.DataFrame, updates: pd.DataFrame,
            official: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    spans = spikes[["spike_id", "service", "start", "end"]].assign(
        lo=lambda f: pd.to_datetime(f["start"], utc=True) - window,
        hi=lambda f: pd.to_datetime(f["end"], utc=True) + MINUTE + window)
    status = (spans.merge(links[["spike_id", "provider", "incident_id"]], on="spike_id")
              .merge(updates, on=["provider", "incident_id"])
              .assign(kind=STATUS_UPDATE, update_at=lambda f: pd.to_datetime(
                  f["created_at"], utc=True)))
    own = (spans.merge(official.rename(columns={"id": "update_id"}), on="service")
           .assign(kind=OFFICIAL_POST, provider=None, incident_id=None, status=None,
                   update_at=lambda f: pd.to_datetime(f["created_at"], utc=True)))
    columns = ["spike_id", "service", "kind", "provider", "incident_id", "update_id",
               "update_at", "status", "lo", "hi"]
    events = pd.concat([status[columns], own[columns]], ignore_index=True)
    events = events[(events["update_at"] >= events["lo"]) & (events["update_at"] < events["hi"])]
    return events.drop(columns=["lo", "hi"]).sort_values(["spike_id", "update_at", "update_id"])


def _sums(series: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp
          ) -> dict[str, int]:
    """Column sums of a minute series over [start, end)."""
    if series is None or series.empty:
        return {"posts": 0, "complaints": 0, "negative": 0}
    lo = series.index.searchsorted(start, side="left")
    hi = series.index.searchsorted(end, side="left")
    part = series.to_numpy()[lo:hi]
    totals = np.sum(part, axis=0) if len(part) else np.zeros(3)
    return {"posts": int(totals[0]), "complaints": int(totals[1]), "negative": int(totals[2])}


def _share(sums: dict[str, int]) -> float | None:
    return round(sums["negative"] / sums["posts"], 3) if sums["posts"] else None
