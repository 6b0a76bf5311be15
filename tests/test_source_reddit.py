"""The Reddit source through the real praw/prawcore client, against a server on 127.0.0.1 that
plays oauth.reddit.com and www.reddit.com (token endpoint included) and replays recorded
Reddit Listing JSON (tests/fixtures/SOURCE.md): paging, incremental re-runs and backfills,
rate limits with bounded injected waits, 5xx, refused credentials, timeouts, bad payloads,
and no secret anywhere."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pydantic import SecretStr

from pipelines.collect import CollectSummary, collect_source
from pipelines.config import ServicesConfig, load_config
from pipelines.errors import ConfigError
from pipelines.settings import BUNDLED_CONFIG, Settings
from pipelines.sources import build_source
from pipelines.sources.base import MissingCredentials, SourceAuthError, SourceError
from pipelines.sources.reddit import (
    RatePacer,
    RedditOptions,
    RedditSource,
    build,
    plan_listings,
    search_query,
)
from pipelines.warehouse.writer import writing

FIXTURES = Path(__file__).parent / "fixtures"
CLIENT_ID = "SENTINEL-ID-456"
CLIENT_SECRET = "SENTINEL-TOKEN-123"
ACCESS_TOKEN = "SENTINEL-ACCESS-789"
SECRETS = (CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN)
# What Reddit sends with every API answer while the quota lasts.
QUOTA_LEFT = {"x-ratelimit-remaining": "95.0", "x-ratelimit-used": "5", "x-ratelimit-reset": "42"}

CONFIG = ServicesConfig.model_validate(tomllib.loads("""
[services.notion]
name = "Notion AI"
keywords = ["notion ai", "notion"]
handles = ["@NotionHQ"]

[services.slack]
name = "Slack"
keywords = ["slack"]
"""))


def _children(name: str) -> list[dict[str, Any]]:
    children: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["body"]["data"][
        "children"]
    return children


NEW = _children("reddit/askreddit_new.json")          # 12 t3, newest first
COMMENTS = _children("reddit/all_comments.json")      # 8 t1, all in the same second
SEARCH = _children("reddit_r_all_search.json")        # 6 t3


@dataclass
class Reply:
    status: int = 200
    body: Any = None            # JSON-able, or str sent as it is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class ReplayState:
    """What the server serves: listings (path -> children, paged by limit/after like
    Reddit) and one-shot scripted replies served first (None: serve the listing)."""

    listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scripted: dict[str, list[Reply | None]] = field(default_factory=dict)
    token_status: int = 200
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    served: list[tuple[str, str]] = field(default_factory=list)   # (path, body text)

    def reply(self, path: str, params: dict[str, str]) -> Reply:
        queue = self.scripted.get(path)
        if queue:
            scripted = queue.pop(0)
            if scripted is not None:
                return scripted
        if path not in self.listings:
            return Reply(404, {"message": "Not Found", "error": 404})
        return Reply(body=_listing_page(self.listings[path], params), headers=QUOTA_LEFT)

    def gets(self, path: str) -> list[dict[str, str]]:
        return [params for method, p, params in self.requests if method == "GET" and p == path]


def _listing_page(children: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    names = [c["data"]["name"] for c in children]
    start = names.index(params["after"]) + 1 if "after" in params else 0
    chunk = children[start:start + int(params.get("limit", "25"))]
    more = start + len(chunk) < len(children)
    return {"kind": "Listing", "data": {
        "modhash": "", "dist": len(chunk), "children": chunk,
        "after": chunk[-1]["data"]["name"] if chunk and more else None, "before": None}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state = self.server.state
        state.requests.append(("POST", self.path, {}))
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        ok = self.path == "/api/v1/access_token" and \
            self.headers.get("Authorization") == f"Basic {basic}"
        if not ok or state.token_status != 200:
            status = state.token_status if ok else 401
            self._send(Reply(status, {"message": "Unauthorized", "error": status}))
            return
        self._send(Reply(body={"access_token": ACCESS_TOKEN, "token_type": "bearer",
                               "expires_in": 86400, "scope": "*"}))

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        state = self.server.state
        state.requests.append(("GET", url.path, params))
        if self.headers.get("Authorization") != f"bearer {ACCESS_TOKEN}":
            self._send(Reply(401, {"message": "Unauthorized", "error": 401}))
            return
        reply = state.reply(url.path, params)
        text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        state.served.append((url.path, text))
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        time.sleep(reply.delay_s)
        body = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = ReplayState()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left: nothing to report


@pytest.fixture()
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@dataclass
class FakeClock:
    """The pacer's clock and sleep: sleeping moves the clock, nothing really waits."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def _source(server: _Server, clock: FakeClock, **options: Any) -> RedditSource:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    opts = RedditOptions.model_validate({
        "oauth_url": url, "reddit_url": url, "subreddits": {"AskReddit": "slack"},
        "sitewide_search": False, "comments": False, "page_size": 5, **options})
    pacer = RatePacer(opts.requests_per_minute, opts.max_rate_limit_wait_s,
                      sleep=clock.sleep, clock=clock.monotonic)
    return RedditSource(CLIENT_ID, CLIENT_SECRET, "aftershock-tests/0.1 (replay)",
                        plan_listings(CONFIG, opts), opts, pacer)


