"""File replay: a source that reads recorded pages (X v2 pages, Reddit Listings, post JSON
Lines, gzip or not) from a file or a folder of files, as if an API had returned them. Used to
replay captures, and by tests and demos of the scheduled pipeline. New files dropped into the
folder are collected by the next run; files already collected are skipped by checkpoint."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.errors import ConfigError
from pipelines.importers import split_pages
from pipelines.sources.base import SourcePage

if TYPE_CHECKING:
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

PATTERNS = ("*.json", "*.jsonl", "*.json.gz", "*.jsonl.gz")


class FileSource:
    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notes: list[str] = []

    def _files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise ConfigError(f"file source: {self.path} does not exist")
        return sorted({f for pattern in PATTERNS for f in self.path.glob(pattern)})

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        for f in self._files():
            with f.open("rb") as stream:
                digest = hashlib.file_digest(stream, "sha256").hexdigest()
            if since is None and checkpoints.get(str(f)) == digest:
                continue  # collected before and unchanged
            # One page of lookahead: the file's checkpoint rides on its last page.
            pages = split_pages(f)
            page = next(pages, None)
            while page is not None:
                following = next(pages, None)
                yield SourcePage(page.source, page.format, page.origin, page.payload,
                                 checkpoint={str(f): digest} if following is None else {})
                page = following

    def secrets(self) -> Iterable[str]:
        return ()


def build(settings: Settings, config: ServicesConfig, options: dict[str, Any]) -> FileSource:
    if "path" not in options:
        raise ConfigError("[sources.file] needs path = \"folder or file of recorded pages\"")
    return FileSource(Path(options["path"]))
