"""Classification on a Dask cluster through prefect-dask (`classify --dask-address`).

The flow process stays the warehouse's one writer: it picks the posts, chunk by chunk, and
writes their labels. Only the labelling is farmed out: each batch (texts in, labels out) is a
Prefect task on a DaskTaskRunner, and each worker process loads the model once, on its first
batch. The batches are the groups a local run would label (pipelines/classify_run.py), so the
labels are the same. docs/scaling.md says how to run the workers."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE
from prefect.task_runners import TaskRunner
from tqdm import tqdm

from analysis.classifier import DEFAULT_MODEL_DIR, Classification, Classifier, ModelLoadError
from analysis.classifier.model import read_meta
from pipelines.classify import ClassifySummary, load_classifier
from pipelines.classify_run import (
    GROUP,
    Item,
    Labeller,
    classify_items,
    classify_planned,
    plan_classification,
)
from pipelines.errors import ConfigError, ModelError
from pipelines.warehouse.writer import writing


@functools.cache
def _worker_classifier(model: str | None) -> Classifier:
    """The classifier of this (worker) process, loaded by its first batch."""
    return load_classifier(Path(model) if model else None)


@task(name="label-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def label_batch(items: list[Item], model: str | None, batch_size: int
                ) -> tuple[str, list[Classification]]:
    """Pure: the posts' labels, in order, with the version of the model that gave them."""
    classifier = _worker_classifier(model)
    return classifier.model_version, classify_items(classifier, items, batch_size)


def model_version(model: str | None) -> str:
    """The model's version from its meta.json, without loading the encoder here."""
    try:
        return str(read_meta(Path(model) if model else DEFAULT_MODEL_DIR)["model_version"])
    except ModelLoadError as e:
        raise ModelError(f"cannot load the classifier: {e}") from e


def dask_labeller(model: str | None, batch_size: int, expected_version: str) -> Labeller:
    """Submits every group to the flow's task runner at once, then yields the labels group by
    group. A worker with another model version is an error, never mixed in."""
    def label(groups: list[list[Item]]) -> Iterator[list[Classification]]:
        futures = [label_batch.submit(group, model, batch_size) for group in groups]
        for future in futures:
            version, results = future.result()
            if version != expected_version:
                raise ModelError(f"a Dask worker labels with model {version}, not "
                                 f"{expected_version}: give every worker the same model")
            yield results
    return label


@flow(name="classify-on-dask")
def classify_dask_flow(db: str, everything: bool, model: str | None, batch_size: int,
                       group_size: int) -> dict[str, Any]:
    started = pd.Timestamp.now(tz="UTC")
    version = model_version(model)
    label = dask_labeller(model, batch_size, version)
    with writing(Path(db)) as wh:
        plan = plan_classification(wh, version, everything)
        get_run_logger().info(plan.line())
        with tqdm(total=plan.total, desc="classify (dask)", unit=" posts") as bar:
            summary: ClassifySummary = classify_planned(wh, label, plan, group_size, bar.update)
        wh.record_run(uuid.uuid4().hex, "classify", started, "completed",
                      json.dumps({**vars(summary), "dask": True}))
    get_run_logger().info(summary.line())
    return vars(summary)


def classify_on_dask(address: str, db: str, everything: bool, model: str | None,
                     batch_size: int = 64, group_size: int = GROUP) -> dict[str, Any]:
    """Runs the classify-on-dask flow with its tasks on the scheduler at `address`."""
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as e:
        raise ConfigError("--dask-address needs prefect-dask: pip install 'aftershock[dask]'"
                          ) from e
    # Its futures are a subtype of PrefectFuture; the generic parameter is invariant.
    runner = cast(TaskRunner[Any], DaskTaskRunner(address=address))
    return classify_dask_flow.with_options(task_runner=runner)(
        db, everything, model, batch_size, group_size)
