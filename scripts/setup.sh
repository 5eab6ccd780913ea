#!/usr/bin/env bash
# Create .venv and install modelhound with the extras named in $1 (default: test).
# Idempotent: re-running after a pyproject change upgrades what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-test}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
fi
.venv/bin/pip install --quiet -e ".[${EXTRAS}]"
if [ -x scripts/install-gradient.sh ] && [[ ",${EXTRAS}," == *",gradient,"* ]]; then
    scripts/install-gradient.sh
fi
if [ -x scripts/install-runtimes.sh ] && [[ ",${EXTRAS}," == *",runtimes,"* ]]; then
    scripts/install-runtimes.sh
fi
