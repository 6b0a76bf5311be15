"""One collection run of one post source: every page it yields is landed, normalised and
stored with the checkpoint it advances in one transaction (importers.store_page). Errors leave
here scrubbed of the source's secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from analysis.service_match import ServiceMatcher
from pipelines.importers import ImportSummary, RawPage, store_page
from pipelines.sources.base import (
    PostSource,
    SourceAuthError,
    SourceError,
    SourcePage,
    redact,
)
from pipelines.warehouse.writer import Warehouse


@dataclass
class CollectSummary(ImportSummary):
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"{self.source}: {self.pages} pages, " + super().line()
        return "; ".join([text, *self.notes])


def collect_source(wh: Warehouse, source: PostSource, matcher: ServiceMatcher,
                   since: datetime | None = None,
                   progress: Callable[[int], object] | None = None) -> CollectSummary:
    """Collects from `source` until it has no more pages. Pages stored before an error stay
    stored (with their checkpoints); the error is raised scrubbed of secrets."""
    summary = CollectSummary(source=source.name)
    pages = source.pages(wh.checkpoints(source.name), since)
    while (page := _next_page(source, pages, summary)) is not None:
        raw = RawPage(page.source, page.format, page.origin, page.payload)
        stored = store_page(wh, raw, matcher, page.service, page.checkpoint)
        summary.add(stored)
        if progress is not None:
            progress(len(stored.normalised.posts) + len(stored.normalised.rejects))
    summary.notes = list(source.notes)
    return summary


def _next_page(source: PostSource, pages: Iterator[SourcePage],
               summary: CollectSummary) -> SourcePage | None:
    """The next page, or None when the source is done. A source's failure (not the
    warehouse's) becomes a SourceError whose message holds none of its secrets."""
    try:
        return next(pages, None)
    except Exception as e:  # noqa: BLE001 - whatever a client raises becomes a SourceError
        message = redact(f"{source.name}: {e}", list(source.secrets()))
        kind = SourceAuthError if isinstance(e, SourceAuthError) else SourceError
        # `from None`: the original exception's text or traceback may carry a credential.
        raise kind(f"{message} (after {summary.pages} pages stored)") from None
