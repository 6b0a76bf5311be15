"""A real Prefect server on 127.0.0.1 for the serve and Dask tests: `prefect server start` in
a child process with a temporary PREFECT_HOME (pipelines/prefect_server.py), and this process's
Prefect client pointed at it for as long as the block runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from pipelines.prefect_server import PrefectServer, free_port


@contextmanager
def prefect_server(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrefectServer]:
    """Starts the server; PREFECT_API_URL (environment, for child processes such as Dask
    workers and `aftershock serve`, and this process's settings) points at it."""
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # A generous start-up limit: under pytest-xdist other workers' tests share the CPUs.
    with PrefectServer(home, port=free_port(), startup_timeout_s=300) as server:
        monkeypatch.setenv("PREFECT_API_URL", server.api_url)
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            try:
                yield server
            finally:
                # This process's run logs still queued go out while the server listens.
                APILogWorker.drain_all(timeout=5)


def api_post(server: PrefectServer, path: str, body: dict[str, Any]) -> Any:
    """A filter call on the server's REST API (flow_runs/filter, task_runs/filter ...)."""
    response = requests.post(f"{server.api_url}/{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()
