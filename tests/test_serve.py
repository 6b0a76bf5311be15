"""`aftershock serve`: the deployments and their limits, the process flow's "anything new?"
check, and end to end: a real Prefect server on 127.0.0.1, `aftershock serve` in a child
process with short intervals, a file of posts making a burst dropped into the replayed file
source's folder, and a scheduled collect, process (classify -> analyze -> alerts) that find the
spike and deliver its alert to a JSON webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pytest

from pipelines.classify import load_classifier
from pipelines.classify_run import classify_planned, local_labeller, plan_classification
from pipelines.importers import import_posts
from pipelines.process_state import (
    PendingWork,
    pending_work,
    published_fingerprint,
    record_processed,
)
from pipelines.serve import ONE_AT_A_TIME, build_deployments
from pipelines.settings import load_settings
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.prefect_server import api_post, prefect_server

CALM = ["Writing my weekly plan in Notion this morning", "notion templates for a reading list?",
        "Moved our team wiki into Notion last month, pretty happy", "Notion AI summarised my notes"]
ANGRY = ["Notion AI is down again, every request fails with an error",
         "notion is broken?? can't load any page, 500 errors everywhere",
         "Notion AI not responding for 20 minutes now, this is unusable",
         "is notion down for anyone else? getting errors on every page"]
CONFIG = """
[services.notion]
name = "Notion AI"
keywords = ["notion ai", "notion"]

[sources.file]
path = "{folder}"
"""
BURST = 160


def write_posts(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def calm_history(now: pd.Timestamp, days: int = 4) -> list[dict[str, Any]]:
    """A post every 7 minutes for the last few days: the baseline the detector learns."""
    rng = np.random.default_rng(5)
    stamps = pd.date_range(now - pd.Timedelta(days=days), now, freq="7min")
    return [{"id": f"calm{i}", "source": "x", "created_at": ts.isoformat(),
             "text": CALM[i % len(CALM)], "author": f"user{i % 97}",
             "author_followers": int(rng.integers(10, 500))} for i, ts in enumerate(stamps)]


def burst(now: pd.Timestamp) -> list[dict[str, Any]]:
    """BURST complaints by distinct authors over the last half hour."""
    rng = np.random.default_rng(7)
    return [{"id": f"angry{i}", "source": "bluesky",
             "created_at": (now - pd.Timedelta(seconds=int(rng.integers(60, 30 * 60)))
                            ).isoformat(),
             "text": ANGRY[i % len(ANGRY)], "author": f"angry{i}", "author_followers": 100}
            for i in range(BURST)]


# -- the deployments ----------------------------------------------------------------------

def test_deployments_have_their_schedules_and_timeouts(tmp_path, config_path):
    s = load_settings(db=tmp_path / "w.duckdb", config=config_path, collect_interval_s=120,
                      process_timeout_s=900)
    deployments = {d.name: d for d in build_deployments(s)}
    assert {name: d.every for name, d in deployments.items()} == {
        "collect": timedelta(seconds=120), "poll-status": timedelta(seconds=60),
        "process": timedelta(seconds=60)}
    assert {name: d.flow.timeout_seconds for name, d in deployments.items()} == {
        "collect": 1800, "poll-status": 300, "process": 900}
    assert {name: d.flow.name for name, d in deployments.items()} == {
        "collect": "collect", "poll-status": "poll-status", "process": "process"}
    for d in deployments.values():
        assert Path(d.parameters["db"]).is_absolute() and d.parameters["db"].endswith("w.duckdb")
        assert Path(d.parameters["config"]) == config_path.resolve()
    assert deployments["process"].parameters["group_size"] == s.classify_group_size
    assert ONE_AT_A_TIME.limit == 1 and ONE_AT_A_TIME.collision_strategy.value == "CANCEL_NEW"


def test_bad_interval_is_a_clear_error(tmp_path, config_path):
    from pipelines.errors import ConfigError

    with pytest.raises(ConfigError, match="collect: the interval"):
        build_deployments(load_settings(db=tmp_path / "w.duckdb", collect_interval_s=0))


# -- the process flow's check -------------------------------------------------------------

def test_pending_work_sees_new_posts_labels_and_incidents(tmp_path, db, matcher):
    assert not pending_work(db).any  # no warehouse yet
    now = pd.Timestamp.now(tz="UTC").floor("min")
    with writing(db) as wh:
        import_posts(wh, write_posts(tmp_path / "a.jsonl", calm_history(now, days=1)[:20]),
                     matcher)
    work = pending_work(db)
    assert work.unclassified == 20 and work.inputs_changed

    classifier = load_classifier(None)
    with writing(db) as wh:
        plan = plan_classification(wh, classifier.model_version, everything=False)
        classify_planned(wh, local_labeller(classifier, 64), plan)
    seen = published_fingerprint(db)
    with writing(db) as wh:
        record_processed(wh, now, {"status": "processed"}, seen)
    assert not pending_work(db).any  # a process run right now would return at once

    with writing(db) as wh:  # a new incident is new input for analyze
        wh.upsert_incidents(pd.DataFrame([{
            "provider": "anthropic", "incident_id": "i1", "title": "Elevated errors",
            "impact": "major", "status": "investigating", "components": ["api"], "url": None,
            "created_at": now, "started_at": now, "resolved_at": None, "updated_at": now}]),
            pd.DataFrame(columns=["provider", "incident_id", "update_id", "status", "body",
                                  "created_at"]))
    assert pending_work(db) == PendingWork(0, True)

    with writing(db) as wh:
        import_posts(wh, write_posts(tmp_path / "b.jsonl", burst(now)[:3]), matcher)
    assert pending_work(db).unclassified == 3


# -- end to end ---------------------------------------------------------------------------

class WebhookReceiver:
    """Collects the JSON bodies POSTed to it on 127.0.0.1."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, serve: subprocess.Popen[bytes],
             log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            pytest.fail(f"aftershock serve exited ({serve.returncode}) before {what}:\n"
                        f"{log.read_text()[-3000:]}")
        if check():
            return
        time.sleep(2)
    pytest.fail(f"no {what} within {timeout_s:.0f} s; serve's log ends:\n{log.read_text()[-3000:]}")


