"""Status history formats, one module each; `parse_status` recognises which one a payload is."""

from __future__ import annotations

import csv
import json
from typing import Any

from pipelines.errors import ImportFormatError
from pipelines.status_formats import aws, csv_log, feeds, gcp, icpe, statuspage
from pipelines.status_formats.common import StatusBatch

FORMATS = ("Statuspage v2 JSON (incidents.json, summary.json, components.json, ...), Google "
           "Cloud incidents.json, AWS Service Health Dashboard data.json, RSS/Atom feed, the "
           "ICPE'25 CSV or a CSV incident log")

__all__ = ["FORMATS", "StatusBatch", "parse_status"]


def parse_status(data: bytes, provider: str | None, origin: str) -> StatusBatch:
    """Bad records are rejected with their reason; a document whose shape is wrong as a whole
    (a list where an object belongs) is refused with ImportFormatError, never a crash."""
    try:
        return _parse(data, provider, origin)
    except (TypeError, AttributeError, KeyError, ValueError, csv.Error) as e:
        raise ImportFormatError(f"{origin}: the document's structure is not as its format "
                                f"requires ({type(e).__name__}: {e})") from e


def _parse(data: bytes, provider: str | None, origin: str) -> StatusBatch:
    text = data.decode("utf-8-sig", errors="replace")
    start = text.lstrip()[:1]
    if start in ("{", "["):
        return _parse_json(text, provider, origin)
    if start == "<":
        if not feeds.looks_like(text):
            raise ImportFormatError(f"{origin}: XML/HTML that is not an RSS or Atom feed")
        return feeds.parse_feed(data, _needs(provider, "an RSS/Atom feed"), origin)
    header = text.split("\n", 1)[0]
    if icpe.looks_like(header):
        return icpe.parse_icpe_csv(text, provider)
    if csv_log.looks_like(header):
        return csv_log.parse_csv_log(text, provider)
    raise ImportFormatError(f"{origin}: unknown status format (expected {FORMATS})")


def _parse_json(text: str, provider: str | None, origin: str) -> StatusBatch:
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as e:
        raise ImportFormatError(f"{origin} is not valid JSON: {e}") from e
    if statuspage.looks_like(doc):
        return statuspage.parse_statuspage(doc, _needs(provider, "a Statuspage file"))
    if gcp.looks_like(doc):
        return gcp.parse_gcp(doc, provider or "gcp")
    if aws.looks_like(doc):
        return aws.parse_aws(doc, provider or "aws")
    raise ImportFormatError(f"{origin}: JSON of an unknown status format (expected {FORMATS})")


def _needs(provider: str | None, what: str) -> str:
    if provider is None:
        raise ImportFormatError(f"{what} needs --provider NAME")
    return provider
