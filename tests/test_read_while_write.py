"""Readers (dashboard, `aftershock sql`) keep working while a flow writes in another process:
zero failed reads, and never a partial state."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.errors import ReadOnlyQueryError
from pipelines.warehouse.reader import query, run_user_sql
from pipelines.warehouse.writer import writing

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


COLLECT_WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from pipelines.prefect_env import apply_defaults
    apply_defaults()
    from pipelines.flows import collect_flow
    db, config, folder, rounds, per_file = sys.argv[1:]
    for r in range(int(rounds)):
        # A new file dropped into the replay folder, then one collect run: one publish each.
        Path(folder, f"drop{r}.jsonl").write_text("".join(json.dumps({
            "id": f"c{r}-{i}", "source": "file", "text": f"notion is down {i}",
            "created_at": "2024-06-01T10:00:00Z"}) + "\\n" for i in range(int(per_file))))
        assert collect_flow(db, config, ["file"])["file"]["status"] == "collected"
        time.sleep(0.3)
""")


def _watch(name: str, read: Callable[[], tuple[int, int]], stop: threading.Event,
           seen: dict[str, list[int]], failures: list[str]) -> None:
    """Reads until stopped; every read must succeed and show whole files of distinct posts,
    never fewer than the read before."""
    while not stop.is_set():
        try:
            posts, distinct = read()
        except Exception as e:  # noqa: BLE001 -- any failed read is what this test counts
            failures.append(f"{name}: {e!r}")
            continue
        history = seen[name]
        if posts != distinct or posts % PER_FILE or (history and posts < history[-1]):
            failures.append(f"{name}: inconsistent read {posts} posts, {distinct} ids, "
                            f"after {history[-1:]}")
        history.append(posts)
        time.sleep(0.02)


@pytest.mark.slow
def test_sql_cli_and_dashboard_queries_read_consistently_while_collect_writes(
        tmp_path: Path, db: Path) -> None:
    from dashboard import queries as dq
    from tests.test_collect import _config

    folder = tmp_path / "drop"
    folder.mkdir()
    config = _config(tmp_path, folder)
    rounds = 5
    with writing(db):  # an empty published warehouse to read from the start
        pass

    def sql_cli() -> tuple[int, int]:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "sql", "--db", str(db), "--format", "json",
             "SELECT count(*) AS n, count(DISTINCT id) AS d FROM posts"],
            check=False, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(done.stderr.strip())
        row = json.loads(done.stdout)[0]
        return int(row["n"]), int(row["d"])

    # Each dashboard query opens the snapshot of its moment: checked one by one.
    def dashboard_overview() -> tuple[int, int]:
        snap = dq.snapshot(db)
        assert snap is not None
        posts = dq.overview(snap).posts
        return posts, posts

    def dashboard_services() -> tuple[int, int]:
        snap = dq.snapshot(db)
        assert snap is not None
        posts = int(dq.services(snap)["posts"].sum())
        return posts, posts

    def console() -> tuple[int, int]:
        row = run_user_sql(db, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM posts")
        return int(row["n"][0]), int(row["d"][0])

    readers_by_name = {"sql cli": sql_cli, "dashboard overview": dashboard_overview,
                       "dashboard services": dashboard_services, "console": console}
    seen: dict[str, list[int]] = {name: [] for name in readers_by_name}
    failures: list[str] = []
    stop = threading.Event()
    readers = [threading.Thread(target=_watch, args=(name, read, stop, seen, failures))
               for name, read in readers_by_name.items()]
    writer = subprocess.Popen([sys.executable, "-c", COLLECT_WRITER, str(db), str(config),
                               str(folder), str(rounds), str(PER_FILE)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for reader in readers:
        reader.start()
    try:
        _, err = writer.communicate(timeout=500)
    finally:
        time.sleep(1.0)  # a last round of reads of the final snapshot
        stop.set()
        for reader in readers:
            reader.join(timeout=150)
    assert writer.returncode == 0, err.decode()[-2000:]
    assert not failures, failures[:5]
    assert all(seen[name] for name in seen), seen
    assert len(set(seen["console"])) > 1, "the reads never overlapped a publish"
    assert max(seen["console"]) == rounds * PER_FILE


def test_readers_in_threads_of_one_process_share_the_locked_snapshot(db: Path) -> None:
    """Connections of one process to one file share a DuckDB instance: the second reader's
    `SET TimeZone` met the settings the first had locked, and its read failed (found by the
    test above with the console and the dashboard in threads)."""
    from pipelines.warehouse.connection import open_reader

    with writing(db):
        pass
    held = open_reader(db)  # another dashboard session, mid-query
    try:
        assert run_user_sql(db, "SELECT current_setting('TimeZone') AS tz")["tz"][0] in (
            "UTC", "Etc/UTC")
        with pytest.raises(ReadOnlyQueryError):
            run_user_sql(db, "SET enable_external_access = true")
    finally:
        held.close()
