"""A Prefect server of our own, as a child process on 127.0.0.1: what `aftershock serve
--no-server` runs when nobody started one (Prefect's in-process temporary server has no
scheduler, so schedules would never fire there), and what the tests run against."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import requests

from pipelines.errors import AftershockError

HOST = "127.0.0.1"
DEFAULT_PORT = 4200


class PrefectServerError(AftershockError):
    """The Prefect server did not start or answer."""


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens on it, else a port the OS picks."""
    if preferred is not None:
        with socket.socket() as s:
            try:
                s.bind((HOST, preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class PrefectServer:
    """`prefect server start` on 127.0.0.1 with its own PREFECT_HOME (database, logs), stopped
    on exit. Use as a context manager; `api_url` is what PREFECT_API_URL should be."""

    def __init__(self, home: Path, port: int | None = None, startup_timeout_s: float = 120.0,
                 log_path: Path | None = None) -> None:
        self.home = home
        self.port = port if port is not None else free_port(DEFAULT_PORT)
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path or home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PREFECT_HOME": str(self.home),
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)  # the server must not talk to another one
        with open(self.log_path, "ab") as log:
            # Its own session: stopping it signals its whole process group, nothing else.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", HOST,
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PrefectServerError(
                    f"the Prefect server exited with {self.process.returncode}; see "
                    f"{self.log_path}")
            try:
                if requests.get(f"{self.api_url}/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise PrefectServerError(f"the Prefect server on {self.url} did not answer within "
                                 f"{self.startup_timeout_s:.0f} s; see {self.log_path}")

    def stop(self, timeout_s: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
