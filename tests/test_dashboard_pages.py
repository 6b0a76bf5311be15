"""The Now, Posts and SQL pages through Streamlit's AppTest, over the small warehouse built by
the real writer (tests/dashboard_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.warehouse.writer import writing
from tests.dashboard_fixtures import (
    DAY1,
    HOSTILE_TEXT,
    SmallWarehouse,
    build_empty_warehouse,
    build_small_warehouse,
)
from tests.dashboard_fixtures import (
    rendered_texts as _texts,
)

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


def _open(db: Path, monkeypatch: pytest.MonkeyPatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("AFTERSHOCK_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def small(tmp_path: Path) -> SmallWarehouse:
    return build_small_warehouse(tmp_path / "aftershock.duckdb")


# -- Now ---------------------------------------------------------------------------------
def test_now_is_the_default_page_with_one_card_per_service(
        small: SmallWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch)
    assert any(s.value == "Now" for s in at.subheader)
    labels = {m.label for m in at.metric}
    assert labels == {"Notion AI", "Slack"}
    assert len(at.get("vega_lite_chart")) == 1  # the sparklines
    assert any("No collect or status-poll runs" in c.value for c in at.caption)


def test_now_shows_an_active_spike_and_the_open_incident(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cut the data off during the burst: at its end the spike is active, the incident open.
    wh = build_small_warehouse(tmp_path / "cut.duckdb")
    cut = DAY1 + pd.Timedelta(hours=14, minutes=20)
    with writing(wh.path) as w:
        w.con.execute("DELETE FROM post_records WHERE created_at > ?", [cut])
        w.con.execute("DELETE FROM post_buckets WHERE minute > ?", [cut])
        w.con.execute("UPDATE spikes SET \"end\" = ?", [cut])
        w.con.execute("UPDATE incidents SET resolved_at = NULL")
    at = _open(wh.path, monkeypatch)
    assert any("Spike active" in e.value for e in at.error)
    open_incidents = at.dataframe[0].value
    assert len(open_incidents) == 1


def test_now_shows_source_health(small: SmallWarehouse,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with writing(small.path) as w:
        now = pd.Timestamp.now(tz="UTC")
        w.record_run("r1", "collect:x", now, "completed", "{}")
        w.record_run("r2", "collect:hackernews", now, "failed",
                     '{"error": "hackernews: 503 Service Unavailable"}')
    at = _open(small.path, monkeypatch)
    health = at.dataframe[-1].value.set_index("source")
    assert set(health.index) == {"x", "hackernews"}
    assert health.loc["hackernews", "last_error"] == "hackernews: 503 Service Unavailable"
    assert health.loc["hackernews", "failures_of_last_10"] == 1
    assert pd.isna(health.loc["x", "last_failure"])


# -- Posts -------------------------------------------------------------------------------
def test_posts_filters_change_what_is_shown(small: SmallWarehouse,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/posts.py")
    everything = at.dataframe[0].value
    assert len(everything) == len(small.posts)
    at.multiselect(key="posts-sentiment").select("negative").run()
    negative = at.dataframe[0].value
    assert set(negative["sentiment"]) == {"negative"}
    assert len(negative) == (small.posts["sentiment"] == "negative").sum()
    at.multiselect(key="posts-service").select("slack").run()
    both = at.dataframe[0].value
    expected = small.posts[(small.posts["sentiment"] == "negative")
                           & (small.posts["service"] == "slack")]
    assert len(both) == len(expected) and set(both["service"]) == {"slack"}


def test_posts_text_search_and_untrusted_text(small: SmallWarehouse,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/posts.py")
    at.text_input(key="posts-text").input("<SCRIPT>").run()
    found = at.dataframe[0].value
    assert list(found["text"]) == [HOSTILE_TEXT]  # case-insensitive, shown as text
    for text in _texts(at):
        assert "<script>" not in text


def test_posts_with_no_match_says_so(small: SmallWarehouse,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/posts.py")
    at.text_input(key="posts-text").input("no post says this").run()
    assert any("No posts match" in i.value for i in at.info)


# -- SQL ---------------------------------------------------------------------------------
def test_sql_runs_an_example_with_table_chart_and_downloads(
        small: SmallWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/sql.py")
    table = at.dataframe[0].value
    assert {"service", "complaint_type", "posts"} <= set(table.columns)
    assert len(at.get("vega_lite_chart")) == 1
    assert [b.label for b in at.get("download_button")] == ["Download CSV",
                                                            "Download Parquet"]


def test_sql_refuses_writes_and_file_access(small: SmallWarehouse,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/sql.py")
    area = at.text_area[0]
    for escape in ("DELETE FROM post_records", "SELECT * FROM read_csv('/etc/passwd')",
                   "COPY post_records TO '/tmp/leak.csv'"):
        area.input(escape).run()
        assert not at.exception
        assert at.error, escape
    area.input("SELECT count(*) AS n FROM posts").run()
    assert at.dataframe[0].value["n"].iloc[0] == len(small.posts)


def test_every_page_has_an_empty_state(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = build_empty_warehouse(tmp_path / "empty.duckdb")
    for page in ("views/now.py", "views/incident.py", "views/posts.py", "views/sql.py"):
        at = _open(db, monkeypatch, page)
        assert any("has no posts yet" in i.value for i in at.info), page


# -- exposure ----------------------------------------------------------------------------
def test_a_password_gates_every_page(small: SmallWarehouse,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_DASHBOARD_PASSWORD", "correct horse")
    at = _open(small.path, monkeypatch)
    assert not at.metric and not at.dataframe  # nothing from the warehouse yet
    at.text_input(key="password").input("wrong").run()
    assert any("Wrong password" in e.value for e in at.error) and not at.metric
    at.text_input(key="password").input("correct horse").run()
    assert {m.label for m in at.metric} == {"Notion AI", "Slack"}


def test_exposing_the_dashboard_needs_a_password(tmp_path: Path) -> None:
    from pipelines.dashboard_server import DashboardError, is_loopback, start_dashboard

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    with pytest.raises(DashboardError, match="AFTERSHOCK_DASHBOARD_PASSWORD"):
        start_dashboard(tmp_path / "db.duckdb", port=8599, host="0.0.0.0")


# -- Incident (a spike in focus) ---------------------------------------------------------
def test_incident_focus_shows_the_spike_in_depth(small: SmallWarehouse,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/incident.py")
    assert at.selectbox(key="focus").value == "range"
    at.selectbox(key="focus").select("s-notion-1").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("complaint spike of Mar 10, 14:00" in s.value for s in at.subheader)
    assert any("Elevated errors on Claude API" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Peak"] == "6.0/min" and metrics["Complaints"] == "82"
    assert metrics["vs earlier spikes"] == "4.0x median"
    effects = next(d.value for d in at.dataframe if "rate_change_pct" in d.value.columns)
    assert list(effects["status"]) == ["identified"]
    assert effects["rate_change_pct"].iloc[0] == -70.0
    # complaints (with expected level and update markers), competitors, sentiment
    assert len(at.get("vega_lite_chart")) == 3
    amplifiers = [d.value for d in at.dataframe if "followers" in d.value.columns]
    assert amplifiers and amplifiers[0]["author"].iloc[0] == "user300"
    themes = next(d.value for d in at.dataframe if "representative_text" in d.value.columns)
    assert list(themes["label"]) == ["down, spins, blocks", "script, bold"]
    # untrusted text: in tables only, never in anything rendered as markdown
    assert HOSTILE_TEXT in set(themes["representative_text"])
    for text in _texts(at):
        assert "<script>" not in text
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download brief (Markdown)", "Download brief (HTML)"]


def test_incident_spike_link_from_an_alert(small: SmallWarehouse,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_DB", str(small.path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["spike"] = "s-notion-1"
    at.run()
    at.switch_page("views/incident.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="service").value == "notion"
    assert at.selectbox(key="focus").value == "s-notion-1"


# -- History -----------------------------------------------------------------------------
def test_history_compares_incidents_and_lists_silent_ones(
        small: SmallWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(small.path, monkeypatch, "views/history.py")
    table = at.dataframe[0].value
    assert list(table["title"]) == ["Elevated errors on Claude API"]
    row = table.iloc[0]
    assert (row["complaints"], row["rank"], row["of"], row["switching"]) == (82, 1, 1, 5)
    assert row["lead_minutes"] == 3.0 and row["peak_ratio"] == 60.0
    silent = at.dataframe[1].value
    assert list(silent["title"]) == ["Increased latency in us-east-1"]
    assert len(at.get("vega_lite_chart")) == 1
    at.multiselect(key="history-service").select("slack").run()
    assert any("No incident in the picked range" in i.value for i in at.info)
