"""The Hacker News source through `requests` against an Algolia-shaped server on 127.0.0.1 that
serves the hits in tests/fixtures/hackernews with the API's paging (query, numericFilters on
created_at_i, hitsPerPage, page, nbPages, the 1,000-hit pagination limit) and scripted
failures."""

from __future__ import annotations

import json
import math
import operator
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from pipelines.collect import collect_source
from pipelines.config import ServicesConfig
from pipelines.errors import ConfigError
from pipelines.settings import Settings
from pipelines.sources.base import SourceAuthError, SourceError
from pipelines.sources.hackernews import HackerNewsSource, build
from pipelines.sources.hackernews_format import normalise_algolia_page
from pipelines.warehouse.writer import writing

FIXTURES = Path(__file__).parent / "fixtures" / "hackernews"
OPERATORS: dict[str, Callable[[int, int], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq}


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def hits(name: str) -> list[Any]:
    return list(load(name)["hits"])


class AlgoliaServer:
    """Serves /api/v1/search_by_date like hn.algolia.com: hits whose text holds every query
    word, newest first, filtered by numericFilters, paged by hitsPerPage and page up to
    `pagination_limit` hits. `script` holds (status, headers, body) responses served first
    (None: serve normally); `requests` records each call's query parameters."""

    def __init__(self, pagination_limit: int = 1000) -> None:
        self.hits: list[Any] = []
        self.pagination_limit = pagination_limit
        self.script: list[tuple[int, dict[str, str], str] | None] = []
        self.requests: list[dict[str, str]] = []
        self.sent: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(req.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        self.requests.append(query)
        if self.script:
            scripted = self.script.pop(0)
            if scripted is not None:
                return self._send(req, *scripted)
        if parsed.path != "/api/v1/search_by_date":
            return self._send(req, 404, {}, json.dumps({"message": "Not Found", "status": 404}))
        return self._send(req, 200, {}, json.dumps(self._search(query)))

    def _search(self, query: dict[str, str]) -> dict[str, Any]:
        # Recorded hits the filters cannot read (no text, a non-numeric time, not an object)
        # are passed through, so the parser sees them as the API would have sent them.
        words = query.get("query", "").lower().split()
        found = [h for h in self.hits if not isinstance(h, dict) or not _text(h) or all(
            w in _text(h).lower() for w in words)]
        for clause in filter(None, query.get("numericFilters", "").split(",")):
            field, op, value = re.fullmatch(r"(\w+)(>=|<=|>|<|=)(\d+)", clause).groups()  # type: ignore[union-attr]
            found = [h for h in found if _number(h, field) is None
                     or OPERATORS[op](_number(h, field), int(value))]  # type: ignore[arg-type]
        found.sort(key=lambda h: _number(h, "created_at_i") or 0, reverse=True)
        per_page, page = int(query.get("hitsPerPage", 20)), int(query.get("page", 0))
        reachable = found[:self.pagination_limit]
        return {"hits": reachable[page * per_page:(page + 1) * per_page], "nbHits": len(found),
                "page": page, "nbPages": math.ceil(len(reachable) / per_page),
                "hitsPerPage": per_page, "exhaustiveNbHits": True, "processingTimeMS": 1,
                "query": query.get("query", ""), "params": urlparse("?" + "&".join(
                    f"{k}={v}" for k, v in query.items())).query}

    def _send(self, req: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
              body: str) -> None:
        data = body.encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(data)
        self.sent.append(body)


def _text(hit: dict[str, Any]) -> str:
    """What the test server searches: a hit's own text and its story's title and URL."""
    fields = ("title", "url", "story_text", "comment_text", "story_title", "story_url")
    return " ".join(str(hit.get(f) or "") for f in fields).strip()


def _number(hit: Any, field: str) -> int | None:
    value = hit.get(field) if isinstance(hit, dict) else None
    return value if isinstance(value, int) else None


@pytest.fixture()
def server() -> Iterator[AlgoliaServer]:
    instance = AlgoliaServer()
    yield instance
    instance.close()


def services() -> ServicesConfig:
    return ServicesConfig.model_validate({"services": {
        "notion": {"name": "Notion AI", "keywords": ["notion ai", "notion"]}}})


def source(server: AlgoliaServer, sleeps: list[float] | None = None, page_size: int = 2,
           **extra: Any) -> HackerNewsSource:
    options = {"api_url": server.url, "queries": {"notion": ["notion"]}, "page_size": page_size,
               "lookback": "3650d", "timeout_s": 5, **extra}
    built = build(Settings(), services(), options)
    built.sleep = sleeps.append if sleeps is not None else _no_sleep
    return built


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep of {seconds} s")


def _ids(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute(
            "SELECT id FROM post_records WHERE source = 'hackernews' ORDER BY id").fetchall()]
    finally:
        con.close()


def _lower_bound(request: dict[str, str]) -> int:
    return int(re.search(r"created_at_i>(\d+)", request["numericFilters"]).group(1))  # type: ignore[union-attr]


# -- the pure parser ---------------------------------------------------------------------------
def test_parser_reads_stories_and_comments() -> None:
    out = normalise_algolia_page(load("search_by_date_notion"))
    assert out.rejects == []
    posts = {p["id"]: p for p in out.posts}
    story = posts["41234567"]
    assert story["text"] == "Notion AI is down"
    assert (story["likes"], story["replies"], story["parent_id"]) == (87, 54, None)
    assert story["url"] == "https://news.ycombinator.com/item?id=41234567"
    assert story["created_at"] == datetime(2024, 8, 13, 10, 6, 51, tzinfo=UTC)
    ask = posts["41234702"]
    assert ask["text"] == ("Ask HN: Alternatives to Notion for a 10-person team?\n\nAfter today's "
                           "outage we're looking at Coda and Obsidian.\n\nWhat do you use, and "
                           "how painful was the migration?")
    comment = posts["41234811"]
    assert comment["text"] == ("Same. Anthropic's status page shows elevated errors on the API, "
                               "see https://status.anthropic.com/")
    assert (comment["author"], comment["parent_id"], comment["likes"]) == ("jsmith", "41234567",
                                                                           None)
    assert posts["41234890"]["text"].endswith("changed.\n\nIf your product depends on one LLM "
                                              "vendor you need a fallback path.")
    assert {p["source"] for p in out.posts} == {"hackernews"}


def test_parser_quarantines_bad_hits_beside_good_ones() -> None:
    out = normalise_algolia_page(load("search_by_date_mixed"))
    assert [p["id"] for p in out.posts] == ["41234901"]
    assert sorted(reason for _, reason in out.rejects) == [
        "HN hit: a story needs a title (and a comment needs comment_text)",
        "HN hit: created_at_i 'yesterday' is not an ISO 8601 timestamp",
        "HN hit: hit is not an object",
        "HN hit: points must be a non-negative integer, got -5",
    ]


@pytest.mark.parametrize("doc", [{"message": "Not Found"}, [], "x", None])
def test_parser_quarantines_a_page_that_is_not_a_search_result(doc: Any) -> None:
    out = normalise_algolia_page(doc)
    assert out.posts == [] and out.rejects[0][1].startswith("HN page:")


# -- the source through requests ---------------------------------------------------------------
def test_pages_across_pages_then_an_incremental_run_fetches_only_new_items(
        server: AlgoliaServer, db: Path) -> None:
    server.hits = hits("search_by_date_notion")
    matcher = services().matcher()
    with writing(db) as wh:
        first = collect_source(wh, source(server), matcher)
        checkpoint = wh.checkpoints("hackernews")
        landed = sorted(r[0] for r in wh.con.execute(
            "SELECT payload FROM raw_pages WHERE source = 'hackernews'").fetchall())
    assert (first.pages, first.imported, first.quarantined) == (3, 5, 0)
    newest = max(h["created_at_i"] for h in server.hits)
    assert checkpoint == {"notion: notion": str(newest)}
    assert landed == sorted(server.sent)  # the bodies as received
    assert [r["page"] for r in server.requests] == ["0", "1", "2"]
    assert {r["tags"] for r in server.requests} == {"(story,comment)"}
    # Every page of a run asks for the same window, so new items cannot shift the pages.
    assert len({r["numericFilters"] for r in server.requests}) == 1

    server.hits = hits("search_by_date_notion_new") + server.hits
    server.requests.clear()
    with writing(db) as wh:
        again = collect_source(wh, source(server), matcher)
        checkpoint = wh.checkpoints("hackernews")
    # The window starts overlap_s (600 s) before the checkpoint: the 10:41 comment is seen again.
    assert _lower_bound(server.requests[0]) == newest - 600
    assert (again.imported, again.duplicates) == (2, 1)
    assert checkpoint == {"notion: notion": str(max(h["created_at_i"] for h in server.hits))}
    assert len(_ids(db)) == 7


def test_past_the_pagination_limit_the_window_moves_down(db: Path) -> None:
    server = AlgoliaServer(pagination_limit=4)
    try:
        server.hits = hits("search_by_date_notion")
        with writing(db) as wh:
            summary = collect_source(wh, source(server), services().matcher())
    finally:
        server.close()
    # Pages 0 and 1 reach the 4-hit limit; then the window ends at the oldest hit seen.
    assert [r["page"] for r in server.requests] == ["0", "1", "0"]
    oldest_seen = sorted(h["created_at_i"] for h in server.hits)[1]
    assert server.requests[2]["numericFilters"].endswith(f"created_at_i<={oldest_seen}")
    assert (summary.imported, summary.duplicates) == (5, 1)


def test_a_backfill_never_moves_the_checkpoint_back(server: AlgoliaServer, db: Path) -> None:
    server.hits = hits("search_by_date_notion")
    matcher = services().matcher()
    with writing(db) as wh:
        wh.save_checkpoints("hackernews", {"notion: notion": "1723550000"})  # after every hit
        since = datetime(2024, 8, 13, 10, 10, tzinfo=UTC)
        backfill = collect_source(wh, source(server), matcher, since=since)
        assert wh.checkpoints("hackernews") == {"notion: notion": "1723550000"}
    assert _lower_bound(server.requests[0]) == int(since.timestamp())
    assert backfill.imported == 4  # the 10:06 story is before `since`


@pytest.mark.parametrize("headers, expected", [
    ({"Retry-After": "7"}, 7.0),
    ({"X-RateLimit-Reset": "1800000012"}, 12.0),
    ({"Retry-After": "Fri, 15 Jan 2027 08:00:30 GMT"}, 30.0),
])
def test_a_rate_limit_is_waited_out_through_the_injected_sleep(
        server: AlgoliaServer, db: Path, headers: dict[str, str], expected: float) -> None:
    server.hits = hits("search_by_date_notion")
    server.script = [(429, headers, json.dumps({"message": "Too many requests"}))]
    sleeps: list[float] = []
    built = source(server, sleeps, page_size=20)
    clock = 1_800_000_000.0 if "X-RateLimit-Reset" in headers else \
        datetime(2027, 1, 15, 8, 0, tzinfo=UTC).timestamp()
    built.clock = lambda: clock
    with writing(db) as wh:
        summary = collect_source(wh, built, services().matcher())
    assert sleeps == [expected]
    assert summary.imported == 5


def test_a_rate_limit_that_does_not_lift_fails_after_bounded_waits(server: AlgoliaServer,
                                                                   db: Path) -> None:
    server.script = [(429, {"Retry-After": "5"}, "{}")] * 4
    sleeps: list[float] = []
    with writing(db) as wh, pytest.raises(SourceError, match="still rate limited"):
        collect_source(wh, source(server, sleeps), services().matcher())
    assert sleeps == [5.0, 5.0, 5.0] and len(server.requests) == 4


def test_a_rate_limit_longer_than_the_longest_wait_fails_at_once(server: AlgoliaServer,
                                                                 db: Path) -> None:
    server.script = [(429, {"Retry-After": "3600"}, "{}")]
    with writing(db) as wh, pytest.raises(SourceError, match="rate limited for 3600 s"):
        collect_source(wh, source(server, []), services().matcher())


def test_a_server_error_raises_and_the_next_run_completes_without_duplicates(
        server: AlgoliaServer, db: Path) -> None:
    server.hits = hits("search_by_date_notion")
    server.script = [None, (502, {}, "<html>502 Bad Gateway</html>")]
    matcher = services().matcher()
    with writing(db) as wh:
        with pytest.raises(SourceError, match="HTTP 502") as failed:
            collect_source(wh, source(server), matcher)
        assert "after 1 pages stored" in str(failed.value)
        assert wh.checkpoints("hackernews") == {}
        second = collect_source(wh, source(server), matcher)
        assert wh.checkpoints("hackernews") != {}
    assert (second.imported, second.duplicates) == (3, 2)
    assert len(_ids(db)) == 5


def test_an_unreachable_api_is_a_source_error(db: Path) -> None:
    server = AlgoliaServer()
    server.close()
    with writing(db) as wh, pytest.raises(SourceError, match="request failed"):
        collect_source(wh, source(server), services().matcher())


def test_a_refused_request_is_an_auth_error(server: AlgoliaServer, db: Path) -> None:
    server.script = [(403, {}, json.dumps({"message": "Invalid Application-ID or API key"}))]
    with writing(db) as wh, pytest.raises(SourceAuthError, match="HTTP 403"):
        collect_source(wh, source(server), services().matcher())


def test_bad_hits_and_a_body_that_is_not_json_go_to_quarantine(server: AlgoliaServer,
                                                               db: Path) -> None:
    server.hits = hits("search_by_date_mixed") + hits("search_by_date_notion")
    server.script = [None, (200, {}, "<html>maintenance</html>")]
    built = source(server, page_size=20, queries={"notion": ["notion", "notion ai"]})
    with writing(db) as wh:
        summary = collect_source(wh, built, services().matcher())
        reasons = sorted(r[0] for r in wh.con.execute(
            "SELECT reason FROM quarantine WHERE source = 'hackernews'").fetchall())
        checkpoint = wh.checkpoints("hackernews")
    assert summary.imported == 6  # five good hits and the good one among the bad
    assert len(reasons) == 5 and reasons[-1].startswith("malformed JSON page")
    assert list(checkpoint) == ["notion: notion"]  # the broken query keeps no cursor
    assert any("not a search result" in note for note in built.notes)


# -- configuration -----------------------------------------------------------------------------
def test_queries_come_from_keywords_unless_configured() -> None:
    default = build(Settings(), services(), {})
    assert [(q.service, q.text) for q in default.queries] == [("notion", "notion ai"),
                                                             ("notion", "notion")]
    assert default.api_url == "https://hn.algolia.com/api/v1" and list(default.secrets()) == []
    custom = build(Settings(), services(), {"queries": {"notion": ["Notion AI", "Notion AI"]},
                                            "api_url": "http://127.0.0.1:9/api/v1/"})
    assert [q.text for q in custom.queries] == ["Notion AI"]
    assert custom.api_url == "http://127.0.0.1:9/api/v1"


@pytest.mark.parametrize("options, message", [
    ({"api_url": "hn.algolia.com"}, "api_url must be an http"),
    ({"queries": {"nope": ["x"]}}, "unknown service"),
    ({"queries": {"notion": "notion"}}, "queries.notion must be a list"),
    ({"page_size": 0}, "page_size must be an integer from 1 to 1000"),
    ({"max_pages": True}, "max_pages must be a positive integer"),
    ({"lookback": "later"}, "lookback"),
    ({"timeout_s": -1}, "timeout_s must be a positive number"),
])
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(Settings(), services(), options)
