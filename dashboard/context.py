"""What every page shares, built once per rerun by the entry point (dashboard/app.py): the
warehouse snapshot, the services config, and the time zone and time range picked in the
sidebar (widgets of the entry point, so they keep their values across pages)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import streamlit as st

from dashboard import queries as q
from pipelines.config import load_config
from pipelines.errors import AftershockError
from pipelines.settings import Settings

TIME_ZONES = (
    "UTC", "America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin",
    "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney",
)
_KEY = "aftershock-context"


def plain(text: str) -> str:
    """Backslash-escapes markdown punctuation: service keys and titles can come from imported
    data, so they must not be interpreted when they appear in a heading."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])", r"\\\1", text)


@dataclass(frozen=True)
class Context:
    settings: Settings
    snap: q.Snapshot
    info: q.Overview
    names: dict[str, str]                 # service key -> display name
    dependencies: dict[str, list[str]]    # service key -> providers (own first)
    competitors: dict[str, list[str]]
    tz: str
    window: q.Window                      # the picked range, UTC, clamped to the data

    def name(self, service: str) -> str:
        return self.names.get(service, service)

    def domain(self) -> tuple[datetime, datetime]:
        return local_domain(self.window, self.tz)


def local_domain(window: q.Window, tz: str) -> tuple[datetime, datetime]:
    """A UTC window in the display time zone, naive: what the charts' x axes span."""
    start, end = (pd.Timestamp(t).tz_convert(tz).tz_localize(None) for t in window)
    return start.to_pydatetime(), end.to_pydatetime()


def build(settings: Settings, snap: q.Snapshot, info: q.Overview) -> Context:
    """Renders the shared sidebar pickers and keeps the result for the page to use."""
    names, dependencies, competitors = service_config(settings)
    with st.sidebar:
        tz = st.selectbox("Time zone", TIME_ZONES, index=0, key="tz",
                          help="Times on every page are shown in this zone.")
        assert info.first is not None and info.last is not None
        days = date_range(info.first, info.last, str(tz))
        window = q.clamp_window(q.local_day_window(days[0], days[1], str(tz)),
                                info.first, info.last)
    ctx = Context(settings, snap, info, names, dependencies, competitors, str(tz), window)
    st.session_state[_KEY] = ctx
    return ctx


def current() -> Context | None:
    """The context the entry point built in this rerun (None: the page has nothing to show)."""
    ctx = st.session_state.get(_KEY)
    return ctx if isinstance(ctx, Context) else None


def clear() -> None:
    st.session_state.pop(_KEY, None)


def service_config(settings: Settings
                   ) -> tuple[dict[str, str], dict[str, list[str]], dict[str, list[str]]]:
    """Display names, provider dependencies and competitors from the services config; the
    pages still work (without incident bands) when the config cannot be read."""
    try:
        config = load_config(settings.config_path())
    except AftershockError as e:
        st.warning(f"Services config not loaded, so no incident bands are shown: {e}")
        return {}, {}, {}
    return ({k: s.name for k, s in config.services.items()}, config.dependency_map(),
            {k: list(s.competitors) for k, s in config.services.items()})


def date_range(first: datetime, last: datetime, tz: str) -> tuple[date, date]:
    lo, hi = q.to_local_date(first, tz), q.to_local_date(last, tz)
    key = f"range-{tz}"
    follow_data_range(key, lo, hi)
    picked = st.date_input("Date range", min_value=lo, max_value=hi, key=key,
                           help="Whole days in the chosen time zone.")
    days = [d for d in (picked if isinstance(picked, tuple | list) else [picked]) if d]
    # While the user has clicked only the first day of a new range, show that day.
    return (days[0], days[-1]) if days else (lo, hi)


def follow_data_range(key: str, lo: date, hi: date) -> None:
    """Keeps the date range on the whole data range while the user has not picked another one,
    so newly published days show up; a picked range stays unless it falls outside the data."""
    default_key = f"{key}-default"
    state = st.session_state
    current_range = tuple(state.get(key) or ())
    untouched = not current_range or current_range == state.get(default_key)
    outside = any(d < lo or d > hi for d in current_range)
    if untouched or outside:
        state[key] = (lo, hi)
    state[default_key] = (lo, hi)
