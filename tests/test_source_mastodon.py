"""The Mastodon source through the real Mastodon.py client against a Mastodon-shaped server on
127.0.0.1 that serves the Status entities in tests/fixtures/mastodon with the API's paging
(max_id / since_id / min_id / limit, Link headers) and scripted failures."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from pipelines.collect import collect_source
from pipelines.config import ServicesConfig
from pipelines.errors import ConfigError
from pipelines.settings import Settings, load_settings
from pipelines.sources.base import SourceAuthError, SourceError
from pipelines.sources.mastodon import MastodonSource, Query, build
from pipelines.sources.mastodon_format import normalise_statuses_page
from pipelines.warehouse.writer import writing

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
SENTINEL = "SENTINEL-TOKEN-123"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _key(status_id: str) -> tuple[int, str]:
    return len(status_id), status_id


class MastodonServer:
    """Serves hashtag timelines and statuses search like a Mastodon instance. `script` holds
    responses (status, headers, body) served, in order, before the normal ones (None: serve
    normally); `requests` records (path, query, headers) of every call, `sent` the bodies of
    the API's answers (instance info left out)."""

    def __init__(self) -> None:
        self.tags: dict[str, list[dict[str, Any]]] = {}
        self.search: list[dict[str, Any]] = []
        self.token: str | None = None
        self.script: list[tuple[int, dict[str, str], str] | None] = []
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.sent: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def api_calls(self) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        return [r for r in self.requests if "/instance" not in r[0]]

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(req.path)
        path = parsed.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        self.requests.append((path, query, dict(req.headers)))
        if path in ("/api/v1/instance", "/api/v2/instance"):
            instance = json.dumps(load(f"instance_{path.split('/')[2]}"))
            return self._send(req, 200, {}, instance, record=False)
        if self.script:
            scripted = self.script.pop(0)
            if scripted is not None:
                return self._send(req, *scripted)
        if path.startswith("/api/v1/timelines/tag/"):
            statuses = self.tags.get(path.rsplit("/", 1)[1].lower(), [])
            page, links = self._page(statuses, query, path)
            return self._send(req, 200, {"Link": links} if links else {}, json.dumps(page))
        if path == "/api/v2/search":
            if self.token is None or req.headers.get("Authorization") != f"Bearer {self.token}":
                return self._send(req, 401, {}, json.dumps({"error": "The access token is invalid"}))
            page, _ = self._page(self.search, query, path)
            return self._send(req, 200, {}, json.dumps({"accounts": [], "statuses": page,
                                                         "hashtags": []}))
        return self._send(req, 404, {}, json.dumps({"error": "Record not found"}))

    def _page(self, statuses: list[dict[str, Any]], query: dict[str, str],
              path: str) -> tuple[list[dict[str, Any]], str]:
        """Mastodon's paging: newest first; min_id gives the oldest `limit` above it."""
        limit = int(query.get("limit", 20))
        items = sorted(statuses, key=lambda s: _key(s["id"]), reverse=True)
        for name, keep in (("max_id", lambda a, b: a < b), ("since_id", lambda a, b: a > b),
                           ("min_id", lambda a, b: a > b)):
            if name in query:
                items = [s for s in items if keep(_key(s["id"]), _key(query[name]))]
        page = items[-limit:] if "min_id" in query else items[:limit]
        links = []
        if len(page) == limit:
            links.append(f'<{self.url}{path}?limit={limit}&max_id={page[-1]["id"]}>; rel="next"')
        if page:
            links.append(f'<{self.url}{path}?limit={limit}&min_id={page[0]["id"]}>; rel="prev"')
        return page, ", ".join(links)

    def _send(self, req: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
              body: str, record: bool = True) -> None:
        data = body.encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json; charset=utf-8")
        req.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(data)
        if record:
            self.sent.append(body)


@pytest.fixture()
def server() -> Iterator[MastodonServer]:
    instance = MastodonServer()
    yield instance
    instance.close()


def services() -> ServicesConfig:
    return ServicesConfig.model_validate({"services": {
        "notion": {"name": "Notion AI", "keywords": ["notion ai", "notion"]}}})


def source(server: MastodonServer, sleeps: list[float] | None = None, token: str | None = None,
           page_size: int = 2, lookback: str = "3650d", **extra: Any) -> MastodonSource:
    options: dict[str, Any] = {"instances": [server.url], "hashtags": {"notion": ["notion"]},
                               "page_size": page_size, "lookback": lookback, "timeout_s": 5,
                               **extra}
    settings = Settings(mastodon_access_token=token)
    built = build(settings, services(), options)
    built.sleep = (sleeps.append if sleeps is not None else _no_sleep)
    return built


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep of {seconds} s")


def _posts(db: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT id, service, author, likes, reposts, replies, lang "
                           "FROM post_records ORDER BY created_at").fetchall()
    finally:
        con.close()


