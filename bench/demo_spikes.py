"""How fast and how cleanly the spike detector finds complaint bursts at the demo's volumes,
beside a plain rolling z-score on the same series. Reads the complaint series of a warehouse
built by `aftershock demo --no-dashboard` (the classifier's complaints, per service) and runs
both detectors on them here, as `aftershock analyze` runs ours.

1. The demo scenario's own bursts (data/demo/scenario.json, known onsets). Their complaints
   rise linearly from nothing over 10-30 minutes (90 for two), so the first minutes of a burst
   hold almost no posts.
2. Sudden bursts added to the same series: on every day from the fourth on (once the
   seasonal baseline has three past days), at a random minute at least 3 hours from any
   scenario burst, complaints step up by RATE per minute for 30 minutes (Poisson).

Per detector: bursts detected, the median delay from the onset to the spike's `start` (where
the run-up began, found afterwards) and to its flag (when the detector fired, as the data
arrived), the share flagged within 3 minutes, and false alarms: spikes matching no burst, per
service and week.

    python bench/demo_spikes.py [--db data/aftershock.duckdb]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.spikes import Spike, detect_spikes, zscore_spikes
from pipelines.analyze import COMPLAINT_SERIES_SQL, SPAN_SQL
from pipelines.settings import load_settings
from pipelines.warehouse.reader import query

MINUTE = pd.Timedelta(minutes=1)
WEEK = pd.Timedelta(days=7)
STEP_MINUTES = 30
STEP_RATES = (1.0, 2.0, 4.0)  # added complaints per minute
CLEAR_OF_BURSTS = pd.Timedelta(hours=3)

Detector = Callable[[pd.Series, pd.Series], list[Spike]]
DETECTORS: dict[str, Detector] = {
    "aftershock": lambda counts, independent: detect_spikes(counts, independent=independent),
    "rolling z": lambda counts, independent: zscore_spikes(counts),
}


@dataclass(frozen=True)
class Burst:
    service: str
    onset: pd.Timestamp
    end: pd.Timestamp


@dataclass
class Result:
    bursts: int = 0
    start_delays: list[float] = field(default_factory=list)
    flag_delays: list[float] = field(default_factory=list)
    false_alarms: int = 0
    spikes: int = 0

    def line(self, label: str, service_weeks: float) -> str:
        found = len(self.flag_delays)
        within = sum(d <= 3 for d in self.flag_delays)

        def med(values: list[float]) -> str:
            return f"{statistics.median(values):6.1f}" if values else "     -"

        return (f"{label:<24} {found:>3}/{self.bursts:<3} {med(self.start_delays)} "
                f"{med(self.flag_delays)} {within:>4}/{found:<3} {self.false_alarms:>4} "
                f"{self.false_alarms / service_weeks:>6.2f}")


def score(spikes: dict[str, list[Spike]], bursts: list[Burst],
          also_true: Sequence[Burst] = ()) -> Result:
    """A spike detects a burst of its service when it overlaps the burst; a spike that
    overlaps none of `bursts` or `also_true` is a false alarm."""
    result = Result(bursts=len(bursts))

    def hits(burst: Burst) -> list[Spike]:
        return [s for s in spikes.get(burst.service, [])
                if s.start <= burst.end and s.end >= burst.onset]

    for burst in bursts:
        if found := hits(burst):
            first = min(found, key=lambda s: s.flagged)
            result.start_delays.append((first.start - burst.onset) / MINUTE)
            result.flag_delays.append((first.flagged - burst.onset) / MINUTE)
    matched = {id(s) for burst in [*bursts, *also_true] for s in hits(burst)}
    every = [s for per_service in spikes.values() for s in per_service]
    result.spikes = len(every)
    result.false_alarms = sum(id(s) not in matched for s in every)
    return result


def complaint_series(db: object) -> dict[str, tuple[pd.Series, pd.Series]]:
    rows = query(db, COMPLAINT_SERIES_SQL)  # type: ignore[arg-type]
    span = query(db, SPAN_SQL).iloc[0]  # type: ignore[arg-type]
    full = pd.date_range(span.iloc[0], span.iloc[1], freq="min")
    series = {}
    for service, part in rows.groupby("service"):
        minutes = part.groupby("minute")
        series[str(service)] = (minutes["n"].sum().reindex(full, fill_value=0).astype(float),
                                minutes["independent"].sum().reindex(full, fill_value=0)
                                .astype(float))
    return series


def add_steps(series: dict[str, tuple[pd.Series, pd.Series]], scenario: list[Burst],
              rate: float, seed: int = 11) -> tuple[dict[str, tuple[pd.Series, pd.Series]],
                                                    list[Burst]]:
    """One sudden burst a day per service (from the fourth day), clear of scenario bursts."""
    rng = np.random.default_rng(seed)
    out, added = {}, []
    for service, (counts, independent) in series.items():
        counts, independent = counts.copy(), independent.copy()
        busy = [b for b in scenario if b.service == service]
        for day in pd.date_range(counts.index[0].normalize() + pd.Timedelta(days=3),
                                 counts.index[-1] - pd.Timedelta(hours=1), freq="D"):
            for _ in range(50):
                onset = day + int(rng.integers(0, 1440 - STEP_MINUTES)) * MINUTE
                end = onset + (STEP_MINUTES - 1) * MINUTE
                if all(onset > b.end + CLEAR_OF_BURSTS or end < b.onset - CLEAR_OF_BURSTS
                       for b in busy):
                    extra = rng.poisson(rate, STEP_MINUTES).astype(float)
                    counts[onset:end] += extra
                    independent[onset:end] += extra
                    added.append(Burst(service, onset, end))
                    break
        out[service] = (counts, independent)
    return out, added


def run(series: dict[str, tuple[pd.Series, pd.Series]]) -> dict[str, dict[str, list[Spike]]]:
    return {name: {service: detector(*pair) for service, pair in series.items()}
            for name, detector in DETECTORS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    settings = load_settings(db=args.db)
    scenario = json.loads((settings.demo_dir / "scenario.json").read_text())
    bursts = [Burst(b["service"], pd.Timestamp(b["onset"]), pd.Timestamp(b["end"]))
              for b in scenario["bursts"]]
    series = complaint_series(settings.db)
    any_series = next(iter(series.values()))[0]
    service_weeks = len(series) * (any_series.index[-1] - any_series.index[0]) / WEEK
    print(f"{len(series)} services, {service_weeks:.1f} service-weeks of complaints per minute")
    print(f"{'':<24} {'found':>7} {'start':>6} {'flag':>6} {'<=3min':>8} {'FA':>4} "
          f"{'FA/svc-wk':>6}")
    print("(delays: median minutes from the onset)")
    for name, spikes in run(series).items():
        print(score(spikes, bursts).line(f"scenario  {name}", service_weeks))
    for rate in STEP_RATES:
        stepped, added = add_steps(series, bursts, rate)
        for name, spikes in run(stepped).items():
            print(score(spikes, added, bursts).line(f"+{rate:g}/min step  {name}", service_weeks))


if __name__ == "__main__":
    main()