def runs(db: Path) -> pd.DataFrame:
    if not db.exists():
        return pd.DataFrame(columns=["flow", "status", "summary", "finished_at"])
    return query(db, "SELECT flow, status, summary, finished_at FROM pipeline_runs "
                     "ORDER BY finished_at")


@pytest.fixture()
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[Path, Path, WebhookReceiver, subprocess.Popen[bytes], Path, Any]]:
    folder, db, log = tmp_path / "incoming", tmp_path / "aftershock.duckdb", tmp_path / "serve.log"
    folder.mkdir()
    config = tmp_path / "aftershock.toml"
    config.write_text(CONFIG.format(folder=folder), encoding="utf-8")
    now = pd.Timestamp.now(tz="UTC")
    write_posts(folder / "history.jsonl", calm_history(now))
    with prefect_server(tmp_path / "prefect", monkeypatch) as server, \
            WebhookReceiver() as webhook, open(log, "wb") as out:
        env = {**os.environ, "AFTERSHOCK_ALERT_WEBHOOK_URL": webhook.url,
               "PREFECT_RUNNER_POLL_FREQUENCY": "2", "HF_HUB_OFFLINE": "1"}
        serve = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--db", str(db), "--config",
             str(config), "--collect-every", "15", "--poll-every", "60", "--process-every", "15"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            yield folder, db, webhook, serve, log, server
        finally:
            serve.send_signal(signal.SIGINT)  # as Ctrl+C: the runner stops its flow runs
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait(timeout=10)


@pytest.mark.slow
def test_serve_collects_processes_and_alerts_on_schedule(serving):
    folder, db, webhook, serve, log, server = serving

    def collected(n: int) -> Callable[[], bool]:
        return lambda: n <= (query(db, "SELECT count(*) n FROM posts")["n"][0]
                             if db.exists() else 0)

    # Limits well above the ~30 s these take alone: under pytest-xdist the server, serve and
    # its flow runs share the CPUs with other workers' tests.
    history = len(calm_history(pd.Timestamp.now(tz="UTC")))
    wait_for("first scheduled collect", collected(history - 1), 240, serve, log)
    write_posts(folder / "burst.jsonl", burst(pd.Timestamp.now(tz="UTC")))

    def alerted() -> bool:
        return any(b.get("kind") == "new" for b in webhook.bodies)

    wait_for("alert on the webhook", alerted, 240, serve, log)

    done = runs(db)
    completed = done[done["status"] == "completed"]
    assert {"collect:file", "classify", "analyze", "alerts", "process"} <= set(completed["flow"])
    spikes = query(db, "SELECT * FROM spikes WHERE service = 'notion' AND complaint_type IS NULL")
    assert len(spikes) >= 1
    alert = next(b for b in webhook.bodies if b.get("kind") == "new")
    assert alert["spike"]["service"] == "notion"
    assert alert["spike"]["id"] in set(spikes["spike_id"])
    assert alert["spike"]["complaints"] >= BURST // 2
    # The runs were scheduled by the server's deployments, not started by hand.
    scheduled = api_post(server, "flow_runs/filter", {"flow_runs": {
        "deployment_id": {"is_null_": False}, "state": {"type": {"any_": ["COMPLETED"]}}}})
    flows = {f["id"]: f["name"] for f in api_post(server, "flows/filter", {})}
    assert {"collect", "process"} <= {flows[r["flow_id"]] for r in scheduled}
