"""The `aftershock` command line: help everywhere, SQL output formats, one-line errors."""

from __future__ import annotations

import json

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.warehouse.writer import writing


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    """Every command and subcommand of the CLI, so a new one cannot go without --help."""
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, [*prefix, name])
        else:
            found.append([*prefix, name])
    return found


COMMANDS = _commands(main, [])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "aftershock")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert len(result.output.splitlines()) > 4


@pytest.fixture()
def small_db(db):
    post = {"source": "x", "id": "1", "service": "notion", "created_at": pd.Timestamp("2024-01-01T00:00Z"),
                "text": 'Notion, "down", again', "author": "a", "author_followers": 3, "likes": 1, "reposts": 0,
                "replies": 0, "quotes": 0, "lang": "en", "url": None, "is_repost": False, "parent_id": None,
                "raw_page_id": None}
    with writing(db) as wh:
        wh.upsert_posts(pd.DataFrame([post, {**post, "id": "2", "service": "slack"}]))
    return db


def test_sql_formats(small_db):
    q = "SELECT id, service, text FROM posts ORDER BY id"
    csv = CliRunner().invoke(main, ["sql", q, "--db", str(small_db), "--format", "csv"])
    assert csv.exit_code == 0
    assert csv.output.splitlines()[0] == "id,service,text"
    assert csv.output.splitlines()[1] == '1,notion,"Notion, ""down"", again"'
    js = CliRunner().invoke(main, ["sql", q, "--db", str(small_db), "--format", "json"])
    assert [r["service"] for r in json.loads(js.output)] == ["notion", "slack"]
    table = CliRunner().invoke(main, ["sql", q, "--db", str(small_db)])
    assert "notion" in table.output and "slack" in table.output


def test_sql_refuses_writes_with_a_one_line_error(small_db):
    result = CliRunner().invoke(main, ["sql", "DELETE FROM post_records", "--db", str(small_db)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "Traceback" not in result.output


def test_missing_warehouse_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["sql", "SELECT 1", "--db", str(tmp_path / "no.duckdb")])
    assert result.exit_code == 1 and "aftershock demo" in result.output


def test_detect_on_a_csv(tmp_path):
    index = pd.date_range("2024-01-01", periods=600, freq="min")
    values = [2 + (i % 3) for i in range(600)]
    values[400:420] = [40] * 20
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%d %H:%M:%S"), "value": values}).to_csv(
        tmp_path / "in.csv", index=False)
    result = CliRunner().invoke(main, ["detect", "--in", str(tmp_path / "in.csv"),
                                       "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:4]) == ["start", "peak", "end", "score"]
    assert out["start"].tolist() == ["2024-01-01 06:40:00"]
