"""A folder of bare model files is scanned like an app: one input per folder, companions
grouped (ncnn param + bin, Caffe definition + weights, tfjs model.json + shards)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from modelhound import samples
from modelhound.extractor import extract
from modelhound.extractor.tensors import read_tensors
from modelhound.pipeline import discover
from modelhound.records import ModelFormat, Status
from tests.conftest import fixture_path


def tfjs_layers_model(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """A two-Dense tfjs layers model with two shards, one weight quantized to uint8."""
    rng = np.random.default_rng(seed)
    weights = {"dense/kernel": rng.standard_normal((8, 16)).astype(np.float32),
               "dense/bias": rng.standard_normal(16).astype(np.float32),
               "dense_1/kernel": rng.standard_normal((16, 3)).astype(np.float32)}
    k1 = weights["dense_1/kernel"]
    lo, scale = float(k1.min()), float(k1.max() - k1.min()) / 255
    q = np.round((k1 - lo) / scale).astype(np.uint8)
    weights["dense_1/kernel"] = (q.astype(np.float64) * scale + lo).astype(np.float32)
    blob = weights["dense/kernel"].tobytes() + weights["dense/bias"].tobytes() + q.tobytes()
    (folder / "group1-shard1of2.bin").write_bytes(blob[:300])
    (folder / "group1-shard2of2.bin").write_bytes(blob[300:])
    doc = {
        "format": "layers-model", "generatedBy": "keras v2.15.0",
        "convertedBy": "TensorFlow.js Converter v4.22.0",
        "modelTopology": {"class_name": "Sequential", "config": {"name": "seq", "layers": [
            {"class_name": "Dense", "config": {"units": 16}},
            {"class_name": "Dense", "config": {"units": 3}}]}},
        "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
                             "weights": [
                                 {"name": "dense/kernel", "shape": [8, 16], "dtype": "float32"},
                                 {"name": "dense/bias", "shape": [16], "dtype": "float32"},
                                 {"name": "dense_1/kernel", "shape": [16, 3], "dtype": "float32",
                                  "quantization": {"dtype": "uint8", "scale": scale, "min": lo,
                                                   "original_dtype": "float32"}}]}],
    }
    (folder / "model.json").write_text(json.dumps(doc))
    return weights


def test_fixture_models_folder_is_scanned_folder_by_folder() -> None:
    root = fixture_path("models")
    inputs = discover([str(root)])
    rel = {str(Path(p).relative_to(root)) for p in inputs}
    assert {"ncnn", "caffe", "mnn", "pytorch", "onnx", "tflite", "keras-h5",
            "ncnn/benchmark-param-only"} <= rel


def test_ncnn_folder_pairs_params_with_their_weights() -> None:
    ex = extract(str(fixture_path("models", "ncnn")))
    assert ex.app.kind == "folder" and not ex.error
    by = {m.entry.entry: m for m in ex.models}
    for n in (1, 2, 3):
        m = by[f"mtcnn-det{n}.param"]
        assert m.entry.format is ModelFormat.NCNN
        assert list(m.companions) == [f"mtcnn-det{n}.bin"]
    # a weight blob belongs to its param, it is no model and no suspect of its own
    assert not any(e.entry.endswith(".bin") for e in ex.to_scan().models
                   if not e.entry.endswith(".param.bin"))
    assert "no weight blob" in by["squeezenet_v1.1.param"].entry.reason


def test_caffe_folder_pairs_by_layers_not_names() -> None:
    ex = extract(str(fixture_path("models", "caffe")))
    pairs = {m.entry.entry: list(m.companions) for m in ex.models}
    # upstream det2/det3 prototxts are swapped: pairing follows the layers
    assert pairs["mtcnn-det2.caffemodel"] == ["mtcnn-det3.prototxt"]
    assert pairs["mtcnn-det3.caffemodel"] == ["mtcnn-det2.prototxt"]
    assert pairs["lenet_iter_10000.caffemodel"] == ["lenet.prototxt"]
    assert "squeezenet_v1.1.prototxt" in pairs  # definition only, still reported once
    assert len(ex.models) == 6


def test_tfjs_model_json_with_shards(tmp_path: Path) -> None:
    expected = tfjs_layers_model(tmp_path)
    (tmp_path / "notes.json").write_text('{"a": 1}')
    assert discover([str(tmp_path)]) == [str(tmp_path)]
    ex = extract(str(tmp_path))
    assert [m.entry.entry for m in ex.models] == ["model.json"]
    m = ex.models[0]
    assert m.entry.format is ModelFormat.TFJS and m.entry.subformat == "layers-model"
    assert sorted(m.companions) == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert m.entry.info is not None and m.entry.info.param_count == 128 + 16 + 48
    # shards are not reported as suspected-encrypted blobs
    assert all(e.status is Status.OK for e in ex.to_scan().models)
    tensors = {t.name: t for t in read_tensors(m.entry.format, m.entry.subformat, m.data,
                                               m.companions)}
    assert set(tensors) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(tensors[name].values, values, rtol=1e-6, atol=1e-7)
    assert tensors["dense_1/kernel"].stored_dtype == "uint8"


def test_tfjs_missing_shard_is_said(tmp_path: Path) -> None:
    tfjs_layers_model(tmp_path)
    (tmp_path / "group1-shard2of2.bin").unlink()
    ex = extract(str(tmp_path / "model.json"))
    (m,) = ex.models
    assert "weight shards missing: group1-shard2of2.bin" in m.entry.reason


def test_folder_beside_apps_is_its_own_input(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(samples.tflite_model())
    (tmp_path / "m.onnx").write_bytes(samples.onnx_model())
    (tmp_path / "README.txt").write_text("not a model")
    apk = tmp_path / "app.apk"
    shutil.copy(fixture_path("apks", "with-models", sorted(
        p.name for p in fixture_path("apks", "with-models").iterdir())[0]), apk)
    sub = tmp_path / "texts"
    sub.mkdir()
    (sub / "a.txt").write_text("nothing here")
    assert discover([str(tmp_path)]) == [str(tmp_path), str(apk)]
    ex = extract(str(tmp_path))
    # the APK is an input of its own, never a member of the folder input
    assert [m.entry.entry for m in ex.models] == ["m.onnx", "m.tflite"]


def test_folder_hash_follows_content(tmp_path: Path) -> None:
    from modelhound.extractor import sha256_file

    (tmp_path / "m.onnx").write_bytes(samples.onnx_model())
    first = sha256_file(str(tmp_path))
    (tmp_path / "m.onnx").write_bytes(samples.onnx_model(seed=1))
    assert sha256_file(str(tmp_path)) != first
