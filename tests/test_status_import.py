"""Status history: Statuspage v2 JSON (incidents, summary, components, maintenances, status) and
the ICPE'25 CSV, upserted without losing history; the ICPE'25 history in one command."""

from __future__ import annotations

import csv
import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.errors import ImportFormatError
from pipelines.status_formats.icpe import ICPE_STAGES
from pipelines.status_import import (
    ICPE_HISTORY,
    find_icpe_history,
    parse_status,
    read_source,
    store_batch,
)
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing
from tests.conftest import FIXTURES


def _store(db, batch):  # type: ignore[no-untyped-def]
    with writing(db) as wh:
        return wh.upsert_incidents(batch.incidents, batch.updates)


def test_statuspage_incidents_json(db):
    path = FIXTURES / "statuspage_github_incidents.json"
    batch = parse_status(read_source(str(path)), "github", str(path))
    assert _store(db, batch) == (2, 12)
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = '69sb0f8lydp4'").iloc[0]
    assert inc["title"] == "Incident with Pages and Actions" and inc["impact"] == "major"
    assert set(inc["components"]) == {"Actions", "Pages"}
    assert str(inc["resolved_at"]).startswith("2024-09-16 22:08:39")
    statuses = query(db, "SELECT status FROM incident_updates WHERE incident_id = '69sb0f8lydp4' "
                         "ORDER BY created_at")["status"].tolist()
    assert statuses[0] == "investigating" and statuses[-1] == "resolved"


def test_icpe_csv_with_stages_as_updates(db):
    path = FIXTURES / "icpe_incident_stages_sample.csv"
    batch = parse_status(read_source(str(path)), None, str(path))
    new_incidents, _ = _store(db, batch)
    assert new_incidents == 12
    by_provider = query(db, "SELECT provider, count(*) n FROM incidents GROUP BY 1 ORDER BY 1")
    assert by_provider.to_dict("records") == [{"provider": "anthropic", "n": 6},
                                              {"provider": "openai", "n": 6}]
    inc = query(db, "SELECT * FROM incidents WHERE incident_id = 'qv89mzdjvtrs'").iloc[0]
    assert inc["impact"] == "minor" and inc["status"] == "resolved"
    assert str(inc["started_at"]).startswith("2024-02-26 17:09")
    stages = query(db, "SELECT status FROM incident_updates WHERE incident_id = 'qv89mzdjvtrs' "
                       "ORDER BY created_at")["status"].tolist()
    assert stages == ["investigating", "identified", "monitoring", "resolved"]


def test_provider_option_selects_rows_of_the_icpe_csv(db):
    path = FIXTURES / "icpe_incident_stages_sample.csv"
    batch = parse_status(read_source(str(path)), "openai", str(path))
    assert set(batch.incidents["provider"]) == {"openai"}


def test_reimport_and_progressing_incident_keep_full_history(tmp_path, db):
    doc = json.loads((FIXTURES / "statuspage_github_incidents.json").read_text())
    first = json.loads(json.dumps(doc))
    incident = first["incidents"][0]
    # An earlier poll: the incident still open, with only its first update.
    incident["incident_updates"] = incident["incident_updates"][-1:]
    incident.update(status="investigating", resolved_at=None)
    _store(db, parse_status(json.dumps(first).encode(), "github", "poll-1"))
    assert query(db, "SELECT status FROM incidents WHERE incident_id = ?",
                 [incident["id"]])["status"][0] == "investigating"
    _store(db, parse_status(json.dumps(doc).encode(), "github", "poll-2"))
    assert _store(db, parse_status(json.dumps(doc).encode(), "github", "poll-3")) == (0, 0)
    row = query(db, "SELECT status, resolved_at FROM incidents WHERE incident_id = ?",
                [incident["id"]]).iloc[0]
    assert row["status"] == "resolved" and row["resolved_at"] is not None
    n = query(db, "SELECT count(*) n FROM incident_updates WHERE incident_id = ?", [incident["id"]])
    assert n["n"][0] == len(doc["incidents"][0]["incident_updates"])
    assert query(db, "SELECT count(*) n FROM incidents")["n"][0] == 2


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ImportFormatError, match="unknown status format"):
        parse_status(b"a,b\n1,2\n", "x", "file.csv")
    with pytest.raises(ImportFormatError, match="--provider"):
        parse_status(b'{"incidents": []}', None, "file.json")


