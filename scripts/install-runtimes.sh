#!/usr/bin/env bash
# Install the native runtimes that must go in without their declared dependencies:
# ncnn (its requests/tqdm/portalocker serve only its model-zoo downloader) and pnnx (it
# declares torch; the CPU torch of the gradient extra satisfies it, pip alone would pull a
# CUDA build). MNN comes with the "runtimes" extra (it needs only numpy).
# Never run MNN's mnnconvert/mnnquant scripts: they pip-install packages and send telemetry;
# modelhound calls the converter as _tools.mnnconvert (modelhound.variants.to_mnn).
# paddle2onnx 1.3.1 also goes in without deps: its C++ core converts Paddle inference models
# without paddlepaddle (modelhound loads only that extension; 2.x needs paddle and onnx 1.17).
# Usage: scripts/install-runtimes.sh [path/to/python]   (default: .venv/bin/python)
set -euo pipefail
PY="${1:-.venv/bin/python}"
"$PY" -m pip install --quiet --no-deps "ncnn==1.0.20261020" "pnnx==20261020" "paddle2onnx==1.3.1"
"$PY" -c "import ncnn, pnnx, os; assert os.path.exists(os.path.join(os.path.dirname(pnnx.__file__), 'pnnx')); print('runtimes: ok')"
