"""The benchmarks' synthetic data (bench/synthetic.py) stays valid input for the real pipeline:
the SQL generator fits the current warehouse schema, and the demo-like post file imports
without rejects, with unique keys and the same services as the demo posts it copies."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pipelines.config import load_config
from pipelines.importers import import_posts
from pipelines.settings import BUNDLED_CONFIG, load_settings
from pipelines.warehouse.writer import writing

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def synthetic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_synthetic", BENCH / "synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def protected() -> list[str]:
    config = load_config(BUNDLED_CONFIG)
    return [w for s in config.services.values() for w in s.keywords + s.handles + s.competitors]


def test_sql_generator_fills_the_current_schema(synthetic: ModuleType, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with writing(db) as wh:
        synthetic.insert_classified_posts(wh.con, 1000)
        posts, classified, services = wh.con.execute(
            "SELECT count(*), count(sentiment), count(DISTINCT service) FROM posts").fetchall()[0]
    assert (posts, classified, services) == (1000, 1000, len(synthetic.SERVICES))


def test_perturb_keeps_service_keywords(synthetic: ModuleType, protected: list[str]) -> None:
    text = "Notion AI is down again and the whole dashboard keeps loading forever"
    outputs = {synthetic.perturb(text, random.Random(i), [p.lower() for p in protected])
               for i in range(200)}
    assert text not in outputs and len(outputs) > 150
    assert all("notion" in out.lower() for out in outputs)


@pytest.mark.slow  # writes a whole copy of the demo stream (34k posts)
def test_copies_import_cleanly_with_the_demo_services(synthetic: ModuleType, protected: list[str],
                                                      tmp_path: Path) -> None:
    demo = load_settings().demo_dir / "posts.jsonl.gz"
    with gzip.open(demo, "rt", encoding="utf-8") as f:
        demo_count = sum(1 for line in f if line.strip())
    made = synthetic.write_demo_like_posts(demo, tmp_path / "posts.jsonl", demo_count + 400,
                                           protected)
    records = [json.loads(line) for line in made.path.read_text(encoding="utf-8").splitlines()]
    assert made.posts == len(records) == demo_count + 400 and made.copies == 2
    assert len({(r["source"], r["id"]) for r in records}) == len(records)
    assert made.distinct_texts == len({r["text"] for r in records})
    originals, copies = records[:400], records[demo_count:]
    changed = sum(o["text"] != c["text"] for o, c in zip(originals, copies, strict=True))
    assert changed == 400
    assert all(c["created_at"] > o["created_at"] for o, c in zip(originals, copies, strict=True))

    # The first 400 demo posts and their 400 copies, through the real importer.
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(r) + "\n" for r in originals + copies),
                      encoding="utf-8")
    with writing(tmp_path / "w.duckdb") as wh:
        summary = import_posts(wh, sample, load_config(BUNDLED_CONFIG).matcher())
        services = wh.con.execute(
            "SELECT o.service IS NOT DISTINCT FROM c.service FROM post_records o "
            "JOIN post_records c ON c.source = o.source AND c.id = o.id || '-c1'").fetchall()
    assert (summary.imported, summary.quarantined) == (800, 0)
    assert len(services) == 400 and all(same for (same,) in services)
