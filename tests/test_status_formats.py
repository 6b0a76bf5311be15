"""The other status formats: Google Cloud and AWS snapshots, RSS/Atom feeds and a CSV incident
log; each parsed to incidents with ordered updates, and re-imported without writing anything.
One provider's feed and JSON API store one incident with each update once."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.errors import ImportFormatError
from pipelines.status_import import StatusBatch, parse_status, read_source, store_batch
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES

# fixture file, --provider, (incidents, updates) it holds
CASES = [
    ("gcp_incidents_sample.json", None, (3, 10)),
    ("aws_shd_data_sample.json", None, (3, 9)),
    ("status_feed_rss.xml", "openai", (3, 7)),
    ("status_feed_atom.xml", "openai", (2, 5)),
    ("status_incident_log.csv", None, (2, 3)),
]


def _parse(name: str, provider: str | None) -> StatusBatch:
    path = FIXTURES / name
    return parse_status(read_source(str(path)), provider, str(path))


def _store(db: Path, batch: StatusBatch) -> tuple[int, int]:
    with writing(db) as wh:
        return wh.upsert_incidents(batch.incidents, batch.updates)


def _statuses(db: Path, incident_id: str) -> list[str]:
    return query(db, "SELECT status FROM incident_updates WHERE incident_id = ? "
                     "ORDER BY created_at", [incident_id])["status"].tolist()


def _at(value: object) -> pd.Timestamp:
    """A warehouse time as a UTC timestamp (DuckDB hands TIMESTAMPTZ back in local time)."""
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


@pytest.mark.parametrize(("name", "provider", "counts"), CASES)
def test_each_format_imports_once_and_reimports_nothing(tmp_path, name, provider, counts):
    batch = _parse(name, provider)
    assert batch.rejects == []
    db = tmp_path / "a.duckdb"
    assert _store(db, batch) == counts
    assert _store(db, _parse(name, provider)) == (0, 0)


def test_gcp_incidents_json(db):
    batch = _parse("gcp_incidents_sample.json", None)
    _store(db, batch)
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = 'NinksF6tPrSYEzmMrQfs'").iloc[0]
    assert inc["provider"] == "gcp" and inc["impact"] == "major" and inc["status"] == "resolved"
    assert inc["title"].startswith("Global: Google App Engine Flex customers getting 404")
    assert list(inc["components"]) == ["Google App Engine"]
    assert _at(inc["started_at"]) == pd.Timestamp("2021-11-16T19:20:12Z")
    assert _at(inc["resolved_at"]) == pd.Timestamp("2021-11-16T19:41:01Z")
    assert _statuses(db, "NinksF6tPrSYEzmMrQfs") == ["investigating", "update", "resolved"]


def test_aws_health_dashboard_data_json(db):
    _store(db, _parse("aws_shd_data_sample.json", None))
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = 'ec2-us-east-1-1638895771'")
    row = inc.iloc[0]
    assert row["provider"] == "aws" and row["title"] == "Increased API Error Rates"
    assert row["impact"] == "major" and row["status"] == "resolved"
    # "8:49 AM PST" and "3:31 PM PST" on 2021-12-07, in UTC.
    assert _at(row["started_at"]) == pd.Timestamp("2021-12-07T16:49Z")
    assert _at(row["resolved_at"]) == pd.Timestamp("2021-12-07T23:31Z")
    assert _statuses(db, "ec2-us-east-1-1638895771") == ["investigating", "resolved"]
    body = query(db, "SELECT body FROM incident_updates WHERE incident_id = "
                     "'ec2-us-east-1-1638895771' ORDER BY created_at")["body"][0]
    assert body.startswith("We are experiencing elevated error rates") and "<" not in body


def test_aws_update_labelled_with_a_date_crosses_midnight():
    batch = _parse("aws_shd_data_sample.json", None)
    times = batch.updates[batch.updates["incident_id"] == "events-af-south-1-1637641154"]
    # " 8:19 PM PST" on Nov 22 ... "Nov 23,  1:59 AM PST".
    assert times["created_at"].tolist()[0] == pd.Timestamp("2021-11-23T04:19Z")
    assert times["created_at"].tolist()[-1] == pd.Timestamp("2021-11-23T09:59Z")
    assert times["created_at"].is_monotonic_increasing


def test_rss_feed_with_statuspage_updates(db):
    _store(db, _parse("status_feed_rss.xml", "openai"))
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = '7bm3cnlwk5s4'").iloc[0]
    assert inc["title"] == "Elevated error rates on ChatGPT for some users"
    assert inc["url"] == "https://status.openai.com/incidents/7bm3cnlwk5s4"
    assert _at(inc["started_at"]) == pd.Timestamp("2024-07-15T15:02Z")
    assert _at(inc["resolved_at"]) == pd.Timestamp("2024-07-15T16:41Z")
    assert _statuses(db, "7bm3cnlwk5s4") == ["investigating", "identified", "monitoring",
                                             "resolved"]
    bodies = query(db, "SELECT body FROM incident_updates WHERE incident_id = '7bm3cnlwk5s4' "
                       "ORDER BY created_at")["body"].tolist()
    assert bodies[0] == "We are investigating elevated error rates on ChatGPT for some users."
    assert bodies[1] == "The issue has been identified & a fix is being implemented."


def test_rss_item_without_statuspage_updates_is_one_update():
    batch = _parse("status_feed_rss.xml", "openai")
    upd = batch.updates[batch.updates["incident_id"] == "m1k0dr2nq7vz"]
    assert len(upd) == 1
    body = "The Playground will be read-only for 30 minutes during maintenance."
    assert upd.iloc[0]["body"] == body
    assert upd.iloc[0]["created_at"] == pd.Timestamp("2024-07-09T06:00Z")


def test_atom_feed_update_years_across_new_year(db):
    _store(db, _parse("status_feed_atom.xml", "openai"))
    # The id is the one of the entry's /incidents/ link, not of its tag:...:Incident/19432877.
    rows = query(db, "SELECT created_at, status FROM incident_updates "
                     "WHERE incident_id = 'ys2k1v0b9c3q' ORDER BY created_at")
    assert rows["status"].tolist() == ["investigating", "resolved"]
    assert [_at(t) for t in rows["created_at"]] == [pd.Timestamp("2023-12-31T23:10Z"),
                                                    pd.Timestamp("2024-01-01T00:40Z")]


def test_csv_incident_log(db):
    _store(db, _parse("status_incident_log.csv", None))
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = 'INC-101'").iloc[0]
    assert inc["provider"] == "internal-search" and inc["impact"] == "major"
    assert sorted(inc["components"]) == ["gateway", "search-api"]
    assert inc["status"] == "resolved"
    assert _statuses(db, "INC-101") == ["investigating", "identified", "resolved"]
    other = query(db, "SELECT * FROM incidents WHERE incident_id = 'INC-102'").iloc[0]
    assert _at(other["started_at"]) == pd.Timestamp("2024-03-06T21:00Z")  # +01:00 in the file


def test_csv_log_provider_option_fills_a_missing_column():
    text = b"incident_id,title,started_at\nA-1,Login slow,2024-05-01T10:00:00Z\n"
    batch = parse_status(text, "ours", "log.csv")
    assert batch.incidents["provider"].tolist() == ["ours"]
    missing = parse_status(text, None, "log.csv")
    assert missing.incidents.empty and "no provider" in missing.rejects[0][1]


def test_malformed_records_are_rejected_with_a_reason():
    gcp = json.loads((FIXTURES / "gcp_incidents_sample.json").read_text())
    gcp[1]["begin"] = "yesterday"
    batch = parse_status(json.dumps(gcp).encode(), None, "gcp.json")
    assert len(batch.incidents) == 2 and "begin 'yesterday'" in batch.rejects[0][1]

    aws = json.loads((FIXTURES / "aws_shd_data_sample.json").read_text())
    aws["archive"][0]["description"] = '<div><span class="yellowfg">teatime</span>x</div>'
    del aws["archive"][1]["service"]
    batch = parse_status(json.dumps(aws).encode(), None, "aws.json")
    reasons = " | ".join(r for _, r in batch.rejects)
    assert len(batch.incidents) == 1
    assert "update time 'teatime'" in reasons and "missing field 'service'" in reasons

    rss = (FIXTURES / "status_feed_rss.xml").read_text()
    rss = rss.replace("<pubDate>Thu, 11 Jul 2024 09:58:40 +0000</pubDate>", "")
    batch = parse_status(rss.encode(), "openai", "feed.rss")
    assert len(batch.incidents) == 2 and "no readable pubDate" in batch.rejects[0][1]

    log = b"incident_id,title,started_at\nA-1,Login slow,2024-05-01 10:00\n"
    batch = parse_status(log, "ours", "log.csv")
    assert "no UTC offset" in batch.rejects[0][1]


def test_unreadable_payloads_are_clear_errors():
    with pytest.raises(ImportFormatError, match="needs --provider"):
        parse_status((FIXTURES / "status_feed_atom.xml").read_bytes(), None, "feed.atom")
    with pytest.raises(ImportFormatError, match="not an RSS or Atom feed"):
        parse_status(b"<html><body>hi</body></html>", "x", "page.html")
    with pytest.raises(ImportFormatError, match="not a readable RSS or Atom feed"):
        parse_status(b"<?xml version='1.0'?><rss><channel><title>x", "x", "broken.rss")
    truncated = parse_status(b"<?xml version='1.0'?><rss><channel><item>", "x", "cut.rss")
    assert "no title" in truncated.rejects[0][1]
    with pytest.raises(ImportFormatError, match="unknown status format"):
        parse_status(b'[{"a": 1}]', None, "list.json")
    with pytest.raises(ImportFormatError, match="not valid JSON"):
        parse_status(b'{"archive": [', None, "aws.json")


# -- one provider's feed and JSON API are one incident ----------------------------------------

GITHUB_JSON = "statuspage_github_incidents.json"
GITHUB_FEEDS = ["statuspage_github_history.rss", "statuspage_github_history.atom"]


def _import(db: Path, name: str) -> tuple[int, int]:
    with writing(db) as wh:
        stored = store_batch(wh, _parse(name, "github"), name)
    return stored.new_incidents, stored.new_updates


def _updates_per_incident(db: Path) -> dict[str, int]:
    rows = query(db, "SELECT incident_id, count(*) n FROM incident_updates GROUP BY 1")
    return dict(zip(rows["incident_id"], rows["n"], strict=True))


@pytest.mark.parametrize("feed", GITHUB_FEEDS)
def test_feed_incident_ids_are_the_json_api_ids(feed):
    doc = json.loads((FIXTURES / GITHUB_JSON).read_text())
    assert sorted(_parse(feed, "github").incidents["incident_id"]) == sorted(
        i["id"] for i in doc["incidents"])


@pytest.mark.parametrize("feed", GITHUB_FEEDS)
def test_json_then_feed_is_one_incident_with_each_update_once(db, feed):
    assert _import(db, GITHUB_JSON) == (2, 12)
    assert _import(db, feed) == (0, 0)
    assert _updates_per_incident(db) == {"69sb0f8lydp4": 6, "r3x7x31k7nn1": 6}
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = '69sb0f8lydp4'").iloc[0]
    # The feed knows neither components nor impact, and its times only to the minute: the
    # JSON API's stay.
    assert sorted(inc["components"]) == ["Actions", "Pages"] and inc["impact"] == "major"
    assert _at(inc["started_at"]) == pd.Timestamp("2024-09-16T21:31:02.713Z")
    assert _at(inc["resolved_at"]) == pd.Timestamp("2024-09-16T22:08:39.333Z")
    assert _statuses(db, "69sb0f8lydp4") == ["investigating"] * 5 + ["resolved"]


@pytest.mark.parametrize("feed", GITHUB_FEEDS)
def test_feed_then_json_is_one_incident_with_each_update_once(db, feed):
    assert _import(db, feed) == (2, 12)
    assert _import(db, GITHUB_JSON) == (0, 0)
    assert _updates_per_incident(db) == {"69sb0f8lydp4": 6, "r3x7x31k7nn1": 6}
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = '69sb0f8lydp4'").iloc[0]
    assert sorted(inc["components"]) == ["Actions", "Pages"] and inc["impact"] == "major"
    assert _at(inc["started_at"]) == pd.Timestamp("2024-09-16T21:31:02.713Z")


def test_two_real_updates_within_one_minute_are_both_kept(db):
    """Only a minute-precision source restates an update; two updates to the millisecond in one
    minute are two updates, also when they arrive in different polls."""
    doc = json.loads((FIXTURES / GITHUB_JSON).read_text())
    _store(db, parse_status(json.dumps(doc).encode(), "github", "poll-1"))
    later = doc["incidents"][0]["incident_updates"][0]  # resolved, 22:08:39.333
    doc["incidents"][0]["incident_updates"].insert(0, {
        **later, "id": "zz0000000001", "body": "Resolved; a follow-up will be posted.",
        "created_at": "2024-09-16T22:08:51.020Z", "display_at": "2024-09-16T22:08:51.020Z"})
    with writing(db) as wh:
        stored = store_batch(wh, parse_status(json.dumps(doc).encode(), "github", "poll-2"), "p2")
    assert stored.new_updates == 1
    assert _statuses(db, "69sb0f8lydp4")[-2:] == ["resolved", "resolved"]


def test_feed_updates_in_one_minute_with_one_status_get_distinct_ids():
    rss = (FIXTURES / "status_feed_rss.xml").read_text()
    # A second "Resolved" paragraph stamped in the same minute as the first.
    para = ("&lt;p&gt;&lt;small&gt;Jul &lt;var data-var='date'&gt;15&lt;/var&gt;, "
            "&lt;var data-var='time'&gt;16:41&lt;/var&gt; UTC&lt;/small&gt;&lt;br&gt;"
            "&lt;strong&gt;Resolved&lt;/strong&gt; - A postmortem will follow.&lt;/p&gt;")
    rss = rss.replace("<description>&lt;p&gt;", f"<description>{para}&lt;p&gt;", 1)
    batch = parse_status(rss.encode(), "openai", "feed.rss")
    upd = batch.updates[batch.updates["incident_id"] == "7bm3cnlwk5s4"]
    assert upd["update_id"].is_unique and len(upd) == 5
    assert upd["body"].tolist()[-2:] == ["This incident has been resolved.",
                                         "A postmortem will follow."]


# -- the whole real snapshots, where ../shared/data is checked out beside the repo -------------

CLOUD = Path(__file__).resolve().parents[2] / "shared/data/status/cloud_status_gcp_aws"


@pytest.mark.skipif(not CLOUD.exists(), reason=f"the real GCP/AWS snapshots are not at {CLOUD} "
                                              "(../shared/data is not part of this checkout)")
@pytest.mark.parametrize(("name", "incidents"), [("gcp_incidents.json", 157),
                                                 ("aws_data.json", 86)])
def test_whole_cloud_snapshots_parse_without_rejects(tmp_path, name, incidents):
    path = CLOUD / name
    batch = parse_status(read_source(str(path)), None, str(path))
    assert batch.rejects == [] and len(batch.incidents) == incidents
    assert batch.updates.groupby("incident_id")["created_at"].apply(
        lambda t: t.is_monotonic_increasing).all()
    db = tmp_path / "a.duckdb"
    assert _store(db, batch) == (incidents, len(batch.updates))
    assert _store(db, parse_status(read_source(str(path)), None, str(path))) == (0, 0)
