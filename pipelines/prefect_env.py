"""Prefect defaults for running here without a configured server: a temporary local server that
may take 12-20 s to start on 2 cores, and no analytics calls to a network we do not have."""

import os

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_API_ENABLE_HTTP2": "false",
}


def apply_defaults() -> None:
    """Must run before prefect is imported; explicit user settings win."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
