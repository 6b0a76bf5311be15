"""Bluesky's live post stream: a Jetstream websocket (no key) filtered to app.bsky.feed.post,
of which we keep the posts that match a watched service's keywords or handles.

One collect run reads for at most `max_seconds` or `max_events` events and yields a page every
`page_events` matched posts (and one at the end). A page lands the matched events exactly as
received (a JSON array of the messages) and carries the last read event's `time_us` as its
checkpoint, so the next run resumes from there (rewound a few seconds, as Jetstream advises:
events are stored idempotently, so the overlap only repeats work).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from websockets.exceptions import ConnectionClosedOK, WebSocketException
from websockets.sync.client import connect

from pipelines.errors import ConfigError
from pipelines.sources.base import HTTP_TIMEOUT_S, SourceError, SourcePage
from pipelines.sources.bluesky_format import POST_COLLECTION

if TYPE_CHECKING:
    from analysis.service_match import ServiceMatcher
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

CURSOR_KEY = "time_us"


class JetstreamOptions(BaseModel):
    """The [sources.jetstream] table (docs/sources.md)."""

    model_config = ConfigDict(extra="forbid")

    url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    max_seconds: float = Field(60.0, gt=0)      # longest a run reads the stream
    max_events: int = Field(100_000, ge=1)      # most events (of any kind) a run reads
    page_events: int = Field(500, ge=1)         # matched posts per landed page
    rewind_seconds: float = Field(5.0, ge=0)    # resume this far before the saved cursor
    timeout_s: float = Field(HTTP_TIMEOUT_S, gt=0)  # opening the websocket


class JetstreamFollower:
    # Pages are landed and checkpointed under this name (checkpoints are read by source
    # name); the posts themselves are source "bluesky", one row with what search finds.
    name = "jetstream"

    def __init__(self, matcher: ServiceMatcher, options: JetstreamOptions,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.matcher = matcher
        self.options = options
        self.notes: list[str] = []
        self._clock = clock

    def secrets(self) -> Iterable[str]:
        return ()

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        saved = _int_or_none(checkpoints.get(CURSOR_KEY))
        if since is not None:
            start: int | None = int(since.timestamp() * 1_000_000)
        elif saved is not None:
            start = saved - int(self.options.rewind_seconds * 1_000_000)
        else:
            start = None  # first run: live tail from now
        committed = saved  # never move the checkpoint backwards (a backfill re-reads)
        matched: list[str] = []
        last: int | None = None
        read = 0
        try:
            for message in self._messages(start):
                read += 1
                time_us, entry = self._triage(message)
                if time_us is not None:
                    last = time_us if last is None else max(last, time_us)
                if entry is not None:
                    matched.append(entry)
                if len(matched) >= self.options.page_events:
                    page, committed = self._page(matched, last, committed)
                    yield page
                    matched = []
        except SourceError:
            # What was read before the stream broke is stored; the retry resumes after it.
            if matched or _later(last, committed):
                yield self._page(matched, last, committed)[0]
            raise
        if matched or _later(last, committed):
            yield self._page(matched, last, committed)[0]
        self.notes.append(f"read {read} events from {urlsplit(self.options.url).netloc}")

    def _messages(self, start: int | None) -> Iterator[str]:
        """The stream's text messages until the run's time or event budget is spent."""
        params = [("wantedCollections", POST_COLLECTION)]
        if start is not None:
            params.append(("cursor", str(start)))
        url = self.options.url + ("&" if "?" in self.options.url else "?") + urlencode(params)
        deadline = self._clock() + self.options.max_seconds
        try:
            with connect(url, open_timeout=self.options.timeout_s, close_timeout=5) as ws:
                for _ in range(self.options.max_events):
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return
                    try:
                        message = ws.recv(timeout=remaining)
                    except TimeoutError:
                        return
                    yield message if isinstance(message, str) else message.decode("utf-8",
                                                                                  "replace")
        except ConnectionClosedOK:
            self.notes.append("the server closed the stream")
        except (WebSocketException, OSError) as e:  # refused, handshake status, broken stream
            raise SourceError(f"jetstream {urlsplit(self.options.url).netloc}: "
                              f"{e or type(e).__name__}") from e

    def _triage(self, message: str) -> tuple[int | None, str | None]:
        """The event's time_us, and what the page keeps of it: a post create that names a
        watched service as received; a message that is not a JSON object as a JSON string,
        so that it lands and is quarantined; anything else nothing."""
        try:
            event = json.loads(message)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            return None, json.dumps(message, ensure_ascii=False)
        time_us = event.get("time_us")
        time_us = time_us if isinstance(time_us, int) and not isinstance(time_us, bool) else None
        commit = event.get("commit")
        if (event.get("kind") != "commit" or not isinstance(commit, dict)
                or commit.get("operation") != "create"
                or commit.get("collection") != POST_COLLECTION):
            return time_us, None  # likes, deletes, identity and account events, heartbeats
        record = commit.get("record")
        text = record.get("text") if isinstance(record, dict) else None
        keep = isinstance(text, str) and self.matcher.match(text) is not None
        return time_us, message if keep else None

    def _page(self, matched: list[str], last: int | None,
              committed: int | None) -> tuple[SourcePage, int | None]:
        cursor = last if not _later(committed, last) else committed
        host = urlsplit(self.options.url).netloc
        page = SourcePage("jetstream", "bluesky_jetstream",
                          f"jetstream {host} {len(matched)} matched events up to time_us {last}",
                          "[" + ",".join(matched) + "]",
                          checkpoint={CURSOR_KEY: str(cursor)} if cursor is not None else {})
        return page, cursor


def _later(a: int | None, b: int | None) -> bool:
    return a is not None and (b is None or a > b)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def build(settings: Settings, config: ServicesConfig,
          options: dict[str, Any]) -> JetstreamFollower:
    try:
        opts = JetstreamOptions.model_validate(options)
    except ValidationError as e:
        raise ConfigError(f"[sources.jetstream] options are invalid: {e}") from e
    return JetstreamFollower(config.matcher(), opts)
