"""The spike detector against the Numenta Anomaly Benchmark's labelled windows, beside a plain
rolling z-score, in the same run.

For each series (`timestamp,value`, read as `aftershock detect` reads it) both detectors run
with their documented defaults; nothing is tuned on these labels. A detector's alarm is the
time its spike was flagged, as the data arrived. Following NAB, alarms in the first 15% of a
series (its probationary period) are not scored. Per NAB group and overall:

- windows detected: labelled windows with at least one alarm inside them;
- delay: from the window's start to its first alarm (median, hours; NAB centres each window on
  the labelled anomaly, so a detection at the anomaly itself is about half a window late);
- false alarms: alarms outside every window, per series and in all.

Our detector looks for rises only (complaints going up): windows around drops or flat-lines are
out of its scope and count as missed here.

    python bench/nab.py [--nab ../shared/data/nab]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.spikes import Spike, detect_spikes, zscore_spikes
from pipelines.detect_csv import read_series

PROBATION = 0.15
DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"

Detector = Callable[[pd.Series], list[Spike]]
DETECTORS: dict[str, Detector] = {
    "aftershock": lambda series: detect_spikes(series),
    "rolling z": lambda series: zscore_spikes(series),
}


@dataclass
class Tally:
    series: int = 0
    windows: int = 0
    detected: int = 0
    delays_h: list[float] = field(default_factory=list)
    false_alarms: int = 0
    seconds: float = 0.0

    def add(self, other: Tally) -> None:
        self.series += other.series
        self.windows += other.windows
        self.detected += other.detected
        self.delays_h += other.delays_h
        self.false_alarms += other.false_alarms
        self.seconds += other.seconds

    def row(self, group: str, detector: str) -> str:
        share = f"{self.detected}/{self.windows}" if self.windows else "-"
        pct = f"({self.detected / self.windows:.0%})" if self.windows else ""
        delay = f"{statistics.median(self.delays_h):.1f}" if self.delays_h else "-"
        return (f"{group:<22} {detector:<11} {self.series:>6} {share:>8} {pct:<6} {delay:>8} "
                f"{self.false_alarms:>6} {self.false_alarms / self.series:>8.1f} "
                f"{self.seconds:>6.1f}")


def score_series(series: pd.Series, windows: list[tuple[pd.Timestamp, pd.Timestamp]],
                 detector: Detector) -> Tally:
    started = time.perf_counter()
    spikes = detector(series)
    seconds = time.perf_counter() - started
    index = series.sort_index().index
    scored_from = index[int(len(index) * PROBATION)]
    alarms = [s.flagged for s in spikes if s.flagged >= scored_from]
    tally = Tally(series=1, windows=len(windows), seconds=seconds)
    for start, end in windows:
        inside = [a for a in alarms if start <= a <= end]
        if inside:
            tally.detected += 1
            tally.delays_h.append((min(inside) - start) / pd.Timedelta(hours=1))
    tally.false_alarms = sum(not any(s <= a <= e for s, e in windows) for a in alarms)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--nab", type=Path, default=DEFAULT_NAB)
    args = parser.parse_args()
    labels = json.loads((args.nab / "labels.json").read_text())["windows"]
    totals: dict[str, dict[str, Tally]] = {}
    for name, raw_windows in sorted(labels.items()):
        group = name.split("/")[0]
        series, _ = read_series(args.nab / name)
        windows = [(pd.Timestamp(s, tz="UTC"), pd.Timestamp(e, tz="UTC")) for s, e in raw_windows]
        for detector, run in DETECTORS.items():
            tally = score_series(series, windows, run)
            totals.setdefault(group, {}).setdefault(detector, Tally()).add(tally)
    print(f"NAB, {sum(t['aftershock'].series for t in totals.values())} series; alarms in the "
          f"first {PROBATION:.0%} of each series are not scored")
    print(f"{'group':<22} {'detector':<11} {'series':>6} {'windows detected':>15} "
          f"{'delay h':>8} {'FA':>6} {'FA/series':>8} {'secs':>6}")
    overall: dict[str, Tally] = {}
    for group, per_detector in totals.items():
        for detector, tally in per_detector.items():
            print(tally.row(group, detector))
            overall.setdefault(detector, Tally()).add(tally)
    for detector, tally in overall.items():
        print(tally.row("overall", detector))


if __name__ == "__main__":
    main()
