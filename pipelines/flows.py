"""Prefect flows. Thin wiring: each task opens the warehouse, calls one step and returns its
summary; the steps themselves are plain functions (importers, classify, analyze)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NONE as NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from tqdm import tqdm

from pipelines.analyze import analyze
from pipelines.classify_run import GROUP
from pipelines.collect import collect_source
from pipelines.config import load_config
from pipelines.importers import import_posts
from pipelines.settings import load_settings
from pipelines.sources import build_source
from pipelines.sources.base import MissingCredentials, SourceAuthError, parse_since
from pipelines.status_import import parse_status, read_source, store_batch
from pipelines.status_poll import poll_all
from pipelines.warehouse.writer import Warehouse, writing


def _record(wh: Warehouse, flow_name: str, started: pd.Timestamp, summary: dict[str, Any],
            run_id: str | None = None) -> None:
    wh.record_run(run_id or uuid.uuid4().hex, flow_name, started, "completed",
                  json.dumps(summary, default=str))


@task(name="import-posts")
def import_posts_task(db: str, path: str, config: str) -> dict[str, Any]:
    started = pd.Timestamp.now(tz="UTC")
    matcher = load_config(Path(config)).matcher()
    with writing(Path(db)) as wh, tqdm(desc=f"import {Path(path).name}", unit=" posts") as bar:
        summary = import_posts(wh, Path(path), matcher, progress=bar.update)
        _record(wh, "import-posts", started, {"file": path, **vars(summary)})
    get_run_logger().info(summary.line())
    return vars(summary)


def _retryable(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Transient faults (5xx, timeouts, a busy warehouse) are retried; refused credentials
    and bad configuration are not, since a retry cannot fix them."""
    from pipelines.errors import ConfigError

    try:
        state.result()
    except (SourceAuthError, ConfigError):
        return False
    except Exception:  # noqa: BLE001 - anything else (5xx, timeout, busy warehouse) may pass
        return True
    return True


@task(name="collect-source", retries=3, retry_delay_seconds=[5, 30, 120],
      retry_condition_fn=_retryable, cache_policy=NO_CACHE)
def collect_source_task(db: str, config: str, name: str, since: str | None) -> dict[str, Any]:
    started = pd.Timestamp.now(tz="UTC")
    cfg = load_config(Path(config))
    source = build_source(name, load_settings(db=db), cfg)
    with writing(Path(db)) as wh, tqdm(desc=f"collect {name}", unit=" posts") as bar:
        summary = collect_source(wh, source, cfg.matcher(), parse_since(since), bar.update)
        _record(wh, f"collect:{name}", started, vars(summary))
    get_run_logger().info(summary.line())
    return {"status": "collected", **vars(summary)}


@task(name="import-status")
def import_status_task(db: str, file_or_url: str, provider: str | None) -> dict[str, Any]:
    started = pd.Timestamp.now(tz="UTC")
    batch = parse_status(read_source(file_or_url), provider, file_or_url)
    with writing(Path(db)) as wh:
        stored = store_batch(wh, batch, file_or_url)
        summary = {"incidents": len(batch.incidents), "new_incidents": stored.new_incidents,
                   "updates": len(batch.updates), "new_updates": stored.new_updates,
                   "components": len(batch.components),
                   "quarantined": len(batch.rejects)}
        _record(wh, "import-status", started, {"source": file_or_url, **summary})
    get_run_logger().info(
        f"{summary['incidents']} incidents ({stored.new_incidents} new), {summary['updates']} "
        f"updates ({stored.new_updates} new), {summary['components']} components, "
        f"{summary['quarantined']} quarantined")
    return summary


@task(name="poll-status", retries=2, retry_delay_seconds=5)
def poll_status_task(db: str, config: str) -> list[dict[str, Any]]:
    """Retried only as a whole (the warehouse busy or unopenable): a provider that fails is
    reported in its result and never fails the task."""
    started = pd.Timestamp.now(tz="UTC")
    cfg = load_config(Path(config))
    with writing(Path(db)) as wh:
        results = poll_all(wh, cfg)
        summary = [asdict(r) for r in results]
        _record(wh, "poll-status", started, {"providers": summary})
    logger = get_run_logger()
    for r in results:
        logger.info(r.line())
    return summary


