"""Weights inside ONNX control flow, and silero-vad's float16 and If-free copies.

silero_vad.onnx keeps every weight in Constant nodes inside If branches (one per sample
rate); its copies must still be found by their weights."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from modelhound import variants
from modelhound.cli import main
from modelhound.extractor.tensors import read_tensors
from modelhound.fingerprint.weights import compare_weights
from modelhound.records import ModelFormat
from tests.conftest import fixture_path

SILERO = ("models", "onnx", "silero_vad_16k_op15.onnx")


def if_model(seed: int = 0) -> tuple[bytes, dict[str, np.ndarray]]:
    """y = x @ W1 (then branch, a Constant node) or x @ W2 (else branch, a subgraph
    initializer), chosen by a bool input: all weights live in subgraphs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((8, 4)).astype(np.float32)
    w2 = rng.standard_normal((8, 4)).astype(np.float32)
    out = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])]
    then = helper.make_graph(
        [helper.make_node("Constant", [], ["W1"], value=numpy_helper.from_array(w1, "W1")),
         helper.make_node("MatMul", ["x", "W1"], ["y"])], "then", [], out)
    other = helper.make_graph([helper.make_node("MatMul", ["x", "W2"], ["y"])], "else", [], out,
                              initializer=[numpy_helper.from_array(w2, "W2")])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="pick")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8]),
              helper.make_tensor_value_info("c", TensorProto.BOOL, [])], out)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString(), {"pick/then_branch/W1": w1, "pick/else_branch/W2": w2}


def test_weights_inside_if_branches_and_constant_nodes() -> None:
    data, expected = if_model()
    got = {t.name: t.values for t in read_tensors(ModelFormat.ONNX, "protobuf", data)}
    assert set(got) == set(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values)
    # and the half-precision copy (weights still in the branches) is found as such
    half = variants.half_onnx(data)
    wm = compare_weights(read_tensors(ModelFormat.ONNX, "protobuf", half),
                         read_tensors(ModelFormat.ONNX, "protobuf", data))
    assert wm.kind == "half-precision" and wm.near_fraction == 1.0


def test_float16_copy_of_silero_runs_and_keeps_its_weights() -> None:
    import onnxruntime as ort

    ref = fixture_path(*SILERO).read_bytes()
    half = variants.half_onnx(ref)
    x = np.random.default_rng(0).standard_normal((1, 576)).astype(np.float32) * 0.1
    feed = {"input": x, "state": np.zeros((2, 1, 128), np.float32),
            "sr": np.array(16000, np.int64)}
    a = ort.InferenceSession(ref).run(None, feed)[0]
    b = ort.InferenceSession(half).run(None, feed)[0]
    np.testing.assert_allclose(a, b, atol=1e-4)
    stored = {t.stored_dtype for t in read_tensors(ModelFormat.ONNX, "protobuf", half)}
    assert stored == {"float16"}


def if_free_reexport() -> bytes:
    """silero's 16 kHz network exported from the TorchScript file by torch, then folded by
    onnxruntime: no If node is left, LSTM weights are re-laid out as ONNX LSTM W/R/B."""
    torch = pytest.importorskip("torch")
    import io
    import warnings

    scripted = torch.jit.load(str(fixture_path("models", "pytorch", "silero_vad.jit")),
                              map_location="cpu")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(scripted._model, (torch.zeros(1, 576), torch.zeros(2, 1, 128)), buf,
                          dynamo=False, opset_version=17, input_names=["input", "state"],
                          output_names=["output", "stateN"])
    return variants.fold_onnx(buf.getvalue())


@pytest.mark.slow
def test_silero_copies_are_flagged_with_the_right_reuse_type(tmp_path: Path) -> None:
    import onnx

    zoo = tmp_path / "zoo"
    assert main(["zoo", "add", str(fixture_path(*SILERO)), "--zoo", str(zoo), "--no-profile",
                 "--name", "silero_vad_16k_op15", "--license", "MIT"]) == 0
    app = tmp_path / "voice-app"
    app.mkdir()
    ref = fixture_path(*SILERO).read_bytes()
    (app / "vad_half.onnx").write_bytes(variants.half_onnx(ref))
    reexport = if_free_reexport()
    ops = {n.op_type for n in onnx.load_model_from_string(reexport).graph.node}
    assert "If" not in ops and "LSTM" in ops
    (app / "vad_ifless.onnx").write_bytes(reexport)
    (app / "mnist.onnx").write_bytes(fixture_path("models", "onnx", "mnist-8.onnx").read_bytes())
    out = tmp_path / "f.csv"
    assert main(["scan", str(app), "--zoo", str(zoo), "--csv", str(out),
                 "--db", str(tmp_path / "r.db"), "--no-table"]) == 0
    rows = {r["entry"]: r for r in csv.DictReader(out.open())}
    assert rows["vad_half.onnx"]["match"] == "silero_vad_16k_op15"
    assert rows["vad_half.onnx"]["reuse_type"] == "quantized"
    assert "half-precision" in rows["vad_half.onnx"]["match_evidence"]
    assert rows["vad_ifless.onnx"]["match"] == "silero_vad_16k_op15"
    assert rows["vad_ifless.onnx"]["reuse_type"] == "re-packaged"
    assert rows["mnist.onnx"]["verdict"] == "not-reused"
