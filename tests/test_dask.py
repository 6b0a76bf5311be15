"""Classification on a Dask cluster (two worker processes) through prefect-dask, against a real
Prefect server on 127.0.0.1: the same labels as the local run, every batch a Prefect task run,
both workers used, and the flow process the only warehouse writer."""

from __future__ import annotations

import gzip
import itertools
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import load_config
from pipelines.importers import import_posts
from pipelines.settings import REPO_DIR
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.prefect_server import api_post, prefect_server

POSTS = 300
GROUP = 64  # distinct texts per task: the 300 posts make 5 tasks
LABELS = ["sentiment", "is_complaint", "complaint_type"]
SCORES = ["complaint_probability"]


def demo_warehouse(db: Path, tmp_path: Path, config_path: Path) -> Path:
    """A warehouse holding the first POSTS records of the bundled demo stream."""
    posts = tmp_path / "posts.jsonl"
    with gzip.open(REPO_DIR / "data" / "demo" / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        posts.write_text("".join(itertools.islice(f, POSTS)), encoding="utf-8")
    with writing(db) as wh:
        assert import_posts(wh, posts, load_config(config_path).matcher()).imported == POSTS
    return db


def classified(db: Path) -> pd.DataFrame:
    return query(db, "SELECT source, id, sentiment, is_complaint, complaint_type, "
                     "complaint_probability, model_version FROM posts ORDER BY source, id")


@pytest.mark.slow
def test_dask_classification_matches_the_local_run(tmp_path, config_path, monkeypatch):
    from distributed import Client, LocalCluster

    from pipelines import dask_runner
    from pipelines.flows import classify_flow

    local_db = demo_warehouse(tmp_path / "local.duckdb", tmp_path, config_path)
    dask_db = tmp_path / "dask.duckdb"
    shutil.copyfile(local_db, dask_db)

    with prefect_server(tmp_path / "prefect", monkeypatch) as server:
        assert classify_flow(str(local_db), group_size=GROUP)["classified"] == POSTS
        # Workers inherit PREFECT_API_URL from this process and report to the same server.
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            result = classify_flow(str(dask_db), dask_address=cluster.scheduler_address,
                                   group_size=GROUP)
            loaded = client.run(lambda: dask_runner._worker_classifier.cache_info().currsize)
        batches = api_post(server, "task_runs/filter", {"task_runs": {
            "name": {"like_": "label-batch"}, "state": {"type": {"any_": ["COMPLETED"]}}}})
        # The flow process wrote every label: nothing is left to classify.
        assert classify_flow(str(dask_db))["classified"] == 0

    assert result["classified"] == POSTS
    distinct = query(dask_db, "SELECT count(DISTINCT text) n FROM posts")["n"][0]
    assert len(batches) == -(-distinct // GROUP)  # one Prefect task run per group
    assert sorted(loaded.values()) == [1, 1]  # both worker processes loaded the model, once
    local, remote = classified(local_db), classified(dask_db)
    assert remote["sentiment"].notna().all()
    pd.testing.assert_frame_equal(local[["source", "id", *LABELS, "model_version"]],
                                  remote[["source", "id", *LABELS, "model_version"]])
    pd.testing.assert_frame_equal(local[SCORES], remote[SCORES], atol=1e-6, rtol=0)