@task(name="classify")
def classify_task(db: str, everything: bool, model: str | None, batch_size: int,
                  group_size: int = GROUP) -> dict[str, Any]:
    # Imported here: loading the encoder's libraries takes seconds that imports need not pay.
    from pipelines.classify import load_classifier
    from pipelines.classify_run import classify_planned, local_labeller, plan_classification

    started = pd.Timestamp.now(tz="UTC")
    classifier = load_classifier(Path(model) if model else None)
    with writing(Path(db)) as wh:
        plan = plan_classification(wh, classifier.model_version, everything)
        get_run_logger().info(plan.line())
        with tqdm(total=plan.total, desc="classify", unit=" posts") as bar:
            summary = classify_planned(wh, local_labeller(classifier, batch_size), plan,
                                       group_size, bar.update)
        _record(wh, "classify", started, vars(summary))
    get_run_logger().info(summary.line())
    return vars(summary)


@task(name="analyze")
def analyze_task(db: str, config: str) -> dict[str, Any]:
    started = pd.Timestamp.now(tz="UTC")
    cfg = load_config(Path(config))
    with writing(Path(db)) as wh:
        summary = analyze(wh, cfg.dependencies(), cfg.services)
        _record(wh, "analyze", started, vars(summary))
    get_run_logger().info(summary.line())
    return vars(summary)


@task(name="alerts", cache_policy=NO_CACHE)
def alerts_task(db: str, config: str) -> dict[str, Any]:
    """Sends the alerts due after analyze. Secrets come from the settings inside the task,
    never as parameters (Prefect records parameters)."""
    from pipelines.alerts import send_alerts

    started = pd.Timestamp.now(tz="UTC")
    settings = load_settings(db=db, config=config)
    with writing(Path(db)) as wh:
        summary = send_alerts(wh, settings, started.to_pydatetime(), load_config(Path(config)))
        _record(wh, "alerts", started, vars(summary))
    get_run_logger().info(summary.line())
    return vars(summary)


