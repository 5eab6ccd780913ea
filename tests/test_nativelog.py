"""Native libraries' messages reach the log file (or a failed row's reason), never the terminal."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from modelhound import nativelog
from modelhound.converters import Conversion, ConverterPool
from modelhound.records import FoundModel, ModelEntry, ModelFormat, Status


def _bad_conv_onnx() -> bytes:
    """A valid ONNX file whose Conv kernel has 5 input channels for a 3-channel input:
    onnxruntime loads it, then fails at run time and prints a red ``[E:onnxruntime`` line."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 5, 3, 3], np.zeros(180, np.float32))
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x], [y], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_c_level_output_goes_to_the_log_and_python_output_to_the_terminal(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """fd 1/2 writes (in-process C++ and child processes) land in the log; print() and
    Python warnings do not reach the terminal raw; everything is restored afterwards."""
    import onnxruntime as ort

    log_path = tmp_path / "modelhound.log"
    with nativelog.to_log(str(log_path), title="test") as log:
        print("modelhound's own line")
        sess = ort.InferenceSession(_bad_conv_onnx(), providers=["CPUExecutionProvider"])
        with pytest.raises(Exception, match="kernel channels"):
            sess.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'child native chatter\\n')"],
                       check=True)
        warnings.warn("a library's warning", UserWarning)
    out, err = capfd.readouterr()
    text = log_path.read_text()
    assert "modelhound's own line" in out
    assert "[E:onnxruntime" in text and "kernel channels" in text
    assert "child native chatter" in text
    assert "a library's warning" in text
    assert "onnxruntime" not in out + err and "chatter" not in out + err
    assert "a library's warning" not in out + err
    assert log.written() > 0
    print("after")  # fds restored
    assert capfd.readouterr().out == "after\n"


def test_explain_keeps_error_lines_not_yet_in_the_reason() -> None:
    said = ("\x1b[1;31m2026-12-02 12:14:43.379 [E:onnxruntime:, sequential_executor.cc:677 "
            "ExecuteKernel] Non-zero status code: Conv failed\x1b[m\n"
            "I0000 00:00:1.2 123 cpu_feature_guard.cc:210] This TensorFlow binary is optimized\n"
            "E0000 00:00:1733141683.100 4242 interpreter.cc:99] Node number 3 (CONV_2D) failed to prepare.\n")
    why = nativelog.explain(said)
    assert why == ("Non-zero status code: Conv failed | "
                   "Node number 3 (CONV_2D) failed to prepare.")
    assert nativelog.explain(said, known="reason: Node number 3 (CONV_2D) failed to prepare.") == \
        "Non-zero status code: Conv failed"
    failed = Conversion("abc", False, reason="m.tflite: cannot allocate tensors")
    assert nativelog._with_reason(failed, said).reason == \
        f"m.tflite: cannot allocate tensors (native: {why})"
    ok = Conversion("abc", True, runtime="onnxruntime")
    assert nativelog._with_reason(ok, said) == ok


def test_worker_output_is_filed_under_its_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    """A conversion worker's native messages go to the log headed by the model entry;
    the row keeps its reason; the terminal gets nothing."""
    log_path = tmp_path / "modelhound.log"
    monkeypatch.setenv(nativelog.LOG_ENV, str(log_path))
    data = _bad_conv_onnx()
    entry = ModelEntry(entry="assets/bad_conv.onnx", format=ModelFormat.ONNX, subformat="",
                       sha256=hashlib.sha256(data).hexdigest(), size=len(data), status=Status.OK)
    with ConverterPool(1) as pool:
        conv = pool.convert(FoundModel(entry, data))
    assert "kernel ch" in conv.reason
    text = log_path.read_text()
    assert "--- worker" in text and ": assets/bad_conv.onnx\n" in text
    assert "[E:onnxruntime" in text
    out, err = capfd.readouterr()
    assert "onnxruntime" not in out + err


def test_onnx2torch_slices_without_the_list_index_warning() -> None:
    """Our use of onnx2torch on a Slice node raises no torch deprecation warning, and the
    sliced result is onnxruntime's."""
    from modelhound.fingerprint.gradient import gradient_available, load_differentiable

    if not gradient_available():
        pytest.skip("needs the 'gradient' extra (torch + onnx2torch)")
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inits = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
             (("starts", [1, 2]), ("ends", [3, 7]), ("axes", [1, 3]), ("steps", [1, 2]))]
    g = helper.make_graph([helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"],
                                            ["y"])], "g", [x], [y], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    arr = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = load_differentiable(model)
        got = module(torch.from_numpy(arr)).numpy()
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": arr})[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_scan_prints_no_native_line(tmp_path: Path) -> None:
    """`modelhound scan` on an app whose model makes onnxruntime print an error: the
    terminal (stdout and stderr) carries no native line, the log beside the database does,
    and the user is told where it is."""
    from modelhound import samples

    apk = tmp_path / "bad.apk"
    apk.write_bytes(samples.apk([("assets/bad_conv.onnx", _bad_conv_onnx())], package="com.t.bad"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "modelhound", "scan", str(apk), "--no-match",
         "--json", str(out_dir / "f.json")],
        capture_output=True, text=True, timeout=600, cwd=str(Path(__file__).parent.parent))
    assert proc.returncode == 0, proc.stderr
    terminal = proc.stdout + proc.stderr
    assert "onnxruntime:" not in terminal and "E0000" not in terminal
    import json

    rows = json.loads((out_dir / "f.json").read_text())["rows"]
    assert [r["entry"] for r in rows] == ["assets/bad_conv.onnx"]
    log = (out_dir / "modelhound.log").read_text()
    assert "[E:onnxruntime" in log and ": assets/bad_conv.onnx\n" in log
    assert f"native libraries' messages: {out_dir / 'modelhound.log'}" in proc.stderr
