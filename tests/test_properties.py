"""Property tests (hypothesis) for every parser of outside data: the post page parsers of
PAGE_PARSERS, the JSON Lines import path and the status parsers. Real payloads from
tests/fixtures are mutated (values replaced by wrong types, NUL bytes, lone surrogates, 1 MB
texts, timestamps far in the past or future; keys deleted; records duplicated) and the
properties are: no crash, every good record stored exactly once, every bad record quarantined
with a reason naming the problem, and the totals add up. One warehouse per test is reused
across examples, with ids made unique per example where the test needs them to be."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.errors import ImportFormatError
from pipelines.importers import RawPage, import_posts, store_page
from pipelines.normalize import (
    COUNT_FIELDS,
    EARLIEST,
    MAX_TEXT_CHARS,
    Normalised,
    normalise_records,
    record_hash,
)
from pipelines.page_formats import PAGE_PARSERS, parse_json_page, parse_page
from pipelines.status_formats import StatusBatch, parse_status
from pipelines.status_import import store_batch
from pipelines.warehouse.writer import Warehouse, writing
from tests.conftest import FIXTURES

# max_examples comes from the profile (tests/conftest.py): 100 in the suite, 1,000 to explore.
EXAMPLES = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])
_counter = itertools.count()
# Messages of Python's own errors ("'NoneType' object is not subscriptable"): no reason for a user.
_PYTHON_ERROR = re.compile(r"'\w+' object (is not|has no)|unhashable type|takes \d+ positional")

# -- what goes wrong in real data ------------------------------------------------------------
FAR_TIMES = ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59+00:00",
             "9999-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "2024-06-01T10:00:00",
             "yesterday", "", -1, 0, 1e300, -1e300, 253402300800, 10**20]
NASTY_TEXT = ["\ud800", "a\x00b", "\x00", "x" * (1_000_001), "<script>alert(1)</script>",
              "**bold** [x](javascript:alert(1))", "\u202e\u2028", " ", "é" * 10]
JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(FAR_TIMES + NASTY_TEXT),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside `doc` (dict keys and list indices)."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _mutate(doc: Any, data: st.DataObject, most: int = 4) -> Any:
    """`doc` with a few values replaced by junk, keys deleted or list items duplicated."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, most), label="mutations")):
        paths = list(_paths(doc))
        if not paths:
            return data.draw(JUNK, label="whole document")
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, op = path[-1], data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if op == "replace":
            parent[key] = data.draw(JUNK, label="value")
        elif op == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    return doc


def _bad_reason(reason: Any) -> bool:
    """A reason that does not say what is wrong: empty, or a bare Python error."""
    if not isinstance(reason, str) or len(reason) < 8:
        return True
    return _PYTHON_ERROR.search(reason) is not None and "wrong type" not in reason


def _check_post(post: dict[str, Any], source: str) -> None:
    """A parsed post is fit for the warehouse: the fields' types and ranges hold."""
    assert post["source"] == source
    assert isinstance(post["id"], str) and post["id"].strip()
    created = post["created_at"]
    assert isinstance(created, datetime) and created.tzinfo is not None
    assert EARLIEST <= created <= datetime.now(UTC) + timedelta(days=2)
    assert isinstance(post["text"], str) and "\x00" not in post["text"]
    assert len(post["text"]) <= MAX_TEXT_CHARS + 10  # a title and body joined
    for name in COUNT_FIELDS:
        value = post.get(name)
        assert value is None or (isinstance(value, int) and not isinstance(value, bool)
                                 and 0 <= value <= 2**62), (name, value)
    for name in ("id", "text", "author", "lang", "url", "parent_id"):
        value = post.get(name)
        assert value is None or isinstance(value, str), (name, value)
        if isinstance(value, str):
            value.encode("utf-8")  # no lone surrogates reach the warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    with writing(tmp_path_factory.mktemp("props") / "props.duckdb") as wh:
        yield wh


