"""Importing provider status history from a file or URL. The formats live in
`pipelines.status_formats`, one module each; this module reads the source, stores a parsed
batch, finds the ICPE'25 history on disk, and keeps the names the flows and tests import."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.errors import ImportFormatError
from pipelines.importers import quarantine_frame
from pipelines.settings import REPO_DIR
from pipelines.status_formats import FORMATS, StatusBatch, icpe, parse_status
from pipelines.status_formats.merge import (
    drop_restated_updates,
    keep_precise_times,
    merge_batches,
)
from pipelines.warehouse.writer import Warehouse

__all__ = ["FORMATS", "HTTP_TIMEOUT_S", "ICPE_HISTORY", "StatusBatch", "Stored",
           "find_icpe_history", "parse_status", "read_source", "store_batch"]

HTTP_TIMEOUT_S = 30
# Where the shared data lies beside a checkout; the data set is not redistributed with us.
ICPE_HISTORY = REPO_DIR.parent / "shared" / "data" / "status" / "llm_status_incidents" / "clean"
ICPE_CSV = "incident_stages.csv"
ICPE_SOURCE = ("the public artifact of the ICPE'25 paper \"An Empirical Characterization of "
               "Outages and Incidents in Public Services for Large Language Models\": "
               "github.com/atlarge-research/llm-service-analysis, "
               "data/clean/incident/2024-08-31/incident_stages.csv (also Zenodo record 14018219)")


@dataclass
class Stored:
    new_incidents: int
    new_updates: int
    changed_components: int = 0


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


def store_batch(wh: Warehouse, batch: StatusBatch, origin: str) -> Stored:
    """Stores a parsed batch in one transaction: incidents upserted, updates added (each once,
    also when another source stored it first under its own id), the page's components and
    status replaced, bad records quarantined."""
    batch = merge_batches([batch])  # a payload may repeat a key; one INSERT must not
    with wh.transaction():
        updates = drop_restated_updates(
            batch.updates, _stored(wh.stored_updates, batch.updates))
        incidents = keep_precise_times(
            batch.incidents, _stored(wh.stored_incident_times, batch.incidents))
        new_incidents, new_updates = wh.upsert_incidents(incidents, updates)
        changed = wh.replace_provider_components(batch.components, batch.components_complete)
        if not batch.page_status.empty:
            wh.upsert_provider_status(batch.page_status)
        wh.quarantine(quarantine_frame(batch.rejects, "status", origin))
    return Stored(new_incidents, new_updates, changed)


def _stored(read: Callable[[str, list[str]], pd.DataFrame], rows: pd.DataFrame) -> pd.DataFrame:
    """What the warehouse holds of the incidents `rows` refer to, read per provider."""
    frames = [read(str(provider), sorted(set(group["incident_id"])))
              for provider, group in rows.groupby("provider")]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def find_icpe_history(path: Path | None = None) -> Path:
    """The ICPE'25 `incident_stages.csv` at `path` (the file, or any folder above it such as
    the data set's `clean/`), by default in ../shared/data beside the repository. The newest
    snapshot wins when a folder holds several."""
    where = path if path is not None else ICPE_HISTORY
    if where.is_file():
        found = where
    elif where.is_dir() and (candidates := sorted(where.rglob(ICPE_CSV))):
        found = candidates[-1]
    else:
        raise ImportFormatError(
            f"no ICPE'25 history ({ICPE_CSV}) at {where}. It is not shipped with Aftershock; "
            f"get {ICPE_SOURCE}, then run `aftershock import status --icpe-history PATH` "
            "with the file or a folder above it.")
    with found.open(encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    if not icpe.looks_like(header):
        raise ImportFormatError(f"{found} is not the ICPE'25 {ICPE_CSV} (its header lacks "
                                "incident_id and Incident_Title)")
    return found
