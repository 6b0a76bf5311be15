"""Bluesky post search through atproto's real Client against a local XRPC server on 127.0.0.1
that replays searchPosts / getProfiles responses written from the lexicon schemas: login,
paging with cursor, incremental re-runs with `since`, rate limits, server errors, refused
credentials, malformed pages and records, and no secret anywhere it could leak."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from pipelines.collect import collect_source
from pipelines.config import ServicesConfig, load_config
from pipelines.errors import ConfigError
from pipelines.settings import Settings
from pipelines.sources import build_source
from pipelines.sources.base import MissingCredentials, SourceAuthError, SourceError
from pipelines.sources.bluesky import BlueskySearch, broadest_terms, search_queries
from pipelines.sources.bluesky_format import normalise_search_page
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES

BSKY = FIXTURES / "bluesky"
HANDLE = "aftershock-test.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
SENTINEL = "SENTINEL-TOKEN-123"
PAGES = [json.loads((BSKY / f"search_notion_page{n}.json").read_text()) for n in (1, 2, 3)]
SINCE_PAGE = json.loads((BSKY / "search_notion_since.json").read_text())
PROFILES = json.loads((BSKY / "profiles.json").read_text())["profiles"]
NEWEST_SORT_AT = "2024-11-21T14:52:41.118000Z"  # createdAt of page 1's first post
NOW = 1_732_201_000.0                           # the injected clock's time (2024-11-21)


def _jwt(claims: dict[str, Any]) -> str:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")
    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(claims)}.c2lnbmF0dXJl"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class FakeBluesky:
    """A PDS that answers createSession, searchPosts (from `search`, keyed by q, cursor and
    since) and getProfiles (from the profiles fixture). `fail_next` queues replies that the
    next XRPC calls of a method get first. Every request is recorded."""

    def __init__(self, password: str = PASSWORD) -> None:
        self.password = password
        self.sessions = 0
        self.issued: list[str] = []   # every token handed out
        self.revoke_sessions()
        self.search: dict[tuple[str, str | None, str | None], bytes] = {}
        self.queued: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.sent: list[tuple[str, bytes]] = []   # (method, body) of every 200 reply
        self.echo_secrets = False                  # a careless server that echoes credentials
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def on_search(self, q: str, body: dict[str, Any] | bytes, cursor: str | None = None,
                  since: str | None = None) -> None:
        self.search[(q, cursor, since)] = body if isinstance(body, bytes) else json.dumps(
            body, indent=1, ensure_ascii=False).encode()

    def revoke_sessions(self) -> None:
        """Issues new tokens: the ones given out before are no longer accepted."""
        self.sessions += 1
        exp = int(time.time()) + 7200
        self.access = _jwt({"scope": "com.atproto.appPass", "sub": "did:plc:testaccount",
                            "iat": exp - 7200, "exp": exp, "jti": f"s{self.sessions}"})
        self.refresh = _jwt({"scope": "com.atproto.refresh", "sub": "did:plc:testaccount",
                             "exp": exp + 86400, "jti": f"s{self.sessions}"})
        self.issued += [self.access, self.refresh]

    def fail_next(self, method: str, *replies: Reply) -> None:
        self.queued.setdefault(method, []).extend(replies)

    def calls(self, method: str) -> list[dict[str, list[str]]]:
        return [params for m, params, _ in self.requests if m == method]

    def _reply(self, method: str, params: dict[str, list[str]], body: bytes,
               auth: str | None) -> Reply:
        if self.queued.get(method):
            return self.queued[method].pop(0)
        if method == "com.atproto.server.createSession":
            creds = json.loads(body)
            if creds.get("password") != self.password:
                message = "Invalid identifier or password"
                if self.echo_secrets:
                    message += f" ({creds.get('password')})"
                return _json(401, {"error": "AuthenticationRequired", "message": message})
            return _json(200, {"accessJwt": self.access, "refreshJwt": self.refresh,
                               "handle": creds["identifier"], "did": "did:plc:testaccount",
                               "active": True})
        if auth != f"Bearer {self.access}":
            return _json(401, {"error": "AuthenticationRequired", "message": "Bad token"})
        if method == "com.atproto.server.getSession":
            return _json(200, {"handle": HANDLE, "did": "did:plc:testaccount", "active": True})
        if method == "app.bsky.feed.searchPosts":
            key = (params["q"][0], params.get("cursor", [None])[0], params.get("since", [None])[0])
            return Reply(200, self.search.get(key, b'{"posts":[]}'),
                         {"Content-Type": "application/json; charset=utf-8"})
        if method == "app.bsky.actor.getProfiles":
            wanted = params.get("actors", [])
            assert len(wanted) <= 25
            return _json(200, {"profiles": [p for p in PROFILES if p["did"] in wanted]})
        return _json(404, {"error": "MethodNotImplemented", "message": method})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                method = url.path.removeprefix("/xrpc/")
                params = parse_qs(url.query)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization")
                server.requests.append((method, params, auth))
                reply = server._reply(method, params, body, auth)
                if server.echo_secrets and reply.status >= 500:
                    reply = Reply(reply.status, reply.body.replace(b"TOKEN", (auth or "").encode()),
                                  reply.headers)
                if reply.status == 200:
                    server.sent.append((method, reply.body))
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _json(status: int, doc: dict[str, Any]) -> Reply:
    return Reply(status, json.dumps(doc).encode())


@pytest.fixture()
def bsky() -> Iterator[FakeBluesky]:
    server = FakeBluesky()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    thread.join(5)


def _config(tmp_path: Path, url: str, options: str = "") -> ServicesConfig:
    path = tmp_path / "services.toml"
    path.write_text(f"""
