"""A CSV incident log for anything without a status page (a team's own incident log).

Columns (header names, any order; only incident_id, title and started_at are required):
provider, incident_id, title, impact, started_at, resolved_at, components (separated by `;`),
url, and per row an optional update: status, body, updated_at (the update's time; defaults to
resolved_at for a `resolved` row, else started_at). Several rows with one incident_id are one
incident with several updates. Times are ISO 8601 with a UTC offset."""

from __future__ import annotations

import csv
import io
from typing import Any

from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.status_formats.common import Parsed, Row, StatusBatch, frames, summarise

REQUIRED = ("incident_id", "title", "started_at")


def looks_like(header: str) -> bool:
    names = {h.strip() for h in next(csv.reader([header]), [])}
    return set(REQUIRED) <= names


def parse_csv_log(text: str, provider: str | None) -> StatusBatch:
    merged: dict[tuple[str, str], Parsed] = {}
    rejects: list[tuple[Any, str]] = []
    for row in csv.DictReader(io.StringIO(text)):
        if provider and (row.get("provider") or provider) != provider:
            continue  # like the ICPE CSV: --provider selects that provider's rows
        try:
            incident, updates = _row(row, provider)
        except (BadRecord, KeyError, ValueError) as e:
            rejects.append((row, f"incident log row: {e}"))
            continue
        _merge(merged, incident, updates)
    incidents = [summarise(inc, ups) for inc, ups in merged.values()]
    return frames(incidents, [u for _, ups in merged.values() for u in ups], rejects)


def _row(row: dict[str, str], default_provider: str | None) -> Parsed:
    provider = (row.get("provider") or "").strip() or default_provider
    incident_id, title = (row.get("incident_id") or "").strip(), (row.get("title") or "").strip()
    if not provider:
        raise BadRecord("no provider column value and no --provider")
    if not incident_id or not title:
        raise BadRecord("incident_id or title is empty")
    started = parse_timestamp(row.get("started_at") or None, "started_at")
    resolved = _optional_time(row, "resolved_at")
    incident: Row = {
        "provider": provider, "incident_id": incident_id, "title": title,
        "impact": (row.get("impact") or "").strip() or None,
        "components": sorted({c.strip() for c in (row.get("components") or "").split(";")
                              if c.strip()}),
        "url": (row.get("url") or "").strip() or None,
        "created_at": started, "started_at": started, "resolved_at": resolved,
    }
    status = (row.get("status") or "").strip().lower()
    body = (row.get("body") or "").strip()
    if not status and not body:
        return incident, []
    when = _optional_time(row, "updated_at") or (
        resolved if status == "resolved" and resolved else started)
    return incident, [{
        "provider": provider, "incident_id": incident_id,
        "update_id": f"{when:%Y%m%dT%H%M%SZ}-{status or 'update'}",
        "status": status or "update", "body": body or None, "created_at": when,
    }]


def _optional_time(row: dict[str, str], key: str) -> Any:
    value = (row.get(key) or "").strip()
    return parse_timestamp(value, key) if value else None


def _merge(merged: dict[tuple[str, str], Parsed], incident: Row, updates: list[Row]) -> None:
    """Rows of one incident: the earliest start, the latest resolution, all updates."""
    key = (incident["provider"], incident["incident_id"])
    if key not in merged:
        merged[key] = (incident, list(updates))
        return
    kept, kept_updates = merged[key]
    kept["started_at"] = kept["created_at"] = min(kept["started_at"], incident["started_at"])
    ends = [t for t in (kept["resolved_at"], incident["resolved_at"]) if t is not None]
    kept["resolved_at"] = max(ends) if ends else None
    kept["components"] = sorted(set(kept["components"]) | set(incident["components"]))
    seen = {u["update_id"] for u in kept_updates}
    kept_updates.extend(u for u in updates if u["update_id"] not in seen)