# -- the pure parser ---------------------------------------------------------------------------
def test_parser_keeps_text_metrics_language_and_authors() -> None:
    out = normalise_statuses_page(load("tag_notion"))
    assert out.rejects == []
    by_author = {p["author"]: p for p in out.posts if p["author"] != "kat@mastodon.social"}
    dan = by_author["dev_ops_dan@fosstodon.org"]
    assert dan["id"] == "https://fosstodon.org/users/dev_ops_dan/statuses/112954149440123456"
    assert dan["text"] == ('Notion AI: every request fails, status page still says "All Systems '
                           'Operational" 🙃\n\nGuess Anthropic is having a day. #notion #outage')
    assert (dan["likes"], dan["reposts"], dan["replies"], dan["quotes"],
            dan["author_followers"]) == (31, 11, 5, 2, 1290)
    assert dan["created_at"] == datetime(2024, 8, 13, 10, 5, 40, tzinfo=UTC)
    assert by_author["lena@chaos.social"]["lang"] == "de"
    reply = by_author["ravi@hachyderm.io"]
    assert reply["parent_id"] == "112954135740416000" and reply["is_repost"] is False
    assert reply["text"].startswith("@kat same here. Moved today's notes")
    newest = out.posts[0]
    assert newest["author"] == "kat@mastodon.social"  # local acct gets its host
    # The content warning leads; the hidden URL prefix spans still read as one link.
    assert newest["text"] == ("Notion outage\n\nNotion is back for me, about 25 minutes in total."
                              "\nStill nothing on https://www.notion-status.com/ #notion")


def test_parser_keeps_boosts_and_quarantines_bad_statuses_beside_good_ones() -> None:
    out = normalise_statuses_page(load("statuses_mixed"))
    assert [p["author"] for p in out.posts] == ["kat@mastodon.social", "ravi@hachyderm.io"]
    boost = out.posts[1]
    original = load("tag_notion")[3]
    assert boost["is_repost"] is True and boost["parent_id"] == original["uri"]
    assert boost["text"].startswith("Notion AI: every request fails")
    assert boost["url"] == original["url"]
    assert sorted(reason for _, reason in out.rejects) == [
        "Mastodon status: account missing or not an object",
        "Mastodon status: favourites_count must be a non-negative integer, got -3",
        "Mastodon status: missing field(s): created_at",
    ]


@pytest.mark.parametrize("doc", [{"error": "Record not found"}, "text", 3, None])
def test_parser_quarantines_a_page_that_is_not_statuses(doc: Any) -> None:
    out = normalise_statuses_page(doc)
    assert out.posts == [] and len(out.rejects) == 1
    assert out.rejects[0][1].startswith("Mastodon page:")


def test_search_result_pages_parse_like_timelines() -> None:
    out = normalise_statuses_page(load("search_notion_ai"))
    assert [p["author"] for p in out.posts] == ["notesbot@botsin.space",
                                                "dev_ops_dan@fosstodon.org"]


# -- the source through Mastodon.py ------------------------------------------------------------
def test_pages_across_pages_then_an_incremental_run_fetches_only_new_posts(
        server: MastodonServer, db: Path) -> None:
    server.tags["notion"] = load("tag_notion")
    matcher = services().matcher()
    with writing(db) as wh:
        first = collect_source(wh, source(server), matcher)
        checkpoint = wh.checkpoints("mastodon")
        landed = [r[0] for r in wh.con.execute(
            "SELECT payload FROM raw_pages WHERE source = 'mastodon'").fetchall()]
    assert (first.pages, first.imported, first.quarantined) == (3, 5, 0)
    newest = load("tag_notion")[0]["id"]
    assert checkpoint == {f"{server.url} #notion": newest}
    # The landed pages are the bodies the instance sent, byte for byte.
    assert sorted(landed) == sorted(server.sent)
    calls = server.api_calls()
    statuses = load("tag_notion")  # newest first: pages of two end at the 2nd and 4th
    assert [c[1].get("max_id") for c in calls] == [None, statuses[1]["id"], statuses[3]["id"]]
    assert all(c[0] == "/api/v1/timelines/tag/notion" and c[1]["limit"] == "2" for c in calls)

    server.tags["notion"] = load("tag_notion_new") + load("tag_notion")
    server.requests.clear()
    with writing(db) as wh:
        again = collect_source(wh, source(server), matcher)
        checkpoint = wh.checkpoints("mastodon")
    assert (again.imported, again.duplicates) == (2, 0)
    assert server.api_calls()[0][1]["min_id"] == newest  # forward from the checkpoint
    assert checkpoint == {f"{server.url} #notion": load("tag_notion_new")[0]["id"]}
    rows = _posts(db)
    assert len(rows) == 7 and {r[1] for r in rows} == {"notion"}


