"""Shared fixtures: a Prefect test harness for the session, the bundled services config, and a
warehouse path in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.prefect_env import apply_defaults

apply_defaults()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"


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
