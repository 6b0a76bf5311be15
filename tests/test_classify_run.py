"""Classify runs over the warehouse with the real classifier: an interrupted re-classification
of the whole warehouse (`classify --all`) continues where it stopped, a new model starts over."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from analysis.classifier import Classification, Classifier
from pipelines.classify import load_classifier
from pipelines.classify_run import (
    BACKFILL_FLOW,
    GROUPS_PER_CHUNK,
    Item,
    Labeller,
    LabelMemo,
    classify_planned,
    local_labeller,
    plan_classification,
)
from pipelines.importers import import_posts
from pipelines.settings import REPO_DIR
from pipelines.warehouse.writer import Warehouse, writing

POSTS = 120
GROUP = 4
CHUNK = GROUP * GROUPS_PER_CHUNK  # posts per commit: 32


class Interrupted(Exception):
    """Stands for Ctrl+C or a killed worker in the middle of a run."""


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return load_classifier(None)


def demo_posts(path: Path, n: int) -> Path:
    """The first `n` records of the bundled demo stream."""
    with gzip.open(REPO_DIR / "data" / "demo" / "posts.jsonl.gz", "rt", encoding="utf-8") as f:
        path.write_text("".join(itertools.islice(f, n)), encoding="utf-8")
    return path


def stopping_after(label: Labeller, chunks: int) -> Labeller:
    calls = itertools.count(1)

    def run(groups: list[list[Item]]) -> Iterator[list[Classification]]:
        if next(calls) > chunks:
            raise Interrupted
        return label(groups)
    return run


def labels(wh: Warehouse) -> list[tuple[str, str, str, str, bool]]:
    return wh.con.execute("SELECT source, id, model_version, sentiment, is_complaint "
                          "FROM classifications ORDER BY ALL").fetchall()


def backfills(wh: Warehouse) -> list[tuple[str, str]]:
    return wh.con.execute("SELECT run_id, status FROM pipeline_runs WHERE flow = ? "
                          "ORDER BY started_at", [BACKFILL_FLOW]).fetchall()


@pytest.mark.slow
def test_interrupted_reclassification_resumes(tmp_path, db, matcher, classifier):
    label = local_labeller(classifier, 64)
    version = classifier.model_version
    with writing(db) as wh:
        assert import_posts(wh, demo_posts(tmp_path / "p.jsonl", POSTS), matcher).imported == POSTS
        plan = plan_classification(wh, version, everything=False)
        assert (plan.total, plan.backfill_run) == (POSTS, None)
        assert classify_planned(wh, label, plan, group_size=GROUP).classified == POSTS
        first = labels(wh)

        started = plan_classification(wh, version, everything=True)
        assert started.total == POSTS and not started.resumed
        with pytest.raises(Interrupted):
            classify_planned(wh, stopping_after(label, 2), started, group_size=GROUP)
        assert backfills(wh) == [(started.backfill_run, "running")]

        resumed = plan_classification(wh, version, everything=True)
        assert resumed.resumed and resumed.backfill_run == started.backfill_run
        assert resumed.total == POSTS - 2 * CHUNK  # the two committed chunks are done
        summary = classify_planned(wh, label, resumed, group_size=GROUP)
        assert summary.classified == POSTS - 2 * CHUNK
        assert backfills(wh) == [(started.backfill_run, "completed")]
        assert wh.con.execute("SELECT count(*) FROM classifications WHERE classified_at < ?",
                              [started.cutoff]).fetchall()[0][0] == 0
        assert labels(wh) == first  # same model, same labels

        # Done: the next --all is a new backfill over every post.
        again = plan_classification(wh, version, everything=True)
        assert again.total == POSTS and not again.resumed
        assert again.backfill_run != started.backfill_run


def test_a_new_model_supersedes_an_unfinished_backfill(tmp_path, db, matcher, classifier):
    label = local_labeller(classifier, 64)
    with writing(db) as wh:
        import_posts(wh, demo_posts(tmp_path / "p.jsonl", 60), matcher)
        old = plan_classification(wh, "old-model", everything=True)
        with pytest.raises(Interrupted):
            classify_planned(wh, stopping_after(label, 1), old, group_size=GROUP)
        new = plan_classification(wh, classifier.model_version, everything=True)
        assert not new.resumed and new.total == 60
        assert dict(backfills(wh)) == {old.backfill_run: "superseded",
                                       new.backfill_run: "running"}
        # Only unclassified posts without --all: the first chunk is labelled.
        assert plan_classification(wh, "any", everything=False).total == 60 - CHUNK


def counting(label: Labeller, seen: list[Item]) -> Labeller:
    def run(groups: list[list[Item]]) -> Iterator[list[Classification]]:
        for group in groups:
            seen.extend(group)
        return label(groups)
    return run


def test_reposts_in_later_chunks_are_not_encoded_again(tmp_path, db, matcher, classifier):
    """Copies of 40 posts under new ids land in other chunks (32 posts each): the labeller
    reads each distinct text once in the whole run, and every copy gets its original's labels."""
    originals = [json.loads(line) for line in
                 demo_posts(tmp_path / "p.jsonl", 40).read_text().splitlines()]
    copies = [{**post, "id": f"zz-copy-{post['id']}"} for post in originals]
    path = tmp_path / "with_copies.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in originals + copies), encoding="utf-8")
    distinct = {(p["text"], p.get("lang")) for p in originals}
    seen: list[Item] = []
    with writing(db) as wh:
        assert import_posts(wh, path, matcher).imported == 80
        plan = plan_classification(wh, classifier.model_version, everything=False)
        summary = classify_planned(wh, counting(local_labeller(classifier, 64), seen), plan,
                                   group_size=GROUP)
        rows = {(s, i): rest for s, i, *rest in wh.con.execute(
            "SELECT source, id, sentiment, sentiment_scores, complaint_type, complaint_scores "
            "FROM classifications").fetchall()}
    assert summary.classified == 80
    assert sorted(seen) == sorted(distinct) and summary.encoded == len(distinct)
    for post in originals:
        assert rows[(post["source"], f"zz-copy-{post['id']}")] == rows[(post["source"], post["id"])]


def test_the_label_memo_forgets_the_least_recently_used(classifier):
    memo = LabelMemo(capacity=2)
    a, b, c = (classifier.classify([text])[0] for text in ["slack is down", "love figma", "ok"])
    memo.put(("a", None), a)
    memo.put(("b", None), b)
    assert memo.get(("a", None)) == a  # now the most recently used
    memo.put(("c", None), c)
    assert memo.get(("b", None)) is None
    assert memo.get(("a", None)) == a and memo.get(("c", None)) == c