def _collect(db: Path, source: RedditSource, since: datetime | None = None) -> CollectSummary:
    with writing(db) as wh:
        return collect_source(wh, source, CONFIG.matcher(), since)


def _rows(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with writing(db) as wh:
        return wh.con.execute(sql, params or []).fetchall()


def _checkpoints(db: Path) -> dict[str, str]:
    with writing(db) as wh:
        return wh.checkpoints("reddit")


def test_pages_through_search_new_and_comments(server: _Server, clock: FakeClock,
                                               db: Path) -> None:
    server.state.listings = {"/search": SEARCH, "/r/AskReddit/new": NEW,
                             "/r/AskReddit/comments": COMMENTS}
    source = _source(server, clock, sitewide_search=True, comments=True)
    source.listings = [lst for lst in source.listings if lst.key != "search:slack"]
    summary = _collect(db, source)

    assert (summary.pages, summary.imported, summary.quarantined) == (2 + 3 + 2, 6 + 12 + 8, 0)
    assert [p.get("after") for p in server.state.gets("/r/AskReddit/new")] == \
        [None, NEW[4]["data"]["name"], NEW[9]["data"]["name"]]
    search = server.state.gets("/search")[0]
    assert (search["q"], search["sort"], search["limit"]) == ('"notion ai" OR notion OR NotionHQ',
                                                            "new", "5")
    assert sum(1 for m, *_ in server.state.requests if m == "POST") == 1  # one token, reused
    # 100 requests a minute at most: each request after the first waited for its 0.6 s slot.
    assert clock.slept == pytest.approx([0.6] * (len(server.state.requests) - 1))
    # Newest thing of each listing, on the last page of each.
    newest_search = max(SEARCH, key=lambda c: c["data"]["created_utc"])["data"]
    assert _checkpoints(db) == {
        "search:notion": f"{newest_search['created_utc']:.0f} {newest_search['name']}",
        "r/AskReddit/new": f"{NEW[0]['data']['created_utc']:.0f} {NEW[0]['data']['name']}",
        "r/AskReddit/comments": f"1482373040 {COMMENTS[0]['data']['name']}",
    }
    # Pages land exactly as the server sent them.
    landed = {p for (p,) in _rows(db, "SELECT payload FROM raw_pages")}
    assert landed == {text for _, text in server.state.served}
    # The subreddit's posts belong to its service, the search's to the searched one, and
    # they keep Reddit's metrics.
    services = dict(_rows(db, "SELECT id, service FROM posts"))
    assert {services[c["data"]["name"]] for c in NEW} == {"slack"}
    assert {services[c["data"]["name"]] for c in SEARCH} == {"notion"}
    post = NEW[2]["data"]
    assert _rows(db, "SELECT likes, replies, author, url FROM posts WHERE id = ?",
                 [post["name"]]) == [(post["score"], post["num_comments"], post["author"],
                                      f"https://www.reddit.com{post['permalink']}")]
    comment = COMMENTS[0]["data"]
    assert _rows(db, "SELECT parent_id, url FROM posts WHERE id = ?", [comment["name"]]) == [
        (comment["parent_id"],
         f"https://www.reddit.com/comments/{comment['link_id'][3:]}/_/{comment['id']}/")]


def test_rerun_reads_only_down_to_the_last_runs_newest_post(server: _Server, clock: FakeClock,
                                                            db: Path) -> None:
    state = server.state
    state.listings = {"/r/AskReddit/new": NEW[4:], "/r/AskReddit/comments": COMMENTS[3:]}
    first = _collect(db, _source(server, clock, comments=True))
    assert first.imported == 8 + 5
    state.listings = {"/r/AskReddit/new": NEW, "/r/AskReddit/comments": COMMENTS}
    state.requests.clear()
    second = _collect(db, _source(server, clock, comments=True))

    # One page each: the checkpoint's post is on it, so paging stops there. The comments all
    # share one second, so their fullname is what stops the listing.
    assert (second.pages, second.imported) == (2, 4 + 3)
    assert all("after" not in p for p in state.gets("/r/AskReddit/new"))
    assert _rows(db, "SELECT count(*), count(DISTINCT id) FROM posts") == [(20, 20)]
    assert _checkpoints(db)["r/AskReddit/new"].endswith(NEW[0]["data"]["name"])
    third = _collect(db, _source(server, clock, comments=True))
    assert third.imported == 0


def test_backfill_reads_to_since_and_never_moves_the_checkpoint_back(
        server: _Server, clock: FakeClock, db: Path) -> None:
    server.state.listings = {"/r/AskReddit/new": NEW}
    _collect(db, _source(server, clock, max_pages=1))        # NEW[0..4], checkpoint: NEW[0]
    before = _checkpoints(db)
    since = datetime.fromtimestamp(NEW[7]["data"]["created_utc"], UTC)
    server.state.listings = {"/r/AskReddit/new": NEW[2:]}    # the newest two were deleted
    server.state.requests.clear()
    summary = _collect(db, _source(server, clock), since=since)

    # Page 1 (NEW[2..6]) is past the checkpoint; page 2 (NEW[7..11]) reaches `since`.
    assert summary.pages == 2 and summary.imported == 2 + 5
    assert len(server.state.gets("/r/AskReddit/new")) == 2
    assert _checkpoints(db) == before


def test_rate_limit_waits_are_paced_bounded_and_injected(server: _Server, clock: FakeClock,
                                                         db: Path) -> None:
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "100"}
    server.state.listings = {"/r/AskReddit/new": NEW}
    server.state.scripted = {"/r/AskReddit/new": [
        # Quota spent on a good page: the next request waits for the reset (42 s).
        Reply(body=_listing_page(NEW, {"limit": "5"}),
              headers={**spent, "x-ratelimit-reset": "42"}),
        # A 429 that says come back in 5000 s: the wait is cut to the bound, then it retries.
        Reply(429, {"message": "Too Many Requests", "error": 429},
              {**spent, "x-ratelimit-reset": "5000"}),
    ]}
    started = time.monotonic()
    source = _source(server, clock, max_rate_limit_wait_s=120)
    summary = _collect(db, source)

    assert summary.imported == 12
    assert time.monotonic() - started < 5        # prawcore's own limiter never slept
    assert clock.slept == pytest.approx([0.6, 42, 120, 0.6])  # token, page 1, 2, retry, 3
    assert len(server.state.gets("/r/AskReddit/new")) == 4   # 3 pages + the retried one
    assert any("waited 162 s" in note for note in summary.notes)
    assert any("cut short by 4880 s" in note for note in summary.notes)


