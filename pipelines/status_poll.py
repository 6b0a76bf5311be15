"""Polling the configured providers' status sources. Each poll fetches and parses everything it
needs first and only then writes, in one transaction, so a fetch or parse failure writes nothing
and the stored history stays as it was. One provider failing never stops the others.

A Statuspage provider is polled through `summary.json` every time (one small request: the page
status, every component, the unresolved incidents and maintenances with their updates) and
through `incidents.json` plus `scheduled-maintenances.json` (the 50 most recent of each, with
every update) only when the history may hold something summary.json cannot show: see
`needs_history`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from pipelines.config import Provider, ServicesConfig
from pipelines.errors import AftershockError
from pipelines.status_formats import StatusBatch, parse_status
from pipelines.status_formats.merge import merge_batches
from pipelines.status_import import read_source, store_batch
from pipelines.warehouse.writer import Warehouse

Fetch = Callable[[str], bytes]

# Even when summary.json suggests nothing changed, read the history at least this often.
HISTORY_MAX_AGE = timedelta(hours=1)
# An incident stored as open that summary.json no longer lists sends the poll to the history,
# unless its last update is this much older than the page (then it was deleted, not resolved,
# and re-reading the history for it on every poll would find nothing).
OPEN_INCIDENT_WINDOW = timedelta(days=7)


@dataclass
class PollResult:
    provider: str
    url: str | None
    incidents: int = 0
    new_incidents: int = 0
    new_updates: int = 0
    quarantined: int = 0
    error: str | None = None
    components: int = 0
    changed_components: int = 0
    history_fetched: bool = False

    def line(self) -> str:
        if self.error is not None:
            return f"{self.provider}: failed: {self.error}"
        page = (f", {self.components} components ({self.changed_components} changed)"
                if self.components else "")
        return (f"{self.provider}: {self.incidents} incidents ({self.new_incidents} new), "
                f"{self.new_updates} new updates{page}, {self.quarantined} quarantined "
                f"from {self.url}")


def statuspage_urls(base: str) -> dict[str, str]:
    api = f"{base.rstrip('/')}/api/v2"
    return {"summary": f"{api}/summary.json", "incidents": f"{api}/incidents.json",
            "maintenances": f"{api}/scheduled-maintenances.json"}


def status_urls(provider: Provider) -> list[str]:
    """The provider's status sources, preferred first: the Statuspage JSON API (its
    summary.json, polled every time), then the Google Cloud and AWS snapshots, then an
    RSS/Atom feed."""
    urls = []
    if provider.statuspage:
        urls.append(statuspage_urls(provider.statuspage)["summary"])
    urls.extend(u for u in (provider.gcp, provider.aws, provider.rss) if u)
    return urls


def needs_history(wh: Warehouse, key: str, summary: StatusBatch, now: pd.Timestamp) -> bool:
    """Whether this poll must also read incidents.json: on the first poll; when the page
    changed since the last poll (an incident may have opened and closed in between); when an
    incident stored as open is gone from summary.json (it was resolved, and only the history
    has its last update); and at least every HISTORY_MAX_AGE."""
    stored = wh.provider_status(key)
    if stored is None or pd.isna(stored["history_polled_at"]):
        return True
    history_at = pd.Timestamp(stored["history_polled_at"])
    if now - history_at >= HISTORY_MAX_AGE:
        return True
    page = summary.page_status
    if page.empty or pd.isna(page["updated_at"].iloc[0]) or pd.isna(stored["updated_at"]):
        return True
    page_at = pd.Timestamp(page["updated_at"].iloc[0])
    if page_at != pd.Timestamp(stored["updated_at"]):
        return True
    open_ = wh.open_incidents(key)
    gone = open_[~open_["incident_id"].isin(summary.incidents["incident_id"])]
    updated = pd.to_datetime(gone["updated_at"], utc=True)
    return bool((updated.isna() | (updated >= page_at - OPEN_INCIDENT_WINDOW)).any())


def poll_provider(wh: Warehouse, key: str, provider: Provider,
                  fetch: Fetch = read_source) -> PollResult:
    """Polls the provider's preferred source (the first of `status_urls`) and stores what
    is new. Errors are returned in the result, never raised."""
    urls = status_urls(provider)
    if not urls:
        return PollResult(key, None, error="no status source configured")
    url = urls[0]
    history = False
    try:
        batch = parse_status(fetch(url), key, url)
        if provider.statuspage:
            now = pd.Timestamp.now(tz="UTC")
            history = needs_history(wh, key, batch, now)
            if history:
                batch = _with_history(batch, provider.statuspage, key, fetch, now)
    except AftershockError as e:  # ImportFormatError and the rest: nothing is written
        return PollResult(key, url, error=str(e))
    try:
        stored = store_batch(wh, batch, url)
    except AftershockError as e:  # rolled back: nothing of this poll is kept
        return PollResult(key, url, error=str(e))
    return PollResult(key, url, len(batch.incidents), stored.new_incidents, stored.new_updates,
                      len(batch.rejects), components=len(batch.components),
                      changed_components=stored.changed_components, history_fetched=history)


def _with_history(summary: StatusBatch, base: str, key: str, fetch: Fetch,
                  now: pd.Timestamp) -> StatusBatch:
    """summary.json merged with incidents.json and scheduled-maintenances.json. Of an
    incident in both, the history's copy wins a tie: fetched after summary, it is as new."""
    urls = statuspage_urls(base)
    history = [parse_status(fetch(urls[name]), key, urls[name])
               for name in ("incidents", "maintenances")]
    merged = merge_batches([summary, *history])
    merged.page_status = merged.page_status.assign(history_polled_at=now)
    return merged


def poll_all(wh: Warehouse, config: ServicesConfig,
             fetch: Fetch = read_source) -> list[PollResult]:
    """Polls every provider that has a status source; providers without one (an internal
    incident log imported as CSV) are skipped."""
    return [poll_provider(wh, key, provider, fetch)
            for key, provider in config.providers.items() if status_urls(provider)]
