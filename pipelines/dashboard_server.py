"""Starting the Streamlit dashboard as a child process. The dashboard package is located, never
imported: nothing imports dashboard (it only reads the warehouse through its read API)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.errors import AftershockError


class DashboardError(AftershockError):
    """The dashboard could not be found, or did not come up."""


def dashboard_app_path() -> Path:
    """dashboard/app.py of the installed (or checked-out) dashboard package."""
    spec = importlib.util.find_spec("dashboard")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        app = Path(location) / "app.py"
        if app.is_file():
            return app
    raise DashboardError("the dashboard package (dashboard/app.py) is not installed")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def start_dashboard(db: Path, port: int = 8501, host: str = "127.0.0.1",
                    password: str | None = None) -> subprocess.Popen[bytes]:
    """Starts `streamlit run dashboard/app.py` on host:port reading the warehouse at db.
    A host other than loopback exposes the dashboard and needs a password, which the page
    then asks for. The caller owns the process: terminate it when done."""
    if not is_loopback(host) and not password:
        raise DashboardError(
            f"refusing to expose the dashboard on {host} without a password: set "
            "AFTERSHOCK_DASHBOARD_PASSWORD (or keep the default host 127.0.0.1)")
    app = dashboard_app_path()
    env = dict(os.environ)
    env["AFTERSHOCK_DB"] = str(Path(db).resolve())
    if password:
        env["AFTERSHOCK_DASHBOARD_PASSWORD"] = password
    # Streamlit puts only the script's folder on sys.path; the app imports `dashboard` and
    # `pipelines` from the folder that holds the package (a source checkout when not installed).
    root = str(app.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    return subprocess.Popen(command, env=env)


def wait_until_ready(
    url: str,
    timeout_s: float = 60.0,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Polls {url}/_stcore/health until Streamlit answers "ok". Raises DashboardError when the
    process (if given) exits first or timeout_s passes."""
    health = url.rstrip("/") + "/_stcore/health"
    deadline = time.monotonic() + timeout_s
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise DashboardError(
                f"the dashboard exited with code {process.returncode} before it was ready"
            )
        try:
            with urllib.request.urlopen(health, timeout=2) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as e:
            last_error = str(e)
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    raise DashboardError(f"the dashboard at {url} was not ready after {timeout_s:g} s: "
                         f"{last_error}")
