"""Reddit posts and comments through praw: a site-wide search for each watched service, and for
each configured subreddit its new posts, its new comments and, optionally, a search for each
service within it.

Pages are Reddit Listing JSON exactly as received (`format = "reddit_listing"`, parsed by
`pipelines.normalize.normalise_reddit_listing`): `reddit.request` asks praw for the response
without objectifying it, and the requestor keeps the body's text. Each listing is read newest
first, paged with `after`, and stops at the newest post the last run saw (created_utc and
fullname: one checkpoint per listing), or at `since` in a backfill.

praw goes through `PacedRequestor` (praw's `requestor_class` hook), which applies this project's
HTTP rules: Reddit's 100 requests a minute, waits for a spent quota that are bounded and go
through an injectable sleep, a 429 waited out and retried, and 5xx, timeouts, refused
connections and refused credentials turned into SourceError / SourceAuthError at once (the
collect flow's Prefect retries are the one place transient faults are retried).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import praw
import praw.exceptions
import prawcore
from prawcore.const import ACCESS_TOKEN_PATH
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from requests import Response

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

if TYPE_CHECKING:
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

RATE_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")
# A 429 is waited out and the request sent again this many times before the run gives up.
MAX_429_RETRIES = 2
# How long to hold off after a 429 that says nothing of when to come back.
DEFAULT_429_WAIT_S = 60.0
SUBREDDIT_NAME = re.compile(r"^[A-Za-z0-9_]{2,21}$")


class RedditOptions(BaseModel):
    """The `[sources.reddit]` table of the services config (docs/sources.md)."""

    model_config = ConfigDict(extra="forbid")

    # Subreddit names, or a table subreddit -> service key: the service a subreddit's posts
    # are about when their text names none. A plain name's service is the one it matches.
    subreddits: list[str] | dict[str, str] = Field(default_factory=list)
    sitewide_search: bool = True
    comments: bool = True
    subreddit_search: bool = False
    max_pages: int = Field(10, ge=1, le=100)
    page_size: int = Field(100, ge=1, le=100)
    requests_per_minute: float = Field(100.0, gt=0, le=100)
    timeout_s: float = Field(HTTP_TIMEOUT_S, gt=0)
    max_rate_limit_wait_s: float = Field(MAX_RATE_LIMIT_WAIT_S, ge=0)
    oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"

    @field_validator("subreddits")
    @classmethod
    def _names(cls, value: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        bad = [name for name in value if not SUBREDDIT_NAME.match(name)]
        if bad:
            raise ValueError(f"not subreddit names (2-21 letters, digits, _): {bad}")
        return value


@dataclass(frozen=True)
class Listing:
    """One Reddit listing read newest first, with the checkpoint key that remembers it."""

    key: str                    # "search:notion", "r/Notion/new", "r/Notion/search:notion"
    path: str
    params: Mapping[str, str]
    service: str | None         # the watched service whose query or subreddit it is


@dataclass(frozen=True)
class Cursor:
    """The newest thing a listing has shown: later runs stop when they reach it."""

    created_utc: float
    name: str                   # fullname, t3_... or t1_...

    def encode(self) -> str:
        return f"{self.created_utc:.0f} {self.name}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        """None for no checkpoint, or one this code cannot read (the listing starts over)."""
        try:
            created, name = (value or "").split(" ", 1)
            return cls(float(created), name)
        except ValueError:
            return None


@dataclass
class RatePacer:
    """Keeps Reddit's limit: no more than `requests_per_minute`, and nothing while the quota
    of the window (x-ratelimit-remaining) is spent, until x-ratelimit-reset. Every wait is
    bounded by `max_wait_s` and goes through `sleep`, so tests replace both clocks."""

    requests_per_minute: float = 100.0
    max_wait_s: float = MAX_RATE_LIMIT_WAIT_S
    sleep: Callable[[float], object] = time.sleep
    clock: Callable[[], float] = time.monotonic
    held_s: float = 0.0         # waited for a spent quota or a 429 (pacing not counted)
    cut_short_s: float = 0.0    # waits the bound did not allow
    _next_at: float | None = field(default=None, init=False, repr=False)
    _holding: bool = field(default=False, init=False, repr=False)

    def before_request(self) -> None:
        if self._next_at is not None:
            wanted = self._next_at - self.clock()
            waited = bounded_sleep(wanted, self.max_wait_s, self.sleep)
            self.cut_short_s += max(0.0, wanted - waited)
            if self._holding:
                self.held_s += waited
        self._holding = False
        self._next_at = self.clock() + 60.0 / self.requests_per_minute

    def after_response(self, headers: Mapping[str, str]) -> None:
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if remaining is not None and remaining < 1 and reset is not None:
            self.hold(reset)

    def hold(self, seconds: float) -> None:
        """No request for `seconds` from now."""
        until = self.clock() + max(0.0, seconds)
        self._next_at = until if self._next_at is None else max(self._next_at, until)
        self._holding = True


@dataclass
class ReceivedBody:
    """The text of the last API response, so pages land exactly as Reddit sent them."""

    text: str | None = None


class PacedRequestor(prawcore.Requestor):
    """prawcore's Requestor with this project's HTTP rules.

    prawcore's own RateLimiter sleeps as long as x-ratelimit-reset says, and its retry loop
    sleeps too, neither bounded nor injectable: the pacer reads the x-ratelimit-* headers and
    removes them (so prawcore never sleeps), and failures become our errors here, before
    prawcore's retry loop sees them."""

    def __init__(self, *, pacer: RatePacer, received: ReceivedBody, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer
        self.received = received

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Response:
        method, url = str(args[0]).upper(), str(args[1])
        where = f"{method} {urlsplit(url).path}"
        for _ in range(MAX_429_RETRIES + 1):
            self.pacer.before_request()
            try:
                # Our timeout on every call: prawcore passes its own 16 s constant, and praw
                # 8's `timeout` setting reaches no request.
                response = super().request(*args, timeout=self.timeout, **kwargs)
            except prawcore.RequestException as e:
                name = type(e.original_exception).__name__
                raise SourceError(f"{where}: {name} (no answer within {self.timeout:g} s "
                                  "or connection refused)") from e
            retry_after = _retry_after(response.headers)
            self.pacer.after_response(response.headers)
            for header in RATE_HEADERS:
                response.headers.pop(header, None)
            if response.status_code != 429:
                break
            self.pacer.hold(retry_after)
        _raise_for_status(response.status_code, where, url)
        if not url.endswith(ACCESS_TOKEN_PATH):  # never keep the token
            self.received.text = response.text
        return response


def _raise_for_status(status: int, where: str, url: str) -> None:
    if status == 401 or (status in (400, 403) and url.endswith(ACCESS_TOKEN_PATH)):
        raise SourceAuthError(f"{where}: Reddit refused the credentials (HTTP {status}); check "
                              "AFTERSHOCK_REDDIT_CLIENT_ID and AFTERSHOCK_REDDIT_CLIENT_SECRET")
    if status == 429:
        raise SourceError(f"{where}: still rate limited (HTTP 429) after "
                          f"{MAX_429_RETRIES} waits")
    if status >= 500 or status == 408:
        raise SourceError(f"{where}: Reddit answered HTTP {status}")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float:
    for name in ("retry-after", "x-ratelimit-reset"):
        seconds = _number(headers.get(name))
        if seconds is not None:
            return seconds
    return DEFAULT_429_WAIT_S


class RedditSource:
    name = "reddit"

    def __init__(self, client_id: str, client_secret: str, user_agent: str,
                 listings: list[Listing], options: RedditOptions,
                 pacer: RatePacer | None = None) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._user_agent = user_agent
        self.listings = listings
        self.options = options
        self.pacer = pacer or RatePacer(options.requests_per_minute, options.max_rate_limit_wait_s)
        self._received = ReceivedBody()
        self.notes: list[str] = []

    def secrets(self) -> Iterable[str]:
        return (self._client_id, self._client_secret)

    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        self.notes = []
        held, cut = self.pacer.held_s, self.pacer.cut_short_s
        reddit = self._client()
        for listing in self.listings:
            seen = Cursor.decode(checkpoints.get(listing.key))
            yield from self._listing_pages(reddit, listing, seen, since)
        if self.pacer.held_s > held:
            self.notes.append(f"waited {self.pacer.held_s - held:.0f} s for Reddit's rate limit")
        if self.pacer.cut_short_s > cut:
            self.notes.append(f"rate-limit waits cut short by {self.pacer.cut_short_s - cut:.0f} s "
                              f"(max_rate_limit_wait_s = {self.pacer.max_wait_s:g})")

    def _client(self) -> praw.Reddit:
        return praw.Reddit(
            client_id=self._client_id, client_secret=self._client_secret,
            user_agent=self._user_agent, oauth_url=self.options.oauth_url,
            reddit_url=self.options.reddit_url, check_for_updates=False, check_for_async=False,
            requestor_class=PacedRequestor,
            requestor_kwargs={"pacer": self.pacer, "received": self._received,
                              "timeout": self.options.timeout_s},
        )

    def _listing_pages(self, reddit: praw.Reddit, listing: Listing, seen: Cursor | None,
                       since: datetime | None) -> Iterator[SourcePage]:
        """The listing's pages, newest first, down to the last run's newest thing (or `since`
        in a backfill). Its new cursor goes on the last page, once every page before it is
        yielded; it never moves back, and a page that is not a Listing leaves it alone."""
        stop_before = since.timestamp() if since else (seen.created_utc if seen else None)
        stop_at = None if since else (seen.name if seen else None)
        newest, after = seen, None
        for page_no in range(1, self.options.max_pages + 1):
            params = {**listing.params, "limit": str(self.options.page_size)}
            if after:
                params["after"] = after
            fetched = self._fetch(reddit, listing, params)
            if fetched is None:
                return
            payload, doc = fetched
            things = _things(doc)
            if things is None:
                self.notes.append(f"{listing.key}: page {page_no} was not a Listing "
                                  "(quarantined); this listing resumes next run")
            for thing in things or []:
                if newest is None or thing.created_utc > newest.created_utc:
                    newest = thing
            reached = any(t.name == stop_at or (stop_before is not None
                                                and t.created_utc < stop_before)
                          for t in things or [])
            after = _after(doc)
            last = things is None or not things or reached or not after
            if page_no == self.options.max_pages and not last:
                last = True
                if seen is not None or since is not None:
                    self.notes.append(f"{listing.key}: stopped after {page_no} pages before "
                                      "reaching the last run's posts; older ones may be missed")
            checkpoint = {}
            if last and things is not None and newest is not None and newest != seen:
                checkpoint = {listing.key: newest.encode()}
            yield SourcePage(self.name, "reddit_listing",
                             f"reddit GET {listing.path}?{urlencode(params)}", payload,
                             listing.service, checkpoint)
            if last:
                return

    def _fetch(self, reddit: praw.Reddit, listing: Listing,
               params: dict[str, str]) -> tuple[str, Any] | None:
        """The page's body as received and its parsed JSON (None when it is not JSON: it lands
        and is quarantined); None for a listing Reddit will not show (private, banned or
        unknown subreddit), with a note."""
        self._received.text = None
        try:
            doc = reddit.request(method="GET", path=listing.path, params=dict(params))
        except prawcore.BadJSON as e:
            return e.response.text, None
        except (prawcore.Forbidden, prawcore.NotFound, prawcore.Redirect) as e:
            self.notes.append(f"{listing.key}: skipped, Reddit answered HTTP "
                              f"{e.response.status_code} (private, banned or unknown subreddit?)")
            return None
        except prawcore.OAuthException as e:
            raise SourceAuthError(f"Reddit refused the token request: {e.error}") from e
        except (prawcore.PrawcoreException, praw.exceptions.PRAWException) as e:
            raise SourceError(f"{listing.key}: {type(e).__name__}: {e}") from e
        return self._received.text or "", doc


def _things(doc: Any) -> list[Cursor] | None:
    """The (created_utc, fullname) of each well-formed child; None if `doc` is no Listing.
    Malformed children are skipped here: the normaliser quarantines them."""
    data = doc.get("data") if isinstance(doc, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list):
        return None
    things = []
    for child in children:
        thing = child.get("data") if isinstance(child, dict) else None
        if not isinstance(thing, dict):
            continue
        created, name = thing.get("created_utc"), thing.get("name")
        if isinstance(created, int | float) and not isinstance(created, bool) \
                and isinstance(name, str):
            things.append(Cursor(float(created), name))
    return things


def _after(doc: Any) -> str | None:
    after = doc["data"].get("after") if isinstance(doc, dict) and isinstance(
        doc.get("data"), dict) else None
    return after if isinstance(after, str) and after else None


def search_query(terms: Iterable[str]) -> str:
    """Reddit search syntax for any of the terms: `"notion ai" OR notion OR NotionHQ`."""
    seen: dict[str, str] = {}
    for term in terms:
        text = term.strip().lstrip("@").replace('"', "")
        if text and text.lower() not in seen:
            seen[text.lower()] = f'"{text}"' if " " in text else text
    return " OR ".join(seen.values())


def plan_listings(config: ServicesConfig, options: RedditOptions) -> list[Listing]:
    """Every listing a run reads, in order: site-wide searches, then each subreddit's."""
    queries = {key: search_query(s.keywords + s.handles) for key, s in config.services.items()}
    queries = {key: q for key, q in queries.items() if q}
    listings = []
    if options.sitewide_search:
        listings += [Listing(f"search:{key}", "/search",
                             {"q": q, "sort": "new", "t": "all", "type": "link"}, key)
                     for key, q in queries.items()]
    for sub, service in _subreddit_services(config, options).items():
        listings.append(Listing(f"r/{sub}/new", f"/r/{sub}/new", {}, service))
        if options.comments:
            listings.append(Listing(f"r/{sub}/comments", f"/r/{sub}/comments", {}, service))
        if options.subreddit_search:
            listings += [Listing(f"r/{sub}/search:{key}", f"/r/{sub}/search",
                                 {"q": q, "restrict_sr": "true", "sort": "new", "t": "all"}, key)
                         for key, q in queries.items()]
    return listings


def _subreddit_services(config: ServicesConfig,
                        options: RedditOptions) -> dict[str, str | None]:
    if isinstance(options.subreddits, dict):
        unknown = sorted(set(options.subreddits.values()) - set(config.services))
        if unknown:
            raise ConfigError(f"[sources.reddit] subreddits name unknown service(s) {unknown}")
        return dict(options.subreddits)
    matcher = config.matcher()
    return {sub: matcher.match(sub) for sub in options.subreddits}


def build(settings: Settings, config: ServicesConfig, options: dict[str, Any]) -> RedditSource:
    client_id, secret = settings.reddit_client_id, settings.reddit_client_secret
    if not (client_id and client_id.get_secret_value() and secret
            and secret.get_secret_value()):
        raise MissingCredentials(
            "reddit: set AFTERSHOCK_REDDIT_CLIENT_ID and AFTERSHOCK_REDDIT_CLIENT_SECRET (a "
            "Reddit app, https://www.reddit.com/prefs/apps)")
    try:
        parsed = RedditOptions.model_validate(options)
    except ValidationError as e:
        raise ConfigError(f"[sources.reddit] is invalid: {e}") from e
    return RedditSource(client_id.get_secret_value(), secret.get_secret_value(),
                        settings.reddit_user_agent, plan_listings(config, parsed), parsed)