def _stored_keys(wh: Warehouse, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    frame = pd.DataFrame(sorted(keys), columns=["source", "id"])
    wh.con.register("_keys", frame)
    try:
        rows = wh.con.execute("SELECT source, id FROM post_records JOIN _keys USING (source, id)"
                              ).fetchall()
    finally:
        wh.con.unregister("_keys")
    assert len(rows) == len(set(rows)), "a post is stored twice"
    return set(rows)


def _quarantined_hashes(wh: Warehouse) -> set[str]:
    return {h for (h,) in wh.con.execute("SELECT record_hash FROM quarantine").fetchall()}


# -- post page parsers -----------------------------------------------------------------------
def _jsonl_array(path: Path) -> list[Any]:
    """The lines of a recording; an unreadable line stays a string, as Jetstream lands it."""
    out: list[Any] = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(line)
    return out


def _json(path: Path) -> Any:
    return json.loads(path.read_text())


# A real payload per page format, and where each format's records are (None: not a page).
def _listing(doc: Any) -> Any:
    data = doc.get("data") if isinstance(doc, dict) else None
    return data.get("children") if isinstance(data, dict) else None


def _x_tweets(doc: Any) -> Any:
    return (doc.get("data") or []) if isinstance(doc, dict) else None


def _bluesky_posts(doc: Any) -> Any:
    envelope = isinstance(doc, dict) and "search" in doc and "posts" not in doc
    search = doc.get("search") if envelope else doc
    return search.get("posts") if isinstance(search, dict) else None


def _statuses(doc: Any) -> Any:
    return doc.get("statuses") if isinstance(doc, dict) else doc


SEEDS: dict[str, tuple[Callable[[], Any], str, Callable[[Any], Any]]] = {
    "x_v2_page": (lambda: _jsonl_array(FIXTURES / "x_v2_two_tweets.jsonl")[0], "x", _x_tweets),
    "x_counts": (lambda: _jsonl_array(FIXTURES / "x" / "counts_recent_dogs_hour.jsonl")[0], "x",
                 lambda doc: (doc.get("data", []) if isinstance(doc, dict) else None)),
    "reddit_listing": (lambda: _json(FIXTURES / "reddit" / "askreddit_new.json")["body"],
                       "reddit", _listing),
    "bluesky_search": (lambda: {"search": _json(FIXTURES / "bluesky" / "search_notion_page1.json"),
                                "profiles": [_json(FIXTURES / "bluesky" / "profiles.json")]},
                       "bluesky", _bluesky_posts),
    "bluesky_jetstream": (lambda: _jsonl_array(FIXTURES / "bluesky" / "jetstream_events.jsonl"),
                          "bluesky", lambda doc: doc),
    "mastodon_statuses": (lambda: _json(FIXTURES / "mastodon" / "statuses_mixed.json"),
                          "mastodon", _statuses),
    "hn_algolia": (lambda: _json(FIXTURES / "hackernews" / "search_by_date_mixed.json"),
                   "hackernews", lambda doc: doc.get("hits") if isinstance(doc, dict) else None),
}


def test_every_page_format_has_a_seed() -> None:
    assert set(SEEDS) == set(PAGE_PARSERS)


def _check_page(fmt: str, doc: Any, result: Normalised) -> None:
    _, source, records_of = SEEDS[fmt]
    for post in result.posts:
        _check_post(post, source)
    for record, reason in result.rejects:
        assert not _bad_reason(reason), reason
    records = records_of(doc)
    if not isinstance(records, list):
        assert not result.posts and len(result.rejects) == 1  # the page itself, with a reason
    elif fmt == "x_counts":
        assert not result.posts and len(result.rejects) <= len(records)
    else:
        # Every record of the page is either a post or a reject, never lost, never doubled.
        assert len(result.posts) + len(result.rejects) == len(records)


@pytest.mark.slow  # a warehouse write per example
@pytest.mark.parametrize("fmt", sorted(PAGE_PARSERS))
@EXAMPLES
@given(data=st.data())
def test_page_parser_never_crashes_and_accounts_for_every_record(
        fmt: str, data: st.DataObject, warehouse: Warehouse, matcher: Any) -> None:
    seed, _, _ = SEEDS[fmt]
    doc = _mutate(seed(), data)
    result = parse_page(fmt, doc)
    _check_page(fmt, doc, result)
    # Stored through the real path: posts once, rejects in quarantine, nothing crashes.
    payload = json.dumps(doc)
    keys = {(p["source"], p["id"]) for p in result.posts}
    before = _stored_keys(warehouse, keys)
    stored = store_page(warehouse, RawPage(SEEDS[fmt][1], fmt, "property", payload), matcher)
    assert stored.new == len(keys - before)
    assert _stored_keys(warehouse, keys) == keys
    quarantined = _quarantined_hashes(warehouse)
    for record, _ in stored.normalised.rejects:
        text = record if isinstance(record, str) else json.dumps(record, default=str)
        assert record_hash(text) in quarantined


@pytest.mark.parametrize("fmt", sorted(PAGE_PARSERS))
@EXAMPLES
@given(payload=st.one_of(st.text(max_size=200), st.sampled_from(
    ["", "{", "[", "null", "NaN", '{"data": ', '{"hits": [', "[{}]", '"\\ud800"'])))
def test_page_parser_quarantines_a_page_that_is_not_json(fmt: str, payload: str) -> None:
    try:
        doc: Any = json.loads(payload)
    except json.JSONDecodeError:
        result = parse_json_page(fmt, payload)
        assert not result.posts and len(result.rejects) == 1
        assert "malformed JSON page" in result.rejects[0][1]
        return
    _check_page(fmt, doc, parse_json_page(fmt, payload))


# -- the JSON Lines import path ----------------------------------------------------------------
GOOD_TIME = st.datetimes(min_value=datetime(2004, 1, 2), max_value=datetime(2025, 1, 1),
                         timezones=st.just(UTC)).map(lambda t: t.isoformat())
GOOD_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(
    ["a\x00b", "<script>alert(1)</script>", "**Notion** is _down_", "y" * MAX_TEXT_CHARS]))
