"""The Overview page through Streamlit's AppTest, over small warehouses built by the real writer
in tmp_path."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.warehouse.writer import writing
from tests.dashboard_fixtures import (
    DAY1,
    HOSTILE_TEXT,
    TOP_NOTION_TEXT,
    SmallWarehouse,
    build_empty_warehouse,
    build_small_warehouse,
)
from tests.dashboard_fixtures import (
    rendered_texts as _texts,
)

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


def _run(db: Path, monkeypatch: pytest.MonkeyPatch, page: str = "views/incident.py") -> AppTest:
    """The app opened on `page` (the Incident page unless told otherwise)."""
    monkeypatch.setenv("AFTERSHOCK_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _expected(posts: pd.DataFrame, service: str, day: date | None = None) -> dict[str, str]:
    mine = posts[posts["service"] == service]
    if day is not None:
        mine = mine[mine["created_at"].dt.date == day]
    complaints = mine["is_complaint"].sum()
    negative = (mine["sentiment"] == "negative").mean()
    return {"Posts": f"{len(mine):,}", "Complaints": f"{complaints:,}",
            "Negative share": f"{negative:.0%}"}


@pytest.fixture
def small(tmp_path: Path) -> SmallWarehouse:
    return build_small_warehouse(tmp_path / "aftershock.duckdb")


def test_overview_renders_headline_metrics(small: SmallWarehouse,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    # The default service is the one with the most complaints.
    assert at.selectbox(key="service").value == "notion"
    metrics = _metrics(at)
    assert {k: metrics[k] for k in ("Posts", "Complaints", "Negative share")} == \
        _expected(small.posts, "notion")
    assert metrics["Spikes"] == "1"
    assert metrics["Linked incidents"] == "1"
    assert len(at.get("vega_lite_chart")) == 2  # complaints and sentiment


def test_service_picker_changes_the_page(small: SmallWarehouse,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    at.selectbox(key="service").select("slack").run()
    assert not at.exception
    metrics = _metrics(at)
    assert {k: metrics[k] for k in ("Posts", "Complaints", "Negative share")} == \
        _expected(small.posts, "slack")
    assert metrics["Spikes"] == "0"
    assert any("Slack" in s.value for s in at.subheader)
    top = at.dataframe[-1].value
    assert set(top["text"]).isdisjoint({TOP_NOTION_TEXT, HOSTILE_TEXT})


def test_time_range_changes_counts(small: SmallWarehouse,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    day2 = (DAY1 + pd.Timedelta(days=1)).date()
    at.date_input(key="range-UTC").set_value((day2, day2)).run()
    assert not at.exception
    metrics = _metrics(at)
    assert {k: metrics[k] for k in ("Posts", "Complaints", "Negative share")} == \
        _expected(small.posts, "notion", day2)
    assert metrics["Spikes"] == "0"  # the spike was on day 1
    assert metrics["Posts"] != _expected(small.posts, "notion")["Posts"]


def test_time_zone_and_bucket_pickers(small: SmallWarehouse,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    utc_time = at.dataframe[-1].value["time"].iloc[0]
    at.selectbox(key="tz").select("Asia/Tokyo").run()
    at.selectbox(key="bucket").select(60).run()
    assert not at.exception
    tokyo_time = at.dataframe[-1].value["time"].iloc[0]
    assert tokyo_time - utc_time == pd.Timedelta(hours=9)


def test_demo_banner(small: SmallWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    assert any("Simulated demo data" in w.value for w in at.warning)


def test_no_demo_banner_for_real_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wh = build_small_warehouse(tmp_path / "real.duckdb", demo=False)
    at = _run(wh.path, monkeypatch)
    assert not any("Simulated demo data" in w.value for w in at.warning)


def test_missing_warehouse_explains_how_to_build_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(tmp_path / "nowhere.duckdb", monkeypatch)
    message = " ".join(i.value for i in at.info)
    assert "aftershock demo --no-dashboard" in message
    assert "aftershock import posts FILE" in message


def test_empty_warehouse_says_there_are_no_posts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _run(build_empty_warehouse(tmp_path / "empty.duckdb"), monkeypatch)
    assert any("has no posts yet" in i.value for i in at.info)
    assert not at.metric


def test_unclassified_posts_are_shown_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = build_small_warehouse(tmp_path / "raw.duckdb", classified=False)
    at = _run(wh.path, monkeypatch)
    assert any("0 of 302 posts are classified" in i.value for i in at.info)
    metrics = _metrics(at)
    assert metrics["Posts"] == f"{(wh.posts['service'] == 'notion').sum():,}"
    assert metrics["Negative share"] == "n/a"
    top = at.dataframe[-1].value
    assert top["text"].iloc[0] == TOP_NOTION_TEXT
    assert top["sentiment"].isna().all()
    assert len(at.get("vega_lite_chart")) == 1  # posts per minute only


def test_unreadable_warehouse_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "broken.duckdb"
    db.write_bytes(b"this is not a duckdb file")
    at = _run(db, monkeypatch)
    assert any("Cannot read the warehouse" in e.value for e in at.error)


def test_post_text_is_never_rendered_as_markdown(small: SmallWarehouse,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    # It is shown, as text, in the top-posts table ...
    assert HOSTILE_TEXT in set(at.dataframe[-1].value["text"])
    # ... and nowhere that markdown or HTML would be interpreted.
    for text in _texts(at):
        assert "<script>" not in text
        assert "**bold**" not in text


def test_a_new_publish_shows_up(small: SmallWarehouse,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    before = int(_metrics(at)["Posts"].replace(",", ""))
    # A post on a new day: the untouched date range follows the data to include it.
    day3 = DAY1 + pd.Timedelta(days=2, hours=1)
    notion = small.posts[small.posts["service"] == "notion"]
    with writing(small.path) as wh:
        wh.upsert_posts(notion.iloc[:1].assign(id="new-1", created_at=day3))
    at.run()
    assert not at.exception
    assert at.date_input(key="range-UTC").value == (DAY1.date(), day3.date())
    assert int(_metrics(at)["Posts"].replace(",", "")) == before + 1


def test_a_picked_range_survives_a_new_publish(small: SmallWarehouse,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run(small.path, monkeypatch)
    at.date_input(key="range-UTC").set_value((DAY1.date(), DAY1.date())).run()
    notion = small.posts[small.posts["service"] == "notion"]
    with writing(small.path) as wh:
        wh.upsert_posts(notion.iloc[:1].assign(id="new-1", created_at=DAY1 + pd.Timedelta(days=2)))
    at.run()
    assert at.date_input(key="range-UTC").value == (DAY1.date(), DAY1.date())


def test_service_names_from_posts_are_not_markdown(small: SmallWarehouse,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    evil = "**evil**<img src=x>"
    with writing(small.path) as wh:
        wh.upsert_posts(small.posts.iloc[:1].assign(id="evil-1", service=evil))
    at = _run(small.path, monkeypatch)
    at.selectbox(key="service").select(evil).run()
    assert not at.exception
    shown = [t for t in _texts(at) if "evil" in t]
    assert shown  # the heading names the service ...
    for text in shown:  # ... with every markup character backslash-escaped
        assert re.search(r"(?<!\\)[*<>]", text) is None, text
