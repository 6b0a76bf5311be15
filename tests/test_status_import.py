"""Status history: Statuspage JSON and the ICPE'25 CSV, upserted without losing history."""

from __future__ import annotations

import json

import pytest

from pipelines.errors import ImportFormatError
from pipelines.status_import import parse_status, read_source
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