def test_a_429_that_does_not_clear_fails_the_run(server: _Server, clock: FakeClock,
                                                 db: Path) -> None:
    too_many = Reply(429, {"message": "Too Many Requests", "error": 429}, {"retry-after": "7"})
    server.state.scripted = {"/r/AskReddit/new": [too_many] * 3}
    with pytest.raises(SourceError, match="still rate limited"):
        _collect(db, _source(server, clock))
    assert clock.slept == pytest.approx([0.6, 7, 7])


def test_5xx_raises_and_a_rerun_completes_without_duplicates(server: _Server, clock: FakeClock,
                                                             db: Path) -> None:
    server.state.listings = {"/r/AskReddit/new": NEW}
    server.state.scripted = {"/r/AskReddit/new": [None, Reply(503, "<html>busy</html>")]}
    with pytest.raises(SourceError, match="HTTP 503") as failed:
        _collect(db, _source(server, clock))
    assert not isinstance(failed.value, SourceAuthError)
    assert "after 1 pages stored" in str(failed.value)
    assert len(server.state.gets("/r/AskReddit/new")) == 2   # no retry loop inside the run
    assert _checkpoints(db) == {}                            # nothing claimed as done

    summary = _collect(db, _source(server, clock))
    assert (summary.imported, summary.duplicates) == (7, 5)
    assert _rows(db, "SELECT count(*), count(DISTINCT id) FROM posts") == [(12, 12)]


