"""Native runtimes on real files: MTCNN in ncnn against facenet-pytorch's weights in torch;
a fixture model re-packaged by MNN's converter and by pnnx, run in MNN and ncnn and flagged
by weights and by behaviour; graph-only files reported as such and never fingerprinted."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from modelhound import variants
from modelhound.cli import main
from modelhound.converters.fidelity import TOLERANCE, relative_error
from modelhound.extractor.tensors import read_tensors
from modelhound.fingerprint.weights import compare_weights
from modelhound.records import ModelFormat
from modelhound.runtimes import mnn, ncnn
from modelhound.runtimes.interface import NativeModel
from tests.conftest import fixture_path

MNIST = ("models", "tflite", "nex3z-tflite-mnist-from-apk.tflite")

# the runtimes extra (scripts/setup.sh test,gradient,runtimes); found without importing
# MNN, which prints from C at import
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("ncnn", "MNN", "pnnx")),
    reason="the runtimes extra is not installed")


def ncnn_model(n: int) -> NativeModel:
    """The app's MTCNN det<n> param and weight blob."""
    return NativeModel(fixture_path("models", "ncnn", f"mtcnn-det{n}.param").read_bytes(), "param",
                       {f"mtcnn-det{n}.bin": fixture_path("models", "ncnn",
                                                          f"mtcnn-det{n}.bin").read_bytes()},
                       f"mtcnn-det{n}.param")


@pytest.mark.parametrize("n,net", [(1, "pnet"), (2, "rnet"), (3, "onet")])
def test_ncnn_mtcnn_runs_and_agrees_with_facenet_weights_in_torch(n: int, net: str) -> None:
    torch = pytest.importorskip("torch")
    from tests.runtimes.mtcnn_torch import nets

    state = fixture_path("models", "pytorch", f"facenet-pytorch-mtcnn-{net}.pt")
    module = nets()[net]
    module.load_state_dict(torch.load(state, weights_only=True))
    runner = ncnn.open(ncnn_model(n))
    side = {1: 12, 2: 24, 3: 48}[n]
    assert runner.inputs[0].shape == (1, 3, side, side)
    x = np.random.default_rng(n).random((3, 3, side, side), dtype=np.float32)
    with torch.no_grad():
        expected = [t.numpy() for t in module(torch.from_numpy(x))]
    got = runner.run([x])
    assert relative_error([g.reshape(e.shape) for g, e in zip(got, expected)], expected) < 1e-5
    # and the weights say so without running anything (same values, other layout)
    wm = compare_weights(
        read_tensors(ModelFormat.NCNN, "param", ncnn_model(n).data, ncnn_model(n).companions),
        read_tensors(ModelFormat.PYTORCH, "legacy-pickle", state.read_bytes()))
    assert wm.kind == "identical-weights"


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The fixture MNIST model converted by MNN's converter and (via its ONNX form) by pnnx."""
    from modelhound.converters.registry import convert_here
    from tests.corpus.helpers import found_model

    tflite = fixture_path(*MNIST).read_bytes()
    onnx = convert_here(found_model(tflite, "m.tflite")).onnx
    assert onnx is not None
    param, weights = variants.to_ncnn(onnx, (1, 28, 28, 1))
    return {"tflite": tflite, "mnn": variants.to_mnn(tflite, "TFLITE"), "param": param,
            "bin": weights}


