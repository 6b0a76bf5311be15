"""X (Twitter) through tweepy: recent search for every watched service's query, with the post
metrics and the author's follower count, paged by `next_token`, incremental by `since_id`, and
optionally the recent tweet counts as a cheap volume signal.

Costs are real here: X counts every post a search returns against the plan's monthly cap. The
source keeps its own count per calendar month (UTC) in a checkpoint committed with the pages,
and stops cleanly with a note once `monthly_post_budget` is spent.

State per query, all in checkpoints: `since_id` (everything up to it is collected) and, while a
pass is unfinished (cut by max_pages, the budget or an error), `resume`: the pass's lower bound,
the oldest id reached and the newest id seen. The next run first fills that gap with `until_id`,
so a run that stops half-way repeats work but never skips posts.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from pipelines.errors import ConfigError
from pipelines.normalize import (
    UNEXPECTED_SHAPE,
    BadRecord,
    Normalised,
    _count,
    parse_timestamp,
    shape_reason,
)
from pipelines.sources.base import (
    HTTP_TIMEOUT_S,
    MAX_RATE_LIMIT_WAIT_S,
    MissingCredentials,
    SourceAuthError,
    SourceError,
    SourcePage,
    bounded_sleep,
    newest_id,
    parse_since,
    redact,
)

if TYPE_CHECKING:
    from pipelines.config import ServicesConfig
    from pipelines.settings import Settings

SEARCH_FORMAT = "x_v2_page"
COUNTS_FORMAT = "x_counts"
MAX_QUERY_CHARS = 512          # X's limit for a recent-search query (Basic and Pro)
MIN_PAGE, MAX_PAGE = 10, 100   # recent search's max_results range
RECENT_WINDOW = timedelta(days=7)
# start_time must lie inside the last 7 days when the request arrives: keep a margin.
WINDOW_MARGIN = timedelta(minutes=2)
TWEET_FIELDS = ["author_id", "created_at", "public_metrics", "lang", "conversation_id",
                "referenced_tweets"]
USER_FIELDS = ["username", "public_metrics"]
EXPANSIONS = ["author_id"]
# X snowflake ids carry their creation time: milliseconds since this epoch, shifted left by 22.
SNOWFLAKE_EPOCH_MS = 1288834974657
# A 429 without a reset header is waited out this long; more 429s in a row than this fail.
DEFAULT_RATE_LIMIT_WAIT_S = 60.0
MAX_RATE_LIMIT_RETRIES = 3
HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class EndpointNotInPlan(SourceAuthError):
    """X answered 403: the plan (or the app's access level) does not include this endpoint."""


class _UsageCapped(Exception):
    """X says the project's monthly post cap is used up."""


@dataclass(frozen=True)
class XOptions:
    """The `[sources.x]` options (docs/sources.md)."""

    include_retweets: bool = False
    max_results: int = MAX_PAGE
    max_pages: int = 10
    monthly_post_budget: int = 10_000
    first_run_lookback: str = "1h"
    counts: bool = False
    counts_granularity: str = "hour"
    timeout_s: float = HTTP_TIMEOUT_S
    max_rate_limit_wait_s: float = MAX_RATE_LIMIT_WAIT_S

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> XOptions:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"[sources.x] unknown option(s) {unknown}; known: {sorted(known)}")
        try:
            options = cls(**table)
        except TypeError as e:
            raise ConfigError(f"[sources.x] {e}") from e
        options.validate()
        return options

    def validate(self) -> None:
        checks = [
            (isinstance(self.include_retweets, bool), "include_retweets must be true or false"),
            (isinstance(self.counts, bool), "counts must be true or false"),
            (_is_int(self.max_results) and MIN_PAGE <= self.max_results <= MAX_PAGE,
             f"max_results must be an integer from {MIN_PAGE} to {MAX_PAGE}"),
            (_is_int(self.max_pages) and self.max_pages >= 1, "max_pages must be 1 or more"),
            (_is_int(self.monthly_post_budget) and self.monthly_post_budget >= 0,
             "monthly_post_budget must be a non-negative integer (posts per month)"),
            (self.counts_granularity in ("minute", "hour", "day"),
             "counts_granularity must be minute, hour or day"),
            (_is_number(self.timeout_s) and self.timeout_s > 0, "timeout_s must be > 0"),
            (_is_number(self.max_rate_limit_wait_s) and self.max_rate_limit_wait_s >= 0,
             "max_rate_limit_wait_s must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"[sources.x] {message}")
        try:
            parse_since(self.first_run_lookback)
        except Exception as e:
            raise ConfigError(f"[sources.x] first_run_lookback: {e}") from e


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- queries ---------------------------------------------------------------------------------
def _keyword_term(keyword: str) -> str | None:
    text = keyword.replace('"', " ").strip()
    if not text:
        return None
    # A bare word is matched as a token; anything else (spaces, dots, dashes) as a phrase.
    return text if re.fullmatch(r"\w+", text) else f'"{text}"'


def _handle_terms(handle: str) -> list[str]:
    name = handle.strip().lstrip("@")
    if not HANDLE.match(name):
        raise ConfigError(f"X handle {handle!r} is not a valid username (letters, digits, _)")
    return [f"@{name}", f"from:{name}"]  # posts mentioning the account, and its own posts


def build_queries(keywords: Iterable[str], handles: Iterable[str],
                  include_retweets: bool = False) -> list[str]:
    """Recent-search queries for one service: its keywords (phrases quoted) and handles ORed,
    `-is:retweet` unless retweets are wanted, split into several queries where one would pass
    X's 512-character limit."""
    terms: list[str] = []
    for term in [*(_keyword_term(k) for k in keywords), *(t for h in handles
                                                         for t in _handle_terms(h))]:
        if term and term not in terms:
            terms.append(term)
    suffix = "" if include_retweets else " -is:retweet"

    def render(group: list[str]) -> str:
        return f"({' OR '.join(group)}){suffix}"

    queries: list[str] = []
    group: list[str] = []
    for term in terms:
        if len(render([term])) > MAX_QUERY_CHARS:
            raise ConfigError(f"X search term {term[:40]!r}... is longer than X's "
                              f"{MAX_QUERY_CHARS}-character query limit")
        if group and len(render([*group, term])) > MAX_QUERY_CHARS:
            queries.append(render(group))
            group = []
        group.append(term)
    if group:
        queries.append(render(group))
    return queries


# -- ids and times ---------------------------------------------------------------------------
def snowflake_time(tweet_id: str) -> datetime:
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS) / 1000, tz=UTC)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _oldest_id(ids: Iterable[str]) -> str | None:
    return min(ids, key=int, default=None)


