"""Importing post files: JSONL post records, X API v2 pages and Reddit Listing JSON, detected
per page. The file is split into raw pages that are landed as received, then normalised."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import pandas as pd

from analysis.service_match import ServiceMatcher
from pipelines.errors import ImportFormatError
from pipelines.normalize import Normalised, normalise_records, record_hash
from pipelines.page_formats import parse_json_page
from pipelines.warehouse.writer import POST_COLUMNS, Warehouse

LINES_PER_PAGE = 1000


@dataclass(frozen=True)
class RawPage:
    source: str        # the source the page came from ("file" when records say per line)
    format: str        # post_jsonl | x_v2_page | reddit_listing | bad_line
    origin: str
    payload: str

    @property
    def page_id(self) -> str:
        return hashlib.sha256(self.payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class PageResult:
    normalised: Normalised
    new: int


@dataclass
class ImportSummary:
    pages: int = 0
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, stored: PageResult) -> None:
        result = stored.normalised
        self.pages += 1
        self.read += len(result.posts) + len(result.rejects)
        self.imported += stored.new
        self.duplicates += len(result.posts) - stored.new
        self.quarantined += len(result.rejects)
        for _, reason in result.rejects:
            key = reason.split(":")[0][:60]
            self.reasons[key] = self.reasons.get(key, 0) + 1

    def line(self) -> str:
        return (f"{self.read} records read: {self.imported} imported, {self.duplicates} skipped "
                f"as duplicates, {self.quarantined} quarantined")


@contextmanager
def _open_stream(path: Path) -> Iterator[BinaryIO]:
    """The file's bytes as a stream, gunzipped when it starts with gzip's magic number."""
    try:
        raw: BinaryIO = path.open("rb")
    except OSError as e:
        raise ImportFormatError(f"cannot read {path}: {e}") from e
    with raw:
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield cast(BinaryIO, unzipped)
        else:
            raw.seek(0)
            yield raw


def _lines(stream: BinaryIO, path: Path) -> Iterator[bytes]:
    """The stream's lines without their newline; a damaged gzip stream is a clear error."""
    try:
        for line in stream:
            yield line.removesuffix(b"\n")
    except (OSError, EOFError, zlib.error) as e:
        raise ImportFormatError(f"{path} looks gzipped but cannot be decompressed: {e}") from e


def _page_format(obj: Any) -> str | None:
    if isinstance(obj, dict):
        if isinstance(obj.get("data"), list) and ("includes" in obj or "meta" in obj):
            return "x_v2_page"
        if obj.get("kind") == "Listing":
            return "reddit_listing"
    return None


def split_pages(path: Path) -> Iterator[RawPage]:
    """JSON Lines (a first line that is a whole JSON object, and more lines after it) are read
    as a stream and chunked into pages, so a file of any size imports in bounded memory. Any
    other file is read whole: a JSON document (an X page, a Listing, a list of them or of post
    records) becomes pages as it is; what is not one is taken line by line."""
    with _open_stream(path) as stream:
        numbered = enumerate(_lines(stream, path), start=1)
        head: list[tuple[int, bytes]] = []  # up to the second non-blank line
        non_blank: list[bytes] = []
        for item in numbered:
            head.append(item)
            if item[1].strip():
                non_blank.append(item[1])
                if len(non_blank) == 2:
                    break
        if len(non_blank) == 2 and isinstance(_loads(non_blank[0]), dict):
            yield from _line_pages(itertools.chain(head, numbered), path)
            return
        data = b"\n".join(line for _, line in itertools.chain(head, numbered))
    stripped = data.lstrip()
    if stripped[:1] in (b"{", b"["):
        doc = _loads(data)
        if doc is not None and not (isinstance(doc, dict) and _page_format(doc) is None
                                    and "id" in doc):
            yield from _document_pages(doc, str(path))
            return
    yield from _line_pages(enumerate(data.split(b"\n"), start=1), path)