# Each kind of bad line, with the words its quarantine reason must contain.
BAD_KINDS = ["malformed", "utf8", "raw_nul", "huge", "far_time", "wrong_type", "missing",
             "not_object", "surrogate"]


def _good(marker: str, post_id: str, data: st.DataObject) -> dict[str, Any]:
    record: dict[str, Any] = {"note": marker, "id": post_id, "source": "file",
                              "created_at": data.draw(GOOD_TIME), "text": data.draw(GOOD_TEXT)}
    if data.draw(st.booleans()):
        record["likes"] = data.draw(st.integers(0, 10**9))
    return record


def _bad(kind: str, marker: str, data: st.DataObject) -> tuple[bytes, str]:
    """One bad line and a word its quarantine reason must contain."""
    record = _good(marker, f"bad-{marker}", data)
    if kind == "malformed":
        text = json.dumps(record)
        # Cut after the marker (so the quarantine row can be found) and before the end.
        start = len(json.dumps({"note": marker})) - 1
        cut = start + data.draw(st.integers(0, 10**6)) % (len(text) - start)
        return text[:cut].encode(), "malformed JSON"
    if kind == "utf8":
        junk = data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc"]))
        return json.dumps(record).encode().replace(b'"text": "', b'"text": "' + junk), "UTF-8"
    if kind == "raw_nul":  # a NUL byte as received, not the JSON escape \u0000
        return json.dumps(record).encode().replace(b'"text": "', b'"text": "\x00'), "malformed"
    if kind == "huge":
        record["text"] = "z" * 1_000_001
        return json.dumps(record).encode(), "text"
    if kind == "far_time":
        record["created_at"] = data.draw(st.sampled_from(FAR_TIMES))
        return json.dumps(record).encode(), "created_at"
    if kind == "wrong_type":
        field = data.draw(st.sampled_from(["id", "text", "created_at", "source", "likes",
                                           "author", "url"]))
        record[field] = data.draw(st.one_of(st.lists(st.integers(), max_size=2),
                                            st.dictionaries(st.text(max_size=3), st.integers(),
                                                            max_size=2),
                                            st.booleans()))
        return json.dumps(record).encode(), field
    if kind == "missing":
        field = data.draw(st.sampled_from(["id", "text", "created_at"]))
        del record[field]
        return json.dumps(record).encode(), field
    if kind == "not_object":
        value = data.draw(st.sampled_from([[marker], [1, marker], marker]))
        return json.dumps(value).encode(), "JSON object"
    # A lone surrogate, JSON-escaped: valid JSON, but no valid text.
    return json.dumps(record).replace('"text": "', '"text": "\\ud800', 1).encode(), "text"