# -- Statuspage summary.json, components.json, scheduled maintenances ----------------------

def _statuspage(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / f"statuspage_github_{name}.json").read_text())


def _store_all(db, doc, provider="github"):  # type: ignore[no-untyped-def]
    with writing(db) as wh:
        return store_batch(wh, parse_status(json.dumps(doc).encode(), provider, "test"), "test")


def _components(db):  # type: ignore[no-untyped-def]
    rows = query(db, "SELECT name, status, group_name FROM provider_components ORDER BY position")
    return {r["name"]: (r["status"], None if pd.isna(r["group_name"]) else r["group_name"])
            for r in rows.to_dict("records")}


def test_statuspage_summary_json_stores_open_incident_components_and_page_status(db):
    stored = _store_all(db, _statuspage("summary"))
    assert (stored.new_incidents, stored.new_updates, stored.changed_components) == (1, 2, 11)
    inc = query(db, "SELECT * FROM incidents").iloc[0]
    assert inc["incident_id"] == "69sb0f8lydp4" and inc["status"] == "investigating"
    assert pd.isna(inc["resolved_at"]) and sorted(inc["components"]) == ["Actions", "Pages"]
    components = _components(db)
    assert len(components) == 11
    assert components["Actions"] == ("major_outage", None)
    assert components["Pages"] == ("partial_outage", None)
    assert components["Git Operations"] == ("operational", None)
    page = query(db, "SELECT * FROM provider_status").iloc[0]
    assert (page["provider"], page["indicator"], page["description"]) == (
        "github", "major", "Partial System Outage")
    assert str(page["updated_at"]).startswith("2024-09-16 21:37:26.995")
    assert pd.isna(page["history_polled_at"])


def test_summary_then_incidents_json_is_one_incident_with_every_update(db):
    _store_all(db, _statuspage("summary"))
    stored = _store_all(db, _statuspage("incidents"))
    assert (stored.new_incidents, stored.new_updates) == (1, 10)  # the older incident is new
    rows = query(db, "SELECT * FROM incidents WHERE incident_id = '69sb0f8lydp4'")
    assert len(rows) == 1 and rows["status"][0] == "resolved"
    updates = query(db, "SELECT update_id FROM incident_updates WHERE incident_id = "
                        "'69sb0f8lydp4' ORDER BY created_at")["update_id"].tolist()
    expected = sorted(_statuspage("incidents")["incidents"][0]["incident_updates"],
                      key=lambda u: u["created_at"])
    assert updates == [u["id"] for u in expected]
    # incidents.json has no components or page status: the summary's stay.
    assert _components(db)["Actions"] == ("major_outage", None)
    assert len(query(db, "SELECT * FROM provider_status")) == 1


def test_components_json_replaces_the_current_components(db):
    _store_all(db, _statuspage("summary"))
    after = _statuspage("components")
    assert _store_all(db, after).changed_components == 2  # Actions and Pages recovered
    assert set(_components(db).values()) == {("operational", None)}
    assert _store_all(db, after).changed_components == 0

    # The page regroups: Actions and Pages under a group (not a row itself); Copilot is gone.
    regrouped = json.loads(json.dumps(after))
    comps = [c for c in regrouped["components"] if c["name"] != "Copilot"]
    group = {**comps[0], "id": "grp000000001", "name": "CI/CD", "group": True,
             "group_id": None, "position": 99}
    for c in comps:
        if c["name"] in ("Actions", "Pages"):
            c["group_id"] = group["id"]
    regrouped["components"] = [*comps, group]
    _store_all(db, regrouped)
    components = _components(db)
    assert "Copilot" not in components and "CI/CD" not in components and len(components) == 10
    assert components["Actions"] == ("operational", "CI/CD")
    assert components["Git Operations"] == ("operational", None)


