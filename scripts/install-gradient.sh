#!/usr/bin/env bash
# Install the optional "gradient" extra: torch (CPU) and onnx2torch without its dependencies.
#
# onnx2torch declares torchvision; letting pip resolve it pulls torchvision 0.29 -> torch 2.14
# CUDA + nvidia/triton wheels (GBs), and PyPI's torchvision does not import beside the CPU
# torch 2.13 anyway. modelhound.fingerprint.gradient registers a stub torchvision module
# (onnx2torch only uses it for NMS / RoiAlign), so onnx2torch goes in with --no-deps.
# Usage: scripts/install-gradient.sh [path/to/python]   (default: .venv/bin/python)
set -euo pipefail
PY="${1:-.venv/bin/python}"
"$PY" -m pip install "torch==2.13.0"
"$PY" -c "import sys, torch; sys.exit(0 if torch.version.cuda is None else 'torch is a CUDA build; install the CPU wheel torch==2.13.0+cpu')"
"$PY" -m pip install --no-deps "onnx2torch==1.5.15"
"$PY" -c "from modelhound.fingerprint.gradient import gradient_available as g; assert g(), 'torch/onnx2torch not importable'; print('gradient extra: ok')"