def _post_file(path: Path, lines: list[bytes], data: st.DataObject) -> Path:
    ends = [data.draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"]), label="eol") for _ in lines]
    path.write_bytes(b"".join(line + end for line, end in zip(lines, ends, strict=True)))
    return path


def _draw_lines(data: st.DataObject, prefix: str, seen_before: list[str]
                ) -> tuple[list[bytes], list[str], int, dict[str, str]]:
    """Lines of a post file: (lines, ids of the good lines in order, duplicates expected,
    bad line marker -> a word its reason must contain)."""
    lines: list[bytes] = []
    good_ids: list[str] = []
    bad: dict[str, str] = {}
    duplicates = 0
    known = list(seen_before)
    for n in range(data.draw(st.integers(0, 12), label="lines")):
        marker = f"{prefix}-{n}"
        kind = data.draw(st.sampled_from(["good", "good", "duplicate", "blank", *BAD_KINDS]))
        if kind == "duplicate" and known:
            post_id = data.draw(st.sampled_from(known))
            lines.append(json.dumps(_good(marker, post_id, data)).encode())
            duplicates += 1
        elif kind in ("good", "duplicate"):
            lines.append(json.dumps(_good(marker, marker, data)).encode())
            good_ids.append(marker)
            known.append(marker)
        elif kind == "blank":
            lines.append(b"   ")
        else:
            line, word = _bad(kind, marker, data)
            lines.append(line)
            bad[marker] = word
    # Two records at least: a file holding one JSON document is read as a document.
    lines.append(json.dumps(_good(f"{prefix}-last", f"{prefix}-last", data)).encode())
    good_ids.append(f"{prefix}-last")
    return lines, good_ids, duplicates, bad


def _check_import(wh: Warehouse, path: Path, summary: Any, good_ids: list[str],
                  duplicates: int, bad: dict[str, str]) -> None:
    assert summary.read == summary.imported + summary.duplicates + summary.quarantined
    assert (summary.imported, summary.duplicates, summary.quarantined) == (
        len(good_ids), duplicates, len(bad))
    keys = {("file", i) for i in good_ids}
    assert _stored_keys(wh, keys) == keys
    texts = wh.con.execute(
        "SELECT text FROM post_records WHERE source = 'file' AND list_contains(?, id)",
        [good_ids]).fetchall()
    assert all("\x00" not in t for (t,) in texts)
    rows = wh.con.execute("SELECT record, reason FROM quarantine WHERE origin LIKE ?",
                          [f"{path}:%"]).fetchall()
    assert len(rows) == len(bad)
    for marker, word in bad.items():
        reasons = [reason for record, reason in rows if re.search(f"{marker}(?!\\d)", record)]
        assert len(reasons) == 1, (marker, rows)
        assert word in reasons[0], (marker, word, reasons[0])


@pytest.mark.slow  # a warehouse write per example
@EXAMPLES
@given(data=st.data())
def test_import_stores_good_lines_once_and_quarantines_each_bad_one(
        data: st.DataObject, warehouse: Warehouse, matcher: Any,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    prefix = f"e{next(_counter):06d}"
    folder = tmp_path_factory.mktemp(prefix)
    lines, good_ids, duplicates, bad = _draw_lines(data, prefix, [])
    path = _post_file(folder / "posts.jsonl", lines, data)
    summary = import_posts(warehouse, path, matcher)
    _check_import(warehouse, path, summary, good_ids, duplicates, bad)
    # The same file again: everything good is a duplicate, nothing new anywhere.
    again = import_posts(warehouse, path, matcher)
    assert (again.imported, again.duplicates) == (0, len(good_ids) + duplicates)


@pytest.mark.slow  # a warehouse write per example
@EXAMPLES
@given(data=st.data())
def test_duplicate_ids_across_two_imports_are_stored_once(
        data: st.DataObject, warehouse: Warehouse, matcher: Any,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    prefix = f"x{next(_counter):06d}"
    folder = tmp_path_factory.mktemp(prefix)
    first_lines, first_ids, first_dups, first_bad = _draw_lines(data, f"{prefix}a", [])
    first = _post_file(folder / "first.jsonl", first_lines, data)
    _check_import(warehouse, first, import_posts(warehouse, first, matcher), first_ids,
                  first_dups, first_bad)
    lines, good_ids, duplicates, bad = _draw_lines(data, f"{prefix}b", first_ids)
    second = _post_file(folder / "second.jsonl", lines, data)
    _check_import(warehouse, second, import_posts(warehouse, second, matcher), good_ids,
                  duplicates, bad)
    count = warehouse.con.execute(
        "SELECT count(*), count(DISTINCT id) FROM post_records WHERE id LIKE ?",
        [f"{prefix}%"]).fetchall()[0]
    assert count == (len(first_ids) + len(good_ids),) * 2


@EXAMPLES
@given(records=st.lists(st.one_of(JUNK, st.dictionaries(
    st.sampled_from(["id", "source", "created_at", "text", "likes", "author", "service"]),
    JUNK, max_size=7)), max_size=8))
def test_post_records_of_any_shape_are_posts_or_reasoned_rejects(records: list[Any]) -> None:
    result = normalise_records(records)
    assert len(result.posts) + len(result.rejects) == len(records)
    for post in result.posts:
        _check_post(post, post["source"])
    assert not any(_bad_reason(reason) for _, reason in result.rejects)


# -- status parsers ------------------------------------------------------------------------------
JSON_STATUS = {
    "statuspage_github_incidents.json": "github", "statuspage_github_summary.json": "github",
    "statuspage_github_components.json": "github", "gcp_incidents_sample.json": None,
    "aws_shd_data_sample.json": None,
}
TEXT_STATUS = {"status_feed_rss.xml": "openai", "status_feed_atom.xml": "openai",
               "statuspage_github_history.rss": "github",
               "icpe_incident_stages_sample.csv": None, "status_incident_log.csv": "acme"}


def _check_status(batch: StatusBatch) -> None:
    for record, reason in batch.rejects:
        assert not _bad_reason(reason), reason
    incidents = batch.incidents
    assert incidents["incident_id"].map(lambda v: isinstance(v, str) and v != "").all()
    assert incidents["started_at"].notna().all()
    for frame, column in ((incidents, "started_at"), (batch.updates, "created_at")):
        assert frame[column].isna().all() or (frame[column].dropna() >= EARLIEST).all()


def _parse_or_refuse(data: bytes, provider: str | None) -> StatusBatch | None:
    """parse_status either parses or refuses the whole file with ImportFormatError."""
    try:
        return parse_status(data, provider, "property")
    except ImportFormatError as e:
        assert str(e)
        return None


@pytest.mark.slow  # a warehouse write per example
@pytest.mark.parametrize("name", sorted(JSON_STATUS))
@EXAMPLES
@given(data=st.data())
def test_status_json_parsers_never_crash(name: str, data: st.DataObject,
                                         warehouse: Warehouse) -> None:
    doc = _mutate(_json(FIXTURES / name), data)
    batch = _parse_or_refuse(json.dumps(doc).encode(), JSON_STATUS[name])
    if batch is None:
        return
    _check_status(batch)
    items = doc.get("incidents") if isinstance(doc, dict) else doc
    if name != "aws_shd_data_sample.json" and isinstance(items, list):
        # Each incident is parsed or rejected with its reason.
        ids = set(batch.incidents["incident_id"])
        rejected = [record for record, _ in batch.rejects]
        for item in items:
            assert (isinstance(item, dict) and str(item.get("id")) in ids) or item in rejected
    store_batch(warehouse, batch, "property")


@pytest.mark.slow  # a warehouse write per example
@pytest.mark.parametrize("name", sorted(TEXT_STATUS))
@EXAMPLES
@given(data=st.data())
def test_status_text_parsers_never_crash(name: str, data: st.DataObject,
                                         warehouse: Warehouse) -> None:
    lines = (FIXTURES / name).read_bytes().split(b"\n")
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "junk", "truncate", "field"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "junk":
            junk = data.draw(st.sampled_from([b"\xff\xfe", b"\x00", b"<", b'"', b",", b"&amp"]))
            cut = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut] + junk + lines[i][cut:]
        elif op == "truncate":
            lines = lines[: i + 1]
        else:
            value = data.draw(st.sampled_from([str(v) for v in FAR_TIMES] + ["", "1", "x"]))
            cells = lines[i].split(b",")
            cells[data.draw(st.integers(0, len(cells) - 1))] = value.encode()
            lines[i] = b",".join(cells)
    batch = _parse_or_refuse(b"\n".join(lines), TEXT_STATUS[name])
    if batch is not None:
        _check_status(batch)
        store_batch(warehouse, batch, "property")


# -- minimal examples the properties found ----------------------------------------------------
def test_a_lone_surrogate_is_quarantined_and_its_neighbours_kept(tmp_path: Path, db: Path,
                                                                  matcher: Any) -> None:
    """JSON may escape a lone surrogate (\\ud800); the decoded text cannot be stored as UTF-8,
    and it crashed the whole page's insert."""
    good = {"id": "1", "source": "file", "created_at": "2024-06-01T10:00:00Z", "text": "ok"}
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(good) + "\n"
                    + json.dumps({**good, "id": "2"}).replace('"ok"', '"a\\ud800"') + "\n")
    with writing(db) as wh:
        summary = import_posts(wh, path, matcher)
    assert (summary.imported, summary.quarantined) == (1, 1)
    reasons = [r for _, r in normalise_records([{**good, "author": "\udfff"}]).rejects]
    assert reasons == ["author is not valid Unicode (lone surrogate at 0)"]


def test_status_records_of_the_wrong_type_are_rejected_not_fatal(warehouse: Warehouse) -> None:
    """A list where AWS has a service name, a component position past INT32 and an item that
    is not an object each failed the whole file's insert; a document of the wrong shape was a
    TypeError; a status column empty in every row was stored as float."""
    aws = _json(FIXTURES / "aws_shd_data_sample.json")
    aws["archive"][0]["service_name"] = [0]
    aws["archive"].append(None)
    batch = parse_status(json.dumps(aws).encode(), None, "t")
    reasons = [reason for _, reason in batch.rejects]
    assert reasons == ["AWS event: component name must be a string, got list",
                       "AWS event: not an object, got NoneType"]
    store_batch(warehouse, batch, "t")

    components = _json(FIXTURES / "statuspage_github_components.json")
    components["components"][0]["position"] = 2**31
    batch = parse_status(json.dumps(components).encode(), "github", "t")
    assert [r for _, r in batch.rejects] == [
        "Statuspage component: position 2147483648 is not a small non-negative integer"]
    store_batch(warehouse, batch, "t")

    for item in aws["archive"][:3]:
        item.pop("description", None)  # no updates: every incident's status is unknown
    aws["archive"] = aws["archive"][1:3]
    store_batch(warehouse, parse_status(json.dumps(aws).encode(), None, "t"), "t")
    with pytest.raises(ImportFormatError, match="structure"):
        parse_status(json.dumps({**aws, "current": True}).encode(), None, "t")
    header = (FIXTURES / "status_incident_log.csv").read_bytes().split(b"\n")[0]
    with pytest.raises(ImportFormatError, match="new-line character"):  # was a csv.Error
        parse_status(header + b"\nacme,a\rb,x,2024-01-01T00:00:00Z\n", "acme", "t")


def test_a_jetstream_surrogate_is_quarantined_not_fatal(warehouse: Warehouse,
                                                        matcher: Any) -> None:
    """A lone surrogate as a Jetstream rkey reached the post id, and an unreadable message of
    one lone surrogate reached the quarantine row as is: each failed the whole page's insert."""
    event = {"did": "did:plc:x", "kind": "commit", "commit": {
        "operation": "create", "collection": "app.bsky.feed.post", "rkey": "\ud800",
        "record": {"createdAt": "2024-01-01T00:00:00Z", "text": "a"}}}
    page = RawPage("bluesky", "bluesky_jetstream", "t", json.dumps([event, "\ud800"]))
    stored = store_page(warehouse, page, matcher)
    assert [r for _, r in stored.normalised.rejects] == [
        "Jetstream event: id is not valid Unicode (lone surrogate at 34)",
        "Jetstream event: the message is not a JSON object (truncated or malformed)"]
    assert ("\\ud800",) in warehouse.con.execute("SELECT record FROM quarantine").fetchall()


def test_an_infinite_count_or_a_list_reference_type_is_one_reject_not_a_crash() -> None:
    """CI found both: Reddit `num_comments: Infinity` raised OverflowError and an X reference
    whose `type` was a list raised "unhashable type"; each crashed its whole page."""
    listing = SEEDS["reddit_listing"][0]()
    listing["data"]["children"][0]["data"]["num_comments"] = float("inf")
    result = parse_page("reddit_listing", listing)
    assert [reason for _, reason in result.rejects] == [
        "Reddit thing: num_comments must be a non-negative integer, got inf"]
    assert len(result.posts) == len(listing["data"]["children"]) - 1

    page = SEEDS["x_v2_page"][0]()
    page["data"][0]["referenced_tweets"] = [{"type": [], "id": "1"}]
    result = parse_page("x_v2_page", page)
    assert not result.rejects and len(result.posts) == len(page["data"])
    assert result.posts[0]["parent_id"] is None  # a reference of no known type is no parent


def test_a_shape_no_parser_checks_for_is_a_reasoned_reject() -> None:
    """The safety net behind every page parser: an error the builders do not foresee costs one
    record, named in its reason, never the page."""
    from pipelines.normalize import normalise_each

    def build(record: Any) -> dict[str, Any]:
        return {"id": record["id"]}

    result = normalise_each([{"id": "1"}, {}, {"id": "3"}], build, "test record")
    assert [p["id"] for p in result.posts] == ["1", "3"]
    assert result.rejects == [({}, "test record: unexpected shape (KeyError: 'id')")]
