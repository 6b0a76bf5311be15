"""Crashes: the real `aftershock` CLI is killed with SIGKILL in the middle of an import, a collect
and a classify run, then run again. The re-run must end with exactly the records it should:
every expected id once, no gaps, checkpoints equal to what the stored pages say, and every post
classified once. Each CLI start pays for Prefect's temporary server (~15-20 s), so each test
runs the CLI twice only."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.classify_run import GROUP, GROUPS_PER_CHUNK
from pipelines.importers import import_posts
from pipelines.warehouse.connection import working_path
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.test_collect import _config

CLI = [sys.executable, "-m", "pipelines.cli"]
# tqdm's bar: "import big.jsonl: 12000 posts [..." or "classify:  40%|###  | 2400/6000 [...".
PROGRESS = re.compile(rb"(\d+)(?:/\d+| posts) \[")
# Generous: under pytest-xdist the CLI shares the CPUs with other workers' tests.
START_TIMEOUT_S = 480.0


class CliRun:
    """The CLI in its own process group (the CLI and Prefect's temporary server beside it), its
    stderr read as it comes so that tqdm's progress can be watched."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        self.process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, start_new_session=True)
        self.err = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        while chunk := self.process.stderr.read1(65536):
            self.err += chunk

    def progress(self) -> int:
        found = PROGRESS.findall(self.err[-4000:])
        return int(found[-1]) if found else 0

    def kill_when(self, reached: Callable[[int], bool]) -> int:
        """SIGKILLs the whole process group once `reached(progress)`; returns that progress."""
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while not reached(done := self.progress()):
                assert self.process.poll() is None, (
                    "the run ended before it could be killed mid-way:\n"
                    + self.err.decode(errors="replace")[-3000:])
                assert time.monotonic() < deadline, self.err.decode(errors="replace")[-3000:]
                time.sleep(0.05)
        except BaseException:
            # A run left behind would keep classifying and slow every other worker's tests.
            self._kill()
            raise
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        assert self.process.returncode == -signal.SIGKILL
        return done

    def _kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the CLI and its Prefect server
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def finish(self) -> str:
        try:
            out, _ = self.process.communicate(timeout=600)
        except BaseException:
            self._kill()
            raise
        self._reader.join(timeout=10)
        assert self.process.returncode == 0, self.err.decode(errors="replace")[-3000:]
        return out.decode()


def _writer_state(db: Path, sql: str) -> Any:
    """What the killed writer left in its working file (the lock died with it)."""
    con = duckdb.connect(str(working_path(db)), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _post(i: int, text: str | None = None) -> str:
    return json.dumps({"id": f"p{i:06d}", "source": "file",
                       "created_at": f"2024-08-13T{10 + i % 12:02d}:{i % 60:02d}:00Z",
                       "text": text or f"notion is down for me, request {i} failed"})


def _check_exactly(db: Path, ids: set[str]) -> None:
    """The published warehouse holds exactly `ids`, each once."""
    rows = query(db, "SELECT id, count(*) AS n FROM post_records GROUP BY id")
    assert set(rows["id"]) == ids, "ids missing or unexpected"
    assert (rows["n"] == 1).all(), "a post is stored twice"


@pytest.mark.slow
def test_import_killed_mid_way_then_rerun_stores_every_record_once(tmp_path: Path,
                                                                    db: Path) -> None:
    lines, good, bad = [], set(), 0
    for i in range(150_000):
        if i % 997 == 5:
            lines.append(f'{{"id": "broken {i}"')
            bad += 1
        else:
            lines.append(_post(i))
            good.add(f"p{i:06d}")
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")

    killed_at = CliRun(["import", "posts", str(path), "--db", str(db)]).kill_when(
        lambda n: n >= 30_000)
    assert killed_at < len(lines)
    assert not db.exists(), "a killed import published a snapshot"
    (pages, normalised, posts, quarantined), = _writer_state(
        db, "SELECT (SELECT count(*) FROM raw_pages), (SELECT count(*) FILTER "
            "(normalised_at IS NOT NULL) FROM raw_pages), (SELECT count(*) FROM post_records), "
            "(SELECT count(*) FROM quarantine)")
    # Whole pages only: every landed page is normalised and all of its records are stored.
    assert pages == normalised >= 30 and posts + quarantined == 1000 * pages

    out = CliRun(["import", "posts", str(path), "--db", str(db)]).finish()
    assert (f"{len(lines)} records read: {len(good) - posts} imported, {posts} skipped as "
            f"duplicates, {bad} quarantined") in out
    _check_exactly(db, good)
    counts = query(db, "SELECT (SELECT count(*) FROM quarantine) q, (SELECT count(*) FROM "
                       "raw_pages WHERE normalised_at IS NOT NULL) p").iloc[0]
    assert (counts["q"], counts["p"]) == (bad, -(-len(lines) // 1000))


@pytest.mark.slow
def test_collect_killed_mid_way_then_rerun_collects_every_file_once(tmp_path: Path,
                                                                    db: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    per_file, files = 2500, 40  # three pages a file; the checkpoint rides on the last one
    expected: set[str] = set()
    for f in range(files):
        ids = range(f * per_file, (f + 1) * per_file)
        (folder / f"part{f:03d}.jsonl").write_text("".join(_post(i) + "\n" for i in ids))
        expected.update(f"p{i:06d}" for i in ids)
    config = _config(tmp_path, folder)
    args = ["collect", "--db", str(db), "--config", str(config)]

    CliRun(args).kill_when(lambda n: n >= 25_000)
    (stored,), = _writer_state(db, "SELECT count(*) FROM post_records")
    done = dict(_writer_state(db, "SELECT key, value FROM source_checkpoints "
                                  "WHERE source = 'file'"))
    # A checkpointed file is wholly stored; the file under way may be partly stored.
    assert 0 < len(done) < files
    for name in done:
        first = int(Path(name).stem.removeprefix("part")) * per_file
        (n,), = _writer_state(db, f"SELECT count(*) FROM post_records WHERE id BETWEEN "
                                  f"'p{first:06d}' AND 'p{first + per_file - 1:06d}'")
        assert n == per_file
    partial = stored - per_file * len(done)
    assert 0 <= partial < per_file

    out = CliRun(args).finish()
    # Only the files without a checkpoint are read again; the partial one's posts are known.
    left = (files - len(done)) * per_file
    assert (f"file: {left} posts read, {left - partial} new, {partial} already stored, "
            "0 quarantined") in out, out
    _check_exactly(db, expected)
    checkpoints = query(db, "SELECT key, value FROM source_checkpoints WHERE source = 'file'")
    assert dict(zip(checkpoints["key"], checkpoints["value"], strict=True)) == {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.jsonl")}


WORDS = ["notion", "slack", "github", "down", "slow", "error", "login", "billing", "sync", "page",
         "lost", "again", "today", "why", "works", "fixed", "support", "team", "outage", "broken",
         "api", "timeout", "loop", "coda", "great", "love", "hate"]


@pytest.mark.slow
def test_classify_killed_mid_way_then_rerun_classifies_every_post_once(
        tmp_path: Path, db: Path, matcher: Any) -> None:
    rng = random.Random(3)
    chunk = GROUP * GROUPS_PER_CHUNK  # each chunk's labels are committed with it
    total = 2 * chunk + 808
    path = tmp_path / "posts.jsonl"
    path.write_text("".join(
        _post(i, " ".join(rng.choices(WORDS, k=12)) + f" #{i}") + "\n" for i in range(total)))
    with writing(db) as wh:
        assert import_posts(wh, path, matcher).imported == total

    # Past the first group of the second chunk, the first chunk is committed.
    CliRun(["classify", "--db", str(db)]).kill_when(lambda n: n >= chunk + GROUP)
    (done,), = _writer_state(db, "SELECT count(*) FROM classifications")
    assert done % chunk == 0 and chunk <= done < total  # whole chunks only
    assert query(db, "SELECT count(*) AS n FROM classifications")["n"][0] == 0  # unpublished

    out = CliRun(["classify", "--db", str(db)]).finish()
    assert f"{total - done} posts classified" in out
    rows = query(db, "SELECT count(*) AS n, count(DISTINCT (source, id)) AS d, "
                     "count(sentiment) AS s FROM classifications").iloc[0]
    assert (rows["n"], rows["d"], rows["s"]) == (total, total, total)
    assert query(db, "SELECT count(*) AS n FROM posts WHERE sentiment IS NULL")["n"][0] == 0