@dataclass(frozen=True)
class _Pass:
    """One walk down a query's results, newest first, between a lower bound (since_id, or
    start_time when there is none) and until_id; newest_id is the newest post it has seen."""

    since_id: str | None = None
    start_time: str | None = None
    until_id: str | None = None
    newest_id: str | None = None

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def load(cls, text: str | None) -> _Pass | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (json.JSONDecodeError, TypeError):
            return None  # an unreadable resume point: start a fresh pass from since_id


# -- the HTTP side ---------------------------------------------------------------------------
class _TimeoutSession(requests.Session):
    """tweepy's Client has no timeout argument and calls `session.request` without one: this
    session gives every request the source's timeout."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str, url: str,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().request(method, url, *args, **kwargs)


class _RedactingFilter(logging.Filter):
    """tweepy's debug log prints the request headers, bearer token included: scrub it."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def make_client(bearer_token: str, timeout_s: float) -> Any:
    """A real tweepy Client returning raw `requests.Response`s (the body lands as received);
    429s are handled by the source itself, so the wait is bounded and goes through its sleep."""
    import tweepy

    client = tweepy.Client(bearer_token=bearer_token, wait_on_rate_limit=False,
                           return_type=requests.Response)
    client.session = _TimeoutSession(timeout_s)
    return client


