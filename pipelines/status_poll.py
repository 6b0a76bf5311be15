"""Polling the configured providers' status sources. Each poll fetches and parses the
provider's page first and only then writes, in one transaction, so a fetch or parse failure
writes nothing and the stored history stays as it was. One provider failing never stops the
others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.config import Provider, ServicesConfig
from pipelines.errors import AftershockError
from pipelines.status_formats import parse_status
from pipelines.status_import import read_source, store_batch
from pipelines.warehouse.writer import Warehouse

Fetch = Callable[[str], bytes]


@dataclass
class PollResult:
    provider: str
    url: str | None
    incidents: int = 0
    new_incidents: int = 0
    new_updates: int = 0
    quarantined: int = 0
    error: str | None = None

    def line(self) -> str:
        if self.error is not None:
            return f"{self.provider}: failed: {self.error}"
        return (f"{self.provider}: {self.incidents} incidents ({self.new_incidents} new), "
                f"{self.new_updates} new updates, {self.quarantined} quarantined from {self.url}")


def status_urls(provider: Provider) -> list[str]:
    """The provider's status sources, preferred first: the Statuspage JSON API, then the
    Google Cloud and AWS snapshots, then an RSS/Atom feed."""
    urls = []
    if provider.statuspage:
        urls.append(f"{provider.statuspage.rstrip('/')}/api/v2/incidents.json")
    urls.extend(u for u in (provider.gcp, provider.aws, provider.rss) if u)
    return urls


def poll_provider(wh: Warehouse, key: str, provider: Provider,
                  fetch: Fetch = read_source) -> PollResult:
    """Polls the provider's preferred source (the first of `status_urls`) and stores what
    is new. Errors are returned in the result, never raised."""
    urls = status_urls(provider)
    if not urls:
        return PollResult(key, None, error="no status source configured")
    url = urls[0]
    try:
        batch = parse_status(fetch(url), key, url)
    except AftershockError as e:  # ImportFormatError and the rest: nothing is written
        return PollResult(key, url, error=str(e))
    try:
        new_incidents, new_updates = store_batch(wh, batch, url)
    except AftershockError as e:  # rolled back: nothing of this poll is kept
        return PollResult(key, url, error=str(e))
    return PollResult(key, url, len(batch.incidents), new_incidents, new_updates,
                      len(batch.rejects))


def poll_all(wh: Warehouse, config: ServicesConfig,
             fetch: Fetch = read_source) -> list[PollResult]:
    """Polls every provider that has a status source; providers without one (an internal
    incident log imported as CSV) are skipped."""
    return [poll_provider(wh, key, provider, fetch)
            for key, provider in config.providers.items() if status_urls(provider)]
