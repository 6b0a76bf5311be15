"""How fast the spike detector runs, as `aftershock analyze` runs it and against series length.

1. Warehouse (with --db, or the configured one when it exists): `find_spikes` on the
   complaint series of a warehouse built by `aftershock demo --no-dashboard`, exactly as
   analyze calls it (all complaints per service and each complaint type with enough volume).
2. Length: `detect_spikes` on synthetic complaints per minute (diurnal, about 0.5 a minute,
   a burst a day) of 7, 28 and 84 days. A linear detector keeps its ms per 10,000 minutes
   flat as the series grows.

Each figure is the median of --repeats runs (default 5): wall-clock and CPU seconds, series per
second and milliseconds per 10,000 minutes of series (both from the wall-clock time).

    python bench/spikes_speed.py [--db data/aftershock.duckdb] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from analysis.spikes import detect_spikes
from pipelines.analyze import COMPLAINT_SERIES_SQL, MIN_TYPE_VOLUME, SPAN_SQL, find_spikes
from pipelines.settings import load_settings
from pipelines.warehouse.reader import query

LENGTHS_DAYS = (7, 28, 84)


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of `repeats` runs (on a shared machine the
    CPU time is the steadier of the two)."""
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def line(label: str, series: int, minutes: int, seconds: tuple[float, float]) -> str:
    wall, cpu = seconds
    return (f"{label:<28} {series:>6} {minutes:>9} {wall:>8.3f} {cpu:>7.3f} "
            f"{series / wall:>9.1f} {wall * 1000 * 10_000 / minutes:>10.2f}")


def detected_series(rows: pd.DataFrame) -> int:
    """How many series find_spikes runs the detector on: per service, all complaints and each
    complaint type with enough volume."""
    per_type = rows.groupby(["service", "complaint_type"])["n"].sum()
    return int(rows["service"].nunique() + (per_type >= MIN_TYPE_VOLUME).sum())


def warehouse_line(db: str | None, repeats: int) -> str | None:
    settings = load_settings(db=db)
    if not settings.db.exists():
        return None
    rows = query(settings.db, COMPLAINT_SERIES_SQL)
    span = query(settings.db, SPAN_SQL).iloc[0]
    start, end = pd.Timestamp(span.iloc[0]), pd.Timestamp(span.iloc[1])
    series = detected_series(rows)
    minutes = series * len(pd.date_range(start, end, freq="min"))
    seconds = median_seconds(lambda: find_spikes(rows, start, end), repeats)
    return line("warehouse find_spikes", series, minutes, seconds)


def synthetic_counts(days: int, seed: int = 7) -> tuple[pd.Series, pd.Series]:
    index = pd.date_range("2024-01-01", periods=days * 1440, freq="min", tz="UTC")
    rng = np.random.default_rng(seed)
    diurnal = 1 + 0.8 * np.sin((index.hour.to_numpy() - 9) / 24 * 2 * np.pi)
    values = rng.poisson(0.5 * diurnal)
    for day in range(days):  # one 30-minute burst a day, at a random minute
        onset = day * 1440 + int(rng.integers(0, 1410))
        values[onset:onset + 30] += rng.poisson(3.0, 30)
    counts = pd.Series(values.astype(float), index=index)
    return counts, (counts - rng.binomial(values, 0.2)).clip(lower=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--db", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"median of {args.repeats} runs")
    print(f"{'':<28} {'series':>6} {'minutes':>9} {'seconds':>8} {'cpu s':>7} {'series/s':>9} "
          f"{'ms/10k min':>10}")
    warehouse = warehouse_line(args.db, args.repeats)
    print(warehouse or "warehouse: none at the configured path (pass --db)")
    for days in LENGTHS_DAYS:
        counts, independent = synthetic_counts(days)
        seconds = median_seconds(partial(detect_spikes, counts, independent=independent),
                                 args.repeats)
        print(line(f"synthetic {days} days", 1, len(counts), seconds))


if __name__ == "__main__":
    main()
