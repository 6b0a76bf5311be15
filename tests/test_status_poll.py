"""Polling providers' status pages from a real local HTTP server that serves a Statuspage's
summary.json, incidents.json and scheduled-maintenances.json: an incident progressing across
polls, an unchanged page writing nothing and not re-reading the history, a failing provider
(or a failing second request) leaving history untouched and not stopping the others."""

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
from pipelines.status_formats import parse_status
from pipelines.status_poll import (
    HISTORY_MAX_AGE,
    needs_history,
    poll_all,
    poll_provider,
    status_urls,
)
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES

DOC = json.loads((FIXTURES / "statuspage_github_incidents.json").read_text())
SUMMARY = json.loads((FIXTURES / "statuspage_github_summary.json").read_text())
COMPONENTS = json.loads((FIXTURES / "statuspage_github_components.json").read_text())
INCIDENT = DOC["incidents"][0]
INCIDENT_ID = INCIDENT["id"]
UPDATES = sorted(INCIDENT["incident_updates"], key=lambda u: u["created_at"])
SUMMARY_PATH, INCIDENTS_PATH = "/api/v2/summary.json", "/api/v2/incidents.json"
MAINTENANCES_PATH = "/api/v2/scheduled-maintenances.json"


class StatusServer:
    """Serves a page per path (404 elsewhere) and records every path requested."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, body = server.pages.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, doc: Any, status: int = 200) -> None:
        self.pages[path] = (status, json.dumps(doc).encode() if doc is not None else b"error")

    def stage(self, stage: int) -> None:
        """The whole page as it looked at poll `stage`."""
        self.serve(SUMMARY_PATH, _summary(stage))
        self.serve(INCIDENTS_PATH, _incidents(stage))
        self.serve(MAINTENANCES_PATH, {"page": DOC["page"], "scheduled_maintenances": []})


@pytest.fixture()
def server() -> Iterator[StatusServer]:
    s = StatusServer()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    thread.join(5)


def _incident(stage: int) -> dict[str, Any]:
    """The incident at poll `stage` (1 investigating, 2 identified, 3 resolved), updates
    newest first as Statuspage lists them."""
    incident = copy.deepcopy(INCIDENT)
    if stage < 3:
        shown = UPDATES[:stage]
        incident.update(status=["investigating", "identified"][stage - 1], resolved_at=None,
                        updated_at=shown[-1]["created_at"], incident_updates=shown[::-1])
    return incident


def _incidents(stage: int) -> dict[str, Any]:
    return {"page": DOC["page"], "incidents": [_incident(stage)]}


def _summary(stage: int) -> dict[str, Any]:
    """summary.json at `stage`: the open incident and the degraded components until it is
    resolved, then every component operational and no incident."""
    incident = _incident(stage)
    page = {**SUMMARY["page"], "updated_at": incident["updated_at"]}
    if stage < 3:
        return {**SUMMARY, "page": page, "incidents": [incident]}
    return {**SUMMARY, "page": page, "incidents": [], "components": COMPONENTS["components"],
            "status": {"indicator": "none", "description": "All Systems Operational"}}


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


def _stored(db: Path) -> list[pd.DataFrame]:
    return [query(db, f"SELECT * FROM {table} ORDER BY ALL") for table in
            ("incidents", "incident_updates", "provider_components", "provider_status")]


def _incident_status(db: Path) -> str:
    return str(query(db, "SELECT status FROM incidents WHERE incident_id = ?",
                     [INCIDENT_ID])["status"][0])


def test_status_urls_per_provider_kind():
    assert status_urls(Provider(name="A", statuspage="https://status.anthropic.com/")) == [
        "https://status.anthropic.com/api/v2/summary.json"]
    assert status_urls(Provider(name="G", gcp="https://g/incidents.json")) == [
        "https://g/incidents.json"]
    assert status_urls(Provider(name="F", rss="https://f/history.rss")) == ["https://f/history.rss"]
    assert status_urls(Provider(name="internal")) == []


def test_incident_progresses_across_polls_to_one_resolved_incident(tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    new_updates = []
    for stage in (1, 2, 3):
        server.stage(stage)
        [result] = _poll(db, config)
        assert result.error is None and result.provider == "github"
        assert result.history_fetched  # the page changed each time
        new_updates.append(result.new_updates)
        assert _incident_status(db) == ["investigating", "identified", "resolved"][stage - 1]
    assert new_updates == [1, 1, len(UPDATES) - 2]

    incidents = query(db, "SELECT * FROM incidents WHERE incident_id = ?", [INCIDENT_ID])
    assert len(incidents) == 1
    assert incidents["status"][0] == "resolved" and pd.notna(incidents["resolved_at"][0])
    updates = query(db, "SELECT update_id FROM incident_updates WHERE incident_id = ? "
                        "ORDER BY created_at", [INCIDENT_ID])
    assert updates["update_id"].tolist() == [u["id"] for u in UPDATES]
    assert set(query(db, "SELECT status FROM provider_components")["status"]) == {"operational"}
    assert query(db, "SELECT indicator FROM provider_status")["indicator"].tolist() == ["none"]

    # The same unchanged page again: one request, nothing new.
    before = _stored(db)
    server.requests.clear()
    [again] = _poll(db, config)
    assert again.error is None and again.new_incidents == again.new_updates == 0
    assert again.changed_components == 0 and not again.history_fetched
    assert server.requests == [SUMMARY_PATH]
    after = _stored(db)
    for old, new in zip(before, after, strict=True):  # only the poll times moved
        stamps = [c for c in old.columns if c == "polled_at"]
        pd.testing.assert_frame_equal(old.drop(columns=stamps), new.drop(columns=stamps))


def test_an_open_incident_gone_from_the_summary_is_read_from_the_history(tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    server.stage(2)
    _poll(db, config)
    # Resolved between polls, and the page's updated_at (wrongly) left as it was.
    server.stage(3)
    server.serve(SUMMARY_PATH, {**_summary(3), "page": _summary(2)["page"]})
    server.requests.clear()
    [result] = _poll(db, config)
    assert result.history_fetched and INCIDENTS_PATH in server.requests
    assert _incident_status(db) == "resolved"
    server.requests.clear()
    assert not _poll(db, config)[0].history_fetched  # nothing is open any more


def test_history_is_read_again_after_its_max_age(tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    server.stage(3)
    _poll(db, config)
    summary = parse_status(json.dumps(_summary(3)).encode(), "github", "summary.json")
    now = pd.Timestamp.now(tz="UTC")
    with writing(db) as wh:
        assert not needs_history(wh, "github", summary, now)
        assert needs_history(wh, "github", summary, now + HISTORY_MAX_AGE)


def test_failed_poll_leaves_history_and_other_providers_still_poll(tmp_path, server):
    db = tmp_path / "a.duckdb"
    config = _config(tmp_path, server, f"""
