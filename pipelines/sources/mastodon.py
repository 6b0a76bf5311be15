"""Mastodon: hashtag timelines of the configured instances and, with an access token, their
full-text status search, through Mastodon.py. No credentials are needed for hashtag timelines;
most instances only search statuses for a logged-in user, so search runs only when
AFTERSHOCK_MASTODON_ACCESS_TOKEN is set.

Each query (instance x hashtag, or instance x search phrase) keeps its newest status id as a
checkpoint. An incremental hashtag run pages forward with `min_id` (oldest new statuses first),
so every page carries its own checkpoint. A first run, a backfill (`since`) and every search
page backwards (newest first, `max_id`) down to the checkpoint, the cutoff time or the page
budget; the newest id then goes on the last page, and only when everything above the old
checkpoint was fetched, so a cut-short run repeats work but never skips a post.

The page landed is the response body as received (captured from the client's HTTP session),
so re-normalising it later sees exactly what the instance sent."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonRatelimitError,
    MastodonUnauthorizedError,
)

from pipelines.errors import AftershockError, ConfigError
from pipelines.normalize import BadRecord, parse_timestamp
from pipelines.sources.base import (
    HTTP_TIMEOUT_S,
    MAX_RATE_LIMIT_WAIT_S,
    SourceAuthError,
    SourceError,
    SourcePage,
    bounded_sleep,
    parse_since,
    redact,
)

if TYPE_CHECKING:
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

FORMAT = "mastodon_statuses"
DEFAULT_INSTANCES = ("https://mastodon.social",)
MAX_PAGE_SIZE = 40          # the API's largest `limit` for timelines and search
RATE_LIMIT_WAITS = 3        # 429s waited out per request before the run gives up
DEFAULT_RATE_LIMIT_WAIT_S = 60.0
USER_AGENT = "aftershock/0.1 (social incident monitor)"


@dataclass(frozen=True)
class Query:
    instance: str   # base URL, e.g. https://mastodon.social
    service: str
    kind: str       # "tag" (hashtag timeline) | "search" (statuses search, needs a token)
    term: str       # hashtag without '#', or the search phrase

    @property
    def key(self) -> str:
        return f"{self.instance} #{self.term}" if self.kind == "tag" else \
            f"{self.instance} search {self.term}"

    @property
    def label(self) -> str:
        """For origins, notes and errors (which the collect runner prefixes with "mastodon")."""
        return self.key


class _LastResponse:
    """Keeps the last HTTP response the client received: its body is the page we land."""

    def __init__(self) -> None:
        self.response: requests.Response | None = None

    def keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.response = response


def _id_key(status_id: str) -> tuple[int, str]:
    """Mastodon ids are strings "cast from an integer but not guaranteed to be a number"
    (Pleroma's are flake ids); the API docs sort them by length, then lexically."""
    return len(status_id), status_id


def _newest(ids: Iterable[str], current: str | None = None) -> str | None:
    candidates = [*ids, *([current] if current is not None else [])]
    return max(candidates, key=_id_key) if candidates else None


def _oldest_time(statuses: list[Any]) -> datetime | None:
    times = []
    for status in statuses:
        try:
            times.append(parse_timestamp(status.get("created_at")))
        except (BadRecord, AttributeError):
            continue  # the parser quarantines it; paging just ignores it
    return min(times) if times else None


class MastodonSource:
    name = "mastodon"

    def __init__(self, queries: list[Query], access_token: str | None = None,
                 token_instance: str | None = None, page_size: int = MAX_PAGE_SIZE,
                 max_pages: int = 5, lookback: str = "1d", timeout_s: float = HTTP_TIMEOUT_S,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.queries = queries
        self.access_token = access_token
        self.token_instance = token_instance  # the only instance the token is sent to
        self.page_size = page_size
        self.max_pages = max_pages
        self.lookback = lookback
        self.timeout_s = timeout_s
        self.sleep = sleep
        self.notes: list[str] = []

    def secrets(self) -> Iterable[str]:
        return [self.access_token] if self.access_token else []

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        clients: dict[str, tuple[Mastodon, _LastResponse]] = {}
        for query in self.queries:
            if query.instance not in clients:
                clients[query.instance] = self._client(query.instance)
            client, last = clients[query.instance]
            old = checkpoints.get(query.key)
            if query.kind == "tag" and old is not None and since is None:
                yield from self._forward(client, last, query, old)
            else:
                yield from self._backward(client, last, query, old, since)

    # -- walking one query ---------------------------------------------------------------
    def _forward(self, client: Mastodon, last: _LastResponse, query: Query,
                 old: str) -> Iterator[SourcePage]:
        """New hashtag statuses after `old`, oldest chunk first: each page's newest id is a
        safe checkpoint because everything between `old` and it is on this or earlier pages."""
        newest = old
        for _ in range(self.max_pages):
            body, statuses = self._fetch(client, last, query, {"min_id": newest})
            if statuses is None:
                yield self._malformed(query, body)
                return
            ids = _ids(statuses)
            if not ids:
                if statuses:  # statuses without ids: stored or quarantined, but no paging on
                    yield self._malformed(query, body)
                return
            newest = _newest(ids, newest) or newest
            yield self._page(query, body, {query.key: newest})
            if len(statuses) < self.page_size:
                return
        self.notes.append(f"{query.label}: more than {self.max_pages} pages of new posts; "
                          "the next run continues from here")

    def _backward(self, client: Mastodon, last: _LastResponse, query: Query, old: str | None,
                  since: datetime | None) -> Iterator[SourcePage]:
        """Newest first down to the old checkpoint (incremental search), the `since` time
        (backfill) or the lookback (first run)."""
        floor = None if since is not None else old
        cutoff = since if since is not None else (parse_since(self.lookback) if old is None
                                                  else None)
        floor_param = "since_id" if query.kind == "tag" else "min_id"
        newest: str | None = None
        max_id: str | None = None
        pending: SourcePage | None = None
        covered = old is None  # True once every post above the old checkpoint was fetched
        for _ in range(self.max_pages):
            params = {"max_id": max_id, **({floor_param: floor} if floor else {})}
            try:
                body, statuses = self._fetch(client, last, query, params)
            except SourceError:
                if pending is not None:
                    yield pending  # stored without a checkpoint: a retry repeats, never skips
                raise
            if statuses is None:
                if pending is not None:
                    yield pending
                yield self._malformed(query, body)
                return
            ids = _ids(statuses)
            if statuses and not ids:  # statuses without ids: land them, but no paging on
                if pending is not None:
                    yield pending
                yield self._malformed(query, body)
                return
            if not ids:
                covered = True  # nothing older (above the floor) is left
                break
            if pending is not None:
                yield pending
            pending = self._page(query, body, {})
            newest, oldest = _newest(ids, newest), min(ids, key=_id_key)
            if old is not None and _id_key(oldest) <= _id_key(old):
                covered = True  # a backfill walked past the old checkpoint: keep going
            if len(statuses) < self.page_size:
                covered = True
                break
            oldest_time = _oldest_time(statuses)
            if cutoff is not None and oldest_time is not None and oldest_time < cutoff:
                break
            max_id = oldest
        else:
            if not covered:
                self.notes.append(f"{query.label}: stopped after {self.max_pages} pages "
                                  "before reaching the last run's posts; checkpoint kept")
        if pending is None:
            return
        if covered and newest is not None:
            pending = self._page(query, pending.payload, {query.key: _newest([newest], old)
                                                          or newest})
        yield pending

    # -- one request ---------------------------------------------------------------------
    def _fetch(self, client: Mastodon, last: _LastResponse, query: Query,
               params: dict[str, Any]) -> tuple[str, list[Any] | None]:
        """The response body and its statuses (None when the body is not a statuses page).
        429s are waited out (bounded) through the injected sleep; other failures raise."""
        params = {k: v for k, v in params.items() if v is not None}
        for attempt in range(RATE_LIMIT_WAITS + 1):
            last.response = None
            try:
                if query.kind == "tag":
                    client.timeline_hashtag(query.term, limit=self.page_size, **params)
                else:
                    client.search_v2(query.term, resolve=False, result_type="statuses",
                                     limit=self.page_size, **params)
            except MastodonRatelimitError:
                wait = self._rate_limit_wait(client)
                if wait > MAX_RATE_LIMIT_WAIT_S:
                    raise SourceError(
                        f"{query.label}: rate limited for {wait:.0f} s, longer than the "
                        f"{MAX_RATE_LIMIT_WAIT_S:.0f} s a run waits; try again later") from None
                if attempt < RATE_LIMIT_WAITS:
                    bounded_sleep(wait, MAX_RATE_LIMIT_WAIT_S, self.sleep)
                continue
            except MastodonError as e:
                body = self._unparsed_body(last, e)
                if body is not None:
                    return body, None
                raise self._error(query, e, last.response) from e
            response = last.response
            if response is None:  # cannot happen with a requests session; be explicit
                raise SourceError(f"{query.label}: no response recorded")
            return response.text, _statuses(response.text)
        raise SourceError(f"{query.label}: still rate limited (HTTP 429) after "
                          f"{RATE_LIMIT_WAITS} waits; try again later")

    @staticmethod
    def _unparsed_body(last: _LastResponse, error: MastodonError) -> str | None:
        """A 2xx response the client could not parse as JSON: landed as received, so the
        quarantine shows what the instance sent."""
        response = last.response
        if isinstance(error, MastodonAPIError) and response is not None and response.ok:
            return response.text
        return None

    @staticmethod
    def _rate_limit_wait(client: Mastodon) -> float:
        # Mastodon.py parsed X-RateLimit-Reset (adjusted by the server's Date) for us.
        reset = getattr(client, "ratelimit_reset", None)
        if isinstance(reset, int | float) and reset > time.time():
            return float(reset) - time.time()
        return DEFAULT_RATE_LIMIT_WAIT_S

    def _error(self, query: Query, error: MastodonError,
               response: requests.Response | None) -> SourceError:
        status = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else None
        if status is None:
            text = f"{query.label}: {error}"
        else:
            reason = error.args[2] if len(error.args) > 2 and error.args[2] else ""
            text = f"{query.label}: HTTP {status} {reason}{_api_error(response)}"
        text = redact(text, self.secrets())
        if isinstance(error, MastodonUnauthorizedError) or status == 403:
            return SourceAuthError(f"{text} (check AFTERSHOCK_MASTODON_ACCESS_TOKEN)")
        return SourceError(text)

    # -- helpers -------------------------------------------------------------------------
    def _client(self, instance: str) -> tuple[Mastodon, _LastResponse]:
        session = requests.Session()
        last = _LastResponse()
        session.hooks["response"].append(last.keep)
        token = self.access_token if instance == self.token_instance else None
        client = Mastodon(api_base_url=instance, access_token=token,
                          request_timeout=self.timeout_s, ratelimit_method="throw",
                          version_check_mode="none", session=session, user_agent=USER_AGENT)
        return client, last

    def _page(self, query: Query, body: str, checkpoint: Mapping[str, str]) -> SourcePage:
        return SourcePage(self.name, FORMAT, query.label, body, query.service, checkpoint)

    def _malformed(self, query: Query, body: str) -> SourcePage:
        self.notes.append(f"{query.label}: a response was not a pageable statuses page "
                          "(landed for quarantine); query stopped, checkpoint kept")
        return self._page(query, body, {})


def _api_error(response: requests.Response | None) -> str:
    """The instance's own explanation (`{"error": ...}`), which Mastodon.py does not keep."""
    try:
        doc = response.json() if response is not None else None
    except ValueError:
        return ""
    message = doc.get("error") if isinstance(doc, dict) else None
    return f": {str(message)[:200]}" if message else ""


def _statuses(body: str) -> list[Any] | None:
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("statuses"), list):
        return list(doc["statuses"])
    return doc if isinstance(doc, list) else None


def _ids(statuses: list[Any]) -> list[str]:
    return [s["id"] for s in statuses if isinstance(s, dict) and isinstance(s.get("id"), str)
            and s["id"]]


# -- configuration -------------------------------------------------------------------------
def hashtag(keyword: str) -> str:
    """A keyword as a hashtag: "Notion AI" -> "notionai" (tags are case-insensitive)."""
    return re.sub(r"\W", "", keyword.lower())


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[sources.mastodon] {what} must be a list of strings")
    return value


def _int_option(options: dict[str, Any], name: str, default: int, top: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise ConfigError(f"[sources.mastodon] {name} must be an integer from 1 to {top}")
    return value


def _instances(options: dict[str, Any]) -> list[str]:
    instances = _str_list(options.get("instances", list(DEFAULT_INSTANCES)), "instances")
    for url in instances:
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname:
            raise ConfigError(f"[sources.mastodon] instance {url!r} is not an http(s) URL")
    return [url.rstrip("/") for url in instances]


def build_queries(config: ServicesConfig, options: dict[str, Any],
                  search_instance: str | None) -> list[Query]:
    """Every instance's hashtag timelines, and statuses search on `search_instance` (the one
    instance the access token belongs to; None: no search)."""
    tag_table = options.get("hashtags", {})
    if not isinstance(tag_table, dict):
        raise ConfigError("[sources.mastodon] hashtags must be a table: service = [\"tag\"]")
    unknown = sorted(set(tag_table) - set(config.services))
    if unknown:
        raise ConfigError(f"[sources.mastodon] hashtags names unknown service(s) {unknown}")
    queries: list[Query] = []
    for instance in _instances(options):
        for key, service in config.services.items():
            configured = tag_table.get(key)
            tags = _str_list(configured, f"hashtags.{key}") if configured is not None \
                else service.keywords
            for tag in dict.fromkeys(hashtag(t) for t in tags):
                if tag:
                    queries.append(Query(instance, key, "tag", tag))
            if instance == search_instance:
                for phrase in dict.fromkeys(k.strip() for k in service.keywords):
                    if phrase:
                        queries.append(Query(instance, key, "search", phrase))
    return queries


def _token_instance(options: dict[str, Any], token: str | None) -> str | None:
    """The instance the access token belongs to (`token_instance`, default the first): the
    only one that is sent the token and asked to search. None without a token."""
    instances = _instances(options)
    chosen = str(options.get("token_instance", instances[0] if instances else "")).rstrip("/")
    if chosen not in instances:
        raise ConfigError(f"[sources.mastodon] token_instance {chosen!r} is not one of "
                          "instances")
    return chosen if token is not None else None


def build(settings: Settings, config: ServicesConfig, options: dict[str, Any]) -> MastodonSource:
    token = settings.mastodon_access_token.get_secret_value() \
        if settings.mastodon_access_token else None
    lookback = str(options.get("lookback", "1d"))
    try:
        parse_since(lookback)  # a bad value fails when the source is built, not mid-run
    except AftershockError as e:
        raise ConfigError(f"[sources.mastodon] lookback: {e}") from e
    timeout = options.get("timeout_s", HTTP_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError("[sources.mastodon] timeout_s must be a positive number")
    search = options.get("search", True)
    if not isinstance(search, bool):
        raise ConfigError("[sources.mastodon] search must be true or false")
    token_instance = _token_instance(options, token)
    return MastodonSource(
        build_queries(config, options, token_instance if search else None),
        access_token=token,
        token_instance=token_instance,
        page_size=_int_option(options, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE),
        max_pages=_int_option(options, "max_pages", 5, 1000),
        lookback=lookback,
        timeout_s=float(timeout),
    )