def _loads(data: bytes) -> Any:
    """The JSON value of `data`, or None when it is not one (JSON Lines, a broken document)."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _unwrap_recording(doc: Any) -> Any:
    """A recorded HTTP response (cassette body: request_uri + body) imports as its body."""
    if isinstance(doc, dict) and "request_uri" in doc and "body" in doc:
        return doc["body"]
    return doc


def _document_pages(doc: Any, origin: str) -> Iterator[RawPage]:
    doc = _unwrap_recording(doc)
    items = doc if isinstance(doc, list) else [doc]
    records: list[Any] = []
    for i, item in enumerate(items):
        fmt = _page_format(item)
        if fmt is None:
            records.append(item)
        else:
            source = "x" if fmt == "x_v2_page" else "reddit"
            yield RawPage(source, fmt, f"{origin}#{i}", json.dumps(item, sort_keys=True))
    for start in range(0, len(records), LINES_PER_PAGE):
        chunk = records[start:start + LINES_PER_PAGE]
        payload = "\n".join(json.dumps(r, sort_keys=True) for r in chunk)
        yield RawPage("file", "post_jsonl", f"{origin}#{start}", payload)


def _line_pages(lines: Iterable[tuple[int, bytes]], path: Path) -> Iterator[RawPage]:
    """Numbered lines to pages: post records in chunks, API pages and undecodable lines alone."""
    chunk: list[str] = []
    chunk_start = 1
    for lineno, raw in lines:
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            # Kept as a page of its own so the quarantine row shows the bytes we received.
            text = raw.decode("utf-8", "backslashreplace")
            yield RawPage("file", "bad_line", f"{path}:{lineno}", f"{text}\t{e.reason}")
            continue
        fmt = _page_format(_try_json(line))
        if fmt is not None:
            yield RawPage("x" if fmt == "x_v2_page" else "reddit", fmt, f"{path}:{lineno}", line)
            continue
        if not chunk:
            chunk_start = lineno
        chunk.append(line)
        if len(chunk) >= LINES_PER_PAGE:
            yield RawPage("file", "post_jsonl", f"{path}:{chunk_start}-{lineno}", "\n".join(chunk))
            chunk = []
    if chunk:
        yield RawPage("file", "post_jsonl", f"{path}:{chunk_start}-", "\n".join(chunk))


def _try_json(line: str) -> Any:
    """The line parsed, if it may be a whole API page; None for anything else. Post record
    lines (nearly all of a file) are not parsed here: normalising parses them once, later."""
    if not line.lstrip().startswith("{"):
        return None
    # Both page formats (_page_format) need these keys; a line without them is no page.
    if '"kind"' not in line and '"data"' not in line:
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def normalise_page(page: RawPage) -> Normalised:
    """Re-runnable: the same page always gives the same posts and rejects."""
    if page.format == "bad_line":
        text, _, reason = page.payload.rpartition("\t")
        return Normalised(rejects=[(text, f"line is not valid UTF-8 ({reason})")])
    if page.format != "post_jsonl":
        return parse_json_page(page.format, page.payload)
    out = Normalised()
    records: list[Any] = []
    for line in page.payload.split("\n"):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            out.rejects.append((line, f"malformed JSON: {e.msg} at column {e.colno}"))
    out.extend(normalise_records(records))
    return out


def posts_frame(posts: list[dict[str, Any]], page_id: str, matcher: ServiceMatcher,
                default_service: str | None = None) -> pd.DataFrame:
    """Posts as warehouse rows. A post's service is the one its record names, else the one its
    text matches, else `default_service` (the service whose search query found it)."""
    for post in posts:
        if not post.get("service"):
            post["service"] = matcher.match(post["text"]) or default_service
        post["raw_page_id"] = page_id
    frame = pd.DataFrame(posts, columns=POST_COLUMNS)
    for col in ("author_followers", "likes", "reposts", "replies", "quotes"):
        frame[col] = frame[col].astype("Int64")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def quarantine_frame(rejects: list[tuple[Any, str]], source: str, origin: str) -> pd.DataFrame:
    rows = []
    for record, reason in rejects:
        text = record if isinstance(record, str) else json.dumps(record, default=str)
        # A lone surrogate (a JSON \ud800 escape decoded) cannot be stored: kept escaped.
        stored = text.encode("utf-8", "backslashreplace").decode("utf-8")
        rows.append({"source": source, "record_hash": record_hash(text), "record": stored,
                     "reason": reason, "origin": origin})
    return pd.DataFrame(rows, columns=["source", "record_hash", "record", "reason", "origin"])


def store_page(wh: Warehouse, page: RawPage, matcher: ServiceMatcher,
               default_service: str | None = None,
               checkpoint: Mapping[str, str] | None = None) -> PageResult:
    """Lands one raw page, normalises it and stores its posts, quarantined records and the
    checkpoint it advances, all in one transaction: a crash keeps whole pages only, and
    storing the same page again adds nothing."""
    result = normalise_page(page)
    posts = posts_frame(result.posts, page.page_id, matcher, default_service)
    rejects = quarantine_frame(result.rejects, page.source, page.origin)
    with wh.transaction():
        wh.land_raw_pages(pd.DataFrame([{
            "source": page.source, "page_id": page.page_id, "format": page.format,
            "origin": page.origin, "payload": page.payload,
        }]))
        new = wh.upsert_posts(posts)
        wh.quarantine(rejects)
        wh.mark_normalised(page.source, [page.page_id])
        if checkpoint:
            wh.save_checkpoints(page.source, checkpoint)
    return PageResult(result, new)


def import_posts(wh: Warehouse, path: Path, matcher: ServiceMatcher,
                 progress: Any = None) -> ImportSummary:
    """Lands and normalises a post file in one transaction per page, so an interrupted import
    keeps whole pages only and a re-run completes it without duplicates."""
    summary = ImportSummary()
    for page in split_pages(path):
        stored = store_page(wh, page, matcher)
        summary.add(stored)
        if progress is not None:
            progress(len(stored.normalised.posts) + len(stored.normalised.rejects))
    return summary
