"""Incident attribution on tiny hand-checked inputs, and `analyze()` writing every attribution
and reaction table on a small warehouse (re-running duplicates nothing)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.attribution import explained, incident_metrics
from analysis.linking import Dependency
from pipelines.analyze import analyze
from pipelines.config import Service
from pipelines.warehouse.reader import query
from pipelines.warehouse.writer import writing

T = pd.Timestamp


def _incidents(*rows: tuple[str, str, str, str | None]) -> pd.DataFrame:
    return pd.DataFrame([{"provider": p, "incident_id": i, "started_at": T(s),
                          "resolved_at": T(r) if r else pd.NaT} for p, i, s, r in rows])


def _updates(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"provider": p, "incident_id": i, "created_at": T(t)} for p, i, t in rows],
                        columns=["provider", "incident_id", "created_at"])


def _affected(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["provider", "incident_id", "service", "relation"])


def _links(*rows: tuple[str, str, str, str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"spike_id": s, "provider": p, "incident_id": i, "service": svc,
                          "relation": "upstream", "confidence": c} for s, p, i, svc, c in rows],
                        columns=["spike_id", "provider", "incident_id", "service", "relation",
                                 "confidence"])


def _spikes(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"spike_id": s, "start": T(a), "end": T(b)} for s, a, b in rows],
                        columns=["spike_id", "start", "end"])


def _complaints(service: str, start: str, counts: list[int]) -> pd.DataFrame:
    minutes = pd.date_range(T(start), periods=len(counts), freq="min")
    return pd.DataFrame({"service": service, "minute": minutes, "complaints": counts})


def test_social_first_incident_timings_from_the_first_complaint():
    # Spike 10:00-10:04 (recovered 10:05); first update 10:12; resolved 11:00.
    metrics = incident_metrics(
        _incidents(("anthropic", "a1", "2024-06-01T10:05Z", "2024-06-01T11:00Z")),
        _updates(("anthropic", "a1", "2024-06-01T10:30Z"), ("anthropic", "a1",
                                                             "2024-06-01T10:12Z")),
        _affected(("anthropic", "a1", "notion", "upstream")),
        _links(("s1", "anthropic", "a1", "notion", 0.7)),
        _spikes(("s1", "2024-06-01T10:00Z", "2024-06-01T10:04Z")),
        _complaints("notion", "2024-06-01T09:58Z", [1, 1, 5, 9, 7, 4, 3, 1, 1]),
    )
    row = metrics.iloc[0]
    assert len(metrics) == 1 and row["service"] == "notion" and row["relation"] == "upstream"
    assert row["first_complaint_at"] == T("2024-06-01T10:00Z")
    assert row["first_update_at"] == T("2024-06-01T10:12Z")
    assert row["recovered_at"] == T("2024-06-01T10:05Z")
    assert row["minutes_to_first_update"] == 12
    assert row["minutes_to_resolution"] == 60
    assert row["minutes_to_recovery"] == 5
    # Complaints 10:00..10:04: 5 + 9 + 7 + 4 + 3.
    assert row["complaints"] == 28 and row["linked_spikes"] == 1 and not row["silent"]
    assert row["max_confidence"] == 0.7


def test_status_page_first_gives_negative_minutes_and_two_spikes_span_the_reaction():
    metrics = incident_metrics(
        _incidents(("openai", "o1", "2024-06-01T09:50Z", None)),
        _updates(("openai", "o1", "2024-06-01T09:50Z")),
        _affected(("openai", "o1", "chatgpt", "own")),
        _links(("s1", "openai", "o1", "chatgpt", 0.9), ("s2", "openai", "o1", "chatgpt", 0.4)),
        _spikes(("s1", "2024-06-01T10:00Z", "2024-06-01T10:20Z"),
                ("s2", "2024-06-01T10:40Z", "2024-06-01T11:09Z")),
        _complaints("chatgpt", "2024-06-01T10:00Z", [2] * 90),
    )
    row = metrics.iloc[0]
    assert row["minutes_to_first_update"] == -10  # the status page spoke first
    assert row["recovered_at"] == T("2024-06-01T11:10Z") and row["minutes_to_recovery"] == 70
    assert pd.isna(row["resolved_at"]) and pd.isna(row["minutes_to_resolution"])
    assert row["linked_spikes"] == 2 and row["complaints"] == 140 and row["max_confidence"] == 0.9


@pytest.mark.parametrize(("types", "expected"), [
    # A linked spike of all complaints sets the span; a week-long 'slowness' trickle does not.
    ((None, "slowness"), (1, "2024-06-01T10:31Z")),
    # With only single-type spikes linked, they are the reaction.
    (("errors", "slowness"), (2, "2024-06-08T10:01Z")),
])
def test_spikes_of_all_complaints_set_the_span_when_linked(types, expected):
    spikes = _spikes(("all", "2024-06-01T10:00Z", "2024-06-01T10:30Z"),
                     ("slow", "2024-06-01T10:05Z", "2024-06-08T10:00Z"))
    spikes["complaint_type"] = list(types)
    metrics = incident_metrics(
        _incidents(("notion", "n1", "2024-06-01T10:00Z", "2024-06-01T11:00Z")), _updates(),
        _affected(("notion", "n1", "notion", "own")),
        _links(("all", "notion", "n1", "notion", 0.9), ("slow", "notion", "n1", "notion", 0.3)),
        spikes, _complaints("notion", "2024-06-01T10:00Z", [1]))
    row = metrics.iloc[0]
    assert (row["linked_spikes"], row["recovered_at"]) == (expected[0], T(expected[1]))


def test_silent_and_unwatched_incidents():
    metrics = incident_metrics(
        _incidents(("anthropic", "quiet", "2024-06-01T10:00Z", "2024-06-01T10:03Z"),
                   ("gcp", "nobody", "2024-06-01T12:00Z", None)),
        _updates(),
        _affected(("anthropic", "quiet", "notion", "upstream"),
                  ("anthropic", "quiet", "claude", "own")),
        _links(),
        _spikes(),
        _complaints("claude", "2024-06-01T09:59Z", [4, 1, 2, 0, 5]),
    )
    assert metrics["silent"].all() and (metrics["linked_spikes"] == 0).all()
    by_service = {(r.incident_id, r.service): r for r in metrics.itertuples()}
    # A silent incident counts the complaints during the incident: 10:00, 10:01, 10:02.
    assert by_service[("quiet", "claude")].complaints == 3
    assert by_service[("quiet", "notion")].complaints == 0
    nobody = metrics[metrics["incident_id"] == "nobody"].iloc[0]
    assert nobody["service"] is None and pd.isna(nobody["complaints"])
    assert pd.isna(nobody["first_complaint_at"]) and pd.isna(nobody["minutes_to_first_update"])


def test_no_update_falls_back_to_the_incident_creation_time():
    incidents = _incidents(("anthropic", "a1", "2024-06-01T10:05Z", "2024-06-01T10:30Z"))
    incidents["created_at"] = T("2024-06-01T10:07Z")
    metrics = incident_metrics(incidents, _updates(), _affected(),
                               _links(("s1", "anthropic", "a1", "notion", 0.5)),
                               _spikes(("s1", "2024-06-01T10:00Z", "2024-06-01T10:10Z")),
                               _complaints("notion", "2024-06-01T10:00Z", [1]))
    # The linked pair is kept although the dependency map did not list it.
    assert metrics["service"].tolist() == ["notion"]
    assert metrics.iloc[0]["minutes_to_first_update"] == 7


def test_explained_marks_spikes_with_a_link():
    spikes = _spikes(("s1", "2024-06-01T10:00Z", "2024-06-01T10:10Z"),
                     ("s2", "2024-06-02T10:00Z", "2024-06-02T10:10Z"))
    links = _links(("s2", "anthropic", "a1", "notion", 0.5))
    assert explained(spikes, links).tolist() == [False, True]


# -- analyze() on a small warehouse --------------------------------------------------------

ONSET = T("2024-06-03T14:00Z")
POST_DEFAULTS = {"service": "notion", "author_followers": 50, "likes": 0, "reposts": 0,
                 "replies": 0, "quotes": 0, "lang": "en", "url": None, "is_repost": False,
                 "parent_id": None, "raw_page_id": None}


def _post(pid: str, at: pd.Timestamp, text: str, author: str, complaint: bool) -> dict[str, object]:
    return {"source": "x", "id": pid, "created_at": at, "text": text, "author": author,
            "complaint": complaint, **POST_DEFAULTS}


def _warehouse_posts() -> pd.DataFrame:
    rows = [_post(f"calm{i}", ts, "writing in Notion", f"u{i % 40}", False)
            for i, ts in enumerate(pd.date_range("2024-06-01", "2024-06-05", freq="9min",
                                                 tz="UTC"))]
    for i in range(150):
        text = "switching to Coda, Notion AI is down" if i % 10 == 0 else "Notion AI is down"
        rows.append(_post(f"angry{i}", ONSET + pd.Timedelta(seconds=17 * i), text, f"a{i}",
                          True))
    rows.append(_post("official", ONSET + pd.Timedelta(minutes=25), "We are on it",
                      "NotionHQ", False))
    return pd.DataFrame(rows)


def _classifications(posts: pd.DataFrame) -> pd.DataFrame:
    scores = json.dumps({"negative": 0.5, "neutral": 0.3, "positive": 0.2})
    return pd.DataFrame({
        "source": posts["source"], "id": posts["id"], "model_version": "test",
        "sentiment": ["negative" if c else "neutral" for c in posts["complaint"]],
        "sentiment_scores": scores, "is_complaint": posts["complaint"],
        "complaint_probability": [0.9 if c else 0.1 for c in posts["complaint"]],
        "complaint_type": ["outage" if c else "none" for c in posts["complaint"]],
        "complaint_scores": json.dumps({"outage": 0.5}),
        "uncertain": False, "language": "en", "unsupported_language": False,
    })


def _status() -> tuple[pd.DataFrame, pd.DataFrame]:
    def incident(iid: str, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, object]:
        return {"provider": "anthropic", "incident_id": iid, "title": iid, "impact": "major",
                "status": "resolved", "components": [], "url": None, "created_at": start,
                "started_at": start, "resolved_at": end, "updated_at": end}
    incidents = pd.DataFrame([
        incident("loud", ONSET + pd.Timedelta(minutes=10), ONSET + pd.Timedelta(minutes=60)),
        incident("quiet", T("2024-06-02T03:00Z"), T("2024-06-02T03:30Z"))])
    updates = pd.DataFrame([
        {"provider": "anthropic", "incident_id": "loud", "update_id": "u1",
         "status": "investigating", "body": "Looking", "created_at": ONSET + pd.Timedelta(
             minutes=10)},
        {"provider": "anthropic", "incident_id": "quiet", "update_id": "q1",
         "status": "resolved", "body": "Done", "created_at": T("2024-06-02T03:30Z")}])
    return incidents, updates


@pytest.mark.slow
def test_analyze_writes_attribution_and_reaction_tables_once(db):
    posts = _warehouse_posts()
    incidents, updates = _status()
    deps = {"notion": [Dependency("anthropic", "upstream")]}
    services = {"notion": Service(name="Notion AI", competitors=["Coda", "Obsidian"],
                                  handles=["@NotionHQ"], depends_on=["anthropic"])}
    with writing(db) as wh:
        wh.upsert_posts(posts.drop(columns="complaint"))
        wh.write_classifications(_classifications(posts))
        wh.upsert_incidents(incidents, updates)
        summary = analyze(wh, deps, services)
    assert summary.silent_incidents == 1 and summary.unexplained_spikes == 0
    assert "1 silent" in summary.line()

    metrics = query(db, "SELECT * FROM incident_metrics ORDER BY incident_id")
    assert metrics["incident_id"].tolist() == ["loud", "quiet"]
    assert metrics["silent"].tolist() == [False, True]
    loud = metrics.iloc[0]
    assert 8 <= loud["minutes_to_first_update"] <= 10  # social media saw it ~10 minutes first
    assert query(db, "SELECT incident_id FROM silent_incidents")["incident_id"].tolist() == [
        "quiet"]
    assert query(db, "SELECT count(*) n FROM unexplained_spikes")["n"][0] == 0

    reaction = query(db, "SELECT * FROM spike_reaction WHERE complaint_type IS NULL")
    assert len(reaction) == 1 and reaction["explained"][0]
    assert reaction["complaints"][0] >= 140 and reaction["distinct_authors"][0] >= 140
    mentions = query(db, "SELECT * FROM competitor_mentions ORDER BY competitor")
    assert mentions["competitor"].tolist() == ["Coda", "Obsidian"]
    assert mentions["mentions"].tolist()[1] == 0 and 14 <= mentions["mentions"][0] <= 15
    assert mentions["switching_intent"][0] == mentions["mentions"][0]
    effects = query(db, "SELECT * FROM response_effects ORDER BY update_at")
    assert effects["kind"].tolist() == ["status_update", "official_post"]
    assert effects["update_id"].tolist() == ["u1", "official"]

    tables = ["incident_metrics", "spike_reaction", "competitor_mentions", "response_effects"]
    counts = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in tables)
    before = query(db, counts)
    with writing(db) as wh:
        analyze(wh, deps, services)
    assert query(db, counts).equals(before)
