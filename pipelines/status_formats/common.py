"""What every status format produces: incident and update rows in the warehouse's columns."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.normalize import BadRecord
from pipelines.warehouse.writer import (
    COMPONENT_COLUMNS,
    INCIDENT_COLUMNS,
    PROVIDER_STATUS_COLUMNS,
    UPDATE_COLUMNS,
)

Row = dict[str, Any]
Parsed = tuple[Row, list[Row]]
TEXT_FIELDS = ("provider", "incident_id", "title", "impact", "status", "url")


def empty_components() -> pd.DataFrame:
    return component_frame([])


def empty_page_status() -> pd.DataFrame:
    return page_status_frame([])


@dataclass
class StatusBatch:
    incidents: pd.DataFrame
    updates: pd.DataFrame
    rejects: list[tuple[Any, str]]
    # The page's current state, from Statuspage summary.json / components.json only.
    components: pd.DataFrame = field(default_factory=empty_components)
    page_status: pd.DataFrame = field(default_factory=empty_page_status)
    # True when `components` is the page's whole list (none rejected): the stored components
    # it no longer lists are then gone from the page.
    components_complete: bool = False


def component_frame(rows: list[Row]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COMPONENT_COLUMNS)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    frame["position"] = frame["position"].astype("Int64")
    frame["only_show_if_degraded"] = frame["only_show_if_degraded"].astype("boolean")
    return frame


def page_status_frame(rows: list[Row]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=PROVIDER_STATUS_COLUMNS)
    for col in ("updated_at", "history_polled_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def frames(incidents: list[Row], updates: list[Row], rejects: list[tuple[Any, str]]) -> StatusBatch:
    inc = pd.DataFrame(incidents, columns=INCIDENT_COLUMNS)
    upd = pd.DataFrame(updates, columns=UPDATE_COLUMNS)
    for col in ("created_at", "started_at", "resolved_at", "updated_at"):
        inc[col] = pd.to_datetime(inc[col], utc=True)
    upd["created_at"] = pd.to_datetime(upd["created_at"], utc=True)
    # A text column that is empty in every row would otherwise be float NaN, which the
    # warehouse cannot coalesce with the stored VARCHAR.
    for frame, columns in ((inc, TEXT_FIELDS), (upd, ("update_id", "status", "body"))):
        for col in columns:
            frame[col] = frame[col].astype("str")
    return StatusBatch(inc, upd, rejects)


def collect(items: Iterable[Any], parse: Callable[[Any], Parsed], what: str) -> StatusBatch:
    """Parses each record on its own, so one bad record is rejected with its reason and the
    rest still import."""
    incidents: list[Row] = []
    updates: list[Row] = []
    rejects: list[tuple[Any, str]] = []
    for item in items:
        if not isinstance(item, dict):
            rejects.append((item, f"{what}: not an object, got {type(item).__name__}"))
            continue
        try:
            incident, its_updates = parse(item)
            _check_types(incident, its_updates)
        except (BadRecord, KeyError, TypeError, AttributeError, ValueError) as e:
            rejects.append((item, f"{what}: {reason_for(e)}"))
            continue
        incidents.append(incident)
        updates.extend(its_updates)
    return frames(incidents, updates, rejects)


def reason_for(e: Exception) -> str:
    """The quarantine reason for an error met while parsing one record."""
    if isinstance(e, KeyError):
        return f"missing field {e}"
    if isinstance(e, TypeError | AttributeError):
        return f"a field has the wrong type ({e})"
    return str(e)


def _check_types(incident: Row, updates: list[Row]) -> None:
    """A value of the wrong JSON type (a list for a title, true for a status) or a lone
    surrogate would fail the whole batch's insert: it rejects its record instead."""
    texts = [(f"incident {k}", incident.get(k)) for k in TEXT_FIELDS]
    texts += [(f"update {k}", u.get(k)) for u in updates for k in ("update_id", "status", "body")]
    names = incident.get("components")
    if names is not None and not isinstance(names, list):
        raise BadRecord(f"components must be a list of names, got {type(names).__name__}")
    texts += [("component name", name) for name in names or []]
    for name, value in texts:
        if value is not None and not isinstance(value, str):
            raise BadRecord(f"{name} must be a string, got {type(value).__name__}")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise BadRecord(f"{name} is not valid Unicode (lone surrogate)") from e


def short_hash(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:12]


_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(br|/p|/div|/li)\s*/?>", re.IGNORECASE)


def strip_html(text: str | None) -> str | None:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace tidied."""
    if text is None:
        return None
    plain = html.unescape(_TAG.sub("", _BREAK.sub("\n", text))).replace("\xa0", " ")
    lines = (" ".join(line.split()) for line in plain.splitlines())
    return "\n".join(line for line in lines if line) or None


def summarise(incident: Row, updates: list[Row]) -> Row:
    """Fills the incident's missing status and times from its updates (sorted oldest first)."""
    updates.sort(key=lambda u: u["created_at"])
    if not updates:
        return incident
    resolved = [u["created_at"] for u in updates if u["status"] == "resolved"]
    derived = {"status": updates[-1]["status"], "updated_at": updates[-1]["created_at"],
               "resolved_at": resolved[-1] if resolved else None}
    for key, value in derived.items():
        if incident.get(key) is None:
            incident[key] = value
    return incident
