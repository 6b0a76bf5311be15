"""Hacker News: stories and comments matching each watched service's keywords, from the Algolia
HN Search API (`search_by_date`, newest first). Free, no credentials.

Each query (service x keyword) keeps the newest `created_at_i` it has stored as its checkpoint.
A run asks for `created_at_i > checkpoint - overlap_s` (the index lags a little behind HN, so
an overlap catches late-indexed items; duplicates are dropped by the warehouse) and
`<= the run's start`, so the pages do not shift while new items arrive. Algolia serves at most
1,000 hits per query: past that the window's upper end moves down to the oldest hit seen and
paging starts again. The newest time goes on the last page of the query, and only when every
item above the old checkpoint was fetched, so a cut-short run repeats work but never skips."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests

from pipelines.errors import AftershockError, ConfigError
from pipelines.sources.base import (
    HTTP_TIMEOUT_S,
    MAX_RATE_LIMIT_WAIT_S,
    SourceAuthError,
    SourceError,
    SourcePage,
    bounded_sleep,
    parse_since,
)

if TYPE_CHECKING:
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

FORMAT = "hn_algolia"
DEFAULT_API_URL = "https://hn.algolia.com/api/v1"
DEFAULT_TAGS = "(story,comment)"
MAX_HITS_PER_PAGE = 1000
RATE_LIMIT_WAITS = 3
DEFAULT_RATE_LIMIT_WAIT_S = 60.0


@dataclass(frozen=True)
class Query:
    service: str
    text: str

    @property
    def key(self) -> str:
        return f"{self.service}: {self.text}"


@dataclass
class _Window:
    lower: int          # created_at_i > lower
    upper: int          # created_at_i <= upper
    page: int = 0


class HackerNewsSource:
    name = "hackernews"

    def __init__(self, queries: list[Query], api_url: str = DEFAULT_API_URL,
                 tags: str = DEFAULT_TAGS, page_size: int = 100, max_pages: int = 10,
                 lookback: str = "1d", overlap_s: int = 600,
                 timeout_s: float = HTTP_TIMEOUT_S,
                 sleep: Callable[[float], object] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.queries = queries
        self.api_url = api_url.rstrip("/")
        self.tags = tags
        self.page_size = page_size
        self.max_pages = max_pages
        self.lookback = lookback
        self.overlap_s = overlap_s
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.clock = clock
        self.notes: list[str] = []

    def secrets(self) -> Iterable[str]:
        return ()

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        with requests.Session() as session:
            for query in self.queries:
                yield from self._query_pages(session, query, _epoch(checkpoints.get(query.key)),
                                             since)

    def _query_pages(self, session: requests.Session, query: Query, old: int | None,
                     since: datetime | None) -> Iterator[SourcePage]:
        now = int(self.clock())
        if since is not None:
            lower = int(since.timestamp())
        elif old is not None:
            lower = old - self.overlap_s
        else:
            lower = int(parse_since(self.lookback).timestamp())  # type: ignore[union-attr]
        window = _Window(lower, now)
        newest: int | None = None
        pending: SourcePage | None = None
        exhausted = False
        for _ in range(self.max_pages):
            try:
                body, doc = self._fetch(session, query, window)
            except SourceError:
                if pending is not None:
                    yield pending  # stored without a checkpoint: a retry repeats, never skips
                raise
            if doc is None:
                if pending is not None:
                    yield pending
                self.notes.append(f"{self._label(query)}: a response was not a search result "
                                  "(quarantined); query stopped, checkpoint kept")
                yield self._page(query, window, body, {})
                return
            stamps = [h["created_at_i"] for h in doc["hits"] if isinstance(h, dict)
                      and isinstance(h.get("created_at_i"), int)]
            if not doc["hits"]:
                exhausted = True
                break
            if pending is not None:
                yield pending
            pending = self._page(query, window, body, {})
            newest = max([*stamps, *([newest] if newest is not None else [])], default=None)
            if not self._advance(window, doc, stamps):
                exhausted = True
                break
        if not exhausted:
            self.notes.append(f"{self._label(query)}: stopped after {self.max_pages} pages; "
                              "raise max_pages to fetch more per run")
        # Safe to move on only when everything above the old checkpoint was fetched.
        covered = old is None or (exhausted and lower <= old)
        if pending is None:
            return
        if covered and newest is not None:
            value = str(max(newest, old if old is not None else newest))
            pending = self._page(query, window, pending.payload, {query.key: value})
        yield pending

    def _advance(self, window: _Window, doc: dict[str, Any], stamps: list[int]) -> bool:
        """Moves the window to the next page; False when the query has no more hits."""
        nb_pages = doc.get("nbPages")
        nb_hits = doc.get("nbHits")
        if isinstance(nb_pages, int) and window.page + 1 < nb_pages:
            window.page += 1
            return True
        # Algolia stops paging at 1,000 hits: continue below the oldest hit seen so far.
        seen = (window.page + 1) * self.page_size
        if isinstance(nb_hits, int) and nb_hits > seen and stamps and min(stamps) < window.upper:
            window.upper, window.page = min(stamps), 0
            return True
        return False

    def _fetch(self, session: requests.Session, query: Query,
               window: _Window) -> tuple[str, dict[str, Any] | None]:
        """The body and the parsed search result (None if the body is not one)."""
        params: dict[str, str | int] = {
            "query": query.text, "tags": self.tags, "hitsPerPage": self.page_size,
            "numericFilters": f"created_at_i>{window.lower},created_at_i<={window.upper}",
            "page": window.page,
        }
        label = self._label(query)
        for attempt in range(RATE_LIMIT_WAITS + 1):
            try:
                response = session.get(f"{self.api_url}/search_by_date", params=params,
                                       timeout=self.timeout_s)
            except requests.RequestException as e:
                raise SourceError(f"{label}: request failed: {e}") from e
            if response.status_code == 429:
                wait = self._rate_limit_wait(response)
                if wait > MAX_RATE_LIMIT_WAIT_S:
                    raise SourceError(
                        f"{label}: rate limited for {wait:.0f} s, longer than the "
                        f"{MAX_RATE_LIMIT_WAIT_S:.0f} s a run waits; try again later")
                if attempt < RATE_LIMIT_WAITS:
                    bounded_sleep(wait, MAX_RATE_LIMIT_WAIT_S, self.sleep)
                continue
            if response.status_code in (401, 403):
                raise SourceAuthError(f"{label}: HTTP {response.status_code} {response.reason}: "
                                      f"the API refused the request")
            if response.status_code >= 400:
                raise SourceError(f"{label}: HTTP {response.status_code} {response.reason} "
                                  f"from {self.api_url}")
            try:
                doc = json.loads(response.text)
            except json.JSONDecodeError:
                return response.text, None
            ok = isinstance(doc, dict) and isinstance(doc.get("hits"), list)
            return response.text, doc if ok else None
        raise SourceError(f"{label}: still rate limited (HTTP 429) after {RATE_LIMIT_WAITS} "
                          "waits; try again later")

    def _rate_limit_wait(self, response: requests.Response) -> float:
        """Seconds from Retry-After (seconds or an HTTP date) or X-RateLimit-Reset (epoch)."""
        retry_after = response.headers.get("Retry-After", "").strip()
        if retry_after.isdigit():
            return float(retry_after)
        if retry_after:
            try:
                return parsedate_to_datetime(retry_after).timestamp() - self.clock()
            except (TypeError, ValueError):
                pass
        reset = response.headers.get("X-RateLimit-Reset", "").strip()
        if reset.isdigit():
            return float(reset) - self.clock()
        return DEFAULT_RATE_LIMIT_WAIT_S

    def _label(self, query: Query) -> str:
        # Notes and errors reach people prefixed with the source's name by the collect runner.
        return f"{query.text!r} ({query.service})"

    def _page(self, query: Query, window: _Window, body: str,
              checkpoint: Mapping[str, str]) -> SourcePage:
        origin = (f"{self._label(query)} {self.api_url}/search_by_date "
                  f"created_at_i in ({window.lower}, {window.upper}] page {window.page}")
        return SourcePage(self.name, FORMAT, origin, body, query.service, checkpoint)


def _epoch(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


# -- configuration -------------------------------------------------------------------------
def _option(options: dict[str, Any], name: str, default: Any, kind: type | tuple[type, ...],
            ok: Callable[[Any], bool], rule: str) -> Any:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
        raise ConfigError(f"[sources.hackernews] {name} must be {rule}")
    return value


def build_queries(config: ServicesConfig, options: dict[str, Any]) -> list[Query]:
    table = options.get("queries", {})
    if not isinstance(table, dict):
        raise ConfigError("[sources.hackernews] queries must be a table: service = [\"words\"]")
    unknown = sorted(set(table) - set(config.services))
    if unknown:
        raise ConfigError(f"[sources.hackernews] queries names unknown service(s) {unknown}")
    queries = []
    for key, service in config.services.items():
        texts = table.get(key, service.keywords)
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ConfigError(f"[sources.hackernews] queries.{key} must be a list of strings")
        queries += [Query(key, t) for t in dict.fromkeys(t.strip() for t in texts) if t]
    return queries


def build(settings: Settings, config: ServicesConfig,
          options: dict[str, Any]) -> HackerNewsSource:
    api_url = _option(options, "api_url", DEFAULT_API_URL, str,
                      lambda v: v.startswith(("http://", "https://")), "an http(s) URL")
    lookback = _option(options, "lookback", "1d", str, lambda v: bool(v.strip()),
                       "a duration like 1d or 12h")
    try:
        parse_since(lookback)
    except AftershockError as e:
        raise ConfigError(f"[sources.hackernews] lookback: {e}") from e
    return HackerNewsSource(
        build_queries(config, options),
        api_url=api_url,
        tags=_option(options, "tags", DEFAULT_TAGS, str, lambda v: bool(v.strip()),
                     "an Algolia tags filter like \"(story,comment)\""),
        page_size=_option(options, "page_size", 100, int,
                          lambda v: 1 <= v <= MAX_HITS_PER_PAGE, "an integer from 1 to 1000"),
        max_pages=_option(options, "max_pages", 10, int, lambda v: v >= 1,
                          "a positive integer"),
        lookback=lookback,
        overlap_s=_option(options, "overlap_s", 600, int, lambda v: v >= 0,
                          "a non-negative integer"),
        timeout_s=float(_option(options, "timeout_s", HTTP_TIMEOUT_S, (int, float),
                                lambda v: v > 0, "a positive number")),
    )
