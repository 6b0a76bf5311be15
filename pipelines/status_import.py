"""Importing provider status history: Atlassian Statuspage v2 `incidents.json` and the CSV
columns of the ICPE'25 LLM incident dataset (clean/incident/*/incident_stages.csv)."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.errors import ImportFormatError
from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.warehouse.writer import INCIDENT_COLUMNS, UPDATE_COLUMNS

HTTP_TIMEOUT_S = 30
ICPE_STAGES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
ICPE_IMPACT = {"0": "none", "1": "minor", "2": "major", "3": "critical", "4": "maintenance"}
ICPE_COMPONENTS = ("Playground", "API", "Labs", "ChatGPT", "api.anthropic.com", "claude.ai",
                   "console.anthropic.com", "Character.AI")
ICPE_PAGES = {"openai": "https://status.openai.com/incidents/",
              "anthropic": "https://status.anthropic.com/incidents/",
              "character": "https://status.character.ai/incidents/"}


@dataclass
class StatusBatch:
    incidents: pd.DataFrame
    updates: pd.DataFrame
    rejects: list[tuple[Any, str]]


def read_source(file_or_url: str) -> bytes:
    if file_or_url.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(file_or_url, timeout=HTTP_TIMEOUT_S) as response:
                return bytes(response.read())
        except OSError as e:
            raise ImportFormatError(f"cannot fetch {file_or_url}: {e}") from e
    try:
        return Path(file_or_url).read_bytes()
    except OSError as e:
        raise ImportFormatError(f"cannot read {file_or_url}: {e}") from e


def parse_status(data: bytes, provider: str | None, origin: str) -> StatusBatch:
    """Detects the format: Statuspage JSON (an object with `incidents`) or the ICPE CSV."""
    text = data.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ImportFormatError(f"{origin} is not valid JSON: {e}") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("incidents"), list):
            raise ImportFormatError(f"{origin}: expected a Statuspage incidents.json object")
        if provider is None:
            raise ImportFormatError("a Statuspage file needs --provider NAME")
        return parse_statuspage(doc, provider)
    header = text.split("\n", 1)[0]
    if "incident_id" in header and "Incident_Title" in header:
        return parse_icpe_csv(text, provider)
    raise ImportFormatError(
        f"{origin}: unknown status format (expected Statuspage incidents.json or the ICPE CSV)"
    )


def _frames(incidents: list[dict[str, Any]], updates: list[dict[str, Any]],
            rejects: list[tuple[Any, str]]) -> StatusBatch:
    inc = pd.DataFrame(incidents, columns=INCIDENT_COLUMNS)
    upd = pd.DataFrame(updates, columns=UPDATE_COLUMNS)
    for col in ("created_at", "started_at", "resolved_at", "updated_at"):
        inc[col] = pd.to_datetime(inc[col], utc=True)
    upd["created_at"] = pd.to_datetime(upd["created_at"], utc=True)
    return StatusBatch(inc, upd, rejects)


def parse_statuspage(doc: dict[str, Any], provider: str) -> StatusBatch:
    incidents, updates, rejects = [], [], []
    for item in doc["incidents"]:
        try:
            incident, its_updates = _statuspage_incident(item, provider)
        except (BadRecord, KeyError, TypeError, AttributeError) as e:
            rejects.append((item, f"Statuspage incident: {e}"))
            continue
        incidents.append(incident)
        updates.extend(its_updates)
    return _frames(incidents, updates, rejects)


def _statuspage_incident(item: dict[str, Any], provider: str) -> tuple[dict[str, Any],
                                                                       list[dict[str, Any]]]:
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


def parse_icpe_csv(text: str, provider: str | None) -> StatusBatch:
    """ICPE'25 clean CSV: one row per incident with a column group per stage. With `provider`
    only that provider's rows are imported."""
    incidents, updates, rejects = [], [], []
    for row in csv.DictReader(io.StringIO(text)):
        if provider is not None and row.get("provider") != provider:
            continue
        try:
            incident, its_updates = _icpe_incident(row)
        except (BadRecord, KeyError) as e:
            rejects.append((row, f"ICPE incident row: {e}"))
            continue
        incidents.append(incident)
        updates.extend(its_updates)
    return _frames(incidents, updates, rejects)


def _icpe_incident(row: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
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
