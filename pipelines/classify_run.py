"""One classify run over the warehouse, whoever does the labelling (the classifier in this
process, or tasks on a Dask cluster): posts go in (source, id) order, chunk by chunk, each
chunk's labels committed with it, so an interrupted run loses at most one chunk.

Within a chunk the distinct posts (text and language tag) not labelled earlier in the run,
shortest first, are cut into groups, and each group is one call of the classifier (one Dask
task). A text labelled in an earlier chunk (a repost, a copy) takes the labels it got then, from
a bounded memo (`LabelMemo`): a text's labels do not depend on the other texts of its batch or
group (static int8; `tests/test_classifier.py` checks it), so this changes no label.

Re-classifying the whole warehouse (`classify --all`, after a model change) is a backfill with a
marker in pipeline_runs: it re-labels every post classified before the backfill started. If it
is interrupted, the next `--all` with the same model continues that backfill (the posts labelled
since its start are done) instead of starting over; a different model starts a new one."""

from __future__ import annotations

import json
import uuid
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.classifier import Classification, Classifier
from pipelines.classify import ClassifySummary, classification_rows
from pipelines.warehouse.writer import Warehouse

BACKFILL_FLOW = "classify-all"
GROUP = 512           # distinct texts per classifier call (per Dask task)
GROUPS_PER_CHUNK = 8  # posts per commit: GROUP * GROUPS_PER_CHUNK
# Texts whose labels a run keeps for reposts in later chunks: the key's text plus ~0.3 KB each.
MEMO_TEXTS = 50_000

Progress = Callable[[int], None]
# A post as the classifier sees it: its text and its own language tag (None where absent).
Item = tuple[str, str | None]
# Labels groups of items: yields each group's labels, in the group's order, group by group.
Labeller = Callable[[list[list[Item]]], Iterator[list[Classification]]]


@dataclass(frozen=True)
class ClassifyPlan:
    """Which posts this run labels: those without a classification, and with a backfill those
    classified before `cutoff` too."""

    model_version: str
    total: int
    cutoff: pd.Timestamp | None = None
    backfill_run: str | None = None
    resumed: bool = False

    def where(self) -> tuple[str, list[Any]]:
        if self.cutoff is None:
            return "c.id IS NULL", []
        return "(c.id IS NULL OR c.classified_at < ?)", [self.cutoff]

    def line(self) -> str:
        if self.backfill_run is None:
            return f"{self.total} unclassified posts"
        how = "resuming the" if self.resumed else "starting a"
        return (f"{how} re-classification with {self.model_version}: {self.total} posts "
                f"to label (classified before {self.cutoff:%Y-%m-%d %H:%M:%S} UTC)")


def plan_classification(wh: Warehouse, model_version: str, everything: bool) -> ClassifyPlan:
    """The posts to label. With `everything`, continues the unfinished backfill of this model
    or starts one now (a backfill of another model is marked superseded)."""
    if not everything:
        return _counted(wh, ClassifyPlan(model_version, 0))
    open_runs = wh.con.execute(
        "SELECT run_id, started_at, summary FROM pipeline_runs WHERE flow = ? "
        "AND status = 'running' ORDER BY started_at DESC", [BACKFILL_FLOW]).fetchall()
    for run_id, started_at, summary in open_runs:
        if json.loads(summary or "{}").get("model_version") == model_version:
            return _counted(wh, ClassifyPlan(model_version, 0, pd.Timestamp(started_at),
                                             run_id, resumed=True))
        wh.record_run(run_id, BACKFILL_FLOW, pd.Timestamp(started_at), "superseded",
                      summary or "{}")
    started = pd.Timestamp.now(tz="UTC")
    run_id = uuid.uuid4().hex
    wh.record_run(run_id, BACKFILL_FLOW, started, "running",
                  json.dumps({"model_version": model_version}))
    return _counted(wh, ClassifyPlan(model_version, 0, started, run_id))


def _counted(wh: Warehouse, plan: ClassifyPlan) -> ClassifyPlan:
    where, params = plan.where()
    total = wh.con.execute(
        "SELECT count(*) FROM post_records p LEFT JOIN classifications c USING (source, id) "
        f"WHERE {where}", params).fetchall()[0][0]
    return ClassifyPlan(plan.model_version, int(total), plan.cutoff, plan.backfill_run,
                        plan.resumed)


def next_chunk(wh: Warehouse, plan: ClassifyPlan, limit: int,
               after: tuple[str, str] | None) -> pd.DataFrame:
    """The next `limit` posts of the plan after the key `after`: source, id, text."""
    where, params = plan.where()
    if after is not None:
        where += " AND (p.source, p.id) > (?, ?)"
        params = [*params, *after]
    return wh.con.execute(
        "SELECT p.source, p.id, p.text, p.lang FROM post_records p "
        f"LEFT JOIN classifications c USING (source, id) WHERE {where} "
        "ORDER BY p.source, p.id LIMIT ?", [*params, limit]).df()


