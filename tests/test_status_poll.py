"""Polling providers' status pages from a real local HTTP server: an incident progressing
across polls, an unchanged page writing nothing, a failing provider leaving history untouched
and not stopping the others."""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.config import Provider, load_config
from pipelines.flows import poll_status_flow
from pipelines.status_poll import poll_all, poll_provider, status_urls
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES

DOC = json.loads((FIXTURES / "statuspage_github_incidents.json").read_text())
INCIDENT = DOC["incidents"][0]
INCIDENT_ID = INCIDENT["id"]
UPDATES = sorted(INCIDENT["incident_updates"], key=lambda u: u["created_at"])


class StatusServer:
    """Serves one response for every path: `respond` sets what the next polls get."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"{}"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def respond(self, doc: dict[str, Any] | None, status: int = 200) -> None:
        self.status = status
        self.body = json.dumps(doc).encode() if doc is not None else b"server error"


@pytest.fixture()
def server() -> Iterator[StatusServer]:
    s = StatusServer()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    thread.join(5)


def _page(stage: int) -> dict[str, Any]:
    """The incident as the page showed it at poll `stage` (1 investigating, 2 identified,
    3 resolved), updates newest first as Statuspage lists them."""
    incident = copy.deepcopy(INCIDENT)
    if stage < 3:
        shown = UPDATES[:stage]
        incident.update(status=["investigating", "identified"][stage - 1], resolved_at=None,
                        updated_at=shown[-1]["created_at"], incident_updates=shown[::-1])
    return {"page": DOC["page"], "incidents": [incident]}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, server: StatusServer, extra: str = "") -> Path:
    path = tmp_path / "services.toml"
    path.write_text(f"""
[services.copilot]
name = "Copilot"
keywords = ["copilot"]
depends_on = ["github"{', "broken"' if extra else ''}]

[providers.github]
name = "GitHub"
statuspage = "{server.base}"
{extra}
""")
    return path


def _poll(db: Path, config: Path) -> list[Any]:
    with writing(db) as wh:
        return poll_all(wh, load_config(config))


def _stored(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    incidents = query(db, "SELECT * FROM incidents ORDER BY provider, incident_id")
    updates = query(db, "SELECT * FROM incident_updates ORDER BY provider, incident_id, "
                        "created_at, update_id")
    return incidents, updates


def test_status_urls_per_provider_kind():
    assert status_urls(Provider(name="A", statuspage="https://status.anthropic.com/")) == [
        "https://status.anthropic.com/api/v2/incidents.json"]
    assert status_urls(Provider(name="G", gcp="https://g/incidents.json")) == [
        "https://g/incidents.json"]
    assert status_urls(Provider(name="F", rss="https://f/history.rss")) == ["https://f/history.rss"]
    assert status_urls(Provider(name="internal")) == []


def test_incident_progresses_across_polls_to_one_resolved_incident(tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    new_updates = []
    for stage in (1, 2, 3):
        server.respond(_page(stage))
        [result] = _poll(db, config)
        assert result.error is None and result.provider == "github"
        new_updates.append(result.new_updates)
        status = query(db, "SELECT status FROM incidents WHERE incident_id = ?", [INCIDENT_ID])
        assert status["status"].tolist() == [["investigating", "identified", "resolved"][stage - 1]]
    assert new_updates == [1, 1, len(UPDATES) - 2]

    incidents = query(db, "SELECT * FROM incidents WHERE incident_id = ?", [INCIDENT_ID])
    assert len(incidents) == 1
    assert incidents["status"][0] == "resolved" and pd.notna(incidents["resolved_at"][0])
    updates = query(db, "SELECT update_id FROM incident_updates WHERE incident_id = ? "
                        "ORDER BY created_at", [INCIDENT_ID])
    assert updates["update_id"].tolist() == [u["id"] for u in UPDATES]

    [again] = _poll(db, config)
    assert again.error is None and again.new_incidents == again.new_updates == 0


def test_failed_poll_leaves_history_and_other_providers_still_poll(tmp_path, server):
    db = tmp_path / "a.duckdb"
    config = _config(tmp_path, server, f"""
[providers.broken]
name = "Broken"
statuspage = "http://127.0.0.1:{_closed_port()}"
""")
    server.respond(_page(2))
    _poll(db, config)
    before = _stored(db)

    server.respond(None, status=500)
    with writing(db) as wh:
        result = poll_provider(wh, "github", load_config(config).providers["github"])
    assert result.error is not None and "500" in result.error
    after = _stored(db)
    pd.testing.assert_frame_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])

    server.respond(_page(3))
    results = {r.provider: r for r in _poll(db, config)}
    assert results["broken"].error is not None and results["broken"].new_updates == 0
    assert results["github"].error is None and results["github"].new_updates == len(UPDATES) - 2
    assert query(db, "SELECT status FROM incidents WHERE incident_id = ?",
                 [INCIDENT_ID])["status"][0] == "resolved"


def test_unparseable_page_writes_nothing(tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    server.respond({"not": "a status page"})
    [result] = _poll(db, config)
    assert result.error is not None and "unknown status format" in result.error
    assert query(db, "SELECT count(*) n FROM incidents")["n"][0] == 0


def test_poll_status_flow(prefect_harness, tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    server.respond(_page(3))
    [summary] = poll_status_flow(str(db), str(config))
    assert summary["provider"] == "github" and summary["error"] is None
    assert summary["new_incidents"] == 1
    assert query(db, "SELECT count(*) n FROM incident_updates WHERE incident_id = ?",
                 [INCIDENT_ID])["n"][0] == len(UPDATES)
    runs = query(db, "SELECT flow FROM pipeline_runs")
    assert runs["flow"].tolist() == ["poll-status"]
