"""Bluesky post search: app.bsky.feed.searchPosts through atproto's Client, one query per
watched-service keyword, newest first, paged with `cursor`.

Bluesky has refused unauthenticated post search since January 2025 (public.api.bsky.app
answers 403, and paging with `cursor` was refused anonymously before that), so the source logs
in with an app password (com.atproto.server.createSession) and searches through the account's
PDS, which forwards app.bsky calls to the Bluesky AppView.

Each query is incremental: its checkpoint is the newest `sortAt` seen (the earlier of a post's
createdAt and indexedAt, what searchPosts' `since` filters on), saved with the query's last
page. Author follower counts are not in a post view, so each page's authors are looked up with
app.bsky.actor.getProfiles (25 a call) and landed beside the search response.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
from atproto import Client, models
from atproto_client.exceptions import (
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.request import Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.errors import ConfigError
from pipelines.sources.base import (
    HTTP_TIMEOUT_S,
    MAX_RATE_LIMIT_WAIT_S,
    MissingCredentials,
    SourceAuthError,
    SourceError,
    SourcePage,
    bounded_sleep,
)
from pipelines.sources.bluesky_format import sort_at

if TYPE_CHECKING:
    from atproto_client.client.session import Session, SessionEvent

    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

SEARCH = "app.bsky.feed.searchPosts"
GET_PROFILES = "app.bsky.actor.getProfiles"
PROFILES_PER_CALL = 25          # getProfiles' documented maximum
RATE_LIMIT_RETRIES = 3          # 429s in a row on one call before the run gives up
DEFAULT_RATE_LIMIT_WAIT_S = 60.0  # a 429 that says neither retry-after nor ratelimit-reset
ENV_HANDLE = "AFTERSHOCK_BLUESKY_HANDLE"
ENV_PASSWORD = "AFTERSHOCK_BLUESKY_APP_PASSWORD"
# This process's sessions by (service, handle), in memory only: a long-running `aftershock
# serve` logs in once and then refreshes the session, instead of spending createSession
# (30 per 5 minutes and 300 a day per account) on every run.
_SESSIONS: dict[tuple[str, str], str] = {}


class SearchOptions(BaseModel):
    """The [sources.bluesky] table (docs/sources.md)."""

    model_config = ConfigDict(extra="forbid")

    service: str = "https://bsky.social"   # where to log in and search (the account's PDS)
    page_size: int = Field(100, ge=1, le=100)
    max_pages: int = Field(5, ge=1)         # per query and run
    author_followers: bool = True           # getProfiles per page for follower counts
    timeout_s: float = Field(HTTP_TIMEOUT_S, gt=0)
    # Per service key: the search queries to run instead of its keywords.
    queries: dict[str, list[str]] = Field(default_factory=dict)


class _RawBodies:
    """An httpx response hook that keeps the last response body as received, so pages land
    exactly as the server sent them (even one that is not valid JSON)."""

    def __init__(self) -> None:
        self.last: bytes | None = None

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        self.last = response.content


class BlueskySearch:
    name = "bluesky"

    def __init__(self, handle: str, app_password: str, queries: list[tuple[str, str]],
                 options: SearchOptions, sleep: Callable[[float], object] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.handle = handle
        self.queries = queries            # (service key, query) pairs
        self.options = options
        self.notes: list[str] = []
        self._password = app_password
        self._tokens: set[str] = set()     # session JWTs, scrubbed from errors like the password
        self._sleep = sleep
        self._clock = clock
        self._bodies = _RawBodies()

    def secrets(self) -> Iterable[str]:
        return [self._password, *self._tokens]

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        client = self._login()
        for service, query in self.queries:
            yield from self._query_pages(client, service, query, checkpoints, since)

    # -- one query -------------------------------------------------------------------------
    def _query_pages(self, client: Client, service: str, query: str,
                     checkpoints: Mapping[str, str],
                     since: datetime | None) -> Iterator[SourcePage]:
        """Pages of one query, newest first. Its checkpoint (newest sortAt) goes on the last
        page only: a run that stops half-way repeats the query rather than skipping posts."""
        key = f"{service}:{query}"
        newest = checkpoints.get(key)
        start = _iso(since) if since is not None else newest
        cursor: str | None = None
        for number in range(1, self.options.max_pages + 1):
            params = models.AppBskyFeedSearchPosts.Params(
                q=query, sort="latest", limit=self.options.page_size, since=start, cursor=cursor)
            raw, body = self._call(f"bluesky search {query!r}",
                                   partial(client.invoke_query, SEARCH, params=params))
            origin = f"bluesky {SEARCH} q={query} since={start} page {number}"
            if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
                # Landed as received: the parser quarantines it. The query stops here, its
                # checkpoint unmoved, so the next run asks again.
                self.notes.append(f"search {query!r} page {number} was not a searchPosts "
                                  "response; stopped that query")
                yield SourcePage("bluesky", "bluesky_search", origin, raw, service=service)
                return
            posts = body["posts"]
            newest = _latest(newest, (sort_at(view) for view in posts))
            cursor = body.get("cursor") if isinstance(body.get("cursor"), str) and posts else None
            last = cursor is None or number == self.options.max_pages
            if cursor is not None and last:
                self.notes.append(f"search {query!r}: stopped after max_pages="
                                  f"{self.options.max_pages}; older matches were not read")
            yield SourcePage("bluesky", "bluesky_search", origin,
                             self._with_profiles(client, raw, body), service=service,
                             checkpoint={key: newest} if last and newest else {})
            if last:
                return

    def _with_profiles(self, client: Client, raw: str, body: dict[str, Any]) -> str:
        """The page to land: the search response, plus the getProfiles responses for its
        authors when follower counts are wanted (both unchanged)."""
        authors = list(dict.fromkeys(
            view["author"]["did"] for view in body["posts"]
            if isinstance(view, dict) and isinstance(view.get("author"), dict)
            and isinstance(view["author"].get("did"), str)))
        if not self.options.author_followers or not authors:
            return raw
        profiles = []
        for start in range(0, len(authors), PROFILES_PER_CALL):
            params = models.AppBskyActorGetProfiles.Params(
                actors=authors[start:start + PROFILES_PER_CALL])
            _, response = self._call("bluesky getProfiles",
                                     partial(client.invoke_query, GET_PROFILES,
                                             params=params))
            if not isinstance(response, dict):
                raise SourceError("bluesky getProfiles: the response is not a JSON object")
            profiles.append(response)
        return json.dumps({"search": body, "profiles": profiles}, ensure_ascii=False)

    # -- the client ------------------------------------------------------------------------
    def _login(self) -> Client:
        """A logged-in client: this process's session for the account if the server still
        accepts it (one cheap getSession), else a new one from the app password."""
        key = (self.options.service, self.handle)
        if key in _SESSIONS:
            client = self._client()
            client.login(session_string=_SESSIONS[key], fetch_bsky_profile=False)  # no request
            try:
                self._call("bluesky getSession",
                           partial(client.invoke_query, "com.atproto.server.getSession"))
                return client
            except SourceError:  # expired or revoked (or the server failed): log in afresh
                del _SESSIONS[key]
        client = self._client()
        self._call(f"bluesky login as {self.handle}",
                   lambda: _log_in(client, self.handle, self._password))
        return client

    def _client(self) -> Client:
        request = Request(timeout=self.options.timeout_s,
                          event_hooks={"response": [self._bodies]})
        client = Client(base_url=self.options.service, request=request)
        client.on_session_change(self._remember_session)
        return client

    def _remember_session(self, event: SessionEvent, session: Session) -> None:
        self._tokens.update(t for t in (session.access_jwt, session.refresh_jwt) if t)
        _SESSIONS[(self.options.service, self.handle)] = session.encode()

    def _call(self, what: str, invoke: Callable[[], Response | None]) -> tuple[str, Any]:
        """One XRPC call: the body as received (text) and parsed (None if not JSON). 429s are
        waited out (bounded, through the injected sleep) and retried; other failures become
        SourceAuthError (401/403) or SourceError."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            self._bodies.last = None
            try:
                response = invoke()
            except RateLimitExceededError as e:
                wait = self._rate_limit_wait(e)
                if attempt == RATE_LIMIT_RETRIES or wait > MAX_RATE_LIMIT_WAIT_S:
                    raise SourceError(f"{what}: rate limited (HTTP 429), next try in "
                                      f"{wait:.0f} s") from e
                bounded_sleep(wait, sleep=self._sleep)
                continue
            except UnauthorizedError as e:
                raise SourceAuthError(f"{what}: refused ({e}); check {ENV_HANDLE} and "
                                      f"{ENV_PASSWORD}") from e
            except RequestErrorBase as e:  # 4xx, 5xx, timeouts, connection errors
                raise SourceError(f"{what}: {e or type(e).__name__}") from e
            except ValueError as e:  # the body says JSON but is not: kept for quarantine
                if self._bodies.last is None:
                    raise SourceError(f"{what}: {e}") from e
                return self._bodies.last.decode("utf-8", "replace"), None
            if response is not None:
                self._pause_if_spent(response.headers)
            return self._received()
        raise AssertionError("unreachable")  # the loop returns or raises

    def _received(self) -> tuple[str, Any]:
        raw = (self._bodies.last or b"").decode("utf-8", "replace")
        try:
            return raw, json.loads(raw)
        except json.JSONDecodeError:
            return raw, None

    def _rate_limit_wait(self, error: RateLimitExceededError) -> float:
        if error.retry_after is not None:
            return error.retry_after
        if error.reset_at is not None:
            return max(0.0, error.reset_at.timestamp() - self._clock()) + 1.0
        return DEFAULT_RATE_LIMIT_WAIT_S

    def _pause_if_spent(self, headers: Mapping[str, Any]) -> None:
        """The last request of a rate-limit window: wait for the window to reset rather than
        take a 429."""
        if str(headers.get("ratelimit-remaining")) != "0":
            return
        try:
            reset = float(headers["ratelimit-reset"])
        except (KeyError, TypeError, ValueError):
            return
        bounded_sleep(reset - self._clock() + 1.0, sleep=self._sleep)


