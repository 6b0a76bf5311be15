"""Shared fixtures: a Prefect test harness for the session, the bundled services config, and a
warehouse path in tmp_path."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from pipelines.prefect_env import apply_defaults

apply_defaults()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# A PREFECT_HOME of this test process's own, set before anything imports prefect. The CLI runs
# the tests start (`aftershock demo`, import, classify) use Prefect's temporary server, whose
# database is PREFECT_HOME/prefect.db; under pytest-xdist several workers would otherwise migrate
# and write one ~/.prefect/prefect.db at once (and the crash tests SIGKILL their server mid-write).
_PREFECT_HOME = tempfile.mkdtemp(
    prefix=f"aftershock-prefect-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME

FIXTURES = Path(__file__).parent / "fixtures"

# The suite's property tests draw the same examples on every run, so a CI failure is one anyone
# can reproduce and a green run means the same thing twice. Searching wider for new bad inputs
# is a separate, random run: `pytest tests/test_properties.py --hypothesis-profile=explore`.
settings.register_profile("default", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=1000, database=None, deadline=None)
settings.load_profile("default")


# The files that take longest (pytest --durations on 2 idle cores), longest first. Under
# pytest-xdist (--dist loadfile, --no-loadscope-reorder in pyproject.toml) a worker takes the
# next file when it is nearly done with its own: started first, none of these begins last while
# the other workers have run out of work.
LONG_FILES = ("test_properties.py", "test_demo.py", "test_crash_recovery.py",
              "test_read_while_write.py", "test_serve.py", "test_dashboard_browser.py")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)  # runs in each xdist worker too


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker; a serial run keeps the file order
        rank = {name: i for i, name in enumerate(LONG_FILES)}
        items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))  # stable


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    # Each xdist worker starts its own harness server, often at the same moment as the others.
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "aftershock.duckdb"


@pytest.fixture(scope="session")
def config_path() -> Path:
    from pipelines.settings import BUNDLED_CONFIG

    return BUNDLED_CONFIG


@pytest.fixture(scope="session")
def matcher(config_path: Path):  # type: ignore[no-untyped-def]
    from pipelines.config import load_config

    return load_config(config_path).matcher()
