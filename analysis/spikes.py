"""Spike detection on a regular time series (complaints per minute, or any `timestamp,value`).

Streaming: every decision at point t uses only the points up to t, so a spike is flagged when
the data as it arrived would have flagged it (`Spike.flagged`), never with hindsight.

- Expected level: the median, over past days, of the same hour of the day (of the same hour of
  the same weekday once three past weeks are there). A median ignores earlier spikes, and a
  quiet night is not compared with a busy afternoon. Before enough past days exist, a trailing
  median of hourly means stands in.
- Bursts: for each short window (1, 3 and 10 points by default) the observed sum is compared
  with the expected sum in noise units: the Poisson signed-root deviance for counts (held back
  by the trailing spread of past residuals when counts are over-dispersed), the trailing robust
  spread (MAD) of past residuals for any other series.
- Slow climbs: a one-sided CUSUM of the log-likelihood ratio "rate x `cusum_ratio`" against
  "rate as expected" (Poisson for counts, Gaussian on standardised residuals otherwise). It
  adds up a small, lasting excess that no short window sees.
- A spike's `start` is the first point of its run-up: the first point above expected after
  the CUSUM last stood at zero. It closes after `cooldown` points whose longest-window score
  stays under `release`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class SpikeParams:
    windows: tuple[int, ...] = (1, 3, 10)  # points per burst score; the last also ends spikes
    threshold: float = 4.0      # burst score (noise units) that flags a spike
    cold_threshold: float = 5.0  # the same before any past day gives a seasonal profile
    release: float = 2.0        # longest-window score under which a spike winds down
    cooldown: int = 15          # points under `release` that close a spike
    min_excess: float = 2.0     # counts only: a flag needs this many above expected
    cusum_ratio: float = 2.0    # the rate multiple the slow-climb CUSUM looks for
    cusum_limit: float = 12.0   # CUSUM value (log-likelihood ratio) that flags a climb
    climb_window: int = 60      # points whose score keeps a climb open (under `release`: over)
    peak_window: int = 5        # points averaged for the peak rate
    min_days_for_season: int = 3
    min_weeks_for_weekly: int = 3
    history_days: int = 28      # past days the seasonal median looks at
    noise_days: float = 7.0     # past residuals the robust spread looks at
    viral_share: float = 0.5    # a spike is viral when independent posts make less of its excess


@dataclass(frozen=True)
class Spike:
    start: pd.Timestamp
    peak: pd.Timestamp
    end: pd.Timestamp
    flagged: pd.Timestamp  # when the streaming detector fired: start <= flagged <= end
    kind: str              # burst | climb: which test flagged it
    peak_rate: float       # value per point at the peak (mean over `peak_window`)
    expected_rate: float   # expected value per point at the peak
    score: float           # the highest burst score inside the spike, in noise units
    total: float           # sum of values from start to end
    independent: float | None = None  # independent posts from start to end, when given
    viral: bool = False    # its excess is mostly reposts / copies of a few posts


def regularise(series: pd.Series, counts: bool | None = None) -> pd.Series:
    """The series on a regular grid of its typical (median) interval, from its first stamp.
    Values sharing a stamp are summed for counts, averaged otherwise; so are points that fall
    in one interval of an irregular series (averaged). A missing count is 0; a missing
    measurement keeps the last value seen (no look-ahead)."""
    counts = is_count_series(series.to_numpy()) if counts is None else counts
    grouped = series.groupby(level=0)
    series = (grouped.sum() if counts else grouped.mean()).sort_index().astype(float)
    if len(series) < 2:
        return series
    step = pd.Series(series.index).diff().median()
    if (pd.Series(series.index).diff().dropna() == step).all():
        full = pd.date_range(series.index[0], series.index[-1], freq=step)
        grid = series.reindex(full)
    else:
        grid = series.resample(step, origin=series.index[0]).mean()
    return grid.fillna(0.0) if counts else grid.ffill()


def is_count_series(values: np.ndarray) -> bool:
    """Counts of events (posts per minute): whole, non-negative numbers that touch zero. Whole
    numbers that never do (a speed, a travel time) are measurements."""
    return bool(len(values) and np.all(values >= 0) and np.allclose(values, np.round(values))
                and np.any(values == 0))


def _step(index: pd.DatetimeIndex) -> pd.Timedelta:
    return pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta(minutes=1)


def _points(span: pd.Timedelta, step: pd.Timedelta) -> int:
    return max(1, round(span / step))


def expected_level(series: pd.Series, params: SpikeParams = SpikeParams()) -> pd.Series:
    """Expected value of each point from the points before it only (see the module doc)."""
    return _expected(series, params, is_count_series(series.to_numpy()))[0]


def _expected(series: pd.Series, params: SpikeParams,
              counts: bool) -> tuple[pd.Series, pd.Series]:
    """The expected level, and whether it came from past days (a seasonal profile)."""
    index = pd.DatetimeIndex(series.index)
    step = _step(index)
    per_hour = _points(HOUR, step)
    # Mean of the past hour, then the median of six such hours: robust to a spike of under 3 h.
    trailing = (series.shift(1).rolling(per_hour, min_periods=1).mean()
                .rolling(6 * per_hour, min_periods=1).median())
    expected, from_days = trailing, pd.Series(False, index=series.index)
    if step <= HOUR and DAY % step == pd.Timedelta(0):
        seasonal, early = _seasonal_profile(series, index, params, counts)
        expected = seasonal.fillna(np.fmax(early, trailing))
        from_days = seasonal.notna() | early.notna()
    if counts:
        # A floor keeps a quiet hour's baseline above zero: one post is not a spike.
        floor = (series.shift(1).expanding().mean() * 0.25).clip(lower=1e-3)
        expected = expected.fillna(floor).clip(lower=floor)
    return expected.ffill().fillna(float(series.iloc[0]) if len(series) else 0.0), from_days


def _seasonal_profile(series: pd.Series, index: pd.DatetimeIndex, params: SpikeParams,
                      counts: bool) -> tuple[pd.Series, pd.Series]:
    """Per point, the median hour-of-day mean over past days (NaN until enough days), and the
    same over the fewer past days there are before that."""
    day = index.normalize()
    # Counts are sparse: an hour's mean is the unit. A measurement is dense and may ramp within
    # an hour: its own time of day is.
    slot = (index.hour if counts else
            np.asarray((index - day) // _step(index), dtype=int))
    hourly = series.groupby([day, slot]).mean().unstack()  # one row a day, one column a slot
    hourly = hourly.reindex(pd.date_range(hourly.index[0], hourly.index[-1], freq="D"))
    past = hourly.shift(1)  # a day's profile comes from the days before it
    daily = past.rolling(params.history_days, min_periods=params.min_days_for_season).median()
    # Fewer past days than that: their median, but never under the trailing level (below), as
    # one or two days are a noisy profile, and a spike on them only makes this one quieter.
    early = past.rolling(params.history_days, min_periods=1).median().where(daily.isna())
    weeks = params.min_weeks_for_weekly
    # Same weekday over past weeks: Saturday night is not Tuesday night.
    weekly = (hourly.groupby(hourly.index.dayofweek, group_keys=False)
              .apply(lambda g: g.shift(1).rolling(max(weeks, params.history_days // 7),
                                                  min_periods=weeks).median()))
    profile = weekly.reindex(hourly.index).combine_first(daily)
    keys = pd.MultiIndex.from_arrays([day, slot])

    def per_point(table: pd.DataFrame) -> pd.Series:
        stacked = table.stack(future_stack=True)
        return pd.Series(stacked.reindex(keys).to_numpy(dtype=float), index=series.index)

    return per_point(profile), per_point(early)


def _trailing_spread(residual: pd.Series, points: int) -> pd.Series:
    """Spread of the residuals before each point, read at their upper tail: (99th percentile -
    median) / 2.326, which is the standard deviation for normal noise and more for the heavy
    tails real series have, where a spread from the centre (MAD) would flag every outlier."""
    past = residual.shift(1).rolling(points, min_periods=min(points, 60))
    return (past.quantile(0.99) - past.median()) / 2.326


def _deviance_z(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Signed root of the Poisson deviance: about N(0, 1) in the tail, even at low counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
    deviance = np.maximum(2 * (term - (observed - expected)), 0.0)
    return np.sign(observed - expected) * np.sqrt(deviance)


def score_series(series: pd.Series, params: SpikeParams = SpikeParams(),
                 counts: bool | None = None) -> pd.DataFrame:
    """Per point: value, expected, each window's burst score and the window's excess."""
    counts = is_count_series(series.to_numpy()) if counts is None else counts
    expected, seasonal = _expected(series, params, counts)
    noise_points = _points(pd.Timedelta(days=params.noise_days), _step(series.index))
    frame = pd.DataFrame({"value": series, "expected": expected, "seasonal": seasonal})
    for w in dict.fromkeys((*params.windows, params.climb_window)):
        observed_sum = series.rolling(w, min_periods=w).sum()
        expected_sum = expected.rolling(w, min_periods=w).sum()
        excess = observed_sum - expected_sum
        spread = _trailing_spread(excess, noise_points)
        if counts:
            poisson = _deviance_z(observed_sum.to_numpy(), expected_sum.to_numpy())
            # Over-dispersed counts (reposts arrive together) are held to their own spread.
            robust = np.where(spread > 0, excess / spread.replace(0, np.nan), np.inf)
            score = np.minimum(poisson, np.nan_to_num(robust, nan=np.inf))
        else:
            centre = excess.shift(1).rolling(noise_points, min_periods=60).median()
            score = ((excess - centre) / spread.where(spread > 0)).to_numpy()
        frame[f"score_{w}"] = score
        frame[f"excess_{w}"] = excess
    frame["peak_rate"] = series.rolling(params.peak_window, min_periods=1).mean()
    return frame


def _cusum_increments(frame: pd.DataFrame, params: SpikeParams) -> np.ndarray:
    """Poisson log-likelihood ratio of each point: rate x `cusum_ratio` against as expected."""
    r = params.cusum_ratio
    values, mu = frame["value"].to_numpy(), frame["expected"].to_numpy()
    return values * math.log(r) - mu * (r - 1)


def detect_spikes(series: pd.Series, params: SpikeParams = SpikeParams(),
                  independent: pd.Series | None = None) -> list[Spike]:
    """Spikes in a series indexed by timestamps (any regular interval). `independent`, when
    given, counts the posts of the same series that are not reposts or copies: a spike whose
    excess they do not carry is marked viral."""
    counts = is_count_series(series.to_numpy())
    series = regularise(series, counts)
    if len(series) < max(params.windows) + 1:
        return []
    frame = score_series(series, params, counts)
    spikes = [_spike(frame, run, params) for run in _runs(frame, counts, params)]
    if independent is not None:
        spikes = [_with_independent(s, series, frame, independent, params) for s in spikes]
    return spikes


@dataclass(frozen=True)
class _Run:
    start: int
    flagged: int
    end: int
    kind: str


def _runs(frame: pd.DataFrame, counts: bool, params: SpikeParams) -> list[_Run]:
    """One pass over the points, as they arrive: flag, find the run-up, follow until quiet."""
    min_excess = params.min_excess if counts else -np.inf
    burst = np.zeros(len(frame), dtype=bool)
    # Without a past day the expected level lags the daily ramp: more evidence is needed.
    threshold = np.where(frame["seasonal"].to_numpy(), params.threshold, params.cold_threshold)
    for w in params.windows:  # each point's burst test uses its own trailing windows only
        score = np.nan_to_num(frame[f"score_{w}"].to_numpy(), nan=-np.inf)
        burst |= (score >= threshold) & (frame[f"excess_{w}"].to_numpy() >= min_excess)
    def closing(window: int) -> np.ndarray:
        return np.nan_to_num(frame[f"score_{window}"].to_numpy(), nan=-np.inf)

    # A burst ends when its longest window calms down; a climb when a longer one does.
    burst_open, climb_open = closing(params.windows[-1]), closing(params.climb_window)
    values, expected = frame["value"].to_numpy(), frame["expected"].to_numpy()
    # A slow climb is told from the daily ramp only against a seasonal profile, and only in
    # counts: the residuals of a measurement are autocorrelated, so a CUSUM of them drifts.
    increments = (_cusum_increments(frame, params) if counts
                  else np.full(len(frame), -np.inf))
    increments = np.where(frame["seasonal"].to_numpy(), increments, -np.inf)
    runs: list[_Run] = []
    cusum, last_zero, i, n = 0.0, -1, 0, len(frame)
    while i < n:
        cusum = max(0.0, cusum + increments[i])
        if cusum == 0.0:
            last_zero = i
        climb = cusum >= params.cusum_limit and (
            values[last_zero + 1:i + 1] - expected[last_zero + 1:i + 1]).sum() >= min_excess
        if not (burst[i] or climb):
            i += 1
            continue
        start = (_run_up(values, expected, last_zero, i) if counts
                 else _walk_back(values, expected, i))
        still = burst_open if burst[i] else climb_open
        end, j, quiet = i, i + 1, 0
        while j < n and quiet < params.cooldown:
            if still[j] >= params.release:
                end, quiet = j, 0
            else:
                quiet += 1
            j += 1
        runs.append(_Run(start, i, end, "burst" if burst[i] else "climb"))
        cusum, last_zero, i = 0.0, j - 1, j
    return runs


RUN_UP_LOOKBACK = 240  # points before a flag searched for where its run-up began


def _run_up(values: np.ndarray, expected: np.ndarray, last_zero: int, flagged: int) -> int:
    """Where the run-up began, from the points up to the flag only: the maximum-likelihood
    change point since the CUSUM last stood at zero, under the likelier of two Poisson
    models: a step (the rate jumps to expected x a ratio at k) or a ramp (the excess grows
    linearly from k). A sudden burst is a step, a building outage a ramp."""
    first = max(min(last_zero + 1, flagged), flagged - RUN_UP_LOOKBACK)
    seen, mean = values[first:flagged + 1], expected[first:flagged + 1]
    best, best_k = -np.inf, len(seen) - 1
    for k in range(len(seen)):
        after, base = seen[k:], mean[k:]
        ratio = max(float(after.sum()) / float(base.sum()), 1.0)
        ramp = np.arange(1, len(after) + 1, dtype=float)
        slope = max(float(((after - base) * ramp).sum() / (ramp * ramp).sum()), 0.0)
        for rate in (base * ratio, base + slope * ramp):
            fit = float((after * np.log(rate) - rate).sum()) - float(
                (after * np.log(base) - base).sum())
            if fit > best:
                best, best_k = fit, k
    k = first + best_k
    above = np.flatnonzero(values[k:flagged + 1] > expected[k:flagged + 1])
    return k + int(above[0]) if len(above) else flagged


def _walk_back(values: np.ndarray, expected: np.ndarray, flagged: int) -> int:
    """A measurement's run-up: back from the flag while the points stay above expected."""
    k = flagged
    while k > max(flagged - RUN_UP_LOOKBACK, 0) and values[k - 1] > expected[k - 1]:
        k -= 1
    return k


