"""How well the spike detector finds the demo scenario's bursts: the share of bursts detected,
the delay from each burst's onset to the detected spike's start, and spikes that match no burst
(false alarms). Reads a warehouse built by `aftershock demo --no-dashboard`.

    python bench/demo_spikes.py [--db data/aftershock.duckdb]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import pandas as pd

from pipelines.settings import load_settings
from pipelines.warehouse.reader import query

# A spike counts for a burst when it overlaps the burst, or starts up to this long before it.
SLACK = pd.Timedelta(minutes=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    settings = load_settings(db=args.db)
    scenario = json.loads((settings.demo_dir / "scenario.json").read_text())
    spikes = query(settings.db, "SELECT service, start, \"end\" FROM spikes "
                                "WHERE complaint_type IS NULL")
    bursts = scenario["bursts"]

    def matches(service: str, start: pd.Timestamp, end: pd.Timestamp, burst: dict) -> bool:
        return (service == burst["service"] and start <= pd.Timestamp(burst["end"])
                and end >= pd.Timestamp(burst["onset"]) - SLACK)

    delays, missed = [], []
    for burst in bursts:
        found = spikes[[matches(s.service, s.start, s.end, burst)
                        for s in spikes.itertuples(index=False)]]
        if found.empty:
            missed.append(f"{burst['burst_id']} ({burst['service']}, {burst['size']} posts)")
            continue
        delays.append((found["start"].min() - pd.Timestamp(burst["onset"]))
                      / pd.Timedelta(minutes=1))
    false_alarms = sum(not any(matches(s.service, s.start, s.end, b) for b in bursts)
                       for s in spikes.itertuples(index=False))
    days = (pd.Timestamp(scenario["window"]["end"]) - pd.Timestamp(scenario["window"]["start"])
            ) / pd.Timedelta(days=1)
    print(f"bursts detected: {len(delays)} of {len(bursts)}; missed: {', '.join(missed) or '-'}")
    print(f"onset to spike start, minutes: median {statistics.median(delays):.1f}, "
          f"min {min(delays):.1f}, max {max(delays):.1f}")
    print(f"spikes matching no burst: {false_alarms} of {len(spikes)} over {days:.0f} days "
          f"and {spikes['service'].nunique()} services")


if __name__ == "__main__":
    main()
