"""Readers (dashboard, `aftershock sql`) keep working while a flow writes in another process:
zero failed reads, and never a partial state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.warehouse.reader import query, run_user_sql

FILES, PER_FILE = 6, 400

WRITER = textwrap.dedent("""
    import sys
    from pipelines.prefect_env import apply_defaults
    apply_defaults()
    from pipelines.flows import import_posts_flow
    db, config, *files = sys.argv[1:]
    for f in files:
        import_posts_flow(db, f, config)
""")


def _post_file(path: Path, batch: int) -> Path:
    with open(path, "w") as f:
        f.writelines(json.dumps({"id": f"{batch}-{i}", "source": "file", "text": f"Slack is down {i}",
                                "created_at": f"2024-06-01T10:{i % 60:02d}:00Z"}) + "\n" for i in range(PER_FILE))
    return path


@pytest.mark.slow
def test_reads_never_fail_or_see_partial_imports_while_a_flow_writes(tmp_path, db, config_path):
    files = [str(_post_file(tmp_path / f"batch{b}.jsonl", b)) for b in range(FILES)]
    # A first import so there is a published warehouse to read from the start.
    subprocess.run([sys.executable, "-c", WRITER, str(db), str(config_path), files[0]],
                   check=True, capture_output=True)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(config_path), *files],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reads, seen = 0, set()
    try:
        while writer.poll() is None:
            row = query(db, "SELECT (SELECT count(*) FROM posts) AS n, "
                            "(SELECT count(*) FROM raw_pages) AS pages").iloc[0]
            n, pages = int(row["n"]), int(row["pages"])
            # The SQL console reads the same snapshots without failing.
            assert int(run_user_sql(db, "SELECT count(*) AS n FROM posts")["n"][0]) % PER_FILE == 0
            # Each file is one page of PER_FILE posts, landed and normalised together.
            assert n % PER_FILE == 0 and n == pages * PER_FILE, (n, pages)
            seen.add(n)
            reads += 1
            time.sleep(0.02)
    finally:
        _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err.decode()[-2000:]
    assert reads > 20
    assert len(seen) > 1, "the reads never overlapped a publish"
    assert int(query(db, "SELECT count(*) AS n FROM posts")["n"][0]) == FILES * PER_FILE
