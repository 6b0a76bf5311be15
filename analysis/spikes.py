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
    index = pd.DatetimeIndex(series.index)
    if index.is_monotonic_increasing and index.is_unique:
        series = series.astype(float)  # one value a stamp already: nothing to sum or average
    else:
        grouped = series.groupby(level=0)
        series = (grouped.sum() if counts else grouped.mean()).sort_index().astype(float)
    if len(series) < 2:
        return series
    gaps = np.diff(pd.DatetimeIndex(series.index).asi8)
    if (gaps == gaps[0]).all():
        step = pd.Timedelta(int(gaps[0]), unit=pd.DatetimeIndex(series.index).unit)
        regular = True
    else:
        diffs = pd.Series(series.index).diff()
        step = diffs.median()
        regular = bool((diffs.dropna() == step).all())
    if regular:
        full = pd.date_range(series.index[0], series.index[-1], freq=step)
        # On its own grid already: the same values on the grid's index, without a reindex.
        grid = (pd.Series(series.to_numpy(), index=full, name=series.name)
                if len(full) == len(series) else series.reindex(full))
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
    values = series.to_numpy(dtype=float)
    step = _step(index)
    per_hour = _points(HOUR, step)
    if len(values) and step <= HOUR and DAY % step == pd.Timedelta(0):
        seasonal, early = _seasonal_profile(values, index, params, counts)
        # The trailing level stands in only where no profile exists: the first days.
        missing = np.flatnonzero(np.isnan(seasonal))
        trailing = _trailing_level(series, per_hour, missing[-1] + 1 if len(missing) else 0)
        expected = np.where(np.isnan(seasonal), np.fmax(early, trailing), seasonal)
        from_days = ~np.isnan(seasonal) | ~np.isnan(early)
    else:
        expected = _trailing_level(series, per_hour, len(values))
        from_days = np.zeros(len(values), dtype=bool)
    if counts:
        # A floor keeps a quiet hour's baseline above zero: one post is not a spike.
        floor = np.maximum(_mean_before(values) * 0.25, 1e-3)
        expected = np.where(np.isnan(expected), floor, expected)
        # As pandas' clip: a missing floor or a missing level is left alone.
        keep = (expected >= floor) | np.isnan(expected) | np.isnan(floor)
        expected = np.where(keep, expected, floor)
    first = float(values[0]) if len(values) else 0.0
    return (pd.Series(expected, index=series.index).ffill().fillna(first),
            pd.Series(from_days, index=series.index))


def _trailing_level(series: pd.Series, per_hour: int, points: int) -> np.ndarray:
    """Mean of the past hour, then the median of six such hours (robust to a spike of under
    3 h), for the first `points` points (NaN after: rolling windows look back only, so the
    first points come out the same from the first part of the series)."""
    level = np.full(len(series), np.nan)
    if points:
        head = series.iloc[:points]
        level[:points] = (head.shift(1).rolling(per_hour, min_periods=1).mean()
                          .rolling(6 * per_hour, min_periods=1).median()).to_numpy(dtype=float)
    return level


