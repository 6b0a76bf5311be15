"""Atlassian Statuspage v2 `/api/v2/incidents.json`."""

from __future__ import annotations

from typing import Any

from pipelines.normalize import parse_timestamp
from pipelines.status_formats.common import Parsed, StatusBatch, collect


def looks_like(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("incidents"), list)


def parse_statuspage(doc: dict[str, Any], provider: str) -> StatusBatch:
    return collect(doc["incidents"], lambda item: _incident(item, provider),
                   "Statuspage incident")


def _incident(item: dict[str, Any], provider: str) -> Parsed:
    incident_id = str(item["id"])
    updates = []
    components: set[str] = {c["name"] for c in item.get("components") or []}
    for u in item.get("incident_updates") or []:
        components.update(c["name"] for c in u.get("affected_components") or [])
        updates.append({
            "provider": provider, "incident_id": incident_id, "update_id": str(u["id"]),
            "status": u["status"], "body": u.get("body"),
            "created_at": parse_timestamp(u.get("display_at") or u["created_at"]),
        })
    started = item.get("started_at") or item["created_at"]
    return {
        "provider": provider, "incident_id": incident_id, "title": item["name"],
        "impact": item.get("impact"), "status": item.get("status"),
        "components": sorted(components), "url": item.get("shortlink"),
        "created_at": parse_timestamp(item["created_at"]),
        "started_at": parse_timestamp(started),
        "resolved_at": parse_timestamp(item["resolved_at"]) if item.get("resolved_at") else None,
        "updated_at": parse_timestamp(item["updated_at"]) if item.get("updated_at") else None,
    }, updates