def test_converted_copies_run_and_agree_with_the_original(copies: dict[str, bytes]) -> None:
    from modelhound.converters.runtimes import LiteRTRunnable

    original = LiteRTRunnable(copies["tflite"])
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    expected = original.run([x])
    in_mnn = mnn.open(NativeModel(copies["mnn"], "flatbuffer", name="digits.mnn"))
    assert in_mnn.inputs[0].layout == "NHWC"
    assert relative_error(in_mnn.run([x]), expected) < TOLERANCE
    in_ncnn = ncnn.open(NativeModel(copies["param"], "param", {"digits.bin": copies["bin"]}))
    assert in_ncnn.inputs[0].shape == (1, 1, 28, 28)
    got = in_ncnn.run([x.transpose(0, 3, 1, 2)])
    assert relative_error([g.reshape(e.shape) for g, e in zip(got, expected)], expected) < TOLERANCE


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zoo of the original, with a behavioural profile (a few pairs keep it short)."""
    path = tmp_path_factory.mktemp("nzoo") / "zoo"
    assert main(["zoo", "add", str(fixture_path(*MNIST)), "--zoo", str(path), "--pairs", "12",
                 "--steps", "2", "--name", "nex3z-mnist", "--license", "MIT"]) == 0
    return path


def _scan(folder: Path, zoo: Path, tmp: Path) -> dict[str, dict[str, str]]:
    out = tmp / f"{folder.name}.csv"
    assert main(["scan", str(folder), "--zoo", str(zoo), "--csv", str(out),
                 "--db", str(tmp / f"{folder.name}.db"), "--no-table"]) == 0
    return {r["entry"]: r for r in csv.DictReader(out.open())}


@pytest.mark.slow
def test_a_scan_flags_each_copy_by_weights_and_by_behaviour(
        copies: dict[str, bytes], zoo_dir: Path, tmp_path: Path) -> None:
    app = tmp_path / "digits-app"
    app.mkdir()
    (app / "digits.mnn").write_bytes(copies["mnn"])
    (app / "det.param").write_bytes(copies["param"])
    (app / "det.bin").write_bytes(copies["bin"])
    shutil.copy(fixture_path("models", "tflite", "leschiera-stress-model-v1.tflite"), app)
    rows = _scan(app, zoo_dir, tmp_path)
    for entry, runtime in (("digits.mnn", "mnn"), ("det.param", "ncnn")):
        r = rows[entry]
        assert (r["runnable"], r["runtime"]) == ("yes", runtime), r["not_runnable_reason"]
        assert (r["match"], r["verdict"], r["reuse_type"]) == ("nex3z-mnist", "reused", "re-packaged")
        assert "weights: identical-weights" in r["match_evidence"]
        assert float(r["similarity"]) >= 0.98 and float(r["agreement"]) >= 0.95, r["match_evidence"]
    assert rows["leschiera-stress-model-v1.tflite"]["verdict"] == "not-reused"


@pytest.mark.slow
def test_graph_only_files_are_reported_and_never_fingerprinted(zoo_dir: Path, tmp_path: Path) -> None:
    for folder in (fixture_path("models", "mnn"),
                   fixture_path("models", "ncnn", "benchmark-param-only")):
        rows = _scan(folder, zoo_dir, tmp_path)
        assert len(rows) >= 5
        for entry, r in rows.items():
            assert r["runnable"] == "no" and "graph-only" in r["not_runnable_reason"], entry
            assert r["similarity"] == "" and r["agreement"] == "", entry
            assert r["verdict"] == "not-reused", entry


@pytest.mark.slow
def test_scan_rows_give_the_fidelity_error_against_the_original_in_the_same_app(
        copies: dict[str, bytes], tmp_path: Path) -> None:
    app = tmp_path / "app-with-original"
    app.mkdir()
    (app / "digits.mnn").write_bytes(copies["mnn"])
    (app / "det.param").write_bytes(copies["param"])
    (app / "det.bin").write_bytes(copies["bin"])
    (app / "mnist.tflite").write_bytes(copies["tflite"])
    shutil.copy(fixture_path("models", "tflite", "leschiera-stress-model-v1.tflite"), app)
    out = tmp_path / "rows.csv"
    assert main(["scan", str(app), "--no-match", "--csv", str(out), "--db",
                 str(tmp_path / "rows.db"), "--no-table"]) == 0
    rows = {r["entry"]: r for r in csv.DictReader(out.open())}
    for entry in ("digits.mnn", "det.param"):
        r = rows[entry]
        assert r["runnable"] == "yes", r["not_runnable_reason"]
        assert r["fidelity_reference"] == "mnist.tflite (tflite, identical-weights)"
        assert float(r["conversion_rel_error"]) < TOLERANCE
    # without the original beside it, there is no second path and no error to report
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "digits.mnn").write_bytes(copies["mnn"])
    shutil.copy(fixture_path("models", "tflite", "leschiera-stress-model-v1.tflite"), alone)
    out = tmp_path / "alone.csv"
    assert main(["scan", str(alone), "--no-match", "--csv", str(out), "--db",
                 str(tmp_path / "alone.db"), "--no-table"]) == 0
    r = {r["entry"]: r for r in csv.DictReader(out.open())}["digits.mnn"]
    assert (r["runnable"], r["fidelity_reference"], r["conversion_rel_error"]) == ("yes", "", "")
    # the real MTCNN pair: the app's ncnn det1 beside facenet-pytorch's state dict of the
    # same weights, which holds no network code: named, but no error can be measured
    mtcnn = tmp_path / "mtcnn"
    mtcnn.mkdir()
    for name in ("mtcnn-det1.param", "mtcnn-det1.bin"):
        shutil.copy(fixture_path("models", "ncnn", name), mtcnn)
    shutil.copy(fixture_path("models", "pytorch", "facenet-pytorch-mtcnn-pnet.pt"), mtcnn)
    out = tmp_path / "mtcnn.csv"
    assert main(["scan", str(mtcnn), "--no-match", "--csv", str(out), "--db",
                 str(tmp_path / "mtcnn.db"), "--no-table"]) == 0
    r = {r["entry"]: r for r in csv.DictReader(out.open())}["mtcnn-det1.param"]
    assert r["runnable"] == "yes" and r["conversion_rel_error"] == ""
    assert r["fidelity_reference"].startswith(
        "facenet-pytorch-mtcnn-pnet.pt (pytorch, identical-weights): not checked")
    assert "weights-only" in r["fidelity_reference"]


def test_second_path_check_catches_a_copy_whose_weights_changed(copies: dict[str, bytes]) -> None:
    import onnx
    from onnx import numpy_helper

    from modelhound.converters.registry import convert_here
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.converters.second_path import compare
    from tests.corpus.helpers import found_model

    original = LiteRTRunnable(copies["tflite"])
    faithful = ncnn.open(NativeModel(copies["param"], "param", {"d.bin": copies["bin"]}))
    assert compare(faithful, original) < TOLERANCE
    model = onnx.load_model_from_string(convert_here(found_model(copies["tflite"], "m.tflite")).onnx)
    biggest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    biggest.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(biggest) * 1.05, biggest.name))
    param, weights = variants.to_ncnn(model.SerializeToString(), (1, 28, 28, 1))
    changed = ncnn.open(NativeModel(param, "param", {"d.bin": weights}))
    assert compare(changed, original) > TOLERANCE
