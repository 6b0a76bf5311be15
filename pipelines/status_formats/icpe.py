"""The CSV of the ICPE'25 LLM incident dataset (clean/incident/*/incident_stages.csv): one row
per incident with a column group per stage."""

from __future__ import annotations

import csv
import io
from typing import Any

from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.status_formats.common import Parsed, StatusBatch, collect

ICPE_STAGES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
ICPE_IMPACT = {"0": "none", "1": "minor", "2": "major", "3": "critical", "4": "maintenance"}
ICPE_COMPONENTS = ("Playground", "API", "Labs", "ChatGPT", "api.anthropic.com", "claude.ai",
                   "console.anthropic.com", "Character.AI")
ICPE_PAGES = {"openai": "https://status.openai.com/incidents/",
              "anthropic": "https://status.anthropic.com/incidents/",
              "character": "https://status.character.ai/incidents/"}


def looks_like(header: str) -> bool:
    return "incident_id" in header and "Incident_Title" in header


def parse_icpe_csv(text: str, provider: str | None) -> StatusBatch:
    """With `provider` only that provider's rows are imported."""
    rows = (row for row in csv.DictReader(io.StringIO(text))
            if provider is None or row.get("provider") == provider)
    return collect(rows, _incident, "ICPE incident row")


def _incident(row: dict[str, str]) -> Parsed:
    provider, incident_id = row["provider"], row["incident_id"]
    if not provider or not incident_id:
        raise BadRecord("provider or incident_id is empty")
    updates: list[dict[str, Any]] = []
    for stage in ICPE_STAGES:
        if row.get(f"{stage}_flag") == "1" and row.get(f"{stage}_timestamp"):
            updates.append({
                "provider": provider, "incident_id": incident_id,
                "update_id": f"{incident_id}-{stage}", "status": stage,
                "body": row.get(f"{stage}_description") or None,
                "created_at": parse_timestamp(row[f"{stage}_timestamp"], f"{stage}_timestamp"),
            })
    resolved = next((u["created_at"] for u in updates if u["status"] == "resolved"), None)
    latest = max(updates, key=lambda u: u["created_at"]) if updates else None
    return {
        "provider": provider, "incident_id": incident_id, "title": row["Incident_Title"],
        "impact": ICPE_IMPACT.get(row.get("incident_impact_level", ""), None),
        "status": latest["status"] if latest else None,
        "components": [c for c in ICPE_COMPONENTS if row.get(c) == "1"],
        "url": ICPE_PAGES.get(provider, "") + incident_id if provider in ICPE_PAGES else None,
        "created_at": parse_timestamp(row["start_timestamp"], "start_timestamp"),
        "started_at": parse_timestamp(row["start_timestamp"], "start_timestamp"),
        "resolved_at": resolved,
        "updated_at": latest["created_at"] if latest else None,
    }, updates
