"""Importing provider status history from a file or URL. The formats live in
`pipelines.status_formats`, one module each; this module reads the source and keeps the
names the flows and tests import."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from pipelines.errors import ImportFormatError
from pipelines.importers import quarantine_frame
from pipelines.status_formats import FORMATS, StatusBatch, parse_status
from pipelines.warehouse.writer import Warehouse

__all__ = ["FORMATS", "HTTP_TIMEOUT_S", "StatusBatch", "parse_status", "read_source",
           "store_batch"]

HTTP_TIMEOUT_S = 30


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


def store_batch(wh: Warehouse, batch: StatusBatch, origin: str) -> tuple[int, int]:
    """Stores a parsed batch in one transaction: incidents upserted, updates added, bad records
    quarantined. Returns (new incidents, new updates)."""
    with wh.transaction():
        new_incidents, new_updates = wh.upsert_incidents(batch.incidents, batch.updates)
        wh.quarantine(quarantine_frame(batch.rejects, "status", origin))
    return new_incidents, new_updates
