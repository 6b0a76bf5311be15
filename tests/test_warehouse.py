"""The warehouse: migrations, snapshot publishing, the read-only SQL console."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from pipelines.errors import ReadOnlyQueryError, WarehouseError
from pipelines.warehouse.connection import current_version, migrate, working_path
from pipelines.warehouse.reader import query, run_user_sql
from pipelines.warehouse.schema import LATEST_VERSION
from pipelines.warehouse.writer import writing

POST = {"source": "x", "id": "1", "service": "notion", "created_at": pd.Timestamp("2024-01-01T00:00Z"),
            "text": "hi", "author": "a", "author_followers": 3, "likes": 1, "reposts": 0, "replies": 0, "quotes": 0,
            "lang": "en", "url": None, "is_repost": False, "parent_id": None, "raw_page_id": None}


def test_migrations_upgrade_an_existing_file_and_keep_its_data(db):
    # A warehouse written by the first release (schema version 1) ...
    work = working_path(db)
    con = duckdb.connect(str(work))
    migrate(con, upto=1)
    con.execute("INSERT INTO post_records (source, id, created_at, text, ingested_at) "
                "VALUES ('x', 'old', '2024-01-01T00:00:00Z', 'kept', now())")
    assert current_version(con) == 1
    con.close()
    # ... is upgraded in place by the current code, data intact.
    with writing(db) as wh:
        assert current_version(wh.con) == LATEST_VERSION
    assert query(db, "SELECT text FROM posts")["text"].tolist() == ["kept"]
    assert query(db, "SELECT count(*) n FROM source_checkpoints")["n"][0] == 0
    versions = query(db, "SELECT version FROM schema_migrations ORDER BY 1")["version"].tolist()
    assert versions == list(range(1, LATEST_VERSION + 1))


def test_failed_write_publishes_nothing(db):
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([POST]))
    with pytest.raises(RuntimeError), writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([{**POST, "id": "2"}]))
        raise RuntimeError("crash mid-run")
    assert query(db, "SELECT id FROM posts")["id"].tolist() == ["1"]


def test_published_snapshot_can_be_read_while_the_writer_is_open(db):
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([POST]))
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([{**POST, "id": "2"}]))
        # The writer holds its working file; readers still open the published one.
        assert len(query(db, "SELECT * FROM posts")) == 1
    assert len(query(db, "SELECT * FROM posts")) == 2


def test_missing_warehouse_is_a_clear_error(tmp_path):
    with pytest.raises(WarehouseError, match="aftershock demo"):
        query(tmp_path / "none.duckdb", "SELECT 1")


@pytest.mark.parametrize("escape", [
    ("INSERT INTO post_records (source, id, created_at, text, ingested_at) "
    "VALUES ('x','2',now(),'t',now())"),
    "DELETE FROM post_records",
    "DROP TABLE post_records",
    "CREATE TABLE evil AS SELECT 1",
    "COPY post_records TO '/tmp/aftershock-leak.csv'",
    "ATTACH '/tmp/aftershock-other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM 'https://example.com/x.parquet'",
    "SET enable_external_access = true",
    "SET threads = 1",
])
def test_user_sql_cannot_write_or_escape(db, escape):
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([POST]))
    with pytest.raises((ReadOnlyQueryError, WarehouseError)):
        run_user_sql(db, escape)
    assert len(query(db, "SELECT * FROM post_records")) == 1


def test_user_sql_reads(db):
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([POST]))
    assert run_user_sql(db, "SELECT count(*) AS n FROM posts")["n"][0] == 1


def test_a_failed_insert_inside_a_transaction_raises_our_error_and_rolls_back(db):
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([POST]))
        with pytest.raises(WarehouseError, match="NOT NULL"), wh.transaction():
            wh.upsert_posts(pd.DataFrame([{**POST, "id": "2"}]))
            wh.quarantine(pd.DataFrame([{"source": "x", "record_hash": None, "record": "r",
                                         "reason": "why", "origin": "o"}]))
        assert wh.con.execute("SELECT count(*) FROM post_records").fetchall() == [(1,)]
