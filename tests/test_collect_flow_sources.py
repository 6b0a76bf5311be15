"""The collect flow with two real sources under Prefect: Mastodon (through Mastodon.py) and
Hacker News (through requests), each against its own server on 127.0.0.1. A source that keeps
failing is reported with its message and recorded in pipeline_runs while the other's posts
land; a transient 5xx is recovered by the Prefect retry without duplicating anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import load_config
from tests.test_source_hackernews import AlgoliaServer
from tests.test_source_hackernews import hits as hn_hits
from tests.test_source_mastodon import MastodonServer
from tests.test_source_mastodon import load as mastodon_fixture

EXAMPLE = Path(__file__).parents[1] / "pipelines" / "services.example.toml"
HN_ERROR = (500, {}, json.dumps({"message": "Internal Server Error", "status": 500}))


@pytest.fixture()
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MastodonServer, AlgoliaServer]]:
    monkeypatch.delenv("AFTERSHOCK_MASTODON_ACCESS_TOKEN", raising=False)  # hashtags only
    mastodon, hn = MastodonServer(), AlgoliaServer()
    mastodon.tags["notion"] = mastodon_fixture("tag_notion")
    yield mastodon, hn
    mastodon.close()
    hn.close()


def _config(tmp_path: Path, mastodon: MastodonServer, hn: AlgoliaServer) -> Path:
    base = EXAMPLE.read_text().split("[sources.")[0]  # the example's own sources are not for tests
    services = load_config(EXAMPLE).services
    tags = ", ".join(f'{key} = {["notion"] if key == "notion" else []}' for key in services)
    queries = ", ".join(f'{key} = {["notion"] if key == "notion" else []}' for key in services)
    path = tmp_path / "services.toml"
    path.write_text(base + f"""
[sources.mastodon]
instances = ["{mastodon.url}"]
hashtags = {{ {tags} }}
page_size = 2
lookback = "3650d"
timeout_s = 5

[sources.hackernews]
api_url = "{hn.url}"
queries = {{ {queries} }}
page_size = 2
lookback = "3650d"
timeout_s = 5
""")
    return path


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    from pipelines.warehouse.reader import query

    return list(query(db, sql).itertuples(index=False, name=None))


@pytest.mark.slow
def test_a_failing_source_is_reported_and_the_other_source_lands_its_posts(
        tmp_path: Path, db: Path, prefect_harness: None,
        servers: tuple[MastodonServer, AlgoliaServer]) -> None:
    from pipelines.flows import collect_flow

    mastodon, hn = servers
    hn.script = [HN_ERROR] * 10
    results = collect_flow(str(db), str(_config(tmp_path, mastodon, hn)), retry_delays_s=[0])

    assert results["mastodon"]["status"] == "collected"
    assert (results["mastodon"]["imported"], results["mastodon"]["pages"]) == (5, 3)
    assert results["hackernews"]["status"] == "failed"
    message = results["hackernews"]["message"]
    assert message.startswith("hackernews: 'notion' (notion): HTTP 500"), message
    assert len(hn.requests) == 2  # the first try and its one retry, then reported
    runs = _rows(db, "SELECT flow, status, summary FROM pipeline_runs ORDER BY flow, status")
    assert [(flow, status) for flow, status, _ in runs] == [
        ("collect:hackernews", "failed"), ("collect:mastodon", "completed")]
    assert "HTTP 500" in json.loads(str(runs[0][2]))["error"]
    posts = _rows(db, "SELECT source, service, count(*) FROM posts GROUP BY ALL")
    assert posts == [("mastodon", "notion", 5)]


@pytest.mark.slow
def test_a_transient_server_error_is_retried_and_duplicates_nothing(
        tmp_path: Path, db: Path, prefect_harness: None,
        servers: tuple[MastodonServer, AlgoliaServer]) -> None:
    from pipelines.flows import collect_flow

    mastodon, hn = servers
    hn.hits = hn_hits("search_by_date_notion")
    mastodon.script = [None, (502, {}, "<html>502 Bad Gateway</html>")]  # fails on page two
    hn.script = [(503, {}, "Service Unavailable")]
    config = str(_config(tmp_path, mastodon, hn))

    results = collect_flow(str(db), config, retry_delays_s=[0])
    again = collect_flow(str(db), config, retry_delays_s=[0])

    # The retry stored the pages the failed try had not reached: 2 + 3 new posts on Mastodon.
    assert results["mastodon"]["status"] == "collected"
    assert (results["mastodon"]["imported"], results["mastodon"]["duplicates"]) == (3, 2)
    assert results["hackernews"]["imported"] == 5
    assert again["mastodon"]["imported"] == 0 and again["hackernews"]["imported"] == 0
    counts = _rows(db, "SELECT source, count(*), count(DISTINCT id) FROM posts "
                       "GROUP BY ALL ORDER BY source")
    assert counts == [("hackernews", 5, 5), ("mastodon", 5, 5)]
    runs = _rows(db, "SELECT flow, status FROM pipeline_runs ORDER BY flow")
    assert {status for _, status in runs} == {"completed"}
