"""The spike detector and incident linking, on tiny constructed inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.linking import Dependency, link_spikes
from analysis.spikes import detect_spikes


def _baseline(days: int = 4, rate: float = 0.5, seed: int = 1) -> pd.Series:
    index = pd.date_range("2024-06-01", periods=days * 1440, freq="min", tz="UTC")
    rng = np.random.default_rng(seed)
    # Diurnal: busier in the afternoon, quiet at night.
    diurnal = 1 + 0.8 * np.sin((index.hour.to_numpy() - 9) / 24 * 2 * np.pi)
    return pd.Series(rng.poisson(rate * diurnal), index=index).astype(float)


def test_quiet_diurnal_series_has_no_spikes():
    assert detect_spikes(_baseline()) == []


@pytest.mark.parametrize(("size", "minutes"), [(8.0, 30), (3.0, 90)])
def test_burst_is_found_near_its_onset(size, minutes):
    series = _baseline()
    onset = pd.Timestamp("2024-06-03T14:00Z")
    burst = series.index[(series.index >= onset) & (series.index < onset + pd.Timedelta(
        minutes=minutes))]
    series[burst] += np.random.default_rng(2).poisson(size, len(burst))
    spikes = detect_spikes(series)
    assert len(spikes) == 1
    spike = spikes[0]
    assert abs((spike.start - onset) / pd.Timedelta(minutes=1)) <= 3
    assert onset <= spike.peak <= onset + pd.Timedelta(minutes=minutes)
    assert spike.peak_rate > spike.expected_rate * 2


def test_an_earlier_spike_does_not_hide_a_later_one():
    series = _baseline()
    for day in ("2024-06-02T15:00Z", "2024-06-03T15:00Z"):
        start = pd.Timestamp(day)
        series[start:start + pd.Timedelta(minutes=20)] += 6
    assert len(detect_spikes(series)) == 2


def test_any_regular_interval_and_non_count_values():
    index = pd.date_range("2024-01-01", periods=500, freq="5min")
    values = pd.Series(50 + np.random.default_rng(3).normal(0, 1, 500), index=index)
    values.iloc[300:310] += 15
    spikes = detect_spikes(values)
    assert len(spikes) == 1 and index[298] <= spikes[0].start <= index[301]


def _spikes(start: str, end: str, service: str = "notion") -> pd.DataFrame:
    return pd.DataFrame([{"spike_id": "s1", "service": service, "start": pd.Timestamp(start),
                          "end": pd.Timestamp(end)}])


def _incidents(*rows: tuple[str, str, str, str | None]) -> pd.DataFrame:
    return pd.DataFrame([{"provider": p, "incident_id": i, "started_at": pd.Timestamp(s),
                          "resolved_at": pd.Timestamp(r) if r else pd.NaT}
                         for p, i, s, r in rows])


DEPS = {"notion": [Dependency("notion", "own"), Dependency("anthropic")]}


def test_upstream_incident_after_the_spike_has_positive_lead():
    links = link_spikes(_spikes("2024-06-01T10:00Z", "2024-06-01T11:00Z"),
                        _incidents(("anthropic", "a1", "2024-06-01T10:12Z", "2024-06-01T11:30Z")),
                        DEPS)
    assert len(links) == 1
    link = links.iloc[0]
    assert link["relation"] == "upstream" and link["lead_minutes"] == 12
    assert 0.5 < link["confidence"] <= 1


def test_own_incident_is_own_and_unrelated_providers_or_times_are_not_linked():
    links = link_spikes(
        _spikes("2024-06-01T10:00Z", "2024-06-01T11:00Z"),
        _incidents(("notion", "n1", "2024-06-01T09:50Z", None),
                   ("openai", "o1", "2024-06-01T10:00Z", "2024-06-01T11:00Z"),
                   ("anthropic", "late", "2024-06-01T15:00Z", "2024-06-01T16:00Z")),
        DEPS)
    assert links["incident_id"].tolist() == ["n1"]
    assert links.iloc[0]["relation"] == "own" and links.iloc[0]["lead_minutes"] == -10


def test_component_dependency_keeps_only_incidents_touching_those_components():
    spikes = _spikes("2024-06-01T10:00Z", "2024-06-01T11:00Z")
    incidents = _incidents(("anthropic", "api", "2024-06-01T10:05Z", None),
                           ("anthropic", "web", "2024-06-01T10:05Z", None),
                           ("anthropic", "unscoped", "2024-06-01T10:05Z", None))
    incidents["components"] = [["api.anthropic.com", "claude.ai"], ["claude.ai"], []]
    deps = {"notion": [Dependency("anthropic", "upstream", frozenset({"API.anthropic.com"}))]}
    links = link_spikes(spikes, incidents, deps)
    # An incident naming no component may still be the cause; one naming others is not.
    assert sorted(links["incident_id"]) == ["api", "unscoped"]