def _log_in(client: Client, handle: str, password: str) -> None:
    """Logs in (com.atproto.server.createSession); the profile look-up atproto would make
    after it is skipped: it costs a request and tells us nothing."""
    client.login(handle, password, fetch_bsky_profile=False)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _latest(current: str | None, candidates: Iterable[str | None]) -> str | None:
    """The newest of ISO timestamps (compared as times, not strings); never older than
    `current`, so a backfill never moves a checkpoint backwards."""
    best = current
    for value in candidates:
        if value is not None and (best is None or _when(value) > _when(best)):
            best = value
    return best


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def broadest_terms(keywords: list[str]) -> list[str]:
    """A service's keywords without those that contain another of them as whole words
    ("notion ai" goes when "notion" is there): a search for "notion" already finds them."""
    terms = list(dict.fromkeys(k.strip().lower() for k in keywords if k.strip()))
    return [t for t in terms
            if not any(o != t and re.search(rf"(?<!\w){re.escape(o)}(?!\w)", t) for o in terms)]


def search_queries(config: ServicesConfig, overrides: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    """(service key, query) pairs: a service's `queries` option, else its broadest keywords,
    phrases in double quotes. Handles are left out: the services' handles are X handles."""
    unknown = sorted(set(overrides) - set(config.services))
    if unknown:
        raise ConfigError(f"[sources.bluesky] queries names unknown service(s) {unknown}")
    pairs = []
    for key, service in config.services.items():
        terms = overrides.get(key) or [
            f'"{t}"' if " " in t else t for t in broadest_terms(service.keywords)]
        pairs += [(key, term) for term in terms]
    return pairs


def build(settings: Settings, config: ServicesConfig, options: dict[str, Any]) -> BlueskySearch:
    missing = [env for env, value in ((ENV_HANDLE, settings.bluesky_handle),
                                      (ENV_PASSWORD, settings.bluesky_app_password))
               if not value]
    if missing:
        raise MissingCredentials(
            f"bluesky search needs {' and '.join(missing)} (a Bluesky handle and an app "
            "password from Settings > Privacy and security > App passwords)")
    try:
        opts = SearchOptions.model_validate(options)
    except ValidationError as e:
        raise ConfigError(f"[sources.bluesky] options are invalid: {e}") from e
    assert settings.bluesky_handle and settings.bluesky_app_password  # checked above
    return BlueskySearch(settings.bluesky_handle,
                         settings.bluesky_app_password.get_secret_value(),
                         search_queries(config, opts.queries), opts)
