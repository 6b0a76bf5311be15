"""The bundled demo data (data/demo/): reproducible from its generator, well-formed post records,
real ICPE incident rows, and a scenario with incident and no-incident bursts."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
GENERATOR = REPO / "scripts" / "generate_demo_data.py"
CONFIG = REPO / "pipelines" / "services.example.toml"
ICPE = (
    REPO.parent
    / "shared/data/status/llm_status_incidents/clean/incident/2024-08-31/incident_stages.csv"
)
DEMO_FILES = ("posts.jsonl.gz", "incidents_icpe.csv", "scenario.json")
REQUIRED = {
    "id": str,
    "source": str,
    "created_at": str,
    "text": str,
    "author": str,
    "author_followers": (int, type(None)),
    "url": str,
    "lang": str,
    "likes": int,
    "reposts": int,
    "replies": int,
    "quotes": int,
    "is_repost": bool,
    "parent_id": (str, type(None)),
}
SOURCES = {"x", "reddit", "bluesky", "mastodon", "hackernews"}

needs_icpe = pytest.mark.skipif(
    not ICPE.is_file(), reason=f"ICPE'25 data not present at {ICPE} (it lives outside the repo)"
)


@pytest.fixture(scope="module")
def posts() -> list[dict[str, object]]:
    with gzip.open(DEMO / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def scenario() -> dict[str, object]:
    return json.loads((DEMO / "scenario.json").read_text(encoding="utf-8"))


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@needs_icpe
def test_regenerating_with_the_default_seed_gives_identical_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--icpe", str(ICPE), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in DEMO_FILES:
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), (
            f"{name} differs: rerun scripts/generate_demo_data.py and commit data/demo/"
        )


def test_generator_has_help() -> None:
    out = subprocess.run(
        [sys.executable, str(GENERATOR), "--help"], check=True, capture_output=True, text=True
    )
    assert "--seed" in out.stdout and "--out" in out.stdout


def test_posts_are_many_and_span_a_week(posts: list[dict[str, object]]) -> None:
    assert len(posts) >= 20_000
    days = {str(p["created_at"])[:10] for p in posts}
    assert len(days) >= 7


def test_every_post_is_a_valid_record(posts: list[dict[str, object]]) -> None:
    for p in posts:
        for name, kind in REQUIRED.items():
            assert name in p, (name, p)
            assert isinstance(p[name], kind), (name, p)
        assert p["source"] in SOURCES
        assert str(p["created_at"]).endswith("Z")
        assert datetime.fromisoformat(str(p["created_at"])).utcoffset() is not None
        assert str(p["text"]).strip()


def test_ids_are_unique_and_parents_come_first(posts: list[dict[str, object]]) -> None:
    keys = Counter((p["source"], p["id"]) for p in posts)
    assert max(keys.values()) == 1
    seen: dict[tuple[object, object], str] = {}
    for p in posts:  # the file is sorted by time
        if p["parent_id"] is not None:
            parent_time = seen.get((p["source"], p["parent_id"]))
            assert parent_time is not None and parent_time <= str(p["created_at"]), p
        if p["is_repost"]:
            assert p["parent_id"] is not None
        seen[(p["source"], p["id"])] = str(p["created_at"])


def test_about_half_carry_service_and_the_rest_match_a_keyword(
    posts: list[dict[str, object]],
) -> None:
    services = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["services"]
    carried = [p for p in posts if "service" in p]
    assert {p["service"] for p in carried} <= set(services)
    assert 0.35 < len(carried) / len(posts) < 0.65
    terms = [t.lower() for s in services.values() for t in s["keywords"] + s["handles"]]
    pattern = re.compile(
        rf"(?<![\w@])(?:{'|'.join(re.escape(t) for t in terms)})(?!\w)", re.IGNORECASE
    )
    rest = [p for p in posts if "service" not in p]
    matched = sum(bool(pattern.search(str(p["text"]))) for p in rest)
    assert matched / len(rest) > 0.9  # the others are noise that names no watched service


@needs_icpe
def test_incidents_are_unchanged_rows_of_the_icpe_file() -> None:
    original = read_csv(ICPE)
    demo = read_csv(DEMO / "incidents_icpe.csv")
    assert demo[0] == original[0]
    rows = {tuple(r) for r in original[1:]}
    assert len(demo) > 1
    assert all(tuple(r) in rows for r in demo[1:])


def test_scenario_has_bursts_with_and_without_incidents(scenario: dict[str, object]) -> None:
    bursts = scenario["bursts"]
    assert isinstance(bursts, list)
    incident_ids = {r[0] for r in read_csv(DEMO / "incidents_icpe.csv")[1:]}
    with_incident = [b for b in bursts if b["incident_id"] is not None]
    without = [b for b in bursts if b["incident_id"] is None]
    assert with_incident and len(without) >= 2
    assert {b["incident_id"] for b in with_incident} <= incident_ids
    for b in bursts:
        assert b["onset"] <= b["peak"] <= b["end"]
        assert (b["lead_minutes"] is None) == (b["incident_id"] is None)
    leads = [b["lead_minutes"] for b in with_incident]
    assert any(x > 0 for x in leads) and any(x < 0 for x in leads)
    window = scenario["window"]
    assert isinstance(window, dict) and 8 <= window["days"] <= 10


def test_scenario_counts_match_the_posts_file(
    scenario: dict[str, object], posts: list[dict[str, object]]
) -> None:
    counts = scenario["counts"]
    assert isinstance(counts, dict)
    assert counts["posts"] == len(posts)
    assert counts["by_source"] == dict(sorted(Counter(str(p["source"]) for p in posts).items()))
