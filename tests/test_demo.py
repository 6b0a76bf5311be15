"""`aftershock demo --no-dashboard` from the bundled data, run as a user would (a subprocess
with its own temporary Prefect server): the views hold what the demo promises, a second run
duplicates nothing, and every example query of docs/schema.md runs on it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.warehouse.reader import query, run_user_sql

REPO = Path(__file__).resolve().parent.parent
COUNTS = """
SELECT (SELECT count(*) FROM posts) AS posts,
       (SELECT count(*) FROM posts WHERE sentiment IS NULL) AS unclassified,
       (SELECT count(*) FROM incidents) AS incidents,
       (SELECT count(*) FROM incident_updates) AS updates,
       (SELECT count(*) FROM spikes) AS spikes,
       (SELECT count(*) FROM incident_links) AS links,
       (SELECT count(*) FROM post_buckets) AS buckets,
       (SELECT count(*) FROM quarantine) AS quarantined,
       (SELECT count(*) FROM raw_pages) AS pages
"""


def _demo(db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AFTERSHOCK_DB": str(db)}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "demo", "--no-dashboard"], check=False,
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "aftershock.duckdb"
    run = _demo(db)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return db


@pytest.mark.slow
def test_demo_builds_a_complete_warehouse(demo_db):
    counts = query(demo_db, COUNTS).iloc[0]
    assert counts["posts"] >= 20_000 and counts["unclassified"] == 0
    assert counts["incidents"] > 10 and counts["updates"] > counts["incidents"]
    assert counts["spikes"] > 5 and counts["links"] > 5 and counts["buckets"] > 1000
    span = query(demo_db, "SELECT max(created_at) - min(created_at) AS d FROM posts")["d"][0]
    assert span.days >= 7
    # Notion's spikes are explained by its upstream providers' incidents.
    upstream = query(demo_db, "SELECT count(*) n FROM incident_links "
                              "WHERE service = 'notion' AND relation = 'upstream'")["n"][0]
    assert upstream >= 2
    assert query(demo_db, "SELECT count(*) n FROM pipeline_runs WHERE flow = 'demo'")["n"][0] == 1


@pytest.mark.slow
def test_demo_run_twice_duplicates_nothing(demo_db):
    before = query(demo_db, COUNTS)
    run = _demo(demo_db)
    assert run.returncode == 0, run.stderr[-3000:]
    assert query(demo_db, COUNTS).equals(before)


def _doc_queries() -> list[str]:
    text = (REPO / "docs" / "schema.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.slow
@pytest.mark.parametrize("sql", _doc_queries(), ids=lambda q: q.splitlines()[0][:40])
def test_documented_queries_run(demo_db, sql):
    result = run_user_sql(demo_db, sql)
    # The demo data is clean (nothing to quarantine), '…' marks a value to fill in, and the
    # demo neither collects (X tweet counts), polls status pages nor sends alerts.
    empty_in_demo = ("FROM quarantine", "FROM source_volume", "FROM alerts_sent",
                     "FROM provider_status", "FROM provider_components")
    if "'…'" not in sql and not any(table in sql for table in empty_in_demo):
        assert len(result) > 0, sql