def local_labeller(classifier: Classifier, batch_size: int) -> Labeller:
    """Labels in this process with an already loaded classifier."""
    def label(groups: list[list[Item]]) -> Iterator[list[Classification]]:
        for group in groups:
            yield classify_items(classifier, group, batch_size)
    return label


def classify_items(classifier: Classifier, items: list[Item], batch_size: int
                   ) -> list[Classification]:
    return classifier.classify([text for text, _ in items], batch_size=batch_size,
                               langs=[lang for _, lang in items])


class LabelMemo:
    """The labels this run already gave, by text and language tag, so that a repost or copy in
    a later chunk is not encoded again. Bounded: the least recently used entries go first.
    Entries are packed (scores as float64 bytes, not dicts: ~0.3 KB instead of ~2.3 KB) and
    unpacked exactly on a hit."""

    def __init__(self, capacity: int = MEMO_TEXTS) -> None:
        self.capacity = capacity
        self._labels: OrderedDict[Item, tuple[Any, ...]] = OrderedDict()
        self._names: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # the score keys

    def get(self, item: Item) -> Classification | None:
        found = self._labels.get(item)
        if found is None or self._names is None:
            return None
        self._labels.move_to_end(item)
        sentiment_names, type_names = self._names
        sentiment, sentiment_scores, is_complaint, probability, kind, type_scores, *flags = found
        return Classification(
            sentiment, dict(zip(sentiment_names, array("d", sentiment_scores), strict=True)),
            is_complaint, probability, kind,
            dict(zip(type_names, array("d", type_scores), strict=True)), *flags)

    def put(self, item: Item, labels: Classification) -> None:
        names = (tuple(labels.sentiment_scores), tuple(labels.complaint_scores))
        if self._names is None:
            self._names = names
        elif names != self._names:  # one classifier per run: never expected
            raise ValueError("LabelMemo holds the labels of one classifier")
        self._labels[item] = (
            labels.sentiment, array("d", labels.sentiment_scores.values()).tobytes(),
            labels.is_complaint, labels.complaint_probability, labels.complaint_type,
            array("d", labels.complaint_scores.values()).tobytes(),
            labels.uncertain, labels.language, labels.unsupported_language)
        self._labels.move_to_end(item)
        while len(self._labels) > self.capacity:
            self._labels.popitem(last=False)


def item_groups(items: list[Item], size: int) -> list[list[Item]]:
    """The distinct items, shortest text first (less padding), in groups of `size`."""
    distinct = sorted(dict.fromkeys(items), key=lambda item: len(item[0]))
    return [distinct[i:i + size] for i in range(0, len(distinct), size)]


def label_chunk(items: list[Item], label: Labeller, group_size: int, memo: LabelMemo,
                progress: Progress | None = None) -> tuple[list[Classification], int]:
    """The items' labels in input order, and how many distinct texts the labeller was given
    (the rest came from `memo`). Progress counts the items each group completes."""
    known: dict[Item, Classification] = {}
    for item in dict.fromkeys(items):
        if (found := memo.get(item)) is not None:
            known[item] = found
    if progress is not None and known:
        progress(sum(item in known for item in items))
    groups = item_groups([item for item in items if item not in known], group_size)
    uses = Counter(items)
    for g, group_labels in enumerate(label(groups)):
        if len(group_labels) != len(groups[g]):
            raise ValueError(f"{len(group_labels)} labels for {len(groups[g])} texts")
        for item, labels in zip(groups[g], group_labels, strict=True):
            known[item] = labels
            memo.put(item, labels)
        if progress is not None:
            progress(sum(uses[item] for item in groups[g]))
    return [known[item] for item in items], sum(len(group) for group in groups)


def classify_planned(wh: Warehouse, label: Labeller, plan: ClassifyPlan, group_size: int = GROUP,
                     progress: Progress | None = None) -> ClassifySummary:
    """Labels the plan's posts chunk by chunk, committing each chunk's labels; closes the
    backfill marker when every post is done."""
    if group_size < 1:
        raise ValueError("group_size must be at least 1")
    done = encoded = 0
    memo = LabelMemo()
    after: tuple[str, str] | None = None
    chunk = group_size * GROUPS_PER_CHUNK
    while not (posts := next_chunk(wh, plan, chunk, after)).empty:
        items = [(text if isinstance(text, str) else "", lang if isinstance(lang, str) else None)
                 for text, lang in zip(posts["text"], posts["lang"], strict=True)]
        results, labelled = label_chunk(items, label, group_size, memo, progress)
        encoded += labelled
        with wh.transaction():
            wh.write_classifications(classification_rows(posts, results, plan.model_version))
        done += len(posts)
        last = posts.iloc[-1]
        after = (str(last["source"]), str(last["id"]))
    if plan.backfill_run is not None and plan.cutoff is not None:
        wh.record_run(plan.backfill_run, BACKFILL_FLOW, plan.cutoff, "completed",
                      json.dumps({"model_version": plan.model_version, "classified": done,
                                  "resumed": plan.resumed}))
    return ClassifySummary(done, plan.model_version, encoded)
