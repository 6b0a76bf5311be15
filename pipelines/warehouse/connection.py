"""Opening the warehouse. DuckDB lets one process hold a file read-write and then refuses every
other process, readers included. So the pipeline writes a private working file and publishes a
consistent snapshot of it at the published path (`--db`) with an atomic `os.replace`; readers
(dashboard, `aftershock sql`, analysts) only ever open the published file, read-only."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb

from pipelines.errors import WarehouseBusyError, WarehouseError
from pipelines.warehouse.schema import MIGRATIONS, Migration

_LOCK_MESSAGE = "lock"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row. Fetches the whole result: DuckDB 2.0 refuses further
    work on a connection while a result is only partly read."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def working_path(published: Path) -> Path:
    """The writer's private file beside the published one: data/x.duckdb -> data/x.writer.duckdb."""
    return published.with_name(published.stem + ".writer" + published.suffix)


def _connect_rw(path: Path, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path))
            con.execute("SET TimeZone = 'UTC'")
            return con
        except duckdb.IOException as e:
            if _LOCK_MESSAGE not in str(e).lower():
                raise WarehouseError(f"cannot open warehouse {path}: {e}") from e
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"another Aftershock process is writing {path}; waited {lock_timeout_s:.0f} s"
                ) from e
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        except duckdb.Error as e:
            raise WarehouseError(f"cannot open warehouse {path}: {e}") from e


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    )
    if not exists:
        return 0
    return int(scalar(con, "SELECT coalesce(max(version), 0) FROM schema_migrations"))


def migrate(con: duckdb.DuckDBPyConnection, upto: int | None = None) -> list[Migration]:
    """Applies, in version order, each migration the file has not had, each in its own
    transaction. By set, not by the highest version: a file made while a lower-numbered
    migration was still unmerged gets it too."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    have = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for m in sorted(MIGRATIONS, key=lambda m: m.version):
        if m.version in have or (upto is not None and m.version > upto):
            continue
        con.execute("BEGIN")
        try:
            con.execute(m.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())", [m.version, m.name]
            )
            con.execute("COMMIT")
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            raise WarehouseError(f"migration {m.version} ({m.name}) failed: {e}") from e
        applied.append(m)
    return applied


def open_writer(published: Path, lock_timeout_s: float = 600.0) -> duckdb.DuckDBPyConnection:
    """Opens (creating or migrating as needed) the writer's working file for `published`."""
    published.parent.mkdir(parents=True, exist_ok=True)
    work = working_path(published)
    if not work.exists() and published.exists():
        # Someone gave us only the published file (a copy, a backup): continue from it.
        shutil.copyfile(published, work)
    con = _connect_rw(work, lock_timeout_s)
    migrate(con)
    return con


def publish(con: duckdb.DuckDBPyConnection, published: Path) -> None:
    """Copies the writer's database to a temporary file and atomically swaps it in. Readers that
    already opened the old file keep reading it; new readers see the whole new state.

    After CHECKPOINT the writer's file holds every committed change and nothing else writes it
    (we hold the writer), so a byte copy is a complete database. DuckDB's own
    `COPY FROM DATABASE` made the same file but peaked at 2.1 GiB and 20 s at 1M posts; the byte
    copy needs no memory and takes about a second (bench/end_to_end.py, docs/performance.md)."""
    tmp = published.with_name(f".{published.name}.{uuid.uuid4().hex}.tmp")
    try:
        con.execute("CHECKPOINT")
        shutil.copyfile(working_path(published), tmp)
        os.replace(tmp, published)
    except (duckdb.Error, OSError) as e:
        raise WarehouseError(f"publishing the warehouse snapshot {published} failed: {e}") from e
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            if leftover.exists():
                leftover.unlink()


def open_reader(published: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published snapshot that cannot touch the file system or
    network, load extensions or change settings: safe for user-typed SQL."""
    if not published.exists():
        raise WarehouseError(
            f"no warehouse at {published}; build one with `aftershock demo --no-dashboard` "
            "or `aftershock import posts FILE`"
        )
    try:
        con = duckdb.connect(
            str(published),
            read_only=True,
            config={
                "enable_external_access": False,
                "autoload_known_extensions": False,
                "autoinstall_known_extensions": False,
            },
        )
        _lock_reader(con)
        return con
    except duckdb.Error as e:
        raise WarehouseError(f"cannot open warehouse {published} read-only: {e}") from e


def _lock_reader(con: duckdb.DuckDBPyConnection) -> None:
    """UTC, then settings locked. Connections of one process to one file share a database
    instance (the dashboard's sessions are threads), so another reader may have locked it
    already: then the SETs are refused and the check below is what counts."""
    for statement in ("SET GLOBAL TimeZone = 'UTC'", "SET lock_configuration = true"):
        try:
            con.execute(statement)
        except duckdb.InvalidInputException:
            pass  # locked by an earlier connection to the same file
    zone, locked = con.execute(
        "SELECT current_setting('TimeZone'), current_setting('lock_configuration')").fetchall()[0]
    if zone not in ("UTC", "Etc/UTC") or not locked:
        raise WarehouseError(f"the read-only connection is not locked to UTC ({zone}, {locked})")
