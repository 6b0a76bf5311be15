"""Shared fixtures: a Prefect test harness for the session, the bundled services config, and a
warehouse path in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from pipelines.prefect_env import apply_defaults

apply_defaults()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"

# The suite's property tests draw the same examples on every run, so a CI failure is one anyone
# can reproduce and a green run means the same thing twice. Searching wider for new bad inputs
# is a separate, random run: `pytest tests/test_properties.py --hypothesis-profile=explore`.
settings.register_profile("default", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=1000, database=None, deadline=None)
settings.load_profile("default")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
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
