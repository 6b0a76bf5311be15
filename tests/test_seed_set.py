"""The complaint-type seed set (data/labels): well-formed, and the agreement script reads it."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

from analysis.classifier.taxonomy import load_taxonomy
from analysis.classifier.training_data import dedupe_key, read_seed, read_seed_batches

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "data" / "labels" / "complaint_type_seed.csv"
PLATFORMS = {"x", "reddit", "bluesky", "mastodon", "hackernews"}


def _rows(path: Path = SEED) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_every_row_is_labelled_from_the_taxonomy_with_writer_and_second_label() -> None:
    names = {label.name for label in load_taxonomy()}
    rows = _rows()
    assert {row["label"] for row in rows} == names
    assert {row["second_label"] for row in rows} <= names
    assert {row["platform"] for row in rows} <= PLATFORMS
    assert all(row["text"].strip() and len(row["lang"]) == 2 and row["batch"] for row in rows)
    # Balanced enough that no label is starved in a 5-fold split.
    counts = Counter(row["label"] for row in rows)
    assert min(counts.values()) >= 0.9 * max(counts.values())


def test_no_two_posts_share_a_text() -> None:
    keys = [dedupe_key(row["text"]) for row in _rows()]
    assert len(keys) == len(set(keys))


def test_batches_line_up_with_the_texts() -> None:
    seed = read_seed(SEED)
    batches = read_seed_batches(SEED)
    assert len(batches) == len(seed.texts)
    assert len(set(batches)) >= 2  # the leave-one-writer-out evaluation needs several


def test_agreement_script_counts_disagreements(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    rows = [("a", "outage", "outage", "w1"), ("b", "errors", "errors", "w1"),
            ("c", "humor", "outage", "w2"), ("d", "none", "none", "w2")]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "platform", "lang", "batch", "second_label"])
        writer.writerows([(t, a, "x", "en", w, b) for t, a, b, w in rows])
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "seed_agreement.py"),
                          "--seed-csv", str(path)], capture_output=True, text=True, check=True)
    assert "raw agreement      0.750" in out.stdout
    assert "humor -> outage" in out.stdout
    assert "w2     0.50 (2)" in out.stdout
