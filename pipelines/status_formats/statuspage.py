"""Atlassian Statuspage v2 public API documents, each a JSON object with a `page` and some of:
`incidents` (incidents.json: the 50 most recent; incidents/unresolved.json; summary.json: the
unresolved ones), `scheduled_maintenances` (summary.json: upcoming and in progress;
scheduled-maintenances.json: the 50 most recent), `components` (components.json, summary.json)
and `status` (status.json, summary.json). One parser reads whichever of them a document has.
Schema: https://www.githubstatus.com/api (every Statuspage page serves the same docs at /api)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.status_formats.common import Parsed, Row, StatusBatch, collect
from pipelines.status_formats.merge import merge_batches
from pipelines.status_formats.statuspage_page import parse_components, parse_page_status

LISTS = ("incidents", "scheduled_maintenances", "components")
# A maintenance that has not begun is no event yet (and may lie weeks ahead); it is stored
# once the page shows it in progress.
NOT_BEGUN = "scheduled"


def looks_like(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    status = doc.get("status")
    return (any(isinstance(doc.get(key), list) for key in LISTS)
            or (isinstance(doc.get("page"), dict) and isinstance(status, dict)))


def parse_statuspage(doc: dict[str, Any], provider: str) -> StatusBatch:
    incidents = collect(doc.get("incidents") or [], lambda item: _incident(item, provider),
                        "Statuspage incident")
    begun = [m for m in doc.get("scheduled_maintenances") or []
             if not (isinstance(m, dict) and m.get("status") == NOT_BEGUN)]
    maintenances = collect(begun, lambda item: _maintenance(item, provider),
                           "Statuspage scheduled maintenance")
    batch = merge_batches([incidents, maintenances])
    if isinstance(doc.get("components"), list):
        batch.components, component_rejects = parse_components(doc["components"], provider)
        batch.components_complete = not component_rejects
        batch.rejects.extend(component_rejects)
    batch.page_status, status_rejects = parse_page_status(doc, provider)
    batch.rejects.extend(status_rejects)
    return batch


def _incident(item: dict[str, Any], provider: str) -> Parsed:
    incident_id = str(item["id"])
    updates, components = _updates(item, provider, incident_id)
    return {
        "provider": provider, "incident_id": incident_id, "title": item["name"],
        "impact": item.get("impact"), "status": item.get("status"),
        "components": components, "url": item.get("shortlink"),
        "created_at": parse_timestamp(item["created_at"]),
        "started_at": parse_timestamp(item.get("started_at") or item["created_at"]),
        "resolved_at": _optional_time(item, "resolved_at"),
        "updated_at": _optional_time(item, "updated_at"),
    }, updates


def _maintenance(item: dict[str, Any], provider: str) -> Parsed:
    """A maintenance is an incident of impact `maintenance` with the statuses in_progress,
    verifying and completed. It starts when the page first said in progress (else at its
    scheduled time) and ends when it was completed."""
    incident_id = str(item["id"])
    updates, components = _updates(item, provider, incident_id)
    began = [u["created_at"] for u in updates if u["status"] == "in_progress"]
    completed = [u["created_at"] for u in updates if u["status"] == "completed"]
    started = began[0] if began else parse_timestamp(item["scheduled_for"], "scheduled_for")
    return {
        "provider": provider, "incident_id": incident_id, "title": item["name"],
        "impact": "maintenance", "status": item.get("status"),
        "components": components, "url": item.get("shortlink"),
        "created_at": parse_timestamp(item["created_at"]), "started_at": started,
        "resolved_at": _optional_time(item, "resolved_at") or (
            completed[-1] if completed else None),
        "updated_at": _optional_time(item, "updated_at"),
    }, updates


def _updates(item: dict[str, Any], provider: str, incident_id: str) -> tuple[list[Row], list[str]]:
    """The item's updates, oldest first, and the names of every component it touched."""
    updates = []
    components: set[str] = {c["name"] for c in item.get("components") or []}
    for u in item.get("incident_updates") or []:
        components.update(c["name"] for c in u.get("affected_components") or [])
        if not u.get("status"):
            raise BadRecord(f"update {u.get('id')!r} has no status")
        updates.append({
            "provider": provider, "incident_id": incident_id, "update_id": str(u["id"]),
            "status": u["status"], "body": u.get("body"),
            "created_at": parse_timestamp(u.get("display_at") or u["created_at"]),
        })
    updates.sort(key=lambda u: u["created_at"])
    return updates, sorted(components)


def _optional_time(item: dict[str, Any], key: str) -> datetime | None:
    return parse_timestamp(item[key], key) if item.get(key) else None
