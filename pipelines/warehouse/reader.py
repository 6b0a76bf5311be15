"""The read API used by the dashboard and `aftershock sql`: short-lived read-only connections
to the published snapshot, so a writer publishing a new one never blocks or breaks a reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipelines.errors import ReadOnlyQueryError, WarehouseError
from pipelines.warehouse.connection import open_reader


def query(published: Path, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Runs one query on the current snapshot and returns its result as a DataFrame."""
    con = open_reader(published)
    try:
        return con.execute(sql, params or []).df()
    except duckdb.Error as e:
        raise WarehouseError(f"query failed: {e}") from e
    finally:
        con.close()


def run_user_sql(published: Path, sql: str) -> pd.DataFrame:
    """Runs SQL typed by a user. The connection is read-only with external access disabled and
    settings locked, so writes, COPY, ATTACH, INSTALL/LOAD and file readers all fail here."""
    con = open_reader(published)
    try:
        return con.execute(sql).df()
    except (duckdb.PermissionException, duckdb.InvalidInputException) as e:
        raise ReadOnlyQueryError(f"not allowed in the read-only console: {e}") from e
    except duckdb.Error as e:
        raise WarehouseError(f"query failed: {e}") from e
    finally:
        con.close()
