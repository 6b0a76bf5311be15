#!/usr/bin/env bash
# Installs Aftershock with its test and train extras into .venv and runs the whole test suite.
# The train extra (torch, CPU build) lets the training tests run, and gives the check that
# serving never imports torch something to catch.
# Browser tests drive the system Chromium (Debian packages chromium + chromium-driver); when it
# is missing and we may use apt, it is installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test,train]'
exec .venv/bin/python -m pytest "$@"
