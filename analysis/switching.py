"""Switching: how often a spike's posts name each competitor of the service (from the services
config), how many of those say they are leaving (switching intent), against the same-length
window just before the spike.

A mention is the competitor's name as whole words, case-insensitive ("Microsoft Loop" matches
"microsoft  loop", not "loophole"). Switching intent is a phrase from INTENT_PHRASES in the same
post. English first; a few common Spanish, Portuguese, German and French forms follow.

Pure: DataFrames in, DataFrames out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

MENTION_COLUMNS = ["spike_id", "service", "competitor", "mentions", "switching_intent",
                   "baseline_mentions", "baseline_switching_intent", "baseline_start",
                   "window_start", "window_end"]

INTENT_PHRASES: tuple[str, ...] = (
    # English
    r"switch(?:ing|ed|es)? (?:over )?to", r"mov(?:e|ing|ed) (?:over |everything |ci )?to",
    r"migrat(?:e|ing|ed) to", r"cancel\w*", r"unsubscrib\w*", r"alternatives? to",
    r"going back to", r"went back to", r"replac(?:e|ing|ed) \w+ with", r"ditch(?:ing|ed)?",
    r"done with", r"instead", r"pricing out", r"trying \S+(?: \S+)? (?:for|instead)",
    r"bye\b", r"goodbye",
    # Spanish, Portuguese, German, French
    r"me paso a", r"cancelando", r"mudando para", r"vou para", r"wechsle zu",
    r"je passe à", r"je passe a",
)
# Word boundaries as \b (not lookarounds) so pandas can hand the search to Arrow's RE2.
_INTENT = re.compile(r"(?i)\b(?:" + "|".join(INTENT_PHRASES) + r")")
MINUTE = pd.Timedelta(minutes=1)


def competitor_pattern(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in name.split()]
    first = r"\b" if re.match(r"\w", name) else ""
    last = r"\b" if re.search(r"\w$", name) else ""
    return re.compile(r"(?i)" + first + r"\s+".join(words) + last)


def has_switching_intent(text: str) -> bool:
    return bool(_INTENT.search(text))


def competitor_mentions(spikes: pd.DataFrame, posts: pd.DataFrame,
                        competitors: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per spike and competitor of its service (MENTION_COLUMNS), zeros included.

    spikes: spike_id, service, start, end (end: the last raised minute, so the window is
    [start, end + 1 min)); posts: service, created_at, text (at least every post of the
    windows and of the baseline windows [start - length, start))."""
    rows = []
    tagged = {service: _tag(part, list(competitors.get(str(service), [])))
              for service, part in posts.groupby("service")}
    for spike in spikes.itertuples(index=False):
        names = list(competitors.get(spike.service, []))
        start = pd.Timestamp(spike.start)
        end = pd.Timestamp(spike.end) + MINUTE
        baseline_start = start - (end - start)
        for name in names:
            counts = _window_counts(tagged.get(spike.service), name, baseline_start, start, end)
            rows.append({"spike_id": spike.spike_id, "service": spike.service,
                         "competitor": name, **counts, "baseline_start": baseline_start,
                         "window_start": start, "window_end": end})
    return pd.DataFrame(rows, columns=MENTION_COLUMNS)


def _tag(posts: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per post, sorted by time: whether it shows switching intent and names each competitor."""
    posts = posts.sort_values("created_at")
    text = posts["text"].fillna("").astype(str)
    tagged = pd.DataFrame({"created_at": pd.to_datetime(posts["created_at"], utc=True)})
    tagged["_intent"] = text.str.contains(_INTENT.pattern, regex=True)
    for name in names:
        tagged[name] = text.str.contains(competitor_pattern(name).pattern, regex=True)
    return tagged.reset_index(drop=True)


def _window_counts(tagged: pd.DataFrame | None, name: str, baseline_start: pd.Timestamp,
                   start: pd.Timestamp, end: pd.Timestamp) -> dict[str, int]:
    if tagged is None or tagged.empty:
        return {"mentions": 0, "switching_intent": 0, "baseline_mentions": 0,
                "baseline_switching_intent": 0}
    times = tagged["created_at"]
    b0, s0, e0 = (int(times.searchsorted(t, side="left")) for t in (baseline_start, start, end))
    mentioned = tagged[name].to_numpy()
    intent = tagged["_intent"].to_numpy()
    return {"mentions": int(mentioned[s0:e0].sum()),
            "switching_intent": int(np.sum(mentioned[s0:e0] & intent[s0:e0])),
            "baseline_mentions": int(mentioned[b0:s0].sum()),
            "baseline_switching_intent": int(np.sum(mentioned[b0:s0] & intent[b0:s0]))}