def test_a_bad_component_is_quarantined_and_removes_nothing(db):
    _store_all(db, _statuspage("components"))
    damaged = _statuspage("components")
    damaged["components"] = damaged["components"][:3]
    damaged["components"][0]["status"] = "on_fire"
    damaged["components"][1]["status"] = "major_outage"
    _store_all(db, damaged)
    components = _components(db)
    # The listing was not whole, so the components it left out are kept as they were.
    assert len(components) == 11 and components["Git Operations"] == ("major_outage", None)
    reasons = query(db, "SELECT reason FROM quarantine")["reason"].tolist()
    assert reasons == [("Statuspage component: status 'on_fire' is not one of operational, "
                       "degraded_performance, partial_outage, major_outage, under_maintenance")]


def _maintenance(status: str, updates: list[tuple[str, str]]) -> dict:  # type: ignore[type-arg]
    """A scheduled maintenance as Statuspage's scheduled-maintenances.json shows one."""
    return {
        "id": "w1kq7r9zt3mb", "name": "Scheduled maintenance of Codespaces", "status": status,
        "created_at": "2024-09-10T17:00:00.000Z", "updated_at": updates[-1][1],
        "monitoring_at": None, "resolved_at": None, "impact": "maintenance",
        "shortlink": "https://stspg.io/example", "started_at": "2024-09-10T17:00:00.000Z",
        "page_id": "kctbh9vrtdwd", "scheduled_for": "2024-09-14T02:00:00.000Z",
        "scheduled_until": "2024-09-14T04:00:00.000Z",
        "incident_updates": [
            {"id": f"mu{i:010d}", "status": s, "body": f"Maintenance {s}.", "created_at": t,
             "display_at": t, "affected_components": [{"code": "h2ftsgbw7kmk",
                                                       "name": "Codespaces"}]}
            for i, (s, t) in enumerate(updates)][::-1],
        "components": [],
    }


def test_scheduled_maintenances_become_maintenance_incidents(db):
    scheduled = ("scheduled", "2024-09-10T17:00:00.000Z")
    upcoming = _maintenance("scheduled", [scheduled])
    upcoming["id"], upcoming["scheduled_for"] = "future000001", "2999-01-01T00:00:00.000Z"
    summary = {**_statuspage("summary"), "scheduled_maintenances": [
        upcoming, _maintenance("in_progress", [scheduled, ("in_progress",
                                                           "2024-09-14T02:03:00.120Z")])]}
    _store_all(db, summary)
    inc = query(db, "SELECT * FROM incidents WHERE impact = 'maintenance'")
    assert inc["incident_id"].tolist() == ["w1kq7r9zt3mb"]  # not yet begun: not stored
    assert inc["status"][0] == "in_progress" and list(inc["components"][0]) == ["Codespaces"]
    assert str(inc["started_at"][0]).startswith("2024-09-14 02:03:00.12")
    assert pd.isna(inc["resolved_at"][0])

    history = {"page": summary["page"], "scheduled_maintenances": [_maintenance(
        "completed", [scheduled, ("in_progress", "2024-09-14T02:03:00.120Z"),
                      ("completed", "2024-09-14T03:41:09.500Z")])]}
    assert _store_all(db, history).new_updates == 1
    row = query(db, "SELECT * FROM incidents WHERE incident_id = 'w1kq7r9zt3mb'").iloc[0]
    assert row["status"] == "completed"
    assert str(row["resolved_at"]).startswith("2024-09-14 03:41:09.5")


def test_status_json_is_the_page_status_only(db):
    doc = {"page": _statuspage("summary")["page"],
           "status": {"indicator": "none", "description": "All Systems Operational"}}
    _store_all(db, doc)
    assert query(db, "SELECT indicator FROM provider_status")["indicator"].tolist() == ["none"]
    assert query(db, "SELECT count(*) n FROM incidents")["n"][0] == 0
    bad = {"page": doc["page"], "status": {"description": "?"}}
    with writing(db) as wh:
        batch = parse_status(json.dumps(bad).encode(), "github", "status.json")
        assert batch.page_status.empty and "missing field 'indicator'" in batch.rejects[0][1]
        store_batch(wh, batch, "status.json")
    assert query(db, "SELECT indicator FROM provider_status")["indicator"].tolist() == ["none"]


