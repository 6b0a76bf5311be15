"""The old AWS Service Health Dashboard `data.json`: {"archive": [...], "current": [...]}, one
item per service event, its updates as HTML <div>s led by a local time such as "8:49 AM PST"."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.status_formats.common import Parsed, Row, StatusBatch, collect, strip_html, summarise

# The dashboard's legend: 1 informational (blue), 2 performance issues (yellow), 3 disruption (red).
AWS_IMPACT = {"1": "minor", "2": "major", "3": "critical"}
# The page writes Pacific time with its abbreviation, so the offset is known per update.
PACIFIC = {"PST": timezone(timedelta(hours=-8)), "PDT": timezone(timedelta(hours=-7))}
_UPDATE = re.compile(r'<span class="yellowfg">(?P<label>[^<]*)</span>'
                     r'(?P<body>.*?)(?=<span class="yellowfg">|$)', re.DOTALL)
_LABEL = re.compile(r"^(?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2}), *)?"
                    r"(?P<hm>\d{1,2}:\d{2} [AP]M) (?P<tz>PST|PDT)$")
_RESOLVED = "[RESOLVED]"


def looks_like(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("archive"), list) and "current" in doc


def parse_aws(doc: dict[str, Any], provider: str) -> StatusBatch:
    items = list(doc.get("current") or []) + list(doc["archive"])
    return collect(items, lambda item: _incident(item, provider), "AWS event")


def _incident(item: dict[str, Any], provider: str) -> Parsed:
    service, summary = item["service"], str(item["summary"]).strip()
    if not service or not summary:
        raise BadRecord("service or summary is empty")
    started = parse_timestamp(_epoch(item["date"]), "date")
    # The summary gains "[RESOLVED]" when the event ends, so the id is built from what never
    # changes: the service and the event's start time.
    incident_id = f"{service}-{int(started.timestamp())}"
    updates = _updates(item.get("description") or "", started, provider, incident_id)
    if updates:
        updates[0]["status"] = "investigating"
        if summary.startswith(_RESOLVED):
            updates[-1]["status"] = "resolved"
    # `date` has seconds, the first update only minutes: start at whichever is earlier.
    started = min([started] + [u["created_at"] for u in updates[:1]])
    incident: Row = {
        "provider": provider, "incident_id": incident_id,
        "title": summary.removeprefix(_RESOLVED).strip(),
        "impact": AWS_IMPACT.get(str(item.get("status"))),
        "components": [item.get("service_name") or service], "url": None,
        "created_at": started, "started_at": started,
    }
    return summarise(incident, updates), updates


def _epoch(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise BadRecord(f"date {value!r} is not an epoch time") from e


def _updates(description: str, started: datetime, provider: str, incident_id: str) -> list[Row]:
    updates: list[Row] = []
    previous = started
    for i, m in enumerate(_UPDATE.finditer(description)):
        when = _update_time(" ".join(m["label"].split()), previous)
        previous = when
        updates.append({
            "provider": provider, "incident_id": incident_id,
            "update_id": f"{i}-{when:%Y%m%dT%H%MZ}", "status": "update",
            "body": strip_html(m["body"]), "created_at": when,
        })
    return updates


def _update_time(label: str, previous: datetime) -> datetime:
    """A label has a time and, after the first day, a month and day; the year and the day come
    from the update before it (updates are in order)."""
    m = _LABEL.match(label)
    if m is None:
        raise BadRecord(f"update time {label!r} is not like '8:49 AM PST'")
    tz = PACIFIC[m["tz"]]
    local_prev = previous.astimezone(tz)
    hm = datetime.strptime(m["hm"], "%I:%M %p").time()
    if m["month"]:
        month = datetime.strptime(m["month"], "%b").month
        year = local_prev.year + (1 if month < local_prev.month else 0)
        day = date(year, month, int(m["day"]))
    else:
        day = local_prev.date()
    when = datetime.combine(day, hm, tz)
    # A label without a date that is earlier than the last update is on the next day.
    if not m["month"] and when < local_prev - timedelta(minutes=1):
        when += timedelta(days=1)
    return when.astimezone(UTC)