def test_first_run_stops_at_the_lookback_and_a_backfill_never_moves_the_checkpoint_back(
        server: MastodonServer, db: Path) -> None:
    server.tags["notion"] = load("tag_notion_new") + load("tag_notion")
    matcher = services().matcher()
    with writing(db) as wh:
        first = collect_source(wh, source(server, lookback="1d"), matcher)
        assert wh.checkpoints("mastodon") == {
            f"{server.url} #notion": load("tag_notion_new")[0]["id"]}
        since = datetime(2024, 8, 13, 10, 10, tzinfo=UTC)
        backfill = collect_source(wh, source(server), matcher, since=since)
        assert wh.checkpoints("mastodon") == {
            f"{server.url} #notion": load("tag_notion_new")[0]["id"]}
    # Fixture posts are older than a day: the first page is kept, then the walk stops.
    assert (first.pages, first.imported) == (1, 2)
    # The backfill walks newest first past 10:10 (pages of 2: 11:20 11:02 | 10:31 10:15 |
    # 10:09 10:05) and stops there.
    assert (backfill.pages, backfill.imported, backfill.duplicates) == (3, 4, 2)


def test_a_rate_limit_is_waited_out_through_the_injected_sleep(server: MastodonServer,
                                                               db: Path) -> None:
    server.tags["notion"] = load("tag_notion")
    now = datetime.now(UTC)
    server.script = [(429, {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": (now + timedelta(seconds=30)).isoformat(),
                            "Date": format_datetime(now, usegmt=True)},
                      json.dumps({"error": "Too many requests"}))]
    sleeps: list[float] = []
    with writing(db) as wh:
        summary = collect_source(wh, source(server, sleeps, page_size=40), services().matcher())
    assert summary.imported == 5
    assert len(sleeps) == 1 and 20 < sleeps[0] <= 31


def test_a_rate_limit_that_does_not_lift_fails_the_run_after_bounded_waits(
        server: MastodonServer, db: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=10)).isoformat()
    server.script = [(429, {"X-RateLimit-Reset": soon}, "{}")] * 4
    sleeps: list[float] = []
    with writing(db) as wh, pytest.raises(SourceError, match="still rate limited"):
        collect_source(wh, source(server, sleeps), services().matcher())
    assert len(sleeps) == 3 and all(0 < s <= 11 for s in sleeps)
    assert len(server.api_calls()) == 4


def test_a_rate_limit_longer_than_the_longest_wait_fails_at_once(server: MastodonServer,
                                                                 db: Path) -> None:
    far = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    server.script = [(429, {"X-RateLimit-Reset": far}, "{}")]
    with writing(db) as wh, pytest.raises(SourceError, match="longer than the 900 s"):
        collect_source(wh, source(server, []), services().matcher())


def test_a_server_error_raises_and_the_next_run_completes_without_duplicates(
        server: MastodonServer, db: Path) -> None:
    server.tags["notion"] = load("tag_notion")
    server.script = [None, (503, {}, "<html>503 Service Unavailable</html>")]
    matcher = services().matcher()
    with writing(db) as wh:
        with pytest.raises(SourceError, match="HTTP 503") as failed:
            collect_source(wh, source(server), matcher)
        assert "after 1 pages stored" in str(failed.value)
        assert wh.checkpoints("mastodon") == {}  # the first page alone moves no cursor
        second = collect_source(wh, source(server), matcher)
    assert (second.imported, second.duplicates) == (3, 2)
    assert len(_posts(db)) == 5


def test_bad_records_and_a_body_that_is_not_json_go_to_quarantine(server: MastodonServer,
                                                                  db: Path) -> None:
    server.tags["notion"] = load("statuses_mixed")
    server.tags["notionai"] = load("tag_notion")
    server.script = [None, (200, {}, "<html><body>Bad gateway</body></html>")]
    built = source(server, page_size=40, hashtags={"notion": ["notion", "notionai"]})
    with writing(db) as wh:
        summary = collect_source(wh, built, services().matcher())
        reasons = [r[0] for r in wh.con.execute(
            "SELECT reason FROM quarantine WHERE source = 'mastodon' ORDER BY reason").fetchall()]
        checkpoint = wh.checkpoints("mastodon")
    assert summary.imported == 2  # the good status and the boost beside the bad ones
    assert reasons[:3] == [
        "Mastodon status: account missing or not an object",
        "Mastodon status: favourites_count must be a non-negative integer, got -3",
        "Mastodon status: missing field(s): created_at"]
    assert len(reasons) == 4 and reasons[3].startswith("malformed JSON page")
    assert list(checkpoint) == [f"{server.url} #notion"]  # the broken query keeps its cursor
    assert any("not a pageable statuses page" in note for note in built.notes)