# -- the ICPE'25 history in one command ------------------------------------------------------

ICPE_SAMPLE = FIXTURES / "icpe_incident_stages_sample.csv"
full_icpe = pytest.mark.skipif(not ICPE_HISTORY.exists(),
                               reason=f"the ICPE'25 data set is not at {ICPE_HISTORY} "
                                      "(../shared/data is not part of this checkout)")


def _stage_counts(csv_path) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Incidents and stage updates, counted from the CSV itself."""
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    stages = sum(1 for r in rows for s in ICPE_STAGES
                 if r[f"{s}_flag"] == "1" and r[f"{s}_timestamp"])
    return len(rows), stages


def test_find_icpe_history_takes_the_file_or_a_folder_above_it(tmp_path):
    assert find_icpe_history(ICPE_SAMPLE) == ICPE_SAMPLE
    nested = tmp_path / "clean" / "incident"
    for day in ("2024-05-31", "2024-08-31"):
        (nested / day).mkdir(parents=True)
        shutil.copy(ICPE_SAMPLE, nested / day / "incident_stages.csv")
    assert find_icpe_history(tmp_path / "clean") == nested / "2024-08-31" / "incident_stages.csv"


def test_missing_icpe_history_says_where_to_get_it(tmp_path):
    with pytest.raises(ImportFormatError, match="github.com/atlarge-research/llm-service-analysis"):
        find_icpe_history(tmp_path / "nowhere")
    other = tmp_path / "incident_stages.csv"
    other.write_text("incident_id,title,started_at\n")
    with pytest.raises(ImportFormatError, match="is not the ICPE'25"):
        find_icpe_history(tmp_path)


def test_import_status_icpe_history_command(prefect_harness, db):
    args = ["import", "status", "--icpe-history", str(ICPE_SAMPLE), "--db", str(db)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    incidents, stages = _stage_counts(ICPE_SAMPLE)
    assert f"{incidents} incidents ({incidents} new), {stages} updates ({stages} new)" in (
        first.output)
    again = CliRunner().invoke(main, args)
    assert f"({0} new), {stages} updates (0 new)" in again.output
    assert query(db, "SELECT count(*) n FROM incidents")["n"][0] == incidents


def test_import_status_needs_a_file_or_the_icpe_history(db):
    neither = CliRunner().invoke(main, ["import", "status", "--db", str(db)])
    assert neither.exit_code == 2 and "either FILE_OR_URL or --icpe-history" in neither.output
    both = CliRunner().invoke(main, ["import", "status", str(ICPE_SAMPLE), "--icpe-history"])
    assert both.exit_code == 2 and "either FILE_OR_URL or --icpe-history" in both.output
    missing = CliRunner().invoke(main, ["import", "status", "--icpe-history",
                                        str(db.parent / "none"), "--db", str(db)])
    assert missing.exit_code == 1 and "atlarge-research" in missing.output


@full_icpe
def test_full_icpe_history_loads_every_incident_with_its_stages(prefect_harness, db):
    path = find_icpe_history()
    incidents, stages = _stage_counts(path)
    assert incidents == 542
    result = CliRunner().invoke(main, ["import", "status", "--icpe-history", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert f"{incidents} incidents ({incidents} new), {stages} updates ({stages} new)" in (
        result.output) and "0 quarantined" in result.output
    by_provider = query(db, "SELECT provider, count(*) n FROM incidents GROUP BY 1 ORDER BY 1")
    assert by_provider.to_dict("records") == [{"provider": "anthropic", "n": 141},
                                              {"provider": "character", "n": 36},
                                              {"provider": "openai", "n": 365}]
    assert query(db, "SELECT count(*) n FROM incident_updates")["n"][0] == stages
