"""Google Cloud status `incidents.json`: a JSON list of incidents, each with its updates."""

from __future__ import annotations

from typing import Any

from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.status_formats.common import Parsed, Row, StatusBatch, collect, summarise

GCP_PAGE = "https://status.cloud.google.com/"
# status_impact -> the Statuspage impact words the rest of Aftershock uses.
GCP_IMPACT = {"SERVICE_OUTAGE": "critical", "SERVICE_DISRUPTION": "major",
              "SERVICE_INFORMATION": "minor"}


def looks_like(doc: Any) -> bool:
    return (isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict)
            and "external_desc" in doc[0] and "begin" in doc[0])


def parse_gcp(doc: list[Any], provider: str) -> StatusBatch:
    return collect(doc, lambda item: _incident(item, provider), "GCP incident")


def _incident(item: dict[str, Any], provider: str) -> Parsed:
    incident_id = str(item["id"])
    if not item.get("external_desc"):
        raise BadRecord("external_desc (the title) is empty")
    updates = [_update(u, provider, incident_id) for u in item.get("updates") or []]
    updates.sort(key=lambda u: u["created_at"])
    # GCP updates carry the service state, not a stage: the first one opens the incident.
    for u in updates[:1]:
        if u["status"] != "resolved":
            u["status"] = "investigating"
    end = _optional_time(item, "end")
    incident: Row = {
        "provider": provider, "incident_id": incident_id, "title": item["external_desc"],
        "impact": GCP_IMPACT.get(str(item.get("status_impact")), item.get("severity")),
        "components": _components(item), "url": GCP_PAGE + str(item.get("uri") or ""),
        "created_at": parse_timestamp(item["created"], "created"),
        "started_at": parse_timestamp(item["begin"], "begin"),
        "updated_at": _optional_time(item, "modified"), "resolved_at": end,
        "status": "resolved" if end else None,  # else summarise() takes the latest update's
    }
    return summarise(incident, updates), updates


def _update(u: dict[str, Any], provider: str, incident_id: str) -> Row:
    when = parse_timestamp(u.get("when") or u["created"], "update when")
    return {
        "provider": provider, "incident_id": incident_id,
        # Updates have no id; their creation time is unique within an incident and stable.
        "update_id": str(u.get("created") or u["when"]),
        "status": "resolved" if u.get("status") == "AVAILABLE" else "update",
        "body": u.get("text"), "created_at": when,
    }


def _components(item: dict[str, Any]) -> list[str]:
    products = {p["title"] for p in item.get("affected_products") or [] if p.get("title")}
    if not products and item.get("service_name"):
        products = {str(item["service_name"])}
    return sorted(products)


def _optional_time(item: dict[str, Any], key: str) -> Any:
    return parse_timestamp(item[key], key) if item.get(key) else None