def test_refused_token_is_an_auth_error(server: MastodonServer, db: Path) -> None:
    server.token = "the-right-token"
    with writing(db) as wh, pytest.raises(SourceAuthError, match="HTTP 401"):
        collect_source(wh, source(server, token="a-wrong-token", hashtags={"notion": []}),
                       services().matcher())


def test_the_token_is_used_but_never_stored_logged_or_shown(
        server: MastodonServer, db: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AFTERSHOCK_MASTODON_ACCESS_TOKEN", SENTINEL)
    server.token = SENTINEL
    server.tags["notion"] = load("tag_notion")
    server.search = load("search_notion_ai")["statuses"]
    options = {"instances": [server.url], "hashtags": {"notion": ["notion"]}, "page_size": 40,
               "lookback": "3650d"}
    built = build(load_settings(), services(), options)
    with writing(db) as wh:
        summary = collect_source(wh, built, services().matcher())
        server.script = [(401, {}, json.dumps({"error": f"token {SENTINEL} was revoked"}))]
        with pytest.raises(SourceAuthError) as refused:
            collect_source(wh, built, services().matcher(), since=datetime(2024, 8, 1, tzinfo=UTC))
        tables = [r[0] for r in wh.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()]
        dump = "\n".join(str(wh.con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
    assert summary.imported == 6  # five from the hashtag, one more from search
    searches = [c for c in server.requests if c[0] == "/api/v2/search"]
    assert searches and all(c[2]["Authorization"] == f"Bearer {SENTINEL}" for c in searches)
    assert {c[1]["q"] for c in searches} == {"notion ai", "notion"}
    assert "raw_pages" in tables and "post_records" in tables
    out = capsys.readouterr()
    for text in (dump, caplog.text, out.out, out.err, str(refused.value),
                 repr(refused.value.__cause__), " ".join(built.notes)):
        assert SENTINEL not in text
    assert "***" in str(refused.value)


def test_the_token_goes_only_to_its_own_instance(server: MastodonServer, db: Path) -> None:
    other = MastodonServer()
    try:
        server.token = SENTINEL
        server.tags["notion"] = load("tag_notion")
        other.tags["notion"] = load("tag_notion_new")
        options = {"instances": [other.url, server.url], "token_instance": server.url,
                   "hashtags": {"notion": ["notion"]}, "lookback": "3650d"}
        built = build(Settings(mastodon_access_token=SENTINEL), services(), options)
        with writing(db) as wh:
            summary = collect_source(wh, built, services().matcher())
    finally:
        other.close()
    assert summary.imported == 7
    assert other.requests and all("Authorization" not in h for _, _, h in other.requests)
    assert {p for p, _, h in server.requests if "Authorization" in h} >= {"/api/v2/search"}


# -- configuration -----------------------------------------------------------------------------
def test_hashtags_come_from_keywords_and_search_needs_a_token() -> None:
    without = build(Settings(mastodon_access_token=None), services(), {})
    assert [(q.instance, q.kind, q.term) for q in without.queries] == [
        ("https://mastodon.social", "tag", "notionai"), ("https://mastodon.social", "tag", "notion")]
    with_token = build(Settings(mastodon_access_token="t0ken"), services(),
                       {"instances": ["https://a.example/", "https://b.example"],
                        "token_instance": "https://b.example/"})
    assert [(q.instance, q.kind, q.term) for q in with_token.queries] == [
        ("https://a.example", "tag", "notionai"), ("https://a.example", "tag", "notion"),
        ("https://b.example", "tag", "notionai"), ("https://b.example", "tag", "notion"),
        ("https://b.example", "search", "notion ai"), ("https://b.example", "search", "notion")]
    assert with_token.token_instance == "https://b.example"  # a token is one instance's
    assert list(with_token.secrets()) == ["t0ken"]
    no_search = build(Settings(mastodon_access_token="t0ken"), services(), {"search": False})
    assert {q.kind for q in no_search.queries} == {"tag"}


@pytest.mark.parametrize("options, message", [
    ({"instances": "https://mastodon.social"}, "instances must be a list"),
    ({"instances": ["mastodon.social"]}, "not an http(s) URL"),
    ({"hashtags": {"nope": ["x"]}}, "unknown service"),
    ({"page_size": 80}, "page_size must be an integer from 1 to 40"),
    ({"lookback": "soon"}, "lookback"),
    ({"search": "yes"}, "search must be true or false"),
    ({"token_instance": "https://other.example"}, "token_instance"),
])
def test_bad_options_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(Settings(mastodon_access_token=None), services(), options)


def test_query_keys_name_instance_and_term() -> None:
    query = Query("https://mastodon.social", "notion", "tag", "notion")
    assert query.key == "https://mastodon.social #notion"
    assert Query("https://m.example", "notion", "search", "notion ai").key == \
        "https://m.example search notion ai"