def _mean_before(values: np.ndarray) -> np.ndarray:
    """Mean of the values before each point (NaN at the first). For counts only: sums of whole
    numbers are exact in any order, so this equals pandas' expanding mean."""
    sums = np.concatenate(([0.0], np.cumsum(values)[:-1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / np.arange(len(values), dtype=float)


def _seasonal_profile(values: np.ndarray, index: pd.DatetimeIndex, params: SpikeParams,
                      counts: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per point, the median hour-of-day mean over past days (NaN until enough days), and the
    same over the fewer past days there are before that. One table of days x slots, computed
    once: rolling medians down its rows."""
    day = index.normalize()
    # Counts are sparse: an hour's mean is the unit. A measurement is dense and may ramp within
    # an hour: its own time of day is.
    if counts:
        slot, slots = np.asarray(index.hour, dtype=np.int64), 24
    else:
        slot = np.asarray((index - day) // _step(index), dtype=np.int64)
        slots = int(slot.max()) + 1
    days = pd.date_range(day[0], day[-1], freq="D")
    row = np.asarray(days.get_indexer(day), dtype=np.int64)  # -1: a day off the daily grid
    cell = row * slots + slot
    used = (row >= 0) & ~np.isnan(values)
    size = len(days) * slots
    sums = np.bincount(cell[used], weights=values[used], minlength=size)
    seen = np.bincount(cell[used], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly = (sums / seen).reshape(len(days), slots)  # one row a day, one column a slot
    past = _shift_rows(hourly, 1)  # a day's profile comes from the days before it
    history = params.history_days
    daily = _median_of_rows(past, range(history), params.min_days_for_season)
    # Fewer past days than that: their median, but never under the trailing level (the
    # caller), as one or two days are a noisy profile, and a spike on them only makes this
    # one quieter.
    early = np.where(np.isnan(daily), _median_of_rows(past, range(history), 1), np.nan)
    weeks = params.min_weeks_for_weekly
    # Same weekday over past weeks: Saturday night is not Tuesday night.
    same_weekday = range(0, 7 * max(weeks, history // 7), 7)
    weekly = _median_of_rows(_shift_rows(hourly, 7), same_weekday, weeks)
    profile = np.where(np.isnan(weekly), daily, weekly)

    def per_point(table: np.ndarray) -> np.ndarray:
        return np.where(row >= 0, table[np.maximum(row, 0), slot], np.nan)

    return per_point(profile), per_point(early)


def _shift_rows(table: np.ndarray, rows: int) -> np.ndarray:
    shifted = np.full_like(table, np.nan)
    if rows < len(table):
        shifted[rows:] = table[:len(table) - rows]
    return shifted


def _median_of_rows(table: np.ndarray, lags: range, min_count: int) -> np.ndarray:
    """Per cell, the median of the cells `lags` rows above it (NaN left out; NaN where fewer
    than `min_count`), as pandas' rolling median gives it: the middle value, or the mean of
    the middle two."""
    out = np.full(table.shape, np.nan)
    # Column blocks keep the rows x columns x lags stack small for long, fine-grained series.
    width = max(1, 2_000_000 // max(1, len(table) * len(lags)))
    for first in range(0, table.shape[1], width):
        part = table[:, first:first + width]
        stack = np.sort(np.stack([_shift_rows(part, lag) for lag in lags], axis=-1), axis=-1)
        n = np.sum(~np.isnan(stack), axis=-1)
        low = np.take_along_axis(stack, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
        high = np.take_along_axis(stack, (n // 2)[..., None].clip(max=len(lags) - 1), -1)[..., 0]
        middle = np.where(n % 2 == 1, high, (low + high) / 2)
        out[:, first:first + width] = np.where((n >= min_count) & (n > 0), middle, np.nan)
    return out


def _trailing_spread(residual: pd.Series, points: int) -> pd.Series:
    """Spread of the residuals before each point, read at their upper tail: (99th percentile -
    median) / 2.326, which is the standard deviation for normal noise and more for the heavy
    tails real series have, where a spread from the centre (MAD) would flag every outlier."""
    past = residual.shift(1).rolling(points, min_periods=min(points, 60))
    return (past.quantile(0.99) - past.median()) / 2.326


class _TrailingOrder:
    """`_trailing_spread` of one residual array at chosen points only, equal to it value for
    value: the 99th percentile and the median of the `points` residuals before each point
    (NaN left out), interpolated as pandas' rolling quantile and median do.

    A rolling quantile over a week of minutes at every point costs more than all the rest of
    the detector; the scores that need it are asked for at few points. The residuals of three
    windows' length, every two, are ranked once and counted in blocks of ranks: every window
    of a point lies in one such span, and one order statistic costs about the square root of
    the window, not the window (a series of under two windows is one span)."""

    def __init__(self, residual: np.ndarray, points: int) -> None:
        self.residual = residual
        self.points = points
        self.min_periods = min(points, 60)
        self.valid_before = np.concatenate(([0], np.cumsum(~np.isnan(residual))))
        self.tables: dict[int, _RankBlocks] = {}

    def spread(self, at: np.ndarray) -> np.ndarray:
        out = np.full(len(at), np.nan)
        lo = np.maximum(at - self.points, 0)
        n = self.valid_before[at] - self.valid_before[lo]
        ok = n >= max(self.min_periods, 1)
        span = at // (2 * self.points)  # span m: (2m - 1) to (2m + 2) windows' length
        for m in np.unique(span[ok]):
            pick = np.flatnonzero(ok & (span == m))
            out[pick] = self._spread_in_span(int(m), lo[pick], at[pick], n[pick])
        return out

    def _spread_in_span(self, m: int, lo: np.ndarray, hi: np.ndarray,
                        n: np.ndarray) -> np.ndarray:
        if m not in self.tables:
            first = max(0, (2 * m - 1) * self.points)
            last = min(len(self.residual), (2 * m + 2) * self.points)
            self.tables[m] = _RankBlocks(self.residual, first, last)
        table = self.tables[m]
        fraction = 0.99 * (n - 1)
        below = fraction.astype(np.int64)
        low, high, mid_low, mid_high = table.kth(lo, hi, [
            below, np.minimum(below + 1, n - 1), (n - 1) // 2, n // 2])
        with np.errstate(invalid="ignore"):
            upper = np.where(below == fraction, low, low + (high - low) * (fraction - below))
        median = np.where(n % 2 == 1, mid_high, (mid_low + mid_high) / 2)
        return (upper - median) / 2.326


class _RankBlocks:
    """The non-NaN values of `values[first:last]` ranked, the ranks cut into blocks of about
    the square root of their number, each block's positions kept sorted: the k-th smallest
    value of any stretch of positions is a count per block, then a look inside one block."""

    def __init__(self, values: np.ndarray, first: int, last: int) -> None:
        part = values[first:last]
        here = np.flatnonzero(~np.isnan(part))
        by_value = here[np.argsort(part[here], kind="stable")]
        self.first, self.span = first, last - first
        self.sorted_values = part[by_value]
        size = max(16, math.isqrt(max(len(by_value), 1)) + 1)
        blocks = -(-len(by_value) // size) or 1
        padded = np.full(blocks * size, self.span, dtype=np.int64)  # past every stretch
        padded[:len(by_value)] = by_value
        self.by_rank = padded.reshape(blocks, size)  # each block's positions, in rank order
        offsets = np.arange(blocks, dtype=np.int64)[:, None] * (self.span + 1)
        self.offsets = offsets[:, 0]
        self.keys = (np.sort(self.by_rank, axis=1) + offsets).ravel()  # ascending
        self.size = size

    def kth(self, lo: np.ndarray, hi: np.ndarray, ks: list[np.ndarray]) -> list[np.ndarray]:
        """For each stretch [lo, hi) (absolute positions), the ks-th smallest values (0-based),
        the stretch holding more than k values."""
        lo, hi = lo - self.first, hi - self.first
        out = np.empty((len(ks), len(lo)))
        batch = max(1, 100_000 // len(self.offsets))
        for start in range(0, len(lo), batch):
            rows = slice(start, start + batch)
            a, b = lo[rows, None], hi[rows, None]
            counts = (np.searchsorted(self.keys, self.offsets + b)
                      - np.searchsorted(self.keys, self.offsets + a))
            cumulative = np.tile(np.cumsum(counts, axis=1), (len(ks), 1))
            want = np.concatenate([k[rows] for k in ks])
            a, b = np.tile(a, (len(ks), 1)), np.tile(b, (len(ks), 1))
            block = np.sum(cumulative <= want[:, None], axis=1)
            before = np.where(block > 0, np.take_along_axis(
                cumulative, np.maximum(block - 1, 0)[:, None], 1)[:, 0], 0)
            members = self.by_rank[block]
            inside = np.cumsum((members >= a) & (members < b), axis=1)
            offset = np.argmax(inside > (want - before)[:, None], axis=1)
            out[:, rows] = self.sorted_values[block * self.size + offset].reshape(len(ks), -1)
        return list(out)


def _deviance_z(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Signed root of the Poisson deviance: about N(0, 1) in the tail, even at low counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(observed > 0, observed * np.log(observed / expected), 0.0)
    deviance = np.maximum(2 * (term - (observed - expected)), 0.0)
    return np.sign(observed - expected) * np.sqrt(deviance)


def score_series(series: pd.Series, params: SpikeParams = SpikeParams(),
                 counts: bool | None = None) -> pd.DataFrame:
    """Per point: value, expected, each window's burst score and the window's excess. Every
    score at every point (detect_spikes computes the scores only where it needs them)."""
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


class _Scores:
    """Each window's burst score, computed at the points asked for.

    Counts: the score is the smaller of the Poisson deviance and the excess over the trailing
    spread (`_trailing_spread`, for over-dispersed counts). The deviance is cheap everywhere
    and bounds the score from above, so the spread is computed only where the bound reaches
    a decision (a flag, a spike staying open) or a spike's score is read. Measurements: the
    excess over the trailing median, in spreads, computed everywhere. A window's arrays are
    computed the first time it is asked for (the climb window only once a climb is)."""

    def __init__(self, series: pd.Series, expected: pd.Series, params: SpikeParams,
                 counts: bool) -> None:
        self.series, self.expected, self.counts = series, expected, counts
        self.points = _points(pd.Timedelta(days=params.noise_days), _step(series.index))
        values = series.to_numpy()
        # Sums of whole numbers are exact in any order: a cumulative sum equals pandas'.
        self._cumulative = (np.concatenate(([0.0], np.cumsum(values)))
                            if counts and np.array_equal(values, np.round(values)) else None)
        self._excess: dict[int, np.ndarray] = {}
        self.bound: dict[int, np.ndarray] = {}  # the score, or an upper bound of it
        self._exact: dict[int, np.ndarray] = {}
        self._known: dict[int, np.ndarray] = {}
        self._order: dict[int, _TrailingOrder] = {}

    def excess(self, w: int) -> np.ndarray:
        if w not in self._excess:
            self._add_window(w)
        return self._excess[w]

    def bound_of(self, w: int) -> np.ndarray:
        self.excess(w)
        return self.bound[w]

    def _add_window(self, w: int) -> None:
        expected_sum = self.expected.rolling(w, min_periods=w).sum()
        if self._cumulative is not None:
            observed = np.full(len(self.series), np.nan)
            observed[w - 1:] = self._cumulative[w:] - self._cumulative[:len(observed) - w + 1]
            observed_sum = pd.Series(observed, index=self.series.index)
        else:
            observed_sum = self.series.rolling(w, min_periods=w).sum()
        excess = observed_sum - expected_sum
        self._excess[w] = excess.to_numpy()
        if self.counts:
            self.bound[w] = _deviance_z(observed_sum.to_numpy(), expected_sum.to_numpy())
            self._exact[w] = np.full(len(excess), np.nan)
            self._known[w] = np.zeros(len(excess), dtype=bool)
            self._order[w] = _TrailingOrder(self._excess[w], self.points)
        else:
            spread = _trailing_spread(excess, self.points)
            centre = excess.shift(1).rolling(self.points, min_periods=60).median()
            self.bound[w] = ((excess - centre) / spread.where(spread > 0)).to_numpy()

    def score(self, w: int, at: np.ndarray) -> np.ndarray:
        self.excess(w)
        if not self.counts:
            return self.bound[w][at]
        known, exact = self._known[w], self._exact[w]
        todo = at[~known[at]]
        if len(todo):
            todo = np.unique(todo)
            spread = self._order[w].spread(todo)
            excess = self._excess[w][todo]
            with np.errstate(divide="ignore", invalid="ignore"):
                # Over-dispersed counts (reposts arrive together) are held to their own spread.
                robust = np.where(spread > 0, excess / spread, np.inf)
            exact[todo] = np.minimum(self.bound[w][todo], np.nan_to_num(robust, nan=np.inf))
            known[todo] = True
        return exact[at]

    def reaches(self, w: int, at: np.ndarray, level: np.ndarray | float) -> np.ndarray:
        """Whether the score at each point is at least `level` (never where it is NaN)."""
        level = np.broadcast_to(level, at.shape)
        self.excess(w)
        hit = np.zeros(len(at), dtype=bool)
        maybe = np.flatnonzero(np.nan_to_num(self.bound[w][at], nan=-np.inf) >= level)
        hit[maybe] = np.nan_to_num(self.score(w, at[maybe]), nan=-np.inf) >= level[maybe]
        return hit

    def highest(self, windows: tuple[int, ...], spans: list[tuple[int, int]]) -> list[float]:
        """Per span lo..hi-1, the highest finite score of `windows` (NaN if none). A point is
        scored only where its bound beats the best score known in its span: first the points
        of highest bound, then any others whose bound still beats the best."""
        for first_round in (True, False):
            known_best = [self._best_known(windows, lo, hi) for lo, hi in spans]
            for w in windows:
                asked = [_beats(self.bound_of(w), lo, hi, best, 8 if first_round else None)
                         for (lo, hi), best in zip(spans, known_best, strict=True)]
                if asked:
                    self.score(w, np.concatenate(asked))
        return [self._best_known(windows, lo, hi) for lo, hi in spans]

    def _best_known(self, windows: tuple[int, ...], lo: int, hi: int) -> float:
        best = -np.inf
        for w in windows:
            if self.counts:
                scored = self._exact[w][lo:hi][self._known[w][lo:hi]]
            else:
                scored = self.bound[w][lo:hi]
            scored = scored[np.isfinite(scored)]
            if len(scored):
                best = max(best, float(scored.max()))
        return best if np.isfinite(best) else float("nan")


def _beats(bound: np.ndarray, lo: int, hi: int, best: float, top: int | None) -> np.ndarray:
    """The points of lo..hi-1 where a score under `bound` could be higher than `best` (NaN:
    none known yet); with `top`, only that many of highest bound."""
    part = bound[lo:hi]
    beats = np.flatnonzero(~np.isnan(part) if np.isnan(best) else part > best)
    if top is not None and len(beats) > top:
        beats = beats[np.argsort(-part[beats], kind="stable")[:top]]
    return lo + beats


def _cusum_increments(values: np.ndarray, expected: np.ndarray,
                      params: SpikeParams) -> np.ndarray:
    """Poisson log-likelihood ratio of each point: rate x `cusum_ratio` against as expected."""
    r = params.cusum_ratio
    return values * math.log(r) - expected * (r - 1)


def detect_spikes(series: pd.Series, params: SpikeParams = SpikeParams(),
                  independent: pd.Series | None = None) -> list[Spike]:
    """Spikes in a series indexed by timestamps (any regular interval). `independent`, when
    given, counts the posts of the same series that are not reposts or copies: a spike whose
    excess they do not carry is marked viral."""
    counts = is_count_series(series.to_numpy())
    series = regularise(series, counts)
    if len(series) < max(params.windows) + 1 or (counts and _silent(series, params)):
        return []
    expected, seasonal = _expected(series, params, counts)
    scores = _Scores(series, expected, params, counts)
    values, mean = series.to_numpy(), expected.to_numpy()
    peak_rate = series.rolling(params.peak_window, min_periods=1).mean().to_numpy()
    index = pd.DatetimeIndex(series.index)
    runs = _runs(values, mean, seasonal.to_numpy(), scores, counts, params)
    highest = scores.highest(params.windows, [(run.start, run.end + 1) for run in runs])
    spikes = [_spike(index, values, mean, peak_rate, score, run)
              for run, score in zip(runs, highest, strict=True)]
    if independent is not None:
        # Regularised once for the series, not once a spike.
        own_series = regularise(independent)
        own = (own_series.to_numpy() if own_series.index.equals(series.index)
               else own_series.reindex(series.index, fill_value=0.0).to_numpy())
        spikes = [_with_independent(s, values, mean, own, index, params) for s in spikes]
    return spikes


def _silent(series: pd.Series, params: SpikeParams) -> bool:
    """No count at all, under parameters where silence can never flag (no score above zero,
    no excess, a CUSUM that only falls): nothing to compute."""
    return (not series.to_numpy().any() and min(params.threshold, params.cold_threshold) > 0
            and params.min_excess > 0 and params.cusum_limit > 0 and params.cusum_ratio >= 1)


@dataclass(frozen=True)
class _Run:
    start: int
    flagged: int
    end: int
    kind: str


def _runs(values: np.ndarray, expected: np.ndarray, seasonal: np.ndarray, scores: _Scores,
          counts: bool, params: SpikeParams) -> list[_Run]:
    """One pass over the points, as they arrive: flag, find the run-up, follow until quiet."""
    n = len(values)
    min_excess = params.min_excess if counts else -np.inf
    # Without a past day the expected level lags the daily ramp: more evidence is needed.
    bursts = _BurstTest(scores, params.windows, np.where(seasonal, params.threshold,
                                                         params.cold_threshold), min_excess)
    # A slow climb is told from the daily ramp only against a seasonal profile, and only in
    # counts: the residuals of a measurement are autocorrelated, so a CUSUM of them drifts.
    increments = (_cusum_increments(values, expected, params) if counts
                  else np.full(n, -np.inf))
    steps = np.where(seasonal, increments, -np.inf)
    limit = params.cusum_limit
    wake = _next_wake(steps, bursts.maybe, limit)
    steps_at, maybe = steps.tolist(), bursts.maybe.tolist()
    runs: list[_Run] = []
    cusum, last_zero, i = 0.0, -1, 0
    while i < n:  # the CUSUM is sequential; everything else is arrays
        if cusum == 0.0 and wake[i] > i:
            # At zero, points that neither raise the CUSUM nor burst leave it at zero.
            i = wake[i]
            last_zero = i - 1
            if i >= n:
                break
        total = cusum + steps_at[i]
        if total > 0.0:
            cusum = total
        else:
            cusum, last_zero = 0.0, i
        climb = cusum >= limit and float(
            (values[last_zero + 1:i + 1] - expected[last_zero + 1:i + 1]).sum()) >= min_excess
        burst = maybe[i] and bursts.at(i)
        if not (burst or climb):
            i += 1
            continue
        start = (_run_up(values, expected, last_zero, i) if counts
                 else _walk_back(values, expected, i))
        # A burst ends when its longest window calms down; a climb when a longer one does.
        window = params.windows[-1] if burst else params.climb_window
        end, after = _follow(scores, window, i, n, params)
        runs.append(_Run(start, i, end, "burst" if burst else "climb"))
        cusum, last_zero, i = 0.0, after - 1, after
    return runs


class _BurstTest:
    """Whether a point bursts: some window's score reaches the threshold with enough excess.
    Each point's test uses its own trailing windows only. Decided where the pass over the
    points asks, a stretch at a time: inside a spike nobody asks."""

    STRETCH = 4096

    def __init__(self, scores: _Scores, windows: tuple[int, ...], threshold: np.ndarray,
                 min_excess: float) -> None:
        self.scores, self.windows, self.threshold = scores, windows, threshold
        self.candidates = {w: (np.nan_to_num(scores.bound_of(w), nan=-np.inf) >= threshold)
                           & (scores.excess(w) >= min_excess) for w in windows}
        self.maybe = np.logical_or.reduce(list(self.candidates.values()))
        self.decided = np.zeros(len(threshold), dtype=bool)
        self.burst = np.zeros(len(threshold), dtype=bool)

    def at(self, i: int) -> bool:
        if not self.decided[i]:
            stretch = slice(i, i + self.STRETCH)
            for w in self.windows:
                at = i + np.flatnonzero(self.candidates[w][stretch] & ~self.burst[stretch])
                self.burst[at] |= self.scores.reaches(w, at, self.threshold[at])
            self.decided[stretch] = True
        return bool(self.burst[i])


def _next_wake(steps: np.ndarray, burst: np.ndarray, limit: float) -> list[int]:
    """Per point, the first point from it on where a CUSUM at zero can move (a positive
    step) or a burst flags (`n` if none). With a limit at or under zero a CUSUM at zero can
    flag a climb: then every point wakes."""
    n = len(steps)
    if limit <= 0:
        return list(range(n + 1))
    marked = np.where((steps > 0) | burst, np.arange(n), n)
    return np.minimum.accumulate(marked[::-1])[::-1].tolist() + [n]


def _follow(scores: _Scores, window: int, flagged: int, n: int,
            params: SpikeParams) -> tuple[int, int]:
    """A spike flagged at `flagged` stays open while `window`'s score reaches `release`; it
    closes after `cooldown` points under it. Returns its last open point and the point after
    the cooldown (or `n`). Scored a stretch at a time: a spike is short beside its series."""
    last, lo = flagged, flagged + 1
    stretch = params.cooldown + 16
    while lo < n:
        at = np.arange(lo, min(n, lo + stretch))
        stretch *= 2
        loud = at[scores.reaches(window, at, params.release)]
        opened = np.concatenate(([last], loud))
        following = np.concatenate((loud, [at[-1] + 1]))
        gaps = np.flatnonzero(opened + params.cooldown < following)
        if len(gaps):
            end = int(opened[gaps[0]])
            return end, end + params.cooldown + 1
        last, lo = int(opened[-1]), int(at[-1]) + 1
    return last, n


RUN_UP_LOOKBACK = 240  # points before a flag searched for where its run-up began


def _run_up(values: np.ndarray, expected: np.ndarray, last_zero: int, flagged: int) -> int:
    """Where the run-up began, from the points up to the flag only: the maximum-likelihood
    change point since the CUSUM last stood at zero, under the likelier of two Poisson
    models: a step (the rate jumps to expected x a ratio at k) or a ramp (the excess grows
    linearly from k). A sudden burst is a step, a building outage a ramp."""
    first = max(min(last_zero + 1, flagged), flagged - RUN_UP_LOOKBACK)
    seen, mean = values[first:flagged + 1], expected[first:flagged + 1]
    if not ((mean > 0).all() and np.isfinite(mean).all() and np.isfinite(seen).all()):
        best_k = _first_best(seen, mean, [])  # a zero level makes NaN and inf fits: as ever
    else:
        fits = _change_fits(seen, mean)
        # All candidates at once, in another summation order than one k at a time: the few
        # that come within rounding of the best are decided by the sums one k at a time.
        scale = 1.0 + float(np.abs(seen * np.log(mean)).sum() + mean.sum() + seen.sum())
        near = np.flatnonzero(fits >= fits.max() - 1e-9 * scale)
        best_k = int(near[0]) if len(near) == 1 else _first_best(seen, mean, near.tolist())
    k = first + best_k
    above = np.flatnonzero(values[k:flagged + 1] > expected[k:flagged + 1])
    return k + int(above[0]) if len(above) else flagged


def _change_fits(seen: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per candidate change point k, the better log-likelihood gain of the step and the ramp
    model over 'as expected' (-inf where neither is a number)."""
    length = len(seen)
    after = np.cumsum(seen[::-1])[::-1]   # sum of seen[k:]
    base = np.cumsum(mean[::-1])[::-1]
    ratio = np.maximum(after / base, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = after * np.log(ratio) - (ratio - 1) * base
    # ramp[k, t] = t - k + 1 from the change point on, 0 before it.
    ramp = np.arange(length)[None, :] - np.arange(length)[:, None] + 1.0
    ramp[ramp < 0] = 0.0
    terms = np.arange(length, 0, -1, dtype=float)   # points from k to the end
    squares = terms * (terms + 1) * (2 * terms + 1) / 6
    slope = np.maximum((ramp * (seen - mean)).sum(axis=1) / squares, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lifted = np.log1p(slope[:, None] * ramp / mean)
        gain = np.where(seen > 0, seen * lifted, 0.0).sum(axis=1) - slope * ramp.sum(axis=1)
    return np.nan_to_num(np.fmax(step, gain), nan=-np.inf)


def _first_best(seen: np.ndarray, mean: np.ndarray, candidates: list[int]) -> int:
    """The first k with the highest fit, each fit summed exactly as one k at a time (all k
    when no candidates are given)."""
    best, best_k = -np.inf, len(seen) - 1
    for k in candidates or range(len(seen)):
        after, base = seen[k:], mean[k:]
        ratio = max(float(after.sum()) / float(base.sum()), 1.0)
        ramp = np.arange(1, len(after) + 1, dtype=float)
        slope = max(float(((after - base) * ramp).sum() / (ramp * ramp).sum()), 0.0)
        for rate in (base * ratio, base + slope * ramp):
            fit = float((after * np.log(rate) - rate).sum()) - float(
                (after * np.log(base) - base).sum())
            if fit > best:
                best, best_k = fit, k
    return best_k


def _walk_back(values: np.ndarray, expected: np.ndarray, flagged: int) -> int:
    """A measurement's run-up: back from the flag while the points stay above expected."""
    k = flagged
    while k > max(flagged - RUN_UP_LOOKBACK, 0) and values[k - 1] > expected[k - 1]:
        k -= 1
    return k


def _spike(index: pd.DatetimeIndex, values: np.ndarray, expected: np.ndarray,
           peak_rate: np.ndarray, score: float, run: _Run) -> Spike:
    """`score`: the highest burst score inside the spike."""
    lo, hi = run.start, run.end + 1
    peak = lo + int(np.nanargmax(peak_rate[lo:hi]))
    return Spike(
        start=pd.Timestamp(index[run.start]),
        peak=pd.Timestamp(index[peak]),
        end=pd.Timestamp(index[run.end]),
        flagged=pd.Timestamp(index[run.flagged]),
        kind=run.kind,
        peak_rate=float(np.nanmax(peak_rate[lo:hi])),
        expected_rate=float(expected[peak]),
        score=score if not np.isnan(score) else 0.0,
        total=float(np.nansum(values[lo:hi])),
    )


def _with_independent(spike: Spike, values: np.ndarray, expected: np.ndarray,
                      independent: np.ndarray, index: pd.DatetimeIndex,
                      params: SpikeParams) -> Spike:
    """Independent posts of the spike and whether its excess is theirs (see `is_viral`)."""
    lo, hi = index.get_loc(spike.start), index.get_loc(spike.end) + 1
    before = float(np.nansum(values[:lo]))
    share = float(np.nansum(independent[:lo])) / before if before > 0 else 1.0
    raw, indep = float(np.nansum(values[lo:hi])), float(np.nansum(independent[lo:hi]))
    expected_sum = float(np.nansum(expected[lo:hi]))
    return Spike(**{**spike.__dict__, "independent": indep,
                    "viral": is_viral(raw, indep, expected_sum, share, params.viral_share)})


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