@pytest.mark.parametrize("where", ["token", "listing"])
def test_refused_credentials_raise_auth_error(server: _Server, clock: FakeClock, db: Path,
                                              where: str) -> None:
    if where == "token":
        server.state.token_status = 401
    else:
        server.state.scripted = {"/r/AskReddit/new": [Reply(401, {"error": 401})]}
    with pytest.raises(SourceAuthError, match="refused the credentials"):
        _collect(db, _source(server, clock))


def test_a_silent_server_times_out(server: _Server, clock: FakeClock, db: Path) -> None:
    server.state.listings = {"/r/AskReddit/new": NEW}
    server.state.scripted = {"/r/AskReddit/new": [Reply(200, {}, delay_s=2.0)]}
    started = time.monotonic()
    with pytest.raises(SourceError, match="ReadTimeout"):
        _collect(db, _source(server, clock, timeout_s=0.3))
    assert time.monotonic() - started < 1.5


def test_bad_payloads_and_records_are_quarantined_beside_the_good(
        server: _Server, clock: FakeClock, db: Path) -> None:
    no_time = {"kind": "t3", "data": {k: v for k, v in NEW[3]["data"].items()
                                      if k != "created_utc"}}
    negative = {"kind": "t3", "data": {**NEW[4]["data"], "num_comments": -3}}
    mixed = {"kind": "Listing", "data": {"children": [*NEW[:3], no_time, negative,
                                                      {"kind": "t5", "data": {}}, "garbage"],
                                         "after": None}}
    server.state.scripted = {
        "/r/AskReddit/new": [Reply(body=mixed)],
        "/r/AskReddit/comments": [Reply(body="<html>we took too long</html>")],
        "/r/Slack/new": [Reply(body={"error": "upstream"})],
        "/r/private_one/new": [Reply(403, {"reason": "private", "error": 403})],
    }
    source = _source(server, clock, comments=True,
                     subreddits={"AskReddit": "slack", "private_one": "slack", "Slack": "slack"})
    source.listings = [lst for lst in source.listings
                       if lst.key not in ("r/private_one/comments", "r/Slack/comments")]
    summary = _collect(db, source)

    assert (summary.imported, summary.quarantined) == (3, 4 + 1 + 1)
    reasons = [r for (r,) in _rows(db, "SELECT reason FROM quarantine ORDER BY reason")]
    assert any("created_utc missing" in r for r in reasons)
    assert any("num_comments" in r for r in reasons)
    assert any("kind 't5'" in r for r in reasons)
    assert any("malformed JSON page" in r for r in reasons)
    assert any("not a Reddit Listing" in r for r in reasons)
    # Only the whole listing advanced its checkpoint; the broken ones resume next run.
    assert set(_checkpoints(db)) == {"r/AskReddit/new"}
    assert any(n.startswith("r/private_one/new: skipped, Reddit answered HTTP 403")
               for n in summary.notes)
    assert sum("was not a Listing" in n for n in summary.notes) == 2


