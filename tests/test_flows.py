"""The Prefect flows end to end under Prefect's test harness: import, status, classify (the real
model), analyze; the analyst views hold what they should and a re-run duplicates nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.flows import analyze_flow, classify_flow, import_posts_flow, import_status_flow
from pipelines.warehouse.reader import query

CALM = ["Writing my weekly plan in Notion this morning", "notion templates for a reading list?",
        "Moved our team wiki into Notion last month, pretty happy", "Notion AI summarised my notes"]
ANGRY = ["Notion AI is down again, every request fails with an error",
         "notion is broken?? can't load any page, 500 errors everywhere",
         "Notion AI not responding for 20 minutes now, this is unusable",
         "is notion down for anyone else? getting errors on every page"]
ONSET = pd.Timestamp("2024-06-03T14:00Z")
STATUSPAGE = {"page": {"id": "p", "name": "Anthropic"}, "incidents": [{
    "id": "inc1", "name": "Elevated errors on Claude API", "status": "resolved", "impact": "major",
    "created_at": "2024-06-03T14:10:00Z", "started_at": "2024-06-03T14:10:00Z",
    "updated_at": "2024-06-03T15:00:00Z", "resolved_at": "2024-06-03T15:00:00Z",
    "shortlink": "https://stspg.io/x", "components": [], "incident_updates": [
        {"id": "u1", "status": "investigating", "body": "Looking into errors.",
         "created_at": "2024-06-03T14:10:00Z"},
        {"id": "u2", "status": "resolved", "body": "Resolved.",
         "created_at": "2024-06-03T15:00:00Z"}]}]}


def _posts(path: Path) -> Path:
    rng = np.random.default_rng(5)
    records = []
    minutes = pd.date_range("2024-06-01", "2024-06-05", freq="7min", tz="UTC")
    for i, ts in enumerate(minutes):
        records.append({"id": f"calm{i}", "source": "x", "created_at": ts.isoformat(),
                        "text": CALM[i % len(CALM)], "author_followers": int(rng.integers(10, 500))})
    for i in range(160):
        ts = ONSET + pd.Timedelta(seconds=int(rng.integers(0, 45 * 60)))
        records.append({"id": f"angry{i}", "source": "bluesky", "created_at": ts.isoformat(),
                        "text": ANGRY[i % len(ANGRY)], "author_followers": 100})
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{oops\n")
    return path


@pytest.mark.slow
def test_pipeline_flows_end_to_end(prefect_harness, tmp_path, db, config_path):
    posts_file, status_file = _posts(tmp_path / "posts.jsonl"), tmp_path / "incidents.json"
    status_file.write_text(json.dumps(STATUSPAGE))
    summary = import_posts_flow(str(db), str(posts_file), str(config_path))
    assert summary["quarantined"] == 1 and summary["imported"] > 900
    assert import_status_flow(str(db), str(status_file), "anthropic")["new_incidents"] == 1
    assert classify_flow(str(db))["classified"] == summary["imported"]
    result = analyze_flow(str(db), str(config_path))
    assert result["spikes"] >= 1 and result["links"] >= 1

    unclassified = query(db, "SELECT count(*) n FROM posts WHERE sentiment IS NULL")["n"][0]
    assert unclassified == 0
    spike = query(db, "SELECT * FROM spikes WHERE complaint_type IS NULL AND service = 'notion'")
    assert len(spike) == 1
    start = pd.Timestamp(spike["start"][0])
    assert abs((start - ONSET) / pd.Timedelta(minutes=1)) <= 5
    link = query(db, "SELECT * FROM incident_links WHERE spike_id = ?", [spike["spike_id"][0]])
    assert link["relation"].tolist() == ["upstream"] and link["provider"][0] == "anthropic"
    assert link["lead_minutes"][0] == pytest.approx((pd.Timestamp("2024-06-03T14:10Z") - start)
                                                    / pd.Timedelta(minutes=1))
    buckets = query(db, "SELECT sum(posts) n FROM post_buckets")["n"][0]
    assert buckets == summary["imported"]

    # Everything again: nothing new, nothing duplicated.
    before = query(db, "SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM spikes) s, "
                       "(SELECT count(*) FROM incident_links) l, (SELECT count(*) FROM quarantine) q")
    assert import_posts_flow(str(db), str(posts_file), str(config_path))["imported"] == 0
    assert import_status_flow(str(db), str(status_file), "anthropic")["new_updates"] == 0
    assert classify_flow(str(db))["classified"] == 0
    analyze_flow(str(db), str(config_path))
    after = query(db, "SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM spikes) s, "
                      "(SELECT count(*) FROM incident_links) l, (SELECT count(*) FROM quarantine) q")
    assert before.equals(after)