@flow(name="collect")
def collect_flow(db: str, config: str, sources: list[str] | None = None,
                 since: str | None = None, retry_delays_s: list[float] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """One collection run of every enabled source (or `sources`), one after the other (the
    warehouse has one writer). A source without credentials is skipped with one line; a source
    that fails is retried with backoff, then reported as failed while the others go on."""
    logger = get_run_logger()
    cfg = load_config(Path(config))
    parse_since(since)  # a bad --since fails now, once
    names = sources or cfg.enabled_sources()
    if not names:
        logger.warning("no sources enabled: add [sources.NAME] tables to the services config")
    task_ = collect_source_task
    if retry_delays_s is not None:
        task_ = task_.with_options(retry_delay_seconds=retry_delays_s,
                                   retries=len(retry_delays_s))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        started = pd.Timestamp.now(tz="UTC")
        try:
            build_source(name, load_settings(db=db), cfg)
        except MissingCredentials as e:
            logger.warning(f"{name}: skipped, {e}")
            results[name] = {"status": "skipped", "message": str(e)}
            continue
        state = task_(db, config, name, since, return_state=True)
        if state.is_completed():
            results[name] = state.result()
            continue
        try:
            state.result()
            message = state.message or "failed"
        except Exception as e:  # noqa: BLE001 - the failed task's own error, reported as is
            message = str(e)
        logger.error(f"{name}: failed, {message}")
        results[name] = {"status": "failed", "message": message}
        with writing(Path(db)) as wh:
            wh.record_run(uuid.uuid4().hex, f"collect:{name}", started, "failed",
                          json.dumps({"error": message}))
    return results


@flow(name="import-posts")
def import_posts_flow(db: str, path: str, config: str) -> dict[str, Any]:
    return import_posts_task(db, path, config)


@flow(name="import-status")
def import_status_flow(db: str, file_or_url: str, provider: str | None = None) -> dict[str, Any]:
    return import_status_task(db, file_or_url, provider)


@flow(name="poll-status")
def poll_status_flow(db: str, config: str) -> list[dict[str, Any]]:
    """Polls every configured provider's status source once; `aftershock serve` schedules it."""
    load_config(Path(config))  # a bad config fails now, not after the task's retries
    return poll_status_task(db, config)


@flow(name="classify")
def classify_flow(db: str, everything: bool = False, model: str | None = None,
                  batch_size: int = 64, dask_address: str | None = None,
                  group_size: int = GROUP) -> dict[str, Any]:
    """Labels the unclassified posts (`everything`: re-labels all, resuming an interrupted
    re-classification), here or as tasks on the Dask cluster at `dask_address`."""
    if dask_address:
        from pipelines.dask_runner import classify_on_dask

        return classify_on_dask(dask_address, db, everything, model, batch_size, group_size)
    return classify_task(db, everything, model, batch_size, group_size)


@flow(name="analyze")
def analyze_flow(db: str, config: str) -> dict[str, Any]:
    return analyze_task(db, config)


@flow(name="alerts")
def alerts_flow(db: str, config: str) -> dict[str, Any]:
    """Alerts for the spikes analyze found; `aftershock serve` runs it after analyze."""
    return alerts_task(db, config)


@flow(name="demo")
def demo_flow(db: str, demo_dir: str, config: str, model: str | None = None) -> dict[str, Any]:
    """The whole pipeline over the bundled demo data: import, classify, aggregate, detect
    spikes, link them to incidents. Idempotent: a second run adds nothing."""
    demo = Path(demo_dir)
    posts = import_posts_flow(db, str(demo / "posts.jsonl.gz"), config)
    status = import_status_flow(db, str(demo / "incidents_icpe.csv"), None)
    # A model that cannot load must not block the rest: the posts stay stored, unclassified
    # (the dashboard says so), the other steps run, and the error is raised at the end.
    started = pd.Timestamp.now(tz="UTC")
    classified = classify_flow(db, False, model, return_state=True)
    failure = None if classified.is_completed() else classified.result(raise_on_failure=False)
    result = {"posts": posts, "status": status,
              "classify": None if failure is not None else classified.result(),
              "analyze": analyze_flow(db, config)}
    with writing(Path(db)) as wh:
        if failure is not None:
            wh.record_run(uuid.uuid4().hex, "classify", started, "failed",
                          json.dumps({"error": str(failure)}))
        # A fixed run id: the dashboard's "simulated data" banner keys on it, once per warehouse.
        _record(wh, "demo", pd.Timestamp.now(tz="UTC"), {"demo_dir": demo_dir}, run_id="demo")
    if isinstance(failure, BaseException):
        raise failure
    return result


@flow(name="process")
def process_flow(db: str, config: str, model: str | None = None, batch_size: int = 64,
                 group_size: int = GROUP) -> dict[str, Any]:
    """Classifies the new posts, analyzes, sends the alerts due: what `aftershock serve` runs
    every minute. Returns at once when nothing changed since its last run."""
    from pipelines.process_state import (
        alerts_due,
        pending_work,
        published_fingerprint,
        record_processed,
    )

    started = pd.Timestamp.now(tz="UTC")
    work = pending_work(Path(db))
    get_run_logger().info(work.line())
    if not work.any:
        if alerts_due(Path(db), load_settings(db=db, config=config), load_config(Path(config))):
            return {"status": "alerts only", "alerts": alerts_task(db, config)}
        return {"status": "nothing new"}
    result: dict[str, Any] = {"status": "processed"}
    failure: BaseException | None = None
    if work.unclassified:
        # As in the demo flow: a classifier that cannot load must not stop analyze and alerts
        # on what is stored; the posts stay unclassified and the next run tries again.
        state = classify_task(db, False, model, batch_size, group_size, return_state=True)
        if state.is_completed():
            result["classify"] = state.result()
        else:
            error = state.result(raise_on_failure=False)
            failure = error if isinstance(error, BaseException) else RuntimeError(str(error))
            result["classify"] = {"status": "failed", "error": str(failure)}
    seen = published_fingerprint(Path(db))
    result["analyze"] = analyze_task(db, config)
    result["alerts"] = alerts_task(db, config)
    with writing(Path(db)) as wh:
        record_processed(wh, started, result, seen)
    if failure is not None:
        raise failure
    return result