def test_no_secret_in_tables_logs_or_errors(server: _Server, clock: FakeClock, db: Path,
                                            caplog: pytest.LogCaptureFixture,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    server.state.listings = {"/search": SEARCH, "/r/AskReddit/new": NEW,
                             "/r/AskReddit/comments": COMMENTS}
    server.state.scripted = {"/r/AskReddit/comments": [Reply(500, {"error": 500})]}
    source = _source(server, clock, sitewide_search=True, comments=True)
    with pytest.raises(SourceError) as failed:
        _collect(db, source)
    server.state.scripted = {"/r/AskReddit/new": [Reply(401, {"error": 401})]}
    with pytest.raises(SourceAuthError) as refused:
        _collect(db, source)
    summary = _collect(db, source)
    assert summary.imported > 0

    with writing(db) as wh:
        tables = [t for (t,) in wh.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()]
        dump = "\n".join(str(wh.con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    out = capsys.readouterr()
    texts = [dump, caplog.text, out.out, out.err, str(failed.value), str(refused.value),
             repr(failed.value), *summary.notes]
    assert "raw_pages" in tables and len(dump) > 10_000
    for secret in SECRETS:
        assert all(secret not in text for text in texts), secret


def test_build_needs_credentials_and_checks_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AFTERSHOCK_REDDIT_CLIENT_ID", "AFTERSHOCK_REDDIT_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(MissingCredentials, match="AFTERSHOCK_REDDIT_CLIENT_SECRET"):
        build(Settings(_env_file=None,  # type: ignore[call-arg]
                       reddit_client_id=SecretStr("id")), CONFIG, {})
    settings = Settings(_env_file=None, reddit_client_id=SecretStr(CLIENT_ID),  # type: ignore[call-arg]
                        reddit_client_secret=SecretStr(CLIENT_SECRET))
    for bad in ({"subredits": ["Notion"]}, {"subreddits": ["r/Notion"]},
                {"subreddits": {"Notion": "nosuchservice"}}, {"requests_per_minute": 500}):
        with pytest.raises(ConfigError, match=r"sources\.reddit"):
            build(settings, CONFIG, bad)

    source = build(settings, CONFIG, {"subreddits": ["Notion", "ClaudeAI"],
                                      "subreddit_search": True})
    plan = {lst.key: (lst.path, lst.service) for lst in source.listings}
    assert plan["search:notion"] == ("/search", "notion")
    assert plan["r/Notion/new"] == ("/r/Notion/new", "notion")   # matched by name
    assert plan["r/ClaudeAI/comments"] == ("/r/ClaudeAI/comments", None)
    assert plan["r/ClaudeAI/search:slack"] == ("/r/ClaudeAI/search", "slack")
    assert len(plan) == 2 + 2 * (2 + 2)
    assert set(source.secrets()) == {CLIENT_ID, CLIENT_SECRET}


def test_the_bundled_example_config_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AFTERSHOCK_REDDIT_CLIENT_SECRET", CLIENT_SECRET)
    source = build_source("reddit", Settings(_env_file=None),  # type: ignore[call-arg]
                          load_config(BUNDLED_CONFIG))
    assert isinstance(source, RedditSource)
    assert "r/ClaudeAI/new" in {lst.key for lst in source.listings}


@pytest.mark.parametrize(("terms", "query"), [
    (["notion ai", "notion", "@NotionHQ", "Notion"], '"notion ai" OR notion OR NotionHQ'),
    (['say "hi"', "  "], '"say hi"'),
    ([], ""),
])
def test_search_query(terms: list[str], query: str) -> None:
    assert search_query(terms) == query
