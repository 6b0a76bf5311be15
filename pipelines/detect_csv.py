"""`aftershock detect`: the spike detector on a `timestamp,value` CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.spikes import SpikeParams, detect_spikes
from pipelines.errors import ImportFormatError

OUTPUT_COLUMNS = ["start", "peak", "end", "score", "peak_rate", "expected_rate", "flagged",
                  "kind"]


def read_series(in_path: Path) -> tuple[pd.Series, dict[pd.Timestamp, str]]:
    """The CSV's valid rows as a series, and each timestamp as the input spelled it. Rows with
    an unreadable timestamp or value are left out; a file with none is an error."""
    try:
        frame = pd.read_csv(in_path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ImportFormatError(f"cannot read {in_path}: {e}") from e
    if not {"timestamp", "value"} <= set(frame.columns):
        raise ImportFormatError(f"{in_path} needs columns timestamp,value; has {list(frame)}")
    raw_stamps = frame["timestamp"].astype(str)
    stamps = pd.to_datetime(raw_stamps, errors="coerce", utc=True, format="mixed")
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = stamps.isna() | values.isna()
    if bad.all():
        raise ImportFormatError(f"{in_path}: no row has a valid timestamp and value")
    spelling = dict(zip(stamps[~bad], raw_stamps[~bad], strict=True))
    series = pd.Series(values[~bad].to_numpy(), index=pd.DatetimeIndex(stamps[~bad]))
    return series, spelling


def detect_csv(in_path: Path, out_path: Path, params: SpikeParams | None = None) -> int:
    series, spelling = read_series(in_path)
    spikes = detect_spikes(series, params or SpikeParams())

    def spelled(ts: pd.Timestamp) -> str:
        # Output timestamps are written exactly as the input spelled them.
        return spelling.get(ts, ts.isoformat())

    out = pd.DataFrame([{"start": spelled(s.start), "peak": spelled(s.peak),
                         "end": spelled(s.end), "score": round(s.score, 3),
                         "peak_rate": s.peak_rate, "expected_rate": s.expected_rate,
                         "flagged": spelled(s.flagged), "kind": s.kind}
                        for s in spikes], columns=OUTPUT_COLUMNS)
    out.to_csv(out_path, index=False)
    return len(out)
