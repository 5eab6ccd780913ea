"""onnxruntime's ORT format: recognised, weights read, run by onnxruntime, flagged as a
re-packaging of its ONNX original by its weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from modelhound.converters import load_runnable
from modelhound.converters.registry import convert_here
from modelhound.extractor import extract
from modelhound.extractor.tensors import read_tensors
from modelhound.fingerprint.weights import compare_weights
from modelhound.records import ModelFormat
from tests.conftest import fixture_path


def test_ort_format_copy_runs_and_keeps_its_weights(tmp_path: Path) -> None:
    src = tmp_path / "mnist-8.onnx"
    src.write_bytes(fixture_path("models", "onnx", "mnist-8.onnx").read_bytes())
    subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(src),
                    "--output_dir", str(tmp_path / "app"), "--optimization_style", "Fixed"],
                   check=True, capture_output=True, timeout=300)
    (tmp_path / "app" / "mnist-8.required_operators.config").unlink()
    ex = extract(str(tmp_path / "app"))
    (found,) = ex.models
    assert found.entry.format is ModelFormat.ORT
    conv = convert_here(found)
    assert conv.runnable and conv.runtime == "onnxruntime-ort", conv.reason
    x = np.random.default_rng(0).random((3, 1, 1, 28, 28), dtype=np.float32)
    original = load_runnable(convert_here(extract(str(src)).models[0]))
    got = [load_runnable(conv).run([xi])[0] for xi in x]
    want = [original.run([xi])[0] for xi in x]
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), rtol=1e-4, atol=1e-4)
    wm = compare_weights(read_tensors(ModelFormat.ORT, found.entry.subformat, found.data),
                         read_tensors(ModelFormat.ONNX, "protobuf", src.read_bytes()))
    assert wm.kind == "identical-weights", wm.evidence
    # shipped beside its original, the .ort copy's row gets the error against it
    from modelhound.analysis import Analyzer
    from modelhound.converters.fidelity import TOLERANCE

    (tmp_path / "app" / "mnist-8.onnx").write_bytes(src.read_bytes())
    with Analyzer(convert=True) as analyzer:
        rows = dict(analyzer.analyse(extract(str(tmp_path / "app"))))
    ort_row = rows[found.entry.entry]
    assert ort_row.fidelity_reference == "mnist-8.onnx (onnx, identical-weights)"
    assert ort_row.conversion_rel_error is not None and ort_row.conversion_rel_error < TOLERANCE