def _spike(frame: pd.DataFrame, run: _Run, params: SpikeParams) -> Spike:
    part = frame.iloc[run.start:run.end + 1]
    rate = part["peak_rate"]
    peak_label = rate.idxmax()
    score_columns = [f"score_{w}" for w in params.windows]  # the burst scores
    score = part[score_columns].replace([np.inf, -np.inf], np.nan).max().max()
    return Spike(
        start=pd.Timestamp(frame.index[run.start]),
        peak=pd.Timestamp(peak_label),
        end=pd.Timestamp(frame.index[run.end]),
        flagged=pd.Timestamp(frame.index[run.flagged]),
        kind=run.kind,
        peak_rate=float(rate.max()),
        expected_rate=float(part.loc[peak_label, "expected"]),
        score=float(score) if pd.notna(score) else 0.0,
        total=float(part["value"].sum()),
    )


def _with_independent(spike: Spike, series: pd.Series, frame: pd.DataFrame,
                      independent: pd.Series, params: SpikeParams) -> Spike:
    """Independent posts of the spike and whether its excess is theirs (see `is_viral`)."""
    independent = regularise(independent).reindex(series.index, fill_value=0.0)
    span = slice(spike.start, spike.end)
    before = series.index < spike.start
    share = (float(independent[before].sum()) / float(series[before].sum())
             if series[before].sum() > 0 else 1.0)
    raw, indep = float(series[span].sum()), float(independent[span].sum())
    expected = float(frame["expected"][span].sum())
    return Spike(**{**spike.__dict__, "independent": indep,
                    "viral": is_viral(raw, indep, expected, share, params.viral_share)})


