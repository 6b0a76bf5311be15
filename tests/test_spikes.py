"""The spike detector and incident linking, on tiny constructed inputs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analysis.linking import Dependency, link_spikes
from analysis.spikes import (
    Spike,
    _deviance_z,
    _trailing_spread,
    _TrailingOrder,
    detect_spikes,
    expected_level,
    is_count_series,
    is_viral,
    regularise,
    zscore_spikes,
)
from pipelines.analyze import COMPLAINT_SERIES_SQL


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


def _with_burst(series: pd.Series, onset: pd.Timestamp, minutes: int, rate: float,
                seed: int = 2) -> pd.Series:
    series = series.copy()
    span = (series.index >= onset) & (series.index < onset + pd.Timedelta(minutes=minutes))
    series[span] += np.random.default_rng(seed).poisson(rate, span.sum())
    return series


def test_a_sudden_burst_is_flagged_within_three_minutes_and_starts_at_its_onset():
    onset = pd.Timestamp("2024-06-04T14:00Z")
    spikes = detect_spikes(_with_burst(_baseline(days=5), onset, 30, 4.0))
    assert len(spikes) == 1
    spike = spikes[0]
    assert spike.kind == "burst" and spike.start <= spike.flagged <= spike.end
    assert onset <= spike.flagged <= onset + pd.Timedelta(minutes=3)
    assert abs((spike.start - onset) / pd.Timedelta(minutes=1)) <= 2


def test_the_decision_at_a_minute_uses_only_the_data_up_to_it():
    onset = pd.Timestamp("2024-06-04T14:00Z")
    series = _with_burst(_baseline(days=5), onset, 30, 4.0)
    full = detect_spikes(series)
    for cut in (onset + pd.Timedelta(minutes=m) for m in (1, 3, 10, 60)):
        seen = detect_spikes(series[:cut])
        assert [(s.start, s.flagged) for s in seen] == [
            (s.start, s.flagged) for s in full if s.flagged <= cut]
        # Whatever comes later, even a wild future, leaves the past's expected level alone.
        future = series.copy()
        future[cut + pd.Timedelta(minutes=1):] = 50.0
        pd.testing.assert_series_equal(expected_level(future)[:cut], expected_level(series[:cut]))


def test_a_slow_climb_is_found_as_a_climb():
    series = _baseline(days=5)
    onset = pd.Timestamp("2024-06-04T09:00Z")
    climb = (series.index >= onset) & (series.index < onset + pd.Timedelta(hours=4))
    # From nothing to one extra complaint a minute over four hours: no single window jumps.
    extra = np.linspace(0, 1.0, climb.sum())
    series[climb] += np.random.default_rng(4).poisson(extra)
    spikes = detect_spikes(series)
    assert [s.kind for s in spikes] == ["climb"]
    assert onset <= spikes[0].flagged <= onset + pd.Timedelta(hours=4)
    assert spikes[0].start < spikes[0].flagged - pd.Timedelta(minutes=30)


def test_one_posts_reposts_are_viral_and_many_people_are_not():
    onset = pd.Timestamp("2024-06-04T14:00Z")
    base = _baseline(days=5)
    cascade = _with_burst(base, onset, 30, 4.0)
    # Reposts of one post: the raw count bursts, the independent posts do not.
    viral = detect_spikes(cascade, independent=base)
    people = detect_spikes(cascade, independent=cascade)
    assert len(viral) == len(people) == 1
    assert viral[0].viral and not people[0].viral
    assert viral[0].independent == base[viral[0].start:viral[0].end].sum()


@pytest.mark.parametrize(("raw", "independent", "expected", "share", "viral"), [
    (100, 10, 10, 1.0, True),    # 90 excess, independent carry 0 of it
    (100, 60, 10, 1.0, False),   # independent carry 50 of 90: more than half
    (100, 50, 10, 1.0, True),    # 40 of 90: under half
    (100, 55, 10, 0.5, False),   # 50 of 90 once normal traffic is half independent
    (5, 5, 10, 1.0, False),      # nothing above expected: not a spike at all
])
def test_is_viral(raw, independent, expected, share, viral):
    assert is_viral(raw, independent, expected, share) is viral


def test_deviance_score_by_hand():
    z = _deviance_z(np.array([0.0, 4.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    # 0 seen, 1 expected: -sqrt(2); 4 seen: sqrt(2 (4 ln 4 - 3)); as expected: 0.
    assert z == pytest.approx([-np.sqrt(2), np.sqrt(2 * (4 * np.log(4) - 3)), 0.0])


@pytest.mark.parametrize(("values", "counts"), [
    ([0, 1, 2], True), ([20, 31, 44], False), ([0, 0.5, 1], False), ([0, -1, 2], False)])
def test_counts_are_whole_non_negative_and_touch_zero(values, counts):
    assert is_count_series(np.array(values, dtype=float)) is counts


def test_regularise_fills_counts_with_zero_and_measurements_with_the_last_value():
    stamps = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:01",
                             "2024-01-01 00:02", "2024-01-01 00:04"])
    counts = regularise(pd.Series([1.0, 2.0, 1.0, 0.0, 3.0], index=stamps))
    assert counts.tolist() == [1.0, 3.0, 0.0, 0.0, 3.0]  # duplicates summed, gaps are 0
    levels = regularise(pd.Series([10.5, 12.5, 13.5, 11.0, 9.0], index=stamps))
    assert levels.tolist() == [10.5, 13.0, 11.0, 11.0, 9.0]  # averaged, gaps keep the last


def test_zscore_baseline_by_hand():
    index = pd.date_range("2024-01-01", periods=12, freq="min")
    series = pd.Series([1, 3] * 5 + [9, 2], index=index, dtype=float)
    # Over the 10 points before the 11th: mean 2, sample std 1.054: z = 6.6; the 12th is 0.
    spikes = zscore_spikes(series, window=10, threshold=4.0)
    assert [(s.start, s.end) for s in spikes] == [(index[10], index[10])]
    assert spikes[0].score == pytest.approx(7 / np.std([1, 3] * 5, ddof=1))


def test_independent_complaints_count_reposts_repeats_and_copies_once():
    con = duckdb.connect()
    con.execute("CREATE TABLE posts (source VARCHAR, id VARCHAR, service VARCHAR, "
                "complaint_type VARCHAR, created_at TIMESTAMPTZ, author VARCHAR, text VARCHAR, "
                "is_repost BOOLEAN, is_complaint BOOLEAN)")
    rows = [  # all notion outage complaints in one minute unless said otherwise
        ("x", "1", "ann", "Notion is down", False),
        ("x", "2", "bob", "RT @ann: Notion is down", True),       # a repost
        ("x", "3", "ann", "still down, notion??", False),         # ann again, same minute
        ("bluesky", "4", "cy", "notion is down ", False),         # a copy of ann's text
        ("x", "5", "dee", "Notion AI errors everywhere", False),  # independent
        ("x", "6", None, "cannot log in to notion", False),       # no author: its own
    ]
    frame = pd.DataFrame([{
        "source": s, "id": i, "service": "notion", "complaint_type": "outage",
        "created_at": pd.Timestamp("2024-06-01T10:00:05Z") + pd.Timedelta(seconds=int(i)),
        "author": a, "text": t, "is_repost": r, "is_complaint": True} for s, i, a, t, r in rows])
    con.register("frame", frame)
    con.execute("INSERT INTO posts SELECT * FROM frame")
    result = con.execute(COMPLAINT_SERIES_SQL).df()
    assert result[["n", "independent"]].values.tolist() == [[6, 3]]


FROZEN = Path(__file__).parent / "fixtures" / "spikes_frozen.json"


def _frozen_series(part: dict, key: str) -> pd.Series:
    index = pd.date_range(part["start"], periods=len(part[key]), freq=part["freq"])
    return pd.Series(part[key], index=index, dtype=float)


def _assert_same_spikes(found: list[Spike], frozen: list[dict]) -> None:
    assert len(found) == len(frozen)
    for spike, want in zip(found, frozen, strict=True):
        for name in ("start", "peak", "end", "flagged"):
            assert getattr(spike, name) == pd.Timestamp(want[name]), name
        assert (spike.kind, spike.viral) == (want["kind"], want["viral"])
        for name in ("peak_rate", "expected_rate", "score", "total", "independent"):
            if want[name] is None:
                assert getattr(spike, name) is None, name
            else:
                assert getattr(spike, name) == pytest.approx(want[name], rel=1e-9, abs=1e-9), name


def test_results_match_the_frozen_output():
    """Bursts (cold and seasonal, sudden and ramped), slow climbs, a viral cascade and a
    measurement: the spikes the detector found before it was vectorised, field for field."""
    frozen = json.loads(FROZEN.read_text())
    counts = frozen["counts"]
    found = detect_spikes(_frozen_series(counts, "values"),
                          independent=_frozen_series(counts, "independent"))
    assert {s.kind for s in found} == {"burst", "climb"} and any(s.viral for s in found)
    _assert_same_spikes(found, counts["spikes"])
    levels = frozen["levels"]
    _assert_same_spikes(detect_spikes(_frozen_series(levels, "values")), levels["spikes"])


@pytest.mark.parametrize("points", [7, 50, 400])
def test_trailing_spread_at_chosen_points_equals_the_rolling_one(points):
    """The spread detect_spikes reads at few points (order statistics from ranked blocks) is
    pandas' rolling quantile and median, value for value: ties, leading NaNs (a window's
    first sums), windows filling up, and series of several three-window spans."""
    rng = np.random.default_rng(points)
    residual = np.round(rng.poisson(0.6, 1500) - rng.choice([0.25, 0.5, 1.75], 1500), 2)
    residual[:9] = np.nan
    rolling = _trailing_spread(pd.Series(residual), points).to_numpy()
    order = _TrailingOrder(residual, points)
    chosen = np.sort(rng.choice(1500, 300, replace=False))
    np.testing.assert_array_equal(order.spread(chosen), rolling[chosen])
    np.testing.assert_array_equal(order.spread(np.arange(1500)), rolling)


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
