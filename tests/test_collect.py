"""The collect runner and flow with the file-replay source: pages land with their checkpoint,
a re-run adds nothing, new files are picked up, and a failing source is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.collect import collect_source
from pipelines.config import load_config
from pipelines.sources.file import FileSource
from pipelines.warehouse.writer import writing

FIXTURES = Path(__file__).parent / "fixtures"


def _post(i: int, text: str) -> str:
    return json.dumps({"id": f"p{i}", "source": "file", "created_at": "2024-08-13T10:00:00Z",
                       "text": text})


def _config(tmp_path: Path, folder: Path, extra: str = "") -> Path:
    base = (Path(__file__).parents[1] / "pipelines" / "services.example.toml").read_text()
    base = base.split("[sources.")[0]  # the example's own sources are not for tests
    path = tmp_path / "services.toml"
    path.write_text(base + f'\n[sources.file]\npath = "{folder}"\n' + extra)
    return path


def test_file_source_collects_once_and_picks_up_new_files(tmp_path: Path, db: Path,
                                                          matcher) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_post(1, "notion is down") + "\n" + "{not json\n")
    source = FileSource(folder)
    with writing(db) as wh:
        first = collect_source(wh, source, matcher)
        again = collect_source(wh, source, matcher)
        (folder / "b.jsonl").write_text(_post(2, "slack works again") + "\n")
        third = collect_source(wh, source, matcher)
        services = dict(wh.con.execute("SELECT id, service FROM post_records").fetchall())
        checkpoints = wh.checkpoints("file")
    assert (first.imported, first.quarantined) == (1, 1)
    assert again.pages == 0  # unchanged file skipped by its checkpoint
    assert (third.pages, third.imported) == (1, 1)
    assert services == {"p1": "notion", "p2": "slack"}
    assert set(checkpoints) == {str(folder / "a.jsonl"), str(folder / "b.jsonl")}


@pytest.mark.slow
def test_collect_flow_reports_a_failing_source_and_keeps_the_others(
        tmp_path: Path, db: Path, prefect_harness: None) -> None:
    from pipelines.flows import collect_flow
    from pipelines.warehouse.reader import query

    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.jsonl").write_text(_post(1, "notion is down") + "\n")
    config = _config(tmp_path, folder, '\n[sources.x]\n')
    results = collect_flow(str(db), str(config), retry_delays_s=[0])
    assert results["file"]["imported"] == 1
    assert results["x"]["status"] == "skipped"
    assert "AFTERSHOCK_X_BEARER_TOKEN" in results["x"]["message"]
    runs = query(db, "SELECT flow, status FROM pipeline_runs ORDER BY flow")
    assert ("collect:file", "completed") in list(runs.itertuples(index=False, name=None))
    assert load_config(config).enabled_sources() == ["file", "x"]
