"""The Jetstream follower against a real websockets server on 127.0.0.1 that serves events
written from Jetstream's documented JSON: keyword filtering on our side, a page every N matched
posts with the last event's time_us as checkpoint, resuming from that cursor, the time and
event budgets, a broken stream, and malformed events going to quarantine."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.sync.server import ServerConnection, serve

from pipelines.collect import collect_source
from pipelines.config import ServicesConfig, load_config
from pipelines.errors import ConfigError
from pipelines.settings import Settings
from pipelines.sources import build_source
from pipelines.sources.base import SourceError
from pipelines.sources.bluesky_format import normalise_jetstream_page
from pipelines.sources.jetstream import JetstreamFollower
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES

LINES = (FIXTURES / "bluesky" / "jetstream_events.jsonl").read_text().splitlines()
T0 = 1732200761118000
LAST = T0 + 12_000  # time_us of the last event in the fixture


def _time(line: str) -> int | None:
    try:
        return int(json.loads(line)["time_us"])
    except (ValueError, KeyError):
        return None


class FakeJetstream:
    """Serves the fixture's events from the `cursor` a client asks for (all of them without
    one), then keeps the socket open ("idle"), closes it normally ("close"), or fails it
    with 1011 after `break_after` events ("break")."""

    def __init__(self, mode: str = "idle", break_after: int = 0) -> None:
        self.mode, self.break_after = mode, break_after
        self.paths: list[str] = []
        self.server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/subscribe"

    def cursors(self) -> list[str | None]:
        return [parse_qs(urlsplit(p).query).get("cursor", [None])[0] for p in self.paths]

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        query = parse_qs(urlsplit(ws.request.path).query)
        assert query["wantedCollections"] == ["app.bsky.feed.post"]
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        sent = 0
        for line in LINES:
            t = _time(line)
            if cursor is not None and (t is None or t < cursor):
                continue
            if self.mode == "break" and sent == self.break_after:
                ws.close(1011, "upstream relay went away")
                return
            ws.send(line)
            sent += 1
        if self.mode == "close":
            ws.close()
            return
        for _ in ws:  # idle until the client hangs up
            pass


@pytest.fixture()
def jetstream(request: pytest.FixtureRequest) -> Iterator[FakeJetstream]:
    mode, break_after = getattr(request, "param", ("close", 0))
    server = FakeJetstream(mode, break_after)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    thread.join(5)


def _config(tmp_path: Path, url: str, options: str = "") -> ServicesConfig:
    limit = "" if "max_seconds" in options else "max_seconds = 10  # no test waits longer\n"
    path = tmp_path / "services.toml"
    path.write_text(f"""
[services.notion]
name = "Notion AI"
keywords = ["notion ai", "notion"]
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

