"""Whether the scheduled `process` flow (classify -> analyze -> alerts) has anything to do.

It runs every minute, so a minute with nothing new must cost almost nothing: the question is
answered from the published snapshot (read-only, no writer lock, no snapshot copy). The answer
is yes when posts wait for a label, or when the warehouse's inputs (posts, labels, incidents
and their updates) differ from what the last completed process run analyzed. With nothing new,
the alert step still runs when it has work that only time brings: a failed delivery to retry,
or a follow-up that waited out its minimum interval."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.config import ServicesConfig
from pipelines.settings import Settings
from pipelines.warehouse.connection import open_reader
from pipelines.warehouse.writer import Warehouse

PROCESS_FLOW = "process"

# Counts and newest times: any new post, label, incident or incident update changes one.
FINGERPRINT_SQL = """
SELECT (SELECT count(*) FROM post_records),
       (SELECT max(ingested_at) FROM post_records),
       (SELECT count(*) FROM classifications),
       (SELECT max(classified_at) FROM classifications),
       (SELECT count(*) FROM incident_updates),
       (SELECT sum(hash(provider, incident_id, status, started_at, resolved_at, updated_at))
        FROM incidents)
"""
UNCLASSIFIED_SQL = ("SELECT count(*) FROM post_records p "
                    "ANTI JOIN classifications c USING (source, id)")
LAST_SEEN_SQL = ("SELECT summary ->> '$.fingerprint' FROM pipeline_runs WHERE flow = ? "
                 "AND status = 'completed' ORDER BY finished_at DESC LIMIT 1")


@dataclass(frozen=True)
class PendingWork:
    unclassified: int
    inputs_changed: bool

    @property
    def any(self) -> bool:
        return self.unclassified > 0 or self.inputs_changed

    def line(self) -> str:
        if not self.any:
            return "nothing new since the last run"
        changed = "; inputs changed" if self.inputs_changed else ""
        return f"{self.unclassified} posts to classify{changed}"


def fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    return json.dumps([str(v) for v in con.execute(FINGERPRINT_SQL).fetchall()[0]])


def published_fingerprint(published: Path) -> str:
    """The inputs' fingerprint in the published snapshot: taken just before analyze, so that
    anything landing later makes the next run differ from it."""
    con = open_reader(published)
    try:
        return fingerprint(con)
    finally:
        con.close()


def pending_work(published: Path) -> PendingWork:
    """What the published warehouse holds that the last process run has not seen. No
    warehouse yet: nothing to do."""
    if not published.exists():
        return PendingWork(0, False)
    con = open_reader(published)
    try:
        unclassified = int(con.execute(UNCLASSIFIED_SQL).fetchall()[0][0])
        seen = con.execute(LAST_SEEN_SQL, [PROCESS_FLOW]).fetchall()
        changed = not seen or seen[0][0] != fingerprint(con)
    finally:
        con.close()
    return PendingWork(unclassified, changed)


def record_processed(wh: Warehouse, started: pd.Timestamp, summary: dict[str, Any],
                     seen: str) -> None:
    """Records the run with the fingerprint of the inputs it processed."""
    wh.record_run(uuid.uuid4().hex, PROCESS_FLOW, started, "completed",
                  json.dumps({**summary, "fingerprint": seen}, default=str))


def alerts_due(published: Path, settings: Settings, config: ServicesConfig) -> bool:
    """Whether the alert step would send anything now (retries included), read from the
    published snapshot. No channel configured: never."""
    from pipelines.alerts import plan_alerts
    from pipelines.alerts.options import alert_channels
    from pipelines.alerts.store import due_retries

    channels = [c.name for c in alert_channels(settings)]
    if not channels or not published.exists():
        return False
    con = open_reader(published)
    try:
        if due_retries(con, channels, settings.alert_max_attempts):
            return True
        return bool(plan_alerts(con, settings, config, datetime.now(UTC), channels).messages)
    finally:
        con.close()