[providers.broken]
name = "Broken"
statuspage = "http://127.0.0.1:{_closed_port()}"
""")
    server.stage(2)
    _poll(db, config)
    before = _stored(db)

    server.serve(SUMMARY_PATH, None, status=500)
    with writing(db) as wh:
        result = poll_provider(wh, "github", load_config(config).providers["github"])
    assert result.error is not None and "500" in result.error
    # The summary is fine but the history fails: nothing of the poll is kept either.
    server.stage(3)
    server.serve(INCIDENTS_PATH, None, status=500)
    with writing(db) as wh:
        result = poll_provider(wh, "github", load_config(config).providers["github"])
    assert result.error is not None and "500" in result.error
    for old, new in zip(before, _stored(db), strict=True):
        pd.testing.assert_frame_equal(old, new)

    server.stage(3)
    results = {r.provider: r for r in _poll(db, config)}
    assert results["broken"].error is not None and results["broken"].new_updates == 0
    assert results["github"].error is None and results["github"].new_updates == len(UPDATES) - 2
    assert _incident_status(db) == "resolved"


def test_unparseable_page_writes_nothing(tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    server.serve(SUMMARY_PATH, {"not": "a status page"})
    [result] = _poll(db, config)
    assert result.error is not None and "unknown status format" in result.error
    assert query(db, "SELECT count(*) n FROM incidents")["n"][0] == 0


def test_poll_status_flow(prefect_harness, tmp_path, server):
    db, config = tmp_path / "a.duckdb", _config(tmp_path, server)
    server.stage(3)
    [summary] = poll_status_flow(str(db), str(config))
    assert summary["provider"] == "github" and summary["error"] is None
    assert summary["new_incidents"] == 1 and summary["components"] == 11
    assert query(db, "SELECT count(*) n FROM incident_updates WHERE incident_id = ?",
                 [INCIDENT_ID])["n"][0] == len(UPDATES)
    runs = query(db, "SELECT flow FROM pipeline_runs")
    assert runs["flow"].tolist() == ["poll-status"]