[sources.jetstream]
url = "{url}"
{limit}{options}
""")
    return load_config(path)


def _follower(tmp_path: Path, url: str, options: str = "") -> JetstreamFollower:
    source = build_source("jetstream", Settings(), _config(tmp_path, url, options))
    assert isinstance(source, JetstreamFollower)
    return source


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with writing(db) as wh:
        return wh.con.execute(sql).fetchall()


def test_parser_keeps_post_creates_and_quarantines_the_rest() -> None:
    events: list[Any] = [json.loads(line) if _time(line) else line for line in LINES]
    out = normalise_jetstream_page(events)
    assert len(out.posts) == 7  # every post create with a good createdAt, matched or not
    first = out.posts[0]
    assert first["id"] == "at://did:plc:4x2qbvmyzoukr6cbd5ejxnq3/app.bsky.feed.post/3lbqh7xw2ns2a"
    assert first["url"] == ("https://bsky.app/profile/did:plc:4x2qbvmyzoukr6cbd5ejxnq3/post/"
                            "3lbqh7xw2ns2a")
    assert (first["author"], first["source"], first["lang"]) == (
        "did:plc:4x2qbvmyzoukr6cbd5ejxnq3", "bluesky", "en")
    assert first["likes"] is None and first["author_followers"] is None
    reply = next(p for p in out.posts if p["id"].endswith("3lbqh86notn2e"))
    assert reply["parent_id"].endswith("/3lbqf2ztmsk2c")
    reasons = sorted(r for _, r in out.rejects)
    assert reasons == [
        "Jetstream event: 'create' of 'app.bsky.feed.like' is not a post create",
        "Jetstream event: 'delete' of 'app.bsky.feed.post' is not a post create",
        "Jetstream event: kind 'account' is not a commit",
        "Jetstream event: kind 'identity' is not a commit",
        ("Jetstream event: record.createdAt '2024-11-21 14:52:48' has no UTC offset (use Z or "
         "+HH:MM)"),
        "Jetstream event: the message is not a JSON object (truncated or malformed)",
    ]
    assert normalise_jetstream_page({"kind": "commit"}).rejects[0][1].startswith(
        "Jetstream page: not a JSON array")


def test_keeps_matching_posts_pages_them_and_resumes_from_the_cursor(
        tmp_path: Path, db: Path, jetstream: FakeJetstream) -> None:
    options = "page_events = 2\nmax_events = 13\nrewind_seconds = 0"
    config = _config(tmp_path, jetstream.url, options)
    with writing(db) as wh:
        first = collect_source(wh, _follower(tmp_path, jetstream.url, options), config.matcher())
        checkpoints = wh.checkpoints("jetstream")
        pages = wh.con.execute("SELECT payload FROM raw_pages ORDER BY received_at").fetchall()
    # 6 kept (4 matching posts, the post with a bad createdAt, the truncated message): three
    # pages of two, then a last page whose checkpoint covers the unmatched events after them.
    assert (first.pages, first.imported, first.quarantined) == (4, 4, 2)
    assert checkpoints == {"time_us": str(LAST)}
    assert jetstream.cursors() == [None]
    stored = dict(_rows(db, "SELECT id, service FROM post_records"))
    assert sorted(stored.values()) == ["notion", "notion", "notion", "slack"]
    assert all(i.startswith("at://") for i in stored)
    assert {s for (s,) in _rows(db, "SELECT DISTINCT source FROM post_records")} == {"bluesky"}
    reasons = sorted(r for (r,) in _rows(db, "SELECT reason FROM quarantine"))
    assert reasons[0].startswith("Jetstream event: record.createdAt")
    # Landed as received: each matched message is an element of the page's array, unchanged.
    landed = [e for (p,) in pages for e in json.loads(p)]
    assert json.dumps(landed[0], ensure_ascii=False, separators=(",", ":")) == LINES[0]

    with writing(db) as wh:
        again = collect_source(wh, _follower(tmp_path, jetstream.url, options), config.matcher())
        assert wh.checkpoints("jetstream") == {"time_us": str(LAST)}
    assert jetstream.cursors()[-1] == str(LAST)
    assert (again.pages, again.imported) == (0, 0)  # only the last, unmatched event again


def test_the_rewind_replays_a_few_seconds_without_duplicating(
        tmp_path: Path, db: Path, jetstream: FakeJetstream) -> None:
    options = "max_events = 13"
    config = _config(tmp_path, jetstream.url, options)
    with writing(db) as wh:
        collect_source(wh, _follower(tmp_path, jetstream.url, options), config.matcher())
        again = collect_source(wh, _follower(tmp_path, jetstream.url, options),
                               config.matcher())
    assert jetstream.cursors()[-1] == str(LAST - 5_000_000)
    assert (again.imported, again.duplicates) == (0, 4)
    assert _rows(db, "SELECT count(*) FROM post_records") == [(4,)]


def test_a_backfill_reads_from_since_and_never_moves_the_cursor_back(
        tmp_path: Path, db: Path, jetstream: FakeJetstream) -> None:
    options = "max_events = 13"
    since = datetime(2024, 11, 21, 14, 52, 41, 120000, tzinfo=UTC)  # just after event 1
    with writing(db) as wh:
        wh.save_checkpoints("jetstream", {"time_us": str(LAST + 60_000_000)})
        summary = collect_source(wh, _follower(tmp_path, jetstream.url, options),
                                 _config(tmp_path, jetstream.url).matcher(), since=since)
        assert wh.checkpoints("jetstream") == {"time_us": str(LAST + 60_000_000)}
    assert jetstream.cursors() == [str(T0 + 2_000)]
    assert summary.imported == 3  # event 1 is before `since`


@pytest.mark.parametrize("jetstream", [("idle", 0)], indirect=True)
def test_the_time_budget_ends_the_run(tmp_path: Path, db: Path,
                                      jetstream: FakeJetstream) -> None:
    ticks = iter(range(1000))
    follower = _follower(tmp_path, jetstream.url, "max_seconds = 4")
    follower._clock = lambda: float(next(ticks))  # one second passes per look at the clock
    with writing(db) as wh:
        collect_source(wh, follower, _config(tmp_path, jetstream.url).matcher())
        # Deadline at 4 s: reads at 1, 2 and 3 s remaining 3, 2, 1 s: three events.
        assert wh.checkpoints("jetstream") == {"time_us": str(T0 + 3_000)}


def test_a_normal_close_ends_the_run_with_what_was_read(
        tmp_path: Path, db: Path, jetstream: FakeJetstream) -> None:
    with writing(db) as wh:
        summary = collect_source(wh, _follower(tmp_path, jetstream.url),
                                 _config(tmp_path, jetstream.url).matcher())
        assert wh.checkpoints("jetstream") == {"time_us": str(LAST)}
    assert summary.imported == 4
    assert "the server closed the stream" in summary.notes


@pytest.mark.parametrize("jetstream", [("break", 5)], indirect=True)
def test_a_broken_stream_keeps_what_was_read_raises_and_the_retry_resumes(
        tmp_path: Path, db: Path, jetstream: FakeJetstream) -> None:
    options = "rewind_seconds = 0"
    config = _config(tmp_path, jetstream.url, options)
    with writing(db) as wh:
        with pytest.raises(SourceError, match="1011"):
            collect_source(wh, _follower(tmp_path, jetstream.url, options), config.matcher())
        assert wh.checkpoints("jetstream") == {"time_us": str(T0 + 5_000)}
        assert wh.con.execute("SELECT count(*) FROM post_records").fetchall() == [(2,)]
        with pytest.raises(SourceError):  # the stream breaks again, 5 events further
            collect_source(wh, _follower(tmp_path, jetstream.url, options), config.matcher())
    assert jetstream.cursors() == [None, str(T0 + 5_000)]
    assert _rows(db, "SELECT count(*) FROM post_records") == [(3,)]


def test_an_unreachable_stream_is_a_source_error(tmp_path: Path, db: Path) -> None:
    with serve(lambda ws: None, "127.0.0.1", 0) as closed:
        port = closed.socket.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/subscribe"
    with writing(db) as wh, pytest.raises(SourceError, match="jetstream 127.0.0.1"):
        collect_source(wh, _follower(tmp_path, url), _config(tmp_path, url).matcher())


def test_bad_options_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="page_events"):
        _follower(tmp_path, "ws://127.0.0.1:9/subscribe", "page_events = 0")
