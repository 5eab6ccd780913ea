"""TensorFlow.js layers models (model.json + shards, as hybrid apps ship them): weights read
from the shards, the model rebuilt and run in Keras, its weights matched to the Keras original.

tensorflowjs cannot be installed beside TF 2.21, so the files are written here the way its
converter writes them (format: tfjs read_weights.py / write_weights.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelhound.converters import load_runnable
from modelhound.converters.registry import convert_here
from modelhound.extractor import extract
from modelhound.extractor.tensors import read_tensors
from modelhound.fingerprint.weights import compare_weights
from modelhound.records import ModelFormat


def keras_model():  # type: ignore[no-untyped-def]
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((16, 16, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax", name="head")])


def write_tfjs(model, folder: Path, half: tuple[str, ...] = ()) -> None:  # type: ignore[no-untyped-def]
    """model.json (layers-model) and two shards; weights named in ``half`` stored as float16."""
    specs, blob = [], b""
    for var in model.weights:
        value = np.asarray(var.numpy(), dtype=np.float32)
        name = var.path.split("/", 1)[-1]  # tfjs names weights layer/weight
        spec = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if name in half:
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blob += value.astype("<f2").tobytes()
        else:
            blob += value.astype("<f4").tobytes()
        specs.append(spec)
    cut = len(blob) // 2
    (folder / "group1-shard1of2.bin").write_bytes(blob[:cut])
    (folder / "group1-shard2of2.bin").write_bytes(blob[cut:])
    doc = {"format": "layers-model", "generatedBy": "keras v3", "convertedBy":
           "TensorFlow.js Converter v4.22.0", "modelTopology": json.loads(model.to_json()),
           "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
                                "weights": specs}]}
    (folder / "model.json").write_text(json.dumps(doc))


def test_tfjs_layers_model_runs_and_matches_its_keras_original(tmp_path: Path) -> None:
    model = keras_model()
    app = tmp_path / "www"
    app.mkdir()
    write_tfjs(model, app, half=("head/kernel",))
    (found,) = extract(str(app)).models
    assert found.entry.format is ModelFormat.TFJS and found.entry.subformat == "layers-model"
    conv = convert_here(found)
    assert conv.runnable and conv.runtime == "keras-tfjs", conv.reason
    x = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    got = load_runnable(conv).run([x])[0]
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=2e-3)
    h5 = tmp_path / "orig.h5"
    model.save(h5)
    wm = compare_weights(read_tensors(ModelFormat.TFJS, "layers-model", found.data, found.companions),
                         read_tensors(ModelFormat.KERAS_H5, "hdf5", h5.read_bytes()))
    assert wm.kind == "half-precision", wm.evidence


def test_tfjs_topology_without_shards_is_graph_only(tmp_path: Path) -> None:
    model = keras_model()
    doc = {"format": "layers-model", "modelTopology": json.loads(model.to_json()),
           "weightsManifest": []}
    (tmp_path / "model.json").write_text(json.dumps(doc))
    (found,) = extract(str(tmp_path)).models
    conv = convert_here(found)
    assert not conv.runnable and "graph-only" in conv.reason


def write_tfjs_graph(frozen: bytes, folder: Path) -> None:
    """A graph-model model.json + one shard from a frozen GraphDef, as tfjs's converter writes
    it: the topology is the GraphDef as JSON with every float/int Const emptied, the values in
    the shard under the node's name."""
    import tensorflow as tf
    from google.protobuf import json_format

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(frozen)
    specs, blob = [], b""
    for node in graph_def.node:
        if node.op != "Const":
            continue
        value = tf.make_ndarray(node.attr["value"].tensor)
        if value.dtype not in (np.float32, np.int32):
            continue
        specs.append({"name": node.name, "shape": list(value.shape), "dtype": value.dtype.name})
        blob += value.astype("<" + value.dtype.str[1:]).tobytes()
        node.attr["value"].tensor.ClearField("tensor_content")
        node.attr["value"].tensor.ClearField("float_val")
        node.attr["value"].tensor.ClearField("int_val")
    (folder / "group1-shard1of1.bin").write_bytes(blob)
    doc = {"format": "graph-model", "generatedBy": "2.x", "convertedBy":
           "TensorFlow.js Converter v4.22.0", "modelTopology": json_format.MessageToDict(graph_def),
           "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": specs}]}
    (folder / "model.json").write_text(json.dumps(doc))


@pytest.mark.slow
def test_tfjs_graph_model_runs_like_the_frozen_graph_it_came_from(tmp_path: Path) -> None:
    from tests.conftest import fixture_path
    from tests.corpus.helpers import found_model

    pb = fixture_path("models", "tf-pb", "PanJinquan-mnist.pb").read_bytes()
    write_tfjs_graph(pb, tmp_path)
    (found,) = extract(str(tmp_path)).models
    assert found.entry.format is ModelFormat.TFJS and found.entry.subformat == "graph-model"
    conv = convert_here(found)
    assert conv.runnable and conv.onnx is not None, conv.reason
    assert conv.rel_error is not None and conv.rel_error < 1e-4  # ONNX form vs TensorFlow
    assert "tfjs graph model rebuilt" in conv.reason
    original = convert_here(found_model(pb, "mnist.pb"))
    x = np.random.default_rng(0).random((3, *[d for d in conv.inputs[0].shape[1:]]),
                                        dtype=np.float32)
    np.testing.assert_allclose(load_runnable(conv).run([x])[0],
                               load_runnable(original).run([x])[0], atol=1e-5)
    wm = compare_weights(read_tensors(ModelFormat.TFJS, "graph-model", found.data, found.companions),
                         read_tensors(ModelFormat.TF_GRAPHDEF, "frozen-graph", pb))
    assert wm.kind == "identical-weights", wm.evidence