class XSource:
    name = "x"

    def __init__(self, bearer_token: str, queries: list[tuple[str, str]], options: XOptions,
                 sleep: Callable[[float], object] = time.sleep,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._token = bearer_token
        self.queries = queries          # (service key, query)
        self.options = options
        self.sleep = sleep
        self.now = now
        self.notes: list[str] = []
        self.client = make_client(bearer_token, options.timeout_s)
        self._used = 0                  # posts counted against this month's budget
        self._month_key = ""
        self._budget_spent = False
        self._counts_available = options.counts

    def secrets(self) -> Iterable[str]:
        return (self._token,)

    # -- the run ---------------------------------------------------------------------------
    def pages(self, checkpoints: Mapping[str, str],
              since: datetime | None) -> Iterator[SourcePage]:
        log_filter = _RedactingFilter([self._token])
        tweepy_log = logging.getLogger("tweepy.client")
        tweepy_log.addFilter(log_filter)
        self._month_key = f"posts {self.now():%Y-%m}"
        self._used = int(checkpoints.get(self._month_key) or 0)
        try:
            for service, query in self.queries:
                if self._counts_available:
                    yield from self._counts(service, query, checkpoints, since)
                if not self._budget_spent:
                    yield from self._search(service, query, checkpoints, since)
        except _UsageCapped:
            self.notes.append("X says the plan's monthly post cap is used up: stopped; "
                              "collection resumes when the cap resets")
        finally:
            tweepy_log.removeFilter(log_filter)

    def _search(self, service: str, query: str, checkpoints: Mapping[str, str],
                since: datetime | None) -> Iterator[SourcePage]:
        since_key, resume_key = f"{service} since_id {query}", f"{service} resume {query}"
        current = checkpoints.get(since_key) or None
        if since is not None:
            # A backfill leaves any resume point alone, and moves since_id only when it
            # covered everything after it.
            covers = current is None or snowflake_time(current) >= since
            yield from self._walk(service, query, _Pass(start_time=self._start(since)),
                                  since_key, current, resume_key=None, advance=covers)
            return
        resume = _Pass.load(checkpoints.get(resume_key))
        if resume is not None:
            finished = yield from self._walk(service, query, self._in_window(resume),
                                             since_key, current, resume_key, advance=True)
            if not finished:
                return
            current = newest_id([resume.newest_id] if resume.newest_id else [], current)
        lookback = parse_since(self.options.first_run_lookback, self.now()) or self.now()
        fresh = _Pass(since_id=current) if current else _Pass(start_time=self._start(lookback))
        yield from self._walk(service, query, self._in_window(fresh), since_key, current,
                              resume_key, advance=True)

    def _walk(self, service: str, query: str, bounds: _Pass, since_key: str,
              current: str | None, resume_key: str | None,
              advance: bool) -> Generator[SourcePage, None, bool]:
        """Pages down one pass and returns whether it reached the end. Every page carries the
        month's post count; a page with more after it carries the resume point (when
        `resume_key` is given), the last page the new since_id (when `advance`)."""
        next_token: str | None = None
        newest = bounds.newest_id
        for page_no in range(1, self.options.max_pages + 1):
            remaining = self.options.monthly_post_budget - self._used
            if remaining < MIN_PAGE:
                self._spent()
                return False
            params: dict[str, Any] = {
                "max_results": min(self.options.max_results, remaining),
                "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS,
                "expansions": EXPANSIONS, "sort_order": "recency",
            }
            for key in ("since_id", "start_time", "until_id"):
                if getattr(bounds, key):
                    params[key] = getattr(bounds, key)
            if next_token:
                params["next_token"] = next_token
            response = self._request(f"search for {service}", self.client.search_recent_tweets,
                                     query, **params)
            body = response.text
            doc = _parse(body)
            ids = _tweet_ids(doc)
            self._used += len(ids)
            newest = newest_id(ids, newest)
            next_token = _next_token(doc)
            checkpoint = {self._month_key: str(self._used)}
            if next_token and resume_key:
                point = replace(bounds, newest_id=newest,
                                until_id=_oldest_id(ids) or bounds.until_id)
                checkpoint[resume_key] = point.dump()
            elif not next_token:
                advanced = newest_id([newest] if newest else [], current)
                if advance and advanced:
                    checkpoint[since_key] = advanced
                if resume_key:
                    checkpoint[resume_key] = ""
            yield SourcePage("x", SEARCH_FORMAT, f"x search {service}: {query} (page {page_no})",
                             body, service=service, checkpoint=checkpoint)
            if not next_token:
                return True
        self._note(f"x: {service} had more than {self.options.max_pages} pages of new posts; "
                   "the next run continues where this one stopped")
        return False

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _spent(self) -> None:
        if not self._budget_spent:
            self._budget_spent = True
            self.notes.append(
                f"monthly post budget spent: {self._used:,} of {self.options.monthly_post_budget:,}"
                f" posts read in {self._month_key.split()[1]}; search stopped until next month")

    def _counts(self, service: str, query: str, checkpoints: Mapping[str, str],
                since: datetime | None) -> Iterator[SourcePage]:
        key = f"{service} counts {query}"
        last = checkpoints.get(key) or None
        start = since if since is not None else (
            datetime.fromisoformat(last) if last else self._window_start())
        try:
            response = self._request(f"counts for {service}", self.client.get_recent_tweets_count,
                                     query, granularity=self.options.counts_granularity,
                                     start_time=self._start(start))
        except EndpointNotInPlan:
            self._counts_available = False
            self.notes.append("X tweet counts are not in this plan (403): counts skipped")
            return
        body = response.text
        # The last bucket is still filling: the next run fetches from its start again.
        starts = [_when(b.get("start")) for b in _buckets(_parse(body))]
        newest_start = max((s for s in starts if s is not None), default=None)
        checkpoint = {}
        if newest_start and (last is None or newest_start > datetime.fromisoformat(last)):
            checkpoint[key] = _iso(newest_start)  # never moves backwards (a backfill)
        yield SourcePage("x", COUNTS_FORMAT, f"x counts {service}: {query}", body,
                         service=service, checkpoint=checkpoint)

    # -- helpers ---------------------------------------------------------------------------
    def _window_start(self) -> datetime:
        return self.now() - RECENT_WINDOW + WINDOW_MARGIN

    def _start(self, ts: datetime) -> str:
        earliest = self._window_start()
        if ts < earliest:
            self._note("x: recent search reaches back 7 days only; older posts were not "
                       "fetched")
            ts = earliest
        return _iso(ts)

    def _in_window(self, bounds: _Pass) -> _Pass:
        """X refuses a since_id or start_time older than 7 days: start at the window's edge."""
        if bounds.since_id and snowflake_time(bounds.since_id) < self._window_start():
            return replace(bounds, since_id=None,
                           start_time=self._start(snowflake_time(bounds.since_id)))
        if bounds.start_time:
            return replace(bounds, start_time=self._start(datetime.fromisoformat(
                bounds.start_time)))
        return bounds

    def _request(self, what: str, call: Callable[..., requests.Response], *args: Any,
                 **params: Any) -> requests.Response:
        """One API call: 429s waited out (bounded, through the injected sleep), everything else
        turned into our own errors."""
        import tweepy

        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            try:
                return call(*args, **params)
            except tweepy.TooManyRequests as e:
                if _usage_capped(e.response):
                    raise _UsageCapped() from e
                if attempt == MAX_RATE_LIMIT_RETRIES:
                    raise SourceError(f"X kept answering 429 on {what} after "
                                      f"{MAX_RATE_LIMIT_RETRIES} waits; try later") from e
                self._wait_for_reset(what, e.response)
            except tweepy.Unauthorized as e:
                raise SourceAuthError(f"X refused the bearer token (401) on {what}: check "
                                      "AFTERSHOCK_X_BEARER_TOKEN") from e
            except tweepy.Forbidden as e:
                raise EndpointNotInPlan(f"X refused {what} (403): {_api_message(e)}") from e
            except tweepy.TwitterServerError as e:
                raise SourceError(f"X server error on {what}: "
                                  f"{e.response.status_code} {e.response.reason}") from e
            except tweepy.HTTPException as e:
                raise SourceError(f"X answered {e.response.status_code} on {what}: "
                                  f"{_api_message(e)}") from e
            except requests.RequestException as e:
                raise SourceError(f"X request failed on {what}: {type(e).__name__}") from e
        raise AssertionError("unreachable: the loop returns or raises")

    def _wait_for_reset(self, what: str, response: requests.Response) -> None:
        reset = response.headers.get("x-rate-limit-reset")
        wait = DEFAULT_RATE_LIMIT_WAIT_S
        if reset and reset.strip().isdigit():
            wait = int(reset) - self.now().timestamp() + 1
        if wait > self.options.max_rate_limit_wait_s:
            raise SourceError(f"X rate limit on {what} resets in {wait:.0f} s, more than "
                              f"max_rate_limit_wait_s ({self.options.max_rate_limit_wait_s:.0f})")
        bounded_sleep(wait, self.options.max_rate_limit_wait_s, self.sleep)


def _parse(body: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return {}  # landed anyway; the page parser quarantines it
    return doc if isinstance(doc, dict) else {}


def _tweet_ids(doc: dict[str, Any]) -> list[str]:
    data = doc.get("data")
    if not isinstance(data, list):
        return []
    ids = [str(t.get("id")) for t in data if isinstance(t, dict)]
    return [i for i in ids if i.isdigit()]


def _next_token(doc: dict[str, Any]) -> str | None:
    meta = doc.get("meta")
    token = meta.get("next_token") if isinstance(meta, dict) else None
    return token if isinstance(token, str) and token else None


def _when(text: Any) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None  # a bad bucket is quarantined by the page parser
    return ts.astimezone(UTC) if ts.tzinfo else None


def _buckets(doc: dict[str, Any]) -> list[dict[str, Any]]:
    data = doc.get("data")
    return [b for b in data if isinstance(b, dict)] if isinstance(data, list) else []


def _api_message(e: Exception) -> str:
    messages = getattr(e, "api_messages", None)
    return "; ".join(messages) if messages else str(e).strip() or type(e).__name__


def _usage_capped(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and (
        body.get("title") == "UsageCapExceeded" or "usage-capped" in str(body.get("type")))


# -- the counts page format ------------------------------------------------------------------
def normalise_counts_page(doc: Any) -> Normalised:
    """A recent tweet-counts page holds no posts: its buckets feed the `source_volume` view.
    Buckets it cannot use are quarantined so that the view's silence is explained."""
    out = Normalised()
    if not isinstance(doc, dict) or not isinstance(doc.get("data", []), list):
        out.rejects.append((doc, "X counts page: not an object with a data list"))
        return out
    for bucket in doc.get("data", []):
        try:
            if not isinstance(bucket, dict):
                raise BadRecord("bucket is not an object")
            parse_timestamp(bucket.get("start"), "start")
            parse_timestamp(bucket.get("end"), "end")
            if _count(bucket.get("tweet_count"), "tweet_count") is None:
                raise BadRecord("tweet_count missing")
        except BadRecord as e:
            out.rejects.append((bucket, f"X counts bucket: {e}"))
        except UNEXPECTED_SHAPE as e:
            out.rejects.append((bucket, f"X counts bucket: {shape_reason(e)}"))
    return out


def build(settings: Settings, config: ServicesConfig, options: dict[str, Any]) -> XSource:
    opts = XOptions.from_table(options)
    if settings.x_bearer_token is None or not settings.x_bearer_token.get_secret_value():
        raise MissingCredentials("set AFTERSHOCK_X_BEARER_TOKEN (an X API v2 app bearer token)")
    queries = [(key, query) for key, service in config.services.items()
               for query in build_queries(service.keywords, service.handles,
                                          opts.include_retweets)]
    return XSource(settings.x_bearer_token.get_secret_value(), queries, opts)