[services.notion]
name = "Notion AI"
keywords = ["notion ai", "notion"]
handles = ["@NotionHQ"]
depends_on = ["notion"]

[services.slack]
name = "Slack"
keywords = ["slack"]
depends_on = ["slack"]

[providers.notion]
name = "Notion"
statuspage = "https://www.notion-status.com"

[providers.slack]
name = "Slack"
rss = "https://slack-status.com/feed/rss"

[sources.bluesky]
service = "{url}"
{options}
""")
    return load_config(path)


def _source(tmp_path: Path, server: FakeBluesky, options: str = "", password: str = PASSWORD,
            sleeps: list[float] | None = None) -> BlueskySearch:
    config = _config(tmp_path, server.url, options)
    settings = Settings(bluesky_handle=HANDLE, bluesky_app_password=SecretStr(password))
    source = build_source("bluesky", settings, config)
    assert isinstance(source, BlueskySearch)
    source._sleep = (sleeps.append if sleeps is not None else _no_sleep)  # type: ignore[assignment]
    source._clock = lambda: NOW
    return source


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep of {seconds} s")


def _serve_three_pages(server: FakeBluesky) -> None:
    server.on_search("notion", PAGES[0])
    server.on_search("notion", PAGES[1], cursor="3")
    server.on_search("notion", PAGES[2], cursor="6")


def _rows(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with writing(db) as wh:
        return wh.con.execute(sql, params or []).fetchall()


# -- the parser ----------------------------------------------------------------------------
def test_search_page_posts_keep_metrics_followers_language_and_links() -> None:
    out = normalise_search_page({"search": PAGES[0] | {"posts": PAGES[0]["posts"] + PAGES[1]["posts"]},
                                 "profiles": [{"profiles": PROFILES}]})
    posts = {p["id"].rsplit("/", 1)[1]: p for p in out.posts}
    assert out.rejects == []
    first = posts["3lbqh7xw2ns2a"]
    assert first["id"] == "at://did:plc:4x2qbvmyzoukr6cbd5ejxnq3/app.bsky.feed.post/3lbqh7xw2ns2a"
    assert (first["likes"], first["reposts"], first["replies"], first["quotes"],
            first["author_followers"]) == (41, 6, 12, 2, 1843)
    assert first["url"] == "https://bsky.app/profile/mira-builds.bsky.social/post/3lbqh7xw2ns2a"
    assert (first["author"], first["lang"], first["source"]) == (
        "mira-builds.bsky.social", "en", "bluesky")
    assert first["created_at"].isoformat() == "2024-11-21T14:52:41.118000+00:00"
    assert posts["3lbqh5ru3xk2d"]["lang"] == "en"           # langs ["en", "pl"]: the first
    assert posts["3lbqgq6mnsc2e"]["lang"] == "de"
    # A reply points at its parent, a quote post at the post it quotes.
    assert posts["3lbqgthswak2f"]["parent_id"].endswith("/3lbqf2ztmsk2c")
    assert posts["3lbqgz2hbcc2y"]["parent_id"].endswith("/3lbqdx5p2gc2k")
    # A broken handle ("handle.invalid") links by DID instead.
    assert posts["3lbqgmzvyh22b"]["url"] == (
        "https://bsky.app/profile/did:web:notes.example.com/post/3lbqgmzvyh22b")


def test_bad_records_are_rejected_with_a_reason_and_the_good_one_kept() -> None:
    out = normalise_search_page(PAGES[2])  # a bare searchPosts body: no follower counts
    assert [p["id"].rsplit("/", 1)[1] for p in out.posts] == ["3lbqg3krwh22x"]
    assert out.posts[0]["author_followers"] is None and out.posts[0]["lang"] is None
    reasons = sorted(reason for _, reason in out.rejects)
    assert reasons == [
        "Bluesky post: likeCount must be a non-negative integer, got -3",
        "Bluesky post: record.createdAt is missing",
        ("Bluesky post: uri 'at://did:plc:ztl5w2k3xq7vh4mbn6yrd8ce/app.bsky.feed.repost/"
         "3lbqgbu7mtk2p' is not an app.bsky.feed.post record"),
    ]
    whole = normalise_search_page({"error": "InternalServerError"})
    assert whole.posts == [] and "no `posts` list" in whole.rejects[0][1]


def test_query_terms_drop_keywords_that_a_broader_one_already_finds(config_path: Path) -> None:
    assert broadest_terms(["notion ai", "Notion", "notional"]) == ["notion", "notional"]
    pairs = search_queries(load_config(config_path), {"github": ["github.com"]})
    assert ("notion", "notion") in pairs and ("notion", '"notion ai"') not in pairs
    assert ("chatgpt", '"chat gpt"') in pairs
    assert [q for s, q in pairs if s == "github"] == ["github.com"]
    with pytest.raises(ConfigError, match="unknown service"):
        search_queries(load_config(config_path), {"nope": ["x"]})


# -- the source against the local server ---------------------------------------------------
def test_pages_across_cursor_then_a_rerun_fetches_only_since_the_checkpoint(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    _serve_three_pages(bsky)
    source = _source(tmp_path, bsky)
    config = _config(tmp_path, bsky.url)
    with writing(db) as wh:
        first = collect_source(wh, source, config.matcher())
        checkpoints = wh.checkpoints("bluesky")
    assert [c.get("cursor", [None])[0] for c in bsky.calls("app.bsky.feed.searchPosts")
            if c["q"] == ["notion"]] == [None, "3", "6"]
    assert {c["q"][0] for c in bsky.calls("app.bsky.feed.searchPosts")} == {"notion", "slack"}
    assert all(c["sort"] == ["latest"] and c["limit"] == ["100"]
               for c in bsky.calls("app.bsky.feed.searchPosts"))
    assert (first.pages, first.imported, first.quarantined) == (4, 7, 3)  # 3 notion + 1 slack
    assert checkpoints == {"notion:notion": NEWEST_SORT_AT}
    assert len(bsky.calls("com.atproto.server.createSession")) == 1

    stored = dict(_rows(db, "SELECT id, author_followers FROM post_records"))
    assert stored["at://did:plc:e3h6y5sxwmdjk2nqv7l4pfr2/app.bsky.feed.post/3lbqgz2hbcc2y"] == 25410
    assert {s for (s,) in _rows(db, "SELECT DISTINCT service FROM post_records")} == {"notion"}

    # Re-run: `since` is the checkpoint; only the new post is added, the boundary post (since
    # is inclusive) just refreshes its counts.
    bsky.on_search("notion", SINCE_PAGE, since=NEWEST_SORT_AT)
    with writing(db) as wh:
        again = collect_source(wh, _source(tmp_path, bsky), config.matcher())
        checkpoints = wh.checkpoints("bluesky")
    assert bsky.calls("app.bsky.feed.searchPosts")[-2]["since"] == [NEWEST_SORT_AT]
    assert (again.imported, again.duplicates) == (1, 1)
    assert checkpoints == {"notion:notion": "2024-11-21T15:31:12.506000Z"}
    likes = _rows(db, "SELECT likes FROM post_records WHERE id LIKE '%3lbqh7xw2ns2a'")
    assert likes == [(96,)]
    assert _rows(db, "SELECT count(*) FROM post_records") == [(8,)]
    # The second run reused the first run's session: one createSession in all.
    assert len(bsky.calls("com.atproto.server.createSession")) == 1
    assert len(bsky.calls("com.atproto.server.getSession")) == 1


def test_a_session_the_server_no_longer_accepts_is_replaced_by_a_new_login(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    matcher = _config(tmp_path, bsky.url).matcher()
    with writing(db) as wh:
        collect_source(wh, _source(tmp_path, bsky), matcher)
        bsky.revoke_sessions()
        collect_source(wh, _source(tmp_path, bsky), matcher)
    assert [m for m, _, _ in bsky.requests if m.startswith("com.atproto")] == [
        "com.atproto.server.createSession", "com.atproto.server.getSession",
        "com.atproto.server.createSession"]


def test_landed_pages_hold_the_responses_exactly_as_sent(tmp_path: Path, db: Path,
                                                         bsky: FakeBluesky) -> None:
    _serve_three_pages(bsky)
    with writing(db) as wh:
        collect_source(wh, _source(tmp_path, bsky), _config(tmp_path, bsky.url).matcher())
    payloads = [json.loads(p) for (p,) in _rows(
        db, "SELECT payload FROM raw_pages WHERE origin LIKE '%q=notion %' ORDER BY origin")]
    sent_profiles = [json.loads(b) for m, b in bsky.sent if m == "app.bsky.actor.getProfiles"]
    assert [p["search"] for p in payloads] == PAGES
    assert [x for p in payloads for x in p["profiles"]] == sent_profiles
    assert all(p["profiles"] for p in payloads)


def test_without_follower_look_ups_the_page_is_the_body_byte_for_byte(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    bsky.on_search("notion", PAGES[2])
    with writing(db) as wh:
        collect_source(wh, _source(tmp_path, bsky, "author_followers = false"),
                       _config(tmp_path, bsky.url).matcher())
    (payload,) = _rows(db, "SELECT payload FROM raw_pages WHERE origin LIKE '%q=notion %'")[0]
    assert payload.encode() == bsky.search[("notion", None, None)]
    assert bsky.calls("app.bsky.actor.getProfiles") == []


def test_a_429_waits_until_the_reset_through_the_injected_sleep(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    _serve_three_pages(bsky)
    reset = int(NOW) + 42
    bsky.fail_next("app.bsky.feed.searchPosts", Reply(
        429, b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}',
        {"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": str(reset),
         "ratelimit-policy": "3000;w=300"}))
    sleeps: list[float] = []
    with writing(db) as wh:
        summary = collect_source(wh, _source(tmp_path, bsky, sleeps=sleeps),
                                 _config(tmp_path, bsky.url).matcher())
    assert sleeps == [43.0]   # until the reset, plus a second
    assert summary.imported == 7
    assert [c.get("cursor", [None])[0] for c in bsky.calls("app.bsky.feed.searchPosts")
            if c["q"] == ["notion"]] == [None, None, "3", "6"]


def test_a_429_far_beyond_the_wait_limit_fails_the_run_without_sleeping(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    bsky.fail_next("app.bsky.feed.searchPosts", Reply(429, b"{}", {"retry-after": "3600"}))
    with writing(db) as wh, pytest.raises(SourceError, match="rate limited"):
        collect_source(wh, _source(tmp_path, bsky), _config(tmp_path, bsky.url).matcher())


def test_a_5xx_raises_and_a_second_run_completes_without_duplicates(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    _serve_three_pages(bsky)
    bsky.fail_next("app.bsky.feed.searchPosts",
                   _json(200, PAGES[0]),   # page 1 is served, then page 2 fails
                   _json(503, {"error": "InternalServerError", "message": "upstream failed"}))
    config = _config(tmp_path, bsky.url)
    with writing(db) as wh:
        with pytest.raises(SourceError, match="503") as failed:
            collect_source(wh, _source(tmp_path, bsky), config.matcher())
        assert "after 1 pages stored" in str(failed.value)
        assert wh.checkpoints("bluesky") == {}    # the query did not finish: no checkpoint
        second = collect_source(wh, _source(tmp_path, bsky), config.matcher())
        assert wh.checkpoints("bluesky") == {"notion:notion": NEWEST_SORT_AT}
    assert second.imported == 4 and second.duplicates == 3
    assert _rows(db, "SELECT count(*), count(DISTINCT id) FROM post_records") == [(7, 7)]


def test_refused_credentials_raise_source_auth_error(tmp_path: Path, db: Path,
                                                     bsky: FakeBluesky) -> None:
    with writing(db) as wh, pytest.raises(SourceAuthError) as refused:
        collect_source(wh, _source(tmp_path, bsky, password="wrong-pass-word"),
                       _config(tmp_path, bsky.url).matcher())
    assert "AFTERSHOCK_BLUESKY_APP_PASSWORD" in str(refused.value)
    assert "401" in str(refused.value)


def test_a_malformed_page_is_quarantined_and_the_other_queries_still_run(
        tmp_path: Path, db: Path, bsky: FakeBluesky) -> None:
    bsky.on_search("notion", b'{"posts": [{"uri": "at://did:plc:x/app.bsky.feed.post/3l', )
    bsky.on_search("slack", PAGES[1])  # any posts: stored under slack's query
    with writing(db) as wh:
        summary = collect_source(wh, _source(tmp_path, bsky),
                                 _config(tmp_path, bsky.url).matcher())
        checkpoints = wh.checkpoints("bluesky")
    assert summary.imported == 3
    reasons = [r for (r,) in _rows(db, "SELECT reason FROM quarantine")]
    assert len(reasons) == 1 and reasons[0].startswith("malformed JSON page")
    assert list(checkpoints) == ["slack:slack"]  # notion's query asks again next run
    assert any("was not a searchPosts response" in note for note in summary.notes)


def test_missing_credentials_and_bad_options_are_clear(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(MissingCredentials, match="AFTERSHOCK_BLUESKY_HANDLE and "
                                                 "AFTERSHOCK_BLUESKY_APP_PASSWORD"):
        build_source("bluesky", Settings(_env_file=None), config)  # type: ignore[call-arg]
    with pytest.raises(MissingCredentials, match="AFTERSHOCK_BLUESKY_APP_PASSWORD"):
        build_source("bluesky", Settings(_env_file=None, bluesky_handle=HANDLE),  # type: ignore[call-arg]
                     config)
    config = _config(tmp_path, "http://127.0.0.1:9", "page_size = 500")
    with pytest.raises(ConfigError, match="page_size"):
        build_source("bluesky", Settings(bluesky_handle=HANDLE, bluesky_app_password=SecretStr(PASSWORD)),
                     config)


def test_no_secret_reaches_the_warehouse_logs_or_errors(
        tmp_path: Path, db: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeBluesky(password=SENTINEL)
    server.echo_secrets = True
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        _serve_three_pages(server)
        config = _config(tmp_path, server.url)
        errors: list[str] = []
        with writing(db) as wh:
            collect_source(wh, _source(tmp_path, server, password=SENTINEL), config.matcher())
            # A server error that echoes the bearer token, and a login refusal that echoes
            # the password: both reach us scrubbed.
            server.fail_next("app.bsky.feed.searchPosts",
                             _json(500, {"error": "InternalServerError", "message": "TOKEN"}))
            with pytest.raises(SourceError) as e1:
                collect_source(wh, _source(tmp_path, server, password=SENTINEL), config.matcher())
            server.password = "something-else"   # the app password was revoked
            server.revoke_sessions()
            with pytest.raises(SourceAuthError) as e2:
                collect_source(wh, _source(tmp_path, server, password=SENTINEL), config.matcher())
            errors += [str(e1.value), repr(e1.value), str(e2.value), repr(e2.value)]
            tables = [t for (t,) in wh.con.execute(
                "SELECT table_name FROM information_schema.tables").fetchall()]
            dump = "\n".join(str(wh.con.execute(f'SELECT * FROM "{t}"').fetchall())
                             for t in tables)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(5)
    assert "raw_pages" in tables and "post_records" in tables
    assert "***" in errors[0]  # the echoed token was there, and was scrubbed
    out = capsys.readouterr()
    for text in [dump, caplog.text, out.out, out.err, *errors]:
        assert SENTINEL not in text
        assert not [token for token in server.issued if token in text]
