"""`aftershock serve`: the pipeline's Prefect deployments, run on their schedules by this process.

- collect: one run of every enabled post source (default every 5 minutes);
- poll-status: every provider's status page (every minute);
- process: classify the new posts -> analyze -> send the alerts due (every minute; returns at once
  when nothing changed).

No stacking: each deployment has a concurrency limit of 1 that cancels a run due while the last
one still runs, and each run has a timeout, so a slow source never piles up runs. Writers still
queue for the warehouse lock (writer_lock_timeout_s)."""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType
from prefect.exceptions import TerminationSignal
from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL, temporary_settings

from pipelines.errors import ConfigError
from pipelines.flows import collect_flow, poll_status_flow, process_flow
from pipelines.prefect_server import PrefectServer
from pipelines.settings import Settings

# Seconds the runs still going when serving stops get to finish before they are terminated.
FINISH_S = 60.0
# One run at a time per deployment; a run due while the last still runs is cancelled, not queued.
ONE_AT_A_TIME = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


@dataclass(frozen=True)
class Deployment:
    """One scheduled flow. The flow carries its timeout; the runner keeps this very flow
    object and runs it in a child process, so options set here hold for every run."""

    name: str
    flow: Flow[..., Any]
    every: timedelta
    parameters: dict[str, Any]
    description: str


def build_deployments(s: Settings) -> list[Deployment]:
    """The three deployments with the settings' intervals, timeouts and absolute paths (runs
    start in their own processes)."""
    common = {"db": str(s.db.resolve()), "config": str(s.config_path().resolve())}
    model = str(s.model.resolve()) if s.model else None
    plan: list[tuple[Flow[..., Any], str, float, float, dict[str, Any], str]] = [
        (collect_flow, "collect", s.collect_interval_s, s.collect_timeout_s, common,
         "One collection run of every enabled post source."),
        (poll_status_flow, "poll-status", s.poll_status_interval_s, s.poll_status_timeout_s,
         common, "Polls every configured provider's status page."),
        (process_flow, "process", s.process_interval_s, s.process_timeout_s,
         {**common, "model": model, "batch_size": s.classify_batch_size,
          "group_size": s.classify_group_size},
         "Classifies new posts, analyzes, sends the alerts due; nothing new: returns at once."),
    ]
    deployments = []
    for flow_, name, every_s, timeout_s, parameters, description in plan:
        if every_s <= 0 or timeout_s <= 0:
            raise ConfigError(f"{name}: the interval and timeout must be positive seconds")
        deployments.append(Deployment(name, flow_.with_options(timeout_seconds=timeout_s),
                                      timedelta(seconds=every_s), parameters, description))
    return deployments


async def _serve(deployments: list[Deployment]) -> None:
    runner = Runner(name="aftershock", pause_on_shutdown=True)
    for d in deployments:
        await runner.aadd_flow(
            d.flow, name=d.name, interval=d.every, parameters=d.parameters, paused=False,
            concurrency_limit=ONE_AT_A_TIME, description=d.description, tags=["aftershock"],
            entrypoint_type=EntrypointType.MODULE_PATH)
    await runner.start()


def serve_until_stopped(deployments: list[Deployment], finish_s: float = FINISH_S) -> None:
    """Creates (or updates) the deployments on the server and runs them as they come due,
    until Ctrl+C or SIGTERM; their schedules are paused on the way out, and the runs still
    going get `finish_s` to finish (they need the server) before they are terminated."""
    try:
        asyncio.run(_serve(deployments))
    except (KeyboardInterrupt, TerminationSignal):
        pass
    finally:
        _finish_runs(finish_s)


def _finish_runs(timeout_s: float) -> None:
    # Each flow run is a child process of this one (the runner spawns them).
    deadline = time.monotonic() + timeout_s
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(10)


def schedule_lines(s: Settings) -> list[str]:
    runs = [("collect", s.collect_interval_s, s.collect_timeout_s),
            ("poll-status", s.poll_status_interval_s, s.poll_status_timeout_s),
            ("process (classify -> analyze -> alerts)", s.process_interval_s,
             s.process_timeout_s)]
    return [f"{name} every {every:g} s (timeout {timeout:g} s)" for name, every, timeout in runs]


def run_serve(s: Settings, own_server: bool, echo: Callable[[str], object] = print) -> None:
    """Serves the deployments until interrupted (Ctrl+C or SIGTERM), against the server in
    PREFECT_API_URL, or with `own_server` against a temporary one this call starts and stops."""
    deployments = build_deployments(s)
    for line in schedule_lines(s):
        echo(line)
    if not own_server:
        if not PREFECT_API_URL.value():
            raise ConfigError(
                "no Prefect server configured: start one (prefect server start --host "
                "127.0.0.1) and set PREFECT_API_URL=http://127.0.0.1:4200/api, or run "
                "`aftershock serve --no-server` to start a temporary one")
        echo(f"Prefect API: {PREFECT_API_URL.value()}")
        serve_until_stopped(deployments)
        return
    home = Path(tempfile.mkdtemp(prefix="aftershock-prefect-"))
    try:
        echo("Starting a temporary Prefect server on 127.0.0.1 ...")
        with PrefectServer(home) as server:
            echo(f"Prefect UI: {server.url} (runs are forgotten when this stops)")
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                serve_until_stopped(deployments)
    finally:
        shutil.rmtree(home, ignore_errors=True)
