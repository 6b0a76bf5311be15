"""RSS 2.0 and Atom status feeds (feedparser). A Statuspage feed has one item per incident whose
description lists the updates as HTML paragraphs:
`<p><small>Jul <var data-var='date'>15</var>, <var data-var='time'>16:41</var> UTC</small><br>
<strong>Resolved</strong> - This incident has been resolved.</p>`. Items without that shape
become an incident with one update."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]

from pipelines.errors import ImportFormatError
from pipelines.normalize import BadRecord
from pipelines.status_formats.common import Parsed, Row, StatusBatch, collect, strip_html, summarise

_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.DOTALL | re.IGNORECASE)
_STAMP = re.compile(r"<small>\s*(?P<month>[A-Z][a-z]{2})\s*<var[^>]*>\s*(?P<day>\d{1,2})\s*</var>,"
                    r"\s*<var[^>]*>\s*(?P<hm>\d{1,2}:\d{2})\s*</var>\s*UTC\s*</small>",
                    re.IGNORECASE)
_STATUS = re.compile(r"<strong>(?P<status>[^<]+)</strong>\s*-\s*(?P<body>.*)$", re.DOTALL)
# A Statuspage item links to ".../incidents/<id>": the id its JSON API uses for the incident.
_INCIDENT_LINK = re.compile(r"/incidents/(?P<id>[A-Za-z0-9]+)/?(?:[?#].*)?$")


def looks_like(text: str) -> bool:
    # The root element appears within the first lines, after any <?xml ...?> and comments.
    head = text.lstrip()[:1000].lower()
    return any(root in head for root in ("<rss", "<feed", "<rdf:rdf"))


def parse_feed(data: bytes, provider: str, origin: str) -> StatusBatch:
    feed = feedparser.parse(data)
    # feedparser reads what it can of a damaged feed; with no item at all it is unreadable.
    if feed.bozo and not feed.entries:
        raise ImportFormatError(f"{origin} is not a readable RSS or Atom feed: "
                                f"{feed.get('bozo_exception', 'no entries')}")
    return collect(feed.entries, lambda e: _incident(e, provider), "feed item")


def _incident(entry: Any, provider: str) -> Parsed:
    title = strip_html(entry.get("title"))
    if not title:
        raise BadRecord("item has no title")
    published = _entry_time(entry, "published") or _entry_time(entry, "updated")
    if published is None:
        raise BadRecord("item has no readable pubDate / published / updated time")
    incident_id = _entry_id(entry)
    html = _entry_html(entry)
    updates = _statuspage_updates(html, published, provider, incident_id)
    if not updates:
        updates = [{"provider": provider, "incident_id": incident_id,
                    "update_id": f"{published:%Y%m%dT%H%M%SZ}", "status": "update",
                    "body": strip_html(html), "created_at": published}]
    # A feed names no impact or components: None keeps what the JSON API stored for them.
    incident: Row = {
        "provider": provider, "incident_id": incident_id, "title": title, "impact": None,
        "components": None, "url": entry.get("link"),
        "created_at": updates[0]["created_at"], "started_at": updates[0]["created_at"],
    }
    return summarise(incident, updates), updates


def _entry_time(entry: Any, key: str) -> datetime | None:
    parsed = entry.get(f"{key}_parsed")  # feedparser's UTC struct_time
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None


def _entry_id(entry: Any) -> str:
    """The incident id of the item's Statuspage link, so that the feed and the JSON API store
    one incident; else the last segment of its guid / id (or link)."""
    for link in [entry.get("link")] + [li.get("href") for li in entry.get("links") or []]:
        m = _INCIDENT_LINK.search(str(link or ""))
        if m:
            return m["id"]
    raw = entry.get("id") or entry.get("link")
    if not raw:
        raise BadRecord("item has neither a guid/id nor a link")
    return str(raw).rstrip("/").rsplit("/", 1)[-1]


def _entry_html(entry: Any) -> str:
    content = entry.get("content")
    if content:
        return str(content[0].get("value") or "")
    return str(entry.get("summary") or entry.get("description") or "")


def _statuspage_updates(html: str, published: datetime, provider: str,
                        incident_id: str) -> list[Row]:
    updates: list[Row] = []
    # The feed lists updates newest first: read them oldest first so that updates within one
    # minute keep their order through the (stable) sort below.
    for paragraph in reversed(_PARAGRAPH.findall(html)):
        stamp, status = _STAMP.search(paragraph), _STATUS.search(paragraph)
        if stamp is None or status is None:
            continue
        when = _stamp_time(stamp, published)
        updates.append({
            "provider": provider, "incident_id": incident_id,
            "status": status["status"].strip().lower(), "body": strip_html(status["body"]),
            "created_at": when,
        })
    updates.sort(key=lambda u: u["created_at"])
    # The feed shows minutes only: two updates of one status in one minute get -2, -3, ...
    seen: dict[str, int] = {}
    for u in updates:
        base = f"{u['created_at']:%Y%m%dT%H%MZ}-{u['status']}"
        seen[base] = seen.get(base, 0) + 1
        u["update_id"] = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return updates


def _stamp_time(stamp: re.Match[str], published: datetime) -> datetime:
    """The stamp has no year: take the one that puts it nearest the item's published time, so an
    incident spanning New Year gets the right year on both sides."""
    candidates = []
    for year in (published.year - 1, published.year, published.year + 1):
        text = f"{year} {stamp['month']} {stamp['day']} {stamp['hm']}"
        try:
            candidates.append(datetime.strptime(text, "%Y %b %d %H:%M").replace(tzinfo=UTC))
        except ValueError:
            continue  # 29 Feb outside a leap year
    if not candidates:
        raise BadRecord(f"update time {stamp[0]!r} is not a date")
    return min(candidates, key=lambda when: abs(when - published))
