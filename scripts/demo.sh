#!/usr/bin/env bash
# Installs Aftershock into .venv and runs the demo: builds data/aftershock.duckdb from the
# bundled demo data and serves the dashboard on http://127.0.0.1:8501. Extra arguments go to
# `aftershock demo` (e.g. --no-dashboard, --port 8600).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
exec .venv/bin/aftershock demo "$@"
