"""How far a spike's reaction spread: posts, distinct authors, engagement, reach, velocity, the
top amplifiers, and how big it is next to the service's earlier spikes ("4x the median").

Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

REACTION_COLUMNS = [
    "spike_id", "service", "complaint_type", "posts", "complaints", "distinct_authors",
    "reposts", "repost_records", "quotes", "likes", "reach", "velocity_per_min",
    "size_vs_median", "top_amplifiers", "explained",
]
SPIKE_POST_COLUMNS = [
    "spike_id", "post_id", "created_at", "author", "author_followers", "likes", "reposts",
    "quotes", "is_repost", "is_complaint",
]


@dataclass(frozen=True)
class ViralityParams:
    top_amplifiers: int = 5


def spike_reaction(spikes: pd.DataFrame, spike_posts: pd.DataFrame,
                   explained_ids: Collection[str],
                   params: ViralityParams = ViralityParams()) -> pd.DataFrame:
    """One row per spike (REACTION_COLUMNS).

    spikes: spike_id, service, complaint_type, start; spike_posts: SPIKE_POST_COLUMNS, the posts
    of each spike's window (the caller decides which posts belong to a spike).

    - likes, reposts, quotes: engagement counters summed over the original posts; a repost
      record carries a copy of its original's counters, so repost records only count in
      `repost_records`.
    - reach: followers of the distinct posting authors (reposters included: they spread it);
      an author posting ten times counts once.
    - velocity_per_min: the most posts in one minute.
    - size_vs_median: complaints / the median complaints of the same service's earlier spikes
      of the same complaint type (null with no earlier spike).
    - top_amplifiers: JSON list of {author, followers, reposts, quotes, post_id}, each author's
      most spread post (reposts + quotes, then followers), best first."""
    posts = spike_posts.copy()
    for column in ["author_followers", "likes", "reposts", "quotes"]:
        posts[column] = pd.to_numeric(posts[column], errors="coerce").fillna(0).astype("int64")
    posts["is_repost"] = posts["is_repost"].fillna(False).astype(bool)
    posts["is_complaint"] = posts["is_complaint"].fillna(False).astype(bool)
    originals = posts[~posts["is_repost"]]
    grouped = posts.groupby("spike_id")
    per_spike = pd.DataFrame({
        "posts": grouped.size(),
        "complaints": grouped["is_complaint"].sum(),
        "distinct_authors": grouped["author"].nunique(),
        "repost_records": grouped["is_repost"].sum(),
        "reach": _reach(posts),
        "velocity_per_min": _velocity(posts),
    })
    engagement = originals.groupby("spike_id")[["likes", "reposts", "quotes"]].sum()
    out = spikes[["spike_id", "service", "complaint_type", "start"]].merge(
        per_spike.join(engagement, how="left"), left_on="spike_id", right_index=True,
        how="left")
    counts = ["posts", "complaints", "distinct_authors", "repost_records", "reach",
              "velocity_per_min", "likes", "reposts", "quotes"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["size_vs_median"] = _size_vs_median(out)
    amplifiers = _top_amplifiers(posts, params.top_amplifiers)
    out["top_amplifiers"] = [amplifiers.get(s, "[]") for s in out["spike_id"]]
    out["explained"] = out["spike_id"].isin(set(explained_ids))
    return out[REACTION_COLUMNS].reset_index(drop=True)


def _reach(posts: pd.DataFrame) -> pd.Series:
    authors = posts.dropna(subset=["author"]).groupby(["spike_id", "author"])[
        "author_followers"].max()
    return authors.groupby(level=0).sum()


def _velocity(posts: pd.DataFrame) -> pd.Series:
    minute = pd.to_datetime(posts["created_at"], utc=True).dt.floor("min")
    return posts.groupby([posts["spike_id"], minute]).size().groupby(level=0).max()


def _size_vs_median(reactions: pd.DataFrame) -> list[float | None]:
    """Each spike against the median of the earlier spikes of its service and complaint type."""
    ratios: dict[int, float | None] = {}
    keyed = reactions.assign(_type=reactions["complaint_type"].fillna("*all*"))
    for _, group in keyed.sort_values("start").groupby(["service", "_type"], sort=False):
        earlier: list[int] = []
        for idx, complaints in zip(group.index, group["complaints"], strict=True):
            median = float(pd.Series(earlier).median()) if earlier else 0.0
            ratios[idx] = round(complaints / median, 2) if median > 0 else None
            earlier.append(int(complaints))
    return [ratios.get(i) for i in reactions.index]


def _top_amplifiers(posts: pd.DataFrame, limit: int) -> dict[str, str]:
    ranked = posts.dropna(subset=["author"]).assign(
        spread=lambda f: f["reposts"] + f["quotes"])
    ranked = ranked.sort_values(["spike_id", "spread", "author_followers", "post_id"],
                                ascending=[True, False, False, True])
    best = ranked.drop_duplicates(subset=["spike_id", "author"], keep="first")
    lists: dict[str, list[dict[str, object]]] = {}
    for r in best.groupby("spike_id").head(limit).to_dict("records"):
        lists.setdefault(str(r["spike_id"]), []).append(
            {"author": str(r["author"]), "followers": int(r["author_followers"]),
             "reposts": int(r["reposts"]), "quotes": int(r["quotes"]),
             "post_id": str(r["post_id"])})
    return {spike_id: json.dumps(top) for spike_id, top in lists.items()}
