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
# The HTML report's browser test opens the report in headless Chromium from the distribution.
# CI runs as root with CI=true: install it there (outside CI the test skips when it is absent).
if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Real speech and noise for audio models' probe seeds (modelhound/corpus/audio_seeds.py):
# recordings that Debian packages ship as data. Installed where we are root (CI); elsewhere
# a zoo build fetches the .debs into the cache with `apt-get download` (nothing installed).
AUDIO_DEBS="alsa-utils asterisk-core-sounds-en-wav"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 \
        && ! dpkg -s $AUDIO_DEBS >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $AUDIO_DEBS >/dev/null
fi
