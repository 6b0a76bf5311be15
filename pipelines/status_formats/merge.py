"""Putting status batches together before they are stored: the payloads of one poll merged into
one batch without duplicate keys, and updates that another source already stored under its own
id left out, so one incident imported from a feed and from the JSON API has each update once."""

from __future__ import annotations

import pandas as pd

from pipelines.status_formats.common import StatusBatch

INCIDENT_KEY = ["provider", "incident_id"]
UPDATE_KEY = ["provider", "incident_id", "update_id"]
COMPONENT_KEY = ["provider", "component_id"]


def merge_batches(batches: list[StatusBatch]) -> StatusBatch:
    """One batch with each incident, update and component once. Of an incident seen twice the
    most recently updated copy wins (a later payload on a tie); of the rest, the later one."""
    incidents = _concat([b.incidents for b in batches])
    incidents = incidents.sort_values("updated_at", kind="stable", na_position="first")
    return StatusBatch(
        incidents=incidents.drop_duplicates(INCIDENT_KEY, keep="last").sort_index(),
        updates=_concat([b.updates for b in batches]).drop_duplicates(UPDATE_KEY, keep="last"),
        rejects=[r for b in batches for r in b.rejects],
        components=_concat([b.components for b in batches]).drop_duplicates(
            COMPONENT_KEY, keep="last"),
        page_status=_concat([b.page_status for b in batches]).drop_duplicates(
            ["provider"], keep="last"),
        components_complete=any(b.components_complete for b in batches),
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    filled = [f for f in frames if not f.empty]
    if not filled:
        return frames[0]
    return pd.concat(filled, ignore_index=True) if len(filled) > 1 else filled[0]


def drop_restated_updates(updates: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Leaves out each incoming update that restates a stored one under another id: the same
    incident, status and minute, where at least one of the two is known only to the minute (a
    feed, the ICPE CSV, a CSV log). Two updates with seconds in one minute are both real (an
    update posted twice in a minute) and both kept; an update already stored under its own id
    is an upsert and always kept. The first source stored wins."""
    if updates.empty or stored.empty:
        return updates
    incoming = updates.assign(**_stamp(updates["created_at"]))
    known = stored.assign(**_stamp(stored["created_at"]))
    match = incoming.rename_axis("row").reset_index().merge(
        known[["provider", "incident_id", "status", "_minute", "_whole", "update_id"]],
        on=["provider", "incident_id", "status", "_minute"], suffixes=("", "_stored"))
    restated = match[(match["update_id"] != match["update_id_stored"])
                     & (match["_whole"] | match["_whole_stored"])]
    stored_ids = set(zip(known["provider"], known["incident_id"], known["update_id"], strict=True))
    drop = {row for row, *key in zip(restated["row"], restated["provider"],
                                     restated["incident_id"], restated["update_id"], strict=True)
            if tuple(key) not in stored_ids}
    return updates.drop(index=list(drop))


def _stamp(times: pd.Series) -> dict[str, pd.Series]:
    at = pd.to_datetime(times, utc=True)
    minute = at.dt.floor("min")
    return {"_minute": minute, "_whole": at == minute}


TIME_COLUMNS = ["created_at", "started_at", "resolved_at", "updated_at"]


def keep_precise_times(incidents: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """An incident's times as a source known only to the minute restates them (a feed, the
    ICPE CSV) do not replace the stored times to the millisecond within that same minute."""
    if incidents.empty or stored.empty:
        return incidents
    known = incidents[INCIDENT_KEY].merge(stored, on=INCIDENT_KEY, how="left")
    known.index = incidents.index
    result = incidents.copy()
    for col in TIME_COLUMNS:
        new, old = pd.to_datetime(result[col], utc=True), pd.to_datetime(known[col], utc=True)
        restated = new.notna() & old.notna() & (new == new.dt.floor("min")) & (
            old.dt.floor("min") == new)
        result[col] = new.where(~restated, old)
    return result
