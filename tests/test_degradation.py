"""Degradation: when the classifier cannot load, posts are still stored and left unclassified,
`aftershock classify` fails with one line, the dashboard says how many posts are classified,
and the next classify run with a model that loads catches up. The demo pipeline keeps its
import and runs its other steps when classify fails."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from pipelines.cli import main
from pipelines.errors import ModelError
from pipelines.warehouse.reader import query
from tests.conftest import FIXTURES

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
POSTS = 40


def _posts_file(path: Path) -> Path:
    path.write_text("".join(json.dumps({
        "id": f"d{i}", "source": "file", "created_at": f"2024-02-26T17:{10 + i % 40:02d}:00Z",
        "text": f"Claude is down again, error {i} on every request"}) + "\n" for i in range(POSTS)))
    return path


def _classified(db: Path) -> tuple[int, int]:
    row = query(db, "SELECT count(*) AS posts, count(sentiment) AS classified FROM posts").iloc[0]
    return int(row["posts"]), int(row["classified"])


@pytest.mark.slow
def test_a_model_that_cannot_load_leaves_posts_unclassified_until_a_later_run(
        tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch,
        prefect_harness: None) -> None:
    broken = tmp_path / "no-model"
    broken.mkdir()
    monkeypatch.setenv("AFTERSHOCK_MODEL", str(broken))
    runner = CliRunner()
    imported = runner.invoke(main, ["import", "posts", str(_posts_file(tmp_path / "p.jsonl")),
                                    "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    assert _classified(db) == (POSTS, 0)

    failed = runner.invoke(main, ["classify", "--db", str(db)])
    assert failed.exit_code == 1
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: cannot load the classifier")
    assert str(broken) in errors[0] and "Traceback" not in failed.output
    assert _classified(db) == (POSTS, 0)  # stored, unclassified, nothing lost

    # The dashboard shows the posts and says they are not classified.
    monkeypatch.setenv("AFTERSHOCK_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("views/incident.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"0 of {POSTS} posts are classified" in i.value for i in at.info)

    monkeypatch.delenv("AFTERSHOCK_MODEL")
    caught_up = runner.invoke(main, ["classify", "--db", str(db)])
    assert caught_up.exit_code == 0, caught_up.output
    assert f"{POSTS} posts classified" in caught_up.output
    assert _classified(db) == (POSTS, POSTS)


@pytest.mark.slow
def test_demo_pipeline_keeps_its_import_and_analyzes_when_classify_fails(
        tmp_path: Path, db: Path, config_path: Path, prefect_harness: None) -> None:
    from pipelines.flows import demo_flow

    demo = tmp_path / "demo"
    demo.mkdir()
    plain = _posts_file(tmp_path / "posts.jsonl")
    (demo / "posts.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    shutil.copy(FIXTURES / "icpe_incident_stages_sample.csv", demo / "incidents_icpe.csv")
    broken = tmp_path / "no-model"
    broken.mkdir()

    with pytest.raises(ModelError, match="cannot load the classifier"):
        demo_flow(str(db), str(demo), str(config_path), str(broken))
    assert _classified(db) == (POSTS, 0)
    assert query(db, "SELECT count(*) AS n FROM incidents")["n"][0] > 0
    runs = query(db, "SELECT flow, status FROM pipeline_runs")
    assert {"import-posts", "import-status", "analyze", "demo"} <= set(runs["flow"])
    assert ("classify", "failed") in set(runs.itertuples(index=False, name=None))


@pytest.mark.slow
def test_the_scheduled_process_flow_analyzes_and_alerts_even_when_classify_fails(
        tmp_path: Path, db: Path, config_path: Path, prefect_harness: None) -> None:
    from pipelines.flows import process_flow

    runner = CliRunner()
    imported = runner.invoke(main, ["import", "posts", str(_posts_file(tmp_path / "p.jsonl")),
                                    "--db", str(db)])
    assert imported.exit_code == 0, imported.output
    broken = tmp_path / "no-model"
    broken.mkdir()
    with pytest.raises(ModelError):
        process_flow(str(db), str(config_path), model=str(broken))
    runs = query(db, "SELECT flow, status FROM pipeline_runs")
    assert {"analyze", "alerts"} <= set(runs.loc[runs["status"] == "completed", "flow"])
    assert _classified(db) == (POSTS, 0)  # stored and still waiting for the next run
