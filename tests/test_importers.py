"""Post importers: formats, bad records, idempotency."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipelines.errors import ImportFormatError
from pipelines.importers import import_posts
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES

GOOD = {"id": "1", "source": "x", "created_at": "2024-06-04T10:00:00Z",
        "text": "Notion AI is down again", "likes": 3, "author": "ann"}


def _import(db: Path, path: Path, matcher):  # type: ignore[no-untyped-def]
    with writing(db) as wh:
        return import_posts(wh, path, matcher)


def _write_lines(path: Path, lines: list[str | bytes]) -> Path:
    with open(path, "wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else line.encode())
            f.write(b"\n")
    return path


def test_post_records_are_imported_with_service_matched(tmp_path, db, matcher):
    records = [GOOD, {**GOOD, "id": "2", "text": "slack is slow", "source": "bluesky"},
               {**GOOD, "id": "3", "text": "just slacking off today", "source": "mastodon"},
               {**GOOD, "id": "4", "service": "GitHub", "text": "no keyword here"}]
    path = _write_lines(tmp_path / "p.jsonl", [json.dumps(r) for r in records])
    summary = _import(db, path, matcher)
    assert (summary.imported, summary.quarantined) == (4, 0)
    rows = query(db, "SELECT id, service, likes FROM posts ORDER BY id")
    assert rows["service"].tolist()[:2] == ["notion", "slack"]
    assert rows["service"].isna().tolist()[2]  # "slacking" is not Slack
    assert rows["service"].tolist()[3] == "github"  # the record's own service wins, lowercased
    assert rows["likes"].tolist()[0] == 3


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "malformed JSON"),
    (json.dumps({"id": "9", "source": "x", "text": "hi"}), "missing required field(s): created_at"),
    (json.dumps({**GOOD, "created_at": "2024-06-04T10:00:00"}), "has no UTC offset"),
    (json.dumps({**GOOD, "created_at": "yesterday"}), "not an ISO 8601 timestamp"),
    (json.dumps({**GOOD, "created_at": "1970-01-01T00:00:00Z"}), "out of range"),
    (json.dumps({**GOOD, "created_at": "2999-01-01T00:00:00Z"}), "out of range"),
    (json.dumps({**GOOD, "source": "myspace"}), "source 'myspace' is not one of"),
    (json.dumps({**GOOD, "text": 42}), "text must be a string"),
    (json.dumps({**GOOD, "likes": -1}), "likes must be a non-negative integer"),
    (json.dumps({**GOOD, "likes": "many"}), "likes must be a non-negative integer"),
    # Python's json reads Infinity and NaN, so a count can arrive as a non-finite float
    (json.dumps({**GOOD, "likes": float("inf")}), "likes must be a non-negative integer"),
    (json.dumps({**GOOD, "likes": float("nan")}), "likes must be a non-negative integer"),
    (json.dumps({**GOOD, "text": "x" * 100_001}), "more than 100000"),
    (json.dumps([1, 2]), "must be a JSON object"),
    (b'{"id": "5", "text": "\xff\xfe"}', "not valid UTF-8"),
])
def test_bad_record_is_quarantined_with_reason_and_neighbours_kept(tmp_path, db, matcher, line,
                                                                    reason):
    before = json.dumps({**GOOD, "id": "before"})
    after = json.dumps({**GOOD, "id": "after"})
    path = _write_lines(tmp_path / "p.jsonl", [before, line, after])
    summary = _import(db, path, matcher)
    assert (summary.imported, summary.quarantined) == (2, 1)
    assert sorted(query(db, "SELECT id FROM posts")["id"]) == ["after", "before"]
    q = query(db, "SELECT source, reason, record FROM quarantine")
    assert len(q) == 1 and reason in q["reason"][0], q["reason"][0]


def test_nul_bytes_are_stripped_from_text(tmp_path, db, matcher):
    path = _write_lines(tmp_path / "p.jsonl", [json.dumps({**GOOD, "text": "a\x00b"})])
    _import(db, path, matcher)
    assert query(db, "SELECT text FROM posts")["text"][0] == "ab"


def test_reimport_changes_nothing(tmp_path, db, matcher):
    lines = [json.dumps({**GOOD, "id": str(i)}) for i in range(50)] + ["{broken"]
    path = _write_lines(tmp_path / "p.jsonl", lines)
    first = _import(db, path, matcher)
    snapshot = query(db, "SELECT * EXCLUDE (ingested_at) FROM post_records ORDER BY id")
    second = _import(db, path, matcher)
    assert (first.imported, first.quarantined) == (50, 1)
    assert (second.imported, second.duplicates) == (0, 50)
    counts = query(db, "SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM quarantine) q,"
                       " (SELECT count(*) FROM raw_pages) r")
    assert counts.iloc[0].tolist() == [50, 1, 1]  # one raw page, landed once
    again = query(db, "SELECT * EXCLUDE (ingested_at) FROM post_records ORDER BY id")
    assert again.equals(snapshot)


def test_duplicate_ids_within_a_batch_are_stored_once(tmp_path, db, matcher):
    path = _write_lines(tmp_path / "p.jsonl", [json.dumps(GOOD), json.dumps({**GOOD, "text": "b"})])
    summary = _import(db, path, matcher)
    assert summary.imported == 1 and summary.duplicates == 1
    assert query(db, "SELECT text FROM posts")["text"].tolist() == [GOOD["text"]]


def test_gzipped_file(tmp_path, db, matcher):
    path = tmp_path / "p.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(GOOD).encode()))
    assert _import(db, path, matcher).imported == 1


def test_a_damaged_gzip_keeps_the_pages_read_before_the_damage(tmp_path, db, matcher):
    # JSON Lines are streamed: pages before the damage are committed (in the writer's working
    # copy, which the next run continues from), then a clear error.
    lines = "\n".join(json.dumps({**GOOD, "id": str(i), "text": f"notion down {i} " + "x" * i})
                      for i in range(3000)).encode()
    whole = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(ImportFormatError, match="cannot be decompressed"):
        _import(db, path, matcher)
    path.write_bytes(whole)
    again = _import(db, path, matcher)
    assert again.duplicates >= 1000 and again.duplicates % 1000 == 0  # whole pages only
    assert again.imported + again.duplicates == 3000


def test_line_numbers_in_origins_count_blank_lines(tmp_path, db, matcher):
    path = _write_lines(tmp_path / "p.jsonl",
                        ["", "", json.dumps(GOOD), json.dumps({**GOOD, "id": "2"}), b"\xff bad"])
    summary = _import(db, path, matcher)
    assert (summary.imported, summary.quarantined) == (2, 1)
    assert query(db, "SELECT origin FROM quarantine")["origin"][0] == f"{path}:5"


def test_one_line_json_list_of_records_is_a_document(tmp_path, db, matcher):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([GOOD, {**GOOD, "id": "2"}]))
    assert _import(db, path, matcher).imported == 2


def test_x_api_v2_page_uses_public_metrics_and_author_expansion(db, matcher):
    summary = _import(db, FIXTURES / "x_v2_brexit_page.jsonl", matcher)
    assert summary.imported == 100 and summary.quarantined == 0
    page = json.loads((FIXTURES / "x_v2_brexit_page.jsonl").read_text())
    tweet = page["data"][0]
    user = next(u for u in page["includes"]["users"] if u["id"] == tweet["author_id"])
    row = query(db, "SELECT * FROM posts WHERE id = ?", [tweet["id"]]).iloc[0]
    assert row["source"] == "x" and row["author"] == user["username"]
    assert row["author_followers"] == user["public_metrics"]["followers_count"]
    assert row["reposts"] == tweet["public_metrics"]["retweet_count"]
    assert row["lang"] == tweet["lang"]
    reposts = query(db, "SELECT count(*) n FROM posts WHERE is_repost AND parent_id IS NOT NULL")
    assert reposts["n"][0] > 0


def test_reddit_listing_from_recorded_response(db, matcher):
    summary = _import(db, FIXTURES / "reddit_submission_comments.json", matcher)
    assert summary.imported == 2 and summary.quarantined == 0
    rows = query(db, "SELECT id, url, parent_id FROM posts ORDER BY id")
    assert rows["id"].str.match(r"t[13]_").all()
    comment = rows[rows["id"].str.startswith("t1_")].iloc[0]
    assert comment["parent_id"].startswith("t3_")
    assert _import(db, FIXTURES / "reddit_r_all_search.json", matcher).imported == 6
