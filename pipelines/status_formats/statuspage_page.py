"""The current state of a Statuspage page: its components (components.json, summary.json) and
its overall status indicator (status.json, summary.json)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.status_formats.common import Row, component_frame, page_status_frame, reason_for

COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage",
                      "under_maintenance")
INDICATORS = ("none", "minor", "major", "critical", "maintenance")


def parse_components(items: list[Any], provider: str) -> tuple[pd.DataFrame, list[tuple[Any, str]]]:
    """One row per component, under the name of its group. A group is not a row of its own:
    the page shows a group's status as the worst of its members'."""
    groups = {c.get("id"): c.get("name") for c in items if isinstance(c, dict) and c.get("group")}
    rows: list[Row] = []
    rejects: list[tuple[Any, str]] = []
    for item in items:
        try:
            if not isinstance(item, dict):
                raise BadRecord(f"not an object, got {type(item).__name__}")
            if item.get("group"):
                continue
            rows.append(_component(item, provider, groups))
        except (BadRecord, KeyError, TypeError, AttributeError, ValueError) as e:
            rejects.append((item, f"Statuspage component: {reason_for(e)}"))
    return component_frame(rows), rejects


def _component(item: dict[str, Any], provider: str, groups: dict[Any, Any]) -> Row:
    if not item["id"] or not item["name"]:
        raise BadRecord("id or name is empty")
    if item["status"] not in COMPONENT_STATUSES:
        raise BadRecord(f"status {item['status']!r} is not one of {', '.join(COMPONENT_STATUSES)}")
    if not isinstance(item["name"], str):
        raise BadRecord(f"name must be a string, got {type(item['name']).__name__}")
    position, hidden = item.get("position"), item.get("only_show_if_degraded")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool)
                                 or not 0 <= position < 2**31):
        raise BadRecord(f"position {position!r} is not a small non-negative integer")
    if hidden is not None and not isinstance(hidden, bool):
        raise BadRecord(f"only_show_if_degraded must be true or false, got {hidden!r}")
    return {
        "provider": provider, "component_id": str(item["id"]), "name": item["name"],
        "status": item["status"], "group_name": groups.get(item.get("group_id")),
        "position": item.get("position"),
        "only_show_if_degraded": item.get("only_show_if_degraded"),
        "updated_at": parse_timestamp(item["updated_at"], "updated_at")
        if item.get("updated_at") else None,
    }


def parse_page_status(doc: dict[str, Any], provider: str) -> tuple[pd.DataFrame,
                                                                   list[tuple[Any, str]]]:
    """The page's status rollup (`status.indicator` none / minor / major / critical) and when
    the page last changed; no row when the document has no `status`."""
    status = doc.get("status")
    if status is None:
        return page_status_frame([]), []
    try:
        if status["indicator"] not in INDICATORS:
            raise BadRecord(f"indicator {status['indicator']!r} is not one of "
                            f"{', '.join(INDICATORS)}")
        page = doc.get("page") or {}
        updated = page.get("updated_at")
        row = {"provider": provider, "indicator": status["indicator"],
               "description": status.get("description"),
               "updated_at": parse_timestamp(updated, "page.updated_at") if updated else None,
               "history_polled_at": None}
    except (BadRecord, KeyError, TypeError, AttributeError) as e:
        return page_status_frame([]), [(status, f"Statuspage status: {reason_for(e)}")]
    return page_status_frame([row]), []
