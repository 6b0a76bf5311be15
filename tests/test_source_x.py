"""The X source replayed through tweepy's real Client with `responses` (tweepy hard-codes
api.twitter.com). Search answers are built from real recorded tweets and users (twarc's #brexit
page): `RecordedSearch` pages them the way X does (newest first, max_results, next_token,
since_id / until_id / start_time), so paging, incremental runs, resume points and the budget
are checked against what the client really sent."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from pipelines.collect import collect_source
from pipelines.config import ServicesConfig
from pipelines.errors import ConfigError
from pipelines.settings import Settings
from pipelines.sources.base import MissingCredentials, SourceAuthError, SourceError
from pipelines.sources.x import MAX_QUERY_CHARS, XOptions, XSource, build, build_queries
from pipelines.warehouse.writer import writing

FIXTURES = Path(__file__).parent / "fixtures"
SEARCH_URL = "https://api.twitter.com/2/tweets/search/recent"
COUNTS_URL = "https://api.twitter.com/2/tweets/counts/recent"
BREXIT = json.loads((FIXTURES / "x_v2_brexit_page.jsonl").read_text())
TWO_TWEETS = (FIXTURES / "x_v2_two_tweets.jsonl").read_text()
COUNTS = (FIXTURES / "x" / "counts_recent_dogs_hour.jsonl").read_text()
# Just after twarc recorded the #brexit page (2021-09-22T16:38:09Z).
NOW = datetime(2021, 9, 22, 16, 40, tzinfo=UTC)
QUERY = "(brexit OR #brexit) -is:retweet"
SERVICE = "notion"
# X's error bodies (hand-written in the documented problem shape).
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                "detail": "Unauthorized"}
FORBIDDEN = {"title": "Client Forbidden", "type": "https://api.twitter.com/2/problems/"
             "client-forbidden", "reason": "client-not-enrolled",
             "detail": "This request must be made using an approved developer account"}
USAGE_CAPPED = {"title": "UsageCapExceeded", "type": "https://api.twitter.com/2/problems/"
                "usage-capped", "detail": "Usage cap exceeded: Monthly product cap"}


def _when(tweet: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(tweet["created_at"])


class RecordedSearch:
    """Serves recent-search pages cut from recorded tweets, as X pages them, and records the
    query parameters tweepy sent. `failures` maps a request's number (from 0) to the
    (status, headers, body) answered instead."""

    def __init__(self, tweets: list[dict[str, Any]]) -> None:
        self.tweets = sorted(tweets, key=lambda t: int(t["id"]), reverse=True)
        self.users = {u["id"]: u for u in BREXIT["includes"]["users"]}
        self.requests: list[dict[str, str]] = []
        self.failures: dict[int, tuple[int, dict[str, str], str]] = {}

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.requests.append(params)
        if len(self.requests) - 1 in self.failures:
            return self.failures[len(self.requests) - 1]
        matching = [t for t in self.tweets
                    if ("since_id" not in params or int(t["id"]) > int(params["since_id"]))
                    and ("until_id" not in params or int(t["id"]) < int(params["until_id"]))
                    and ("start_time" not in params
                         or _when(t) >= datetime.fromisoformat(params["start_time"]))]
        offset = int(params.get("next_token", "0"))
        size = int(params["max_results"])
        data = matching[offset:offset + size]
        if not data:
            return 200, {}, json.dumps({"meta": {"result_count": 0}})
        meta: dict[str, Any] = {"newest_id": data[0]["id"], "oldest_id": data[-1]["id"],
                                "result_count": len(data)}
        if offset + size < len(matching):
            meta["next_token"] = str(offset + size)
        users = [self.users[i] for i in dict.fromkeys(t["author_id"] for t in data)
                 if i in self.users]
        return 200, {}, json.dumps({"data": data, "includes": {"users": users}, "meta": meta})


@pytest.fixture()
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _search(api: responses.RequestsMock, tweets: list[dict[str, Any]]) -> RecordedSearch:
    search = RecordedSearch(tweets)
    api.add_callback(responses.GET, SEARCH_URL, callback=search)
    return search


def _source(sleeps: list[float] | None = None, now: datetime = NOW,
            token: str = "test-token", **options: Any) -> XSource:
    recorded = sleeps if sleeps is not None else []
    return XSource(token, [(SERVICE, QUERY)], XOptions.from_table(options),
                   sleep=recorded.append, now=lambda: now)


def _ids(db_wh: Any) -> list[str]:
    return [r[0] for r in db_wh.con.execute("SELECT id FROM post_records ORDER BY id").fetchall()]


# -- queries ---------------------------------------------------------------------------------
def test_queries_quote_phrases_name_handles_and_drop_retweets() -> None:
    assert build_queries(["notion ai", "notion", 'say "hi"'], ["@NotionHQ"]) == [
        '("notion ai" OR notion OR "say  hi" OR @NotionHQ OR from:NotionHQ) -is:retweet']
    assert build_queries(["slack"], [], include_retweets=True) == ["(slack)"]
    assert build_queries([], []) == []


def test_queries_split_at_the_512_character_limit() -> None:
    keywords = [f"keyword{i:03d}" for i in range(80)]
    queries = build_queries(keywords, [])
    assert len(queries) > 1 and all(len(q) <= MAX_QUERY_CHARS for q in queries)
    assert sum(q.count("keyword") for q in queries) == 80
    with pytest.raises(ConfigError, match="512"):
        build_queries(["x" * 600], [])
    with pytest.raises(ConfigError, match="not a valid username"):
        build_queries([], ["@not a handle"])


def test_build_needs_the_token_and_known_options() -> None:
    config = ServicesConfig(services={"notion": {"name": "Notion", "keywords": ["notion"]}})
    with pytest.raises(MissingCredentials, match="AFTERSHOCK_X_BEARER_TOKEN"):
        build(Settings(_env_file=None), config, {})
    with pytest.raises(ConfigError, match="unknown option"):
        build(Settings(_env_file=None, x_bearer_token="t"), config, {"max_result": 5})
    with pytest.raises(ConfigError, match="max_results"):
        build(Settings(_env_file=None, x_bearer_token="t"), config, {"max_results": 500})
    source = build(Settings(_env_file=None, x_bearer_token="t"), config, {"counts": True})
    assert source.queries == [("notion", "(notion) -is:retweet")]


# -- paging and increments -------------------------------------------------------------------
def test_recorded_pages_are_paged_by_next_token_with_metrics_kept(
        api: responses.RequestsMock, db: Path, matcher: Any) -> None:
    # The #brexit page exactly as recorded (it has a next_token), then a final recorded page.
    api.add(responses.GET, SEARCH_URL, body=json.dumps(BREXIT))
    api.add(responses.GET, SEARCH_URL, body=TWO_TWEETS)
    with writing(db) as wh:
        summary = collect_source(wh, _source(timeout_s=7), matcher)
        rows = wh.con.execute("SELECT * FROM post_records WHERE id = ?",
                              [BREXIT["data"][0]["id"]]).df().iloc[0]
        parents = dict(wh.con.execute(
            "SELECT id, (parent_id, is_repost) FROM post_records WHERE id IN "
            "('1394735776701816833', '1440715975020584960')").fetchall())
        checkpoints = wh.checkpoints("x")
        service = wh.con.execute("SELECT DISTINCT service FROM post_records").fetchall()
    assert (summary.pages, summary.imported, summary.quarantined) == (2, 101, 0)
    first, second = (parse_qs(urlsplit(c.request.url).query) for c in api.calls)
    assert first["query"] == [QUERY] and first["expansions"] == ["author_id"]
    assert set(first["tweet.fields"][0].split(",")) >= {
        "created_at", "public_metrics", "lang", "conversation_id", "referenced_tweets"}
    assert first["user.fields"] == ["username,public_metrics"]
    assert second["next_token"] == [BREXIT["meta"]["next_token"]]
    assert all(c.request.req_kwargs["timeout"] == 7 for c in api.calls)  # type: ignore[union-attr]
    tweet = BREXIT["data"][0]
    user = next(u for u in BREXIT["includes"]["users"] if u["id"] == tweet["author_id"])
    assert rows["author_followers"] == user["public_metrics"]["followers_count"]
    assert rows["likes"] == tweet["public_metrics"]["like_count"] and rows["lang"] == "en"
    assert parents == {"1394735776701816833": ("1391677057810288641", True),   # a retweet
                       "1440715975020584960": ("1440660748275834882", False)}  # a quote
    assert service == [(SERVICE,)]  # the query's service where the text names none
    assert checkpoints[f"{SERVICE} since_id {QUERY}"] == BREXIT["meta"]["newest_id"]
    assert checkpoints["posts 2021-09"] == "101"


def test_incremental_run_fetches_only_new_posts(api: responses.RequestsMock, db: Path,
                                                matcher: Any) -> None:
    older = BREXIT["data"][40:]
    search = _search(api, older)
    source = _source(max_results=25)
    with writing(db) as wh:
        first = collect_source(wh, source, matcher)
        search.tweets = sorted(BREXIT["data"], key=lambda t: int(t["id"]), reverse=True)
        search.requests.clear()
        second = collect_source(wh, source, matcher)
        stored = _ids(wh)
    assert (first.pages, first.imported) == (3, 60)
    assert search.requests[0]["since_id"] == older[0]["id"]  # newest of the first run
    assert "start_time" not in search.requests[0]
    assert (second.imported, second.duplicates) == (40, 0)
    assert stored == sorted(t["id"] for t in BREXIT["data"])


def test_first_run_looks_back_only_as_far_as_configured(api: responses.RequestsMock, db: Path,
                                                        matcher: Any) -> None:
    search = _search(api, BREXIT["data"])
    with writing(db) as wh:
        summary = collect_source(wh, _source(first_run_lookback="10m"), matcher)
    assert search.requests[0]["start_time"] == "2021-09-22T16:30:00Z"
    expected = [t for t in BREXIT["data"] if _when(t) >= NOW - timedelta(minutes=10)]
    assert 0 < summary.imported == len(expected) < 100


def test_a_run_cut_by_max_pages_resumes_without_a_gap(api: responses.RequestsMock, db: Path,
                                                      matcher: Any) -> None:
    search = _search(api, BREXIT["data"])
    source = _source(max_results=10, max_pages=3)
    with writing(db) as wh:
        runs = [collect_source(wh, source, matcher) for _ in range(4)]
        stored = _ids(wh)
        since_id = wh.checkpoints("x")[f"{SERVICE} since_id {QUERY}"]
    assert [r.imported for r in runs] == [30, 30, 30, 10]
    assert "the next run continues" in runs[0].notes[0]
    resumed = search.requests[3]  # the second run's first request fills the gap downwards
    assert resumed["until_id"] == BREXIT["data"][29]["id"] and "next_token" not in resumed
    assert stored == sorted(t["id"] for t in BREXIT["data"])
    assert since_id == BREXIT["data"][0]["id"]
    assert search.requests[-1]["since_id"] == since_id  # then a fresh pass from since_id


def test_backfill_fetches_from_since_and_never_moves_since_id_back(
        api: responses.RequestsMock, db: Path, matcher: Any) -> None:
    search = _search(api, BREXIT["data"][50:])
    source = _source(max_results=100)
    with writing(db) as wh:
        collect_source(wh, source, matcher)
        before = wh.checkpoints("x")[f"{SERVICE} since_id {QUERY}"]
        search.tweets = sorted(BREXIT["data"][70:], key=lambda t: int(t["id"]), reverse=True)
        collect_source(wh, source, matcher, since=NOW - timedelta(hours=1))
        after = wh.checkpoints("x")[f"{SERVICE} since_id {QUERY}"]
    assert search.requests[-1]["start_time"] == "2021-09-22T15:40:00Z"
    assert "since_id" not in search.requests[-1]
    assert after == before == BREXIT["data"][50]["id"]


# -- rate limits, failures, credentials ------------------------------------------------------
def test_429_waits_until_the_reset_through_the_injected_sleep(api: responses.RequestsMock,
                                                              db: Path, matcher: Any) -> None:
    search = _search(api, BREXIT["data"])
    reset = int(NOW.timestamp()) + 5
    search.failures[0] = (429, {"x-rate-limit-reset": str(reset),
                                "x-rate-limit-remaining": "0"}, "{}")
    sleeps: list[float] = []
    with writing(db) as wh:
        summary = collect_source(wh, _source(sleeps), matcher)
    assert sleeps == [6.0]  # until the reset, plus a second
    assert summary.imported == 100 and len(search.requests) == 2


def test_a_rate_limit_longer_than_the_bounded_wait_fails_without_sleeping(
        api: responses.RequestsMock, db: Path, matcher: Any) -> None:
    search = _search(api, BREXIT["data"])
    search.failures[0] = (429, {"x-rate-limit-reset": str(int(NOW.timestamp()) + 7200)}, "{}")
    sleeps: list[float] = []
    with writing(db) as wh, pytest.raises(SourceError, match="max_rate_limit_wait_s"):
        collect_source(wh, _source(sleeps, max_rate_limit_wait_s=900), matcher)
    assert sleeps == []


def test_a_5xx_fails_and_the_next_run_completes_without_duplicates(
        api: responses.RequestsMock, db: Path, matcher: Any) -> None:
    search = _search(api, BREXIT["data"])
    search.failures[2] = (503, {}, json.dumps({"title": "Service Unavailable"}))
    source = _source(max_results=25)
    with writing(db) as wh:
        with pytest.raises(SourceError, match="503") as failure:
            collect_source(wh, source, matcher)
        stored_after_failure = len(_ids(wh))
        again = collect_source(wh, source, matcher)
        stored = _ids(wh)
    assert "after 2 pages stored" in str(failure.value)
    assert not isinstance(failure.value, SourceAuthError)  # retryable by the flow
    assert stored_after_failure == 50
    assert search.requests[3]["until_id"] == BREXIT["data"][49]["id"]  # resumed below page 2
    assert (again.imported, again.duplicates) == (50, 0)
    assert stored == sorted(t["id"] for t in BREXIT["data"])


@pytest.mark.parametrize(("status", "body"), [(401, UNAUTHORIZED), (403, FORBIDDEN)])
def test_refused_credentials_are_not_retryable(api: responses.RequestsMock, db: Path,
                                               matcher: Any, status: int,
                                               body: dict[str, Any]) -> None:
    api.add(responses.GET, SEARCH_URL, status=status, json=body)
    with writing(db) as wh, pytest.raises(SourceAuthError, match=str(status)):
        collect_source(wh, _source(), matcher)


def test_bad_records_are_quarantined_beside_the_good_ones(api: responses.RequestsMock, db: Path,
                                                          matcher: Any) -> None:
    good = BREXIT["data"][:3]
    broken = [
        {k: v for k, v in good[0].items() if k != "created_at"} | {"id": "1"},
        good[1] | {"id": "2", "public_metrics": [1, 2]},
        good[2] | {"id": "3", "referenced_tweets": "retweeted"},
        "not a tweet",
    ]
    page = {"data": good + broken, "includes": BREXIT["includes"], "meta": {"result_count": 7}}
    api.add(responses.GET, SEARCH_URL, body=json.dumps(page))
    with writing(db) as wh:
        summary = collect_source(wh, _source(), matcher)
        reasons = sorted(r[0] for r in wh.con.execute("SELECT reason FROM quarantine").fetchall())
        # A page that is not JSON at all (a proxy's error page with status 200).
        api.replace(responses.GET, SEARCH_URL, body="<html>upstream error</html>")
        broken_page = collect_source(wh, _source(), matcher)
        origins = wh.con.execute("SELECT origin FROM quarantine WHERE reason LIKE "
                                 "'malformed JSON page%'").fetchall()
    assert (summary.imported, summary.quarantined) == (3, 4)
    assert reasons == ["X tweet: created_at missing (request tweet.fields=created_at)",
                       "X tweet: public_metrics must be an object, got list",
                       "X tweet: referenced_tweets must be a list",
                       "X tweet: tweet is not an object"]
    assert (broken_page.imported, broken_page.quarantined) == (0, 1)
    assert origins == [(f"x search {SERVICE}: {QUERY} (page 1)",)]


# -- the monthly budget ----------------------------------------------------------------------
def test_the_monthly_budget_stops_the_run_cleanly_and_says_so(api: responses.RequestsMock,
                                                              db: Path, matcher: Any) -> None:
    search = _search(api, BREXIT["data"])
    with writing(db) as wh:
        first = collect_source(wh, _source(max_results=25, monthly_post_budget=40), matcher)
        spent = collect_source(wh, _source(max_results=25, monthly_post_budget=40), matcher)
        requests_this_month = len(search.requests)
        october = collect_source(wh, _source(now=datetime(2021, 10, 1, tzinfo=UTC),
                                             max_results=25, monthly_post_budget=40), matcher)
        checkpoints = wh.checkpoints("x")
    assert [r["max_results"] for r in search.requests[:2]] == ["25", "15"]  # never past budget
    assert first.imported == 40 and requests_this_month == 2
    assert "monthly post budget spent: 40 of 40 posts read in 2021-09" in first.notes[0]
    assert spent.pages == 0 and "budget spent" in spent.notes[0]
    assert checkpoints["posts 2021-09"] == "40"
    # A new month has a fresh budget: the unfinished pass resumes below where it stopped, but
    # recent search reaches back 7 days only, so it starts at the window's edge.
    resumed = search.requests[2]
    assert resumed["until_id"] == BREXIT["data"][39]["id"] and "max_results" in resumed
    assert resumed["start_time"] == "2021-09-24T00:02:00Z"
    assert "reaches back 7 days only" in october.notes[0]
    assert checkpoints["posts 2021-10"] == "0"


def test_the_plans_own_usage_cap_stops_the_run_with_a_note(api: responses.RequestsMock, db: Path,
                                                           matcher: Any) -> None:
    api.add(responses.GET, SEARCH_URL, status=429, json=USAGE_CAPPED,
            headers={"x-rate-limit-reset": str(int(NOW.timestamp()) + 5)})
    sleeps: list[float] = []
    with writing(db) as wh:
        summary = collect_source(wh, _source(sleeps), matcher)
    assert summary.pages == 0 and sleeps == []
    assert "monthly post cap is used up" in summary.notes[0]


# -- tweet counts ----------------------------------------------------------------------------
def test_tweet_counts_land_as_volume_and_advance_their_start(api: responses.RequestsMock,
                                                             db: Path, matcher: Any) -> None:
    recorded_at = datetime(2021, 10, 23, 18, 22, tzinfo=UTC)
    api.add(responses.GET, COUNTS_URL, body=COUNTS)
    search = _search(api, [])
    source = _source(now=recorded_at, counts=True)
    with writing(db) as wh:
        summary = collect_source(wh, source, matcher)
        collect_source(wh, source, matcher)
        volume = wh.con.execute("SELECT service, query, count(*), sum(posts) FROM source_volume "
                                "GROUP BY ALL").fetchall()
    first, second = (parse_qs(urlsplit(c.request.url).query) for c in api.calls
                     if c.request.url.startswith(COUNTS_URL))  # type: ignore[union-attr]
    assert first["granularity"] == ["hour"]
    assert first["start_time"] == ["2021-10-16T18:24:00Z"]  # the 7-day window, less a margin
    assert second["start_time"] == ["2021-10-23T18:00:00Z"]  # from the last, filling bucket
    assert summary.quarantined == 0 and len(search.requests) == 2
    assert volume == [(SERVICE, QUERY, 169, 771665)]  # the recorded total_tweet_count


def test_counts_refused_by_the_plan_become_a_note(api: responses.RequestsMock, db: Path,
                                                  matcher: Any) -> None:
    api.add(responses.GET, COUNTS_URL, status=403, json=FORBIDDEN)
    _search(api, BREXIT["data"])
    with writing(db) as wh:
        summary = collect_source(wh, _source(counts=True), matcher)
    assert summary.imported == 100
    assert summary.notes == ["X tweet counts are not in this plan (403): counts skipped"]


# -- secrets ---------------------------------------------------------------------------------
def test_the_bearer_token_appears_in_no_table_log_output_or_error(
        api: responses.RequestsMock, db: Path, matcher: Any, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = "SENTINEL-TOKEN-123"
    config = ServicesConfig(services={SERVICE: {"name": "Notion", "keywords": ["brexit"]}})
    source = build(Settings(_env_file=None, x_bearer_token=secret), config,
                   {"counts": True, "max_results": 50})
    source.now = lambda: NOW
    source.sleep = lambda s: None
    caplog.set_level(logging.DEBUG)
    search = _search(api, BREXIT["data"])
    api.add(responses.GET, COUNTS_URL, body=COUNTS)
    errors = []
    with writing(db) as wh:
        collect_source(wh, source, matcher)
        for status, body in [(503, {"detail": secret}), (401, UNAUTHORIZED)]:
            search.failures[len(search.requests)] = (status, {}, json.dumps(body))
            with pytest.raises(SourceError) as e:
                collect_source(wh, source, matcher)
            errors.append(str(e.value))
        tables = [r[0] for r in wh.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()]
        dump = "\n".join(wh.con.execute(f'SELECT * FROM "{t}"').df().to_csv() for t in tables)
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {secret}"
    assert "Bearer ***" in caplog.text  # tweepy logged the headers, scrubbed
    assert "source_volume" in tables and len(dump) > 100_000
    out = capsys.readouterr()
    for text in [dump, caplog.text, out.out, out.err, *errors]:
        assert secret not in text


def test_the_example_configs_x_options_are_valid() -> None:
    from pipelines.config import load_config
    from pipelines.settings import BUNDLED_CONFIG

    config = load_config(BUNDLED_CONFIG)
    options = dict(config.sources["x"])
    options.pop("enabled", None)
    source = build(Settings(_env_file=None, x_bearer_token="t"), config, options)
    assert source.options.monthly_post_budget == 10_000
    assert {service for service, _ in source.queries} == set(config.services)
    assert all(len(q) <= MAX_QUERY_CHARS and q.endswith("-is:retweet") for _, q in source.queries)
