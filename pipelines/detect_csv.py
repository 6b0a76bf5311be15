"""`aftershock detect`: the spike detector on a `timestamp,value` CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.spikes import detect_spikes
from pipelines.errors import ImportFormatError


def detect_csv(in_path: Path, out_path: Path) -> int:
    try:
        frame = pd.read_csv(in_path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ImportFormatError(f"cannot read {in_path}: {e}") from e
    if not {"timestamp", "value"} <= set(frame.columns):
        raise ImportFormatError(f"{in_path} needs columns timestamp,value; has {list(frame)}")
    raw_stamps = frame["timestamp"].astype(str)
    stamps = pd.to_datetime(raw_stamps, errors="coerce", utc=True)
    values = pd.to_numeric(frame["value"], errors="coerce")
    bad = stamps.isna() | values.isna()
    if bad.all():
        raise ImportFormatError(f"{in_path}: no row has a valid timestamp and value")
    # Output timestamps are written exactly as the input spelled them.
    spelling = dict(zip(stamps[~bad], raw_stamps[~bad], strict=True))
    series = pd.Series(values[~bad].to_numpy(), index=pd.DatetimeIndex(stamps[~bad]))
    spikes = detect_spikes(series)

    def spelled(ts: pd.Timestamp) -> str:
        return spelling.get(ts, ts.isoformat())

    out = pd.DataFrame([{"start": spelled(s.start), "peak": spelled(s.peak),
                         "end": spelled(s.end), "score": round(s.score, 3),
                         "peak_rate": s.peak_rate, "expected_rate": s.expected_rate}
                        for s in spikes], columns=["start", "peak", "end", "score", "peak_rate",
                                                   "expected_rate"])
    out.to_csv(out_path, index=False)
    return len(out)
