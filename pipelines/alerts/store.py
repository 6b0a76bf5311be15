"""The alerts_sent table: one row per alert and channel. A row is written right after its
channel was tried, so a re-run never re-sends what went out; a failed row is retried alone on
the next runs, up to a number of attempts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from pipelines.errors import WarehouseError
from pipelines.warehouse.writer import Warehouse

COLUMNS = ["spike_id", "kind", "level", "channel", "sent_at", "ok", "error", "attempts",
           "last_attempt_at", "rung", "complaints", "incident", "payload"]

RETRIES_SQL = """
SELECT spike_id, kind, level, channel, attempts, payload FROM alerts_sent
WHERE NOT ok AND attempts < ? AND list_contains(?, channel)
ORDER BY sent_at, spike_id, kind, level, channel
"""


@dataclass(frozen=True)
class Delivery:
    """One alert's attempt on one channel (or its place in a digest: channel `digest`)."""

    spike_id: str
    kind: str
    level: int
    channel: str
    ok: bool
    error: str | None
    rung: int
    complaints: int
    incident: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class Retry:
    spike_id: str
    kind: str
    level: int
    channel: str
    attempts: int
    payload: dict[str, Any]


def record(wh: Warehouse, deliveries: list[Delivery], now: datetime) -> None:
    """Adds first attempts; a row already there is left alone (a re-run never rewrites)."""
    if not deliveries:
        return
    frame = pd.DataFrame([{
        **{k: getattr(d, k) for k in ("spike_id", "kind", "level", "channel", "ok", "error",
                                      "rung", "complaints", "incident")},
        "sent_at": now, "attempts": 0 if d.channel == "digest" else 1, "last_attempt_at": now,
        "payload": json.dumps(d.payload, ensure_ascii=False)} for d in deliveries],
        columns=COLUMNS)
    names = ", ".join(COLUMNS)
    _execute(wh, frame, f"INSERT INTO alerts_sent ({names}) SELECT {names} FROM _alerts "
                        "ON CONFLICT DO NOTHING")


def record_retries(wh: Warehouse, retried: list[tuple[Retry, str | None]], now: datetime
                   ) -> None:
    """The outcome of retries: (retry, None) delivered, (retry, error) failed again."""
    if not retried:
        return
    frame = pd.DataFrame([{"spike_id": r.spike_id, "kind": r.kind, "level": r.level,
                           "channel": r.channel, "ok": error is None, "error": error,
                           "attempts": r.attempts + 1, "last_attempt_at": now}
                          for r, error in retried])
    _execute(wh, frame,
             "UPDATE alerts_sent a SET ok = r.ok, error = r.error, attempts = r.attempts, "
             "last_attempt_at = r.last_attempt_at FROM _alerts r WHERE a.spike_id = r.spike_id "
             "AND a.kind = r.kind AND a.level = r.level AND a.channel = r.channel")


def due_retries(con: duckdb.DuckDBPyConnection, channels: list[str], max_attempts: int
                ) -> list[Retry]:
    rows = con.execute(RETRIES_SQL, [max_attempts, channels]).df().to_dict("records")
    return [Retry(spike_id=r["spike_id"], kind=r["kind"], level=int(r["level"]),
                  channel=r["channel"], attempts=int(r["attempts"]),
                  payload=json.loads(r["payload"])) for r in rows]


def _execute(wh: Warehouse, frame: pd.DataFrame, sql: str) -> None:
    wh.con.register("_alerts", frame)
    try:
        wh.con.execute(sql)
    except duckdb.Error as e:
        raise WarehouseError(f"recording {len(frame)} alert deliveries failed: {e}") from e
    finally:
        wh.con.unregister("_alerts")