def is_viral(raw: float, independent: float, expected: float, independent_share: float,
             viral_share: float = 0.5) -> bool:
    """True when independent posts carry less than `viral_share` of a spike's excess: the
    excess is one post's reposts and copies, not many people complaining. `independent_share`
    is the share of posts that are independent in normal traffic."""
    excess = raw - expected
    if excess <= 0:
        return False
    return independent - expected * independent_share < viral_share * excess


def zscore_spikes(series: pd.Series, window: int = 60, threshold: float = 4.0,
                  cooldown: int = 15) -> list[Spike]:
    """The plain baseline: z = (value - mean) / std of the `window` points before it; a spike
    is a run of points with z >= `threshold`, runs closer than `cooldown` points merged."""
    series = regularise(series)
    past = series.shift(1).rolling(window, min_periods=max(2, window // 2))
    mean, std = past.mean(), past.std()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = ((series - mean) / std).to_numpy()
    z = np.where((std.to_numpy() == 0) & (series > mean).to_numpy(), np.inf, z)
    hits = np.flatnonzero(np.nan_to_num(z, nan=-np.inf) >= threshold)
    spikes: list[Spike] = []
    for group in np.split(hits, np.flatnonzero(np.diff(hits) > cooldown) + 1) if len(hits) else []:
        part = series.iloc[group[0]:group[-1] + 1]
        peak = part.idxmax()
        finite = z[group][np.isfinite(z[group])]
        spikes.append(Spike(
            start=pd.Timestamp(series.index[group[0]]), peak=pd.Timestamp(peak),
            end=pd.Timestamp(series.index[group[-1]]),
            flagged=pd.Timestamp(series.index[group[0]]), kind="burst",
            peak_rate=float(part.max()), expected_rate=float(mean[peak]),
            score=float(finite.max()) if len(finite) else float("inf"),
            total=float(part.sum())))
    return spikes
