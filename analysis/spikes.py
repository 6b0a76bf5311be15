"""Spike detection on a regular time series (complaints per minute, or any `timestamp,value`).

The expected level is a robust seasonal baseline: the median, across weeks, of the same hour of
the same weekday (across days, of the same hour, with less than three weeks of data), so an earlier spike does not raise it (a median ignores a few outliers) and a quiet night
is not compared with a busy afternoon. A point's score compares the sum over a short trailing
window with the expected sum, in units of the noise: Poisson noise for counts, else the robust
spread (MAD) of the residuals. A spike opens when the score passes `threshold` and closes after
`cooldown` points below `release`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SpikeParams:
    window: int = 5           # points summed per score: smooths single-point noise
    threshold: float = 4.0    # score that opens a spike
    release: float = 1.5      # score under which a spike is winding down
    cooldown: int = 10        # points under `release` that close a spike
    min_excess: float = 4.0   # a spike needs at least this much above expected over the window
    min_days_for_season: int = 3
    min_weeks_for_weekly: int = 3


@dataclass(frozen=True)
class Spike:
    start: pd.Timestamp
    peak: pd.Timestamp
    end: pd.Timestamp
    peak_rate: float       # value per point at the peak (window mean)
    expected_rate: float   # expected value per point at the peak
    score: float
    total: float           # sum of values from start to end


def regularise(series: pd.Series) -> pd.Series:
    """Sorts, sums duplicate stamps and fills missing points of the series' own interval with 0."""
    series = series.groupby(level=0).sum().sort_index()
    if len(series) < 2:
        return series.astype(float)
    step = pd.Series(series.index).diff().dropna().min()
    full = pd.date_range(series.index[0], series.index[-1], freq=step)
    return series.reindex(full, fill_value=0).astype(float)


def expected_level(series: pd.Series, params: SpikeParams = SpikeParams()) -> pd.Series:
    """Expected value of each point: median across days of the hour-of-day mean when the series
    covers enough days, else a trailing rolling median (for short or non-daily series)."""
    index = pd.DatetimeIndex(series.index)
    days = (index[-1] - index[0]) / pd.Timedelta(days=1) if len(index) > 1 else 0
    if days >= 7 * params.min_weeks_for_weekly:
        # Enough weeks to know that Saturday night differs from Tuesday night.
        hourly = series.groupby([index.normalize(), index.dayofweek, index.hour]).mean()
        profile = hourly.groupby(level=[1, 2]).median()
        keys = pd.MultiIndex.from_arrays([index.dayofweek, index.hour])
        expected = pd.Series(profile.reindex(keys).to_numpy(), index=series.index)
    elif days >= params.min_days_for_season:
        hourly = series.groupby([index.normalize(), index.hour]).mean()
        profile = hourly.groupby(level=1).median()
        expected = pd.Series(profile.reindex(index.hour).to_numpy(), index=series.index)
    else:
        expected = series.rolling(max(params.window * 12, 30), min_periods=1).median()
    # A floor keeps the baseline above zero at quiet hours: one post is not a spike.
    floor = max(float(series.mean()) * 0.25, 1e-3)
    return expected.fillna(floor).clip(lower=floor)


def _is_count_series(values: np.ndarray) -> bool:
    return bool(np.all(values >= 0) and np.allclose(values, np.round(values)))


def score_series(series: pd.Series, params: SpikeParams = SpikeParams()) -> pd.DataFrame:
    """Per point: value, expected, window sums and score."""
    expected = expected_level(series, params)
    values = series.to_numpy(dtype=float)
    w = params.window
    observed_sum = series.rolling(w, min_periods=1).sum()
    expected_sum = expected.rolling(w, min_periods=1).sum()
    residual = observed_sum - expected_sum
    counts = _is_count_series(values)
    variance = _noise_variance(residual, expected_sum if counts else None)
    point_variance = _noise_variance(series - expected, expected if counts else None)
    return pd.DataFrame({
        "value": series, "expected": expected, "observed_sum": observed_sum,
        "expected_sum": expected_sum, "excess": residual, "score": residual / np.sqrt(variance),
        "point_score": (series - expected) / np.sqrt(point_variance),
    })


def _noise_variance(residual: pd.Series, poisson_mean: pd.Series | None) -> pd.Series:
    """Counts have at least Poisson noise (variance = mean); any series has at least the robust
    spread of its residuals. The +1 keeps a flat series from dividing by zero."""
    mad = float(np.median(np.abs(residual - np.median(residual))))
    base = poisson_mean if poisson_mean is not None else residual * 0
    return np.maximum(base, (1.4826 * mad) ** 2) + (1.0 if poisson_mean is not None else 1e-9)


def detect_spikes(series: pd.Series, params: SpikeParams = SpikeParams()) -> list[Spike]:
    """Spikes in a series indexed by timestamps (any regular interval)."""
    series = regularise(series)
    if len(series) < params.window + 1:
        return []
    frame = score_series(series, params)
    score, excess = frame["score"].to_numpy(), frame["excess"].to_numpy()
    spikes: list[Spike] = []
    i, n, last_end = 0, len(frame), -1
    while i < n:
        if not (score[i] >= params.threshold and excess[i] >= params.min_excess):
            i += 1
            continue
        start = _onset(frame, i, last_end, params)
        end, j, quiet = i, i, 0
        while j < n and quiet < params.cooldown:
            if score[j] >= params.release:
                end, quiet = j, 0
            else:
                quiet += 1
            j += 1
        spikes.append(_spike(frame, start, end, params))
        last_end, i = end, j
    return spikes


def _onset(frame: pd.DataFrame, trigger: int, last_end: int, params: SpikeParams) -> int:
    """Walks back from the trigger while the score stays raised, then to the first point of
    that window that is clearly above its expected value (two noise units): the burst's onset,
    not the detector's lag."""
    score = frame["score"].to_numpy()
    k = trigger
    while k - 1 > last_end and score[k - 1] >= params.release:
        k -= 1
    first = max(k - params.window + 1, last_end + 1, 0)
    raised = frame["point_score"].to_numpy()[first:trigger + 1] >= 2.0
    return first + int(np.argmax(raised)) if raised.any() else k


def _spike(frame: pd.DataFrame, start: int, end: int, params: SpikeParams) -> Spike:
    part = frame.iloc[start:end + 1]
    rate = part["observed_sum"] / params.window
    peak_label = rate.idxmax()
    return Spike(
        start=pd.Timestamp(frame.index[start]),
        peak=pd.Timestamp(peak_label),
        end=pd.Timestamp(frame.index[end]),
        peak_rate=float(rate.max()),
        expected_rate=float(part.loc[peak_label, "expected"]),
        score=float(part["score"].max()),
        total=float(part["value"].sum()),
    )
