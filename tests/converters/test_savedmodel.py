"""TF SavedModel inside an app: recognised with its variables, weights read (checked against
TensorFlow's own checkpoint reader), frozen and converted in the isolated path, and matched
to the same network shipped as TFLite. The SavedModel is built here with TensorFlow
(``tf.saved_model.save`` of a small seeded Keras model) and packed into an APK built here."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from modelhound.cli import main
from modelhound.converters.fidelity import TOLERANCE, relative_error
from modelhound.converters.registry import convert_here
from modelhound.errors import ExtractError
from modelhound.extractor import extract
from modelhound.extractor.formats import savedmodel
from modelhound.extractor.tensors import read_tensors
from modelhound.fingerprint.weights import compare_weights
from modelhound.records import ModelFormat
from tests import builders

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A seeded Keras CNN saved with tf.saved_model.save, its TFLite conversion, and an APK
    holding the SavedModel folder (under assets/) and, separately, the TFLite file."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((12, 12, 1)), keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
        keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax", name="head")])
    folder = tmp_path_factory.mktemp("sm") / "saved"
    tf.saved_model.save(model, str(folder))
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    files = [(f"assets/digits/{p.relative_to(folder).as_posix()}", p.read_bytes())
             for p in sorted(folder.rglob("*")) if p.is_file()]
    apk = tmp_path_factory.mktemp("apk") / "saved.apk"
    apk.write_bytes(builders.apk(files, package="com.example.saved"))
    lite_apk = apk.with_name("lite.apk")
    lite_apk.write_bytes(builders.apk([("assets/digits.tflite", tflite)],
                                      package="com.example.lite"))
    return {"model": model, "folder": folder, "tflite": tflite, "apk": apk,
            "lite_apk": lite_apk}


def _saved(path: Path):  # type: ignore[no-untyped-def]
    models = [m for m in extract(str(path)).models if m.entry.format is ModelFormat.TF_SAVED_MODEL]
    assert len(models) == 1, [m.entry for m in extract(str(path)).models]
    return models[0]


def test_saved_model_is_found_with_its_variables_and_weights(built: dict) -> None:
    found = _saved(built["apk"])
    assert found.entry.entry == "assets/digits/saved_model.pb"
    assert sorted(found.companions) == ["assets/digits/variables/variables.data-00000-of-00001",
                                        "assets/digits/variables/variables.index"]
    info = found.entry.info
    assert [(s.shape, s.dtype) for s in info.inputs] == [((-1, 12, 12, 1), "float32")]
    assert info.param_count == sum(int(np.prod(v.shape)) for v in built["model"].weights)
    # weights as TensorFlow's own checkpoint reader reads them
    reader = tf.train.load_checkpoint(str(built["folder"] / "variables" / "variables"))
    tensors = read_tensors(found.entry.format, found.entry.subformat, found.data, found.companions)
    # the conv and head kernels (6 and 5 biases are below MIN_WEIGHT_ELEMENTS)
    assert [t.shape for t in tensors] == [(3, 3, 1, 6), (600, 5)]
    for t in tensors:
        np.testing.assert_array_equal(t.values, reader.get_tensor(t.name))
    # a bare SavedModel folder is read the same way, variables/ included
    (bare,) = extract(str(built["folder"])).models
    assert (bare.entry.format, sorted(bare.companions)) == (
        ModelFormat.TF_SAVED_MODEL, ["variables/variables.data-00000-of-00001",
                                     "variables/variables.index"])
    # and they are the TFLite copy's weights
    lite = read_tensors(ModelFormat.TFLITE, "flatbuffer", built["tflite"])
    assert compare_weights(tensors, lite).kind == "identical-weights"


def test_saved_model_converts_and_runs_like_keras(built: dict) -> None:
    conversion = convert_here(_saved(built["apk"]))
    assert conversion.runnable, conversion.reason
    assert conversion.rel_error is not None and conversion.rel_error < TOLERANCE
    assert "signature serving_default frozen" in conversion.reason
    import onnxruntime as ort

    session = ort.InferenceSession(conversion.onnx, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((4, 12, 12, 1), dtype=np.float32)
    got = session.run(None, {session.get_inputs()[0].name: x})
    assert relative_error(got, [built["model"](x).numpy()]) < 1e-5


def test_missing_or_broken_variables_are_named(built: dict, tmp_path: Path) -> None:
    folder = built["folder"]
    pb = (folder / "saved_model.pb").read_bytes()
    alone = tmp_path / "alone.apk"
    alone.write_bytes(builders.apk([("assets/m/saved_model.pb", pb)]))
    found = _saved(alone)
    assert "variables missing: assets/m/variables/variables.index" in found.entry.reason
    with pytest.raises(ExtractError, match="variables.index"):
        read_tensors(found.entry.format, found.entry.subformat, found.data, found.companions)
    index = (folder / "variables" / "variables.index").read_bytes()
    for bad in (index[:-1], index[:20] + b"\xff" * 40 + index[60:]):
        with pytest.raises(ExtractError, match="variables index"):
            savedmodel.read_weights({"variables/variables.index": bad,
                                     "variables/variables.data-00000-of-00001": b""})
    data = (folder / "variables" / "variables.data-00000-of-00001").read_bytes()
    with pytest.raises(ExtractError, match="do not fit"):
        savedmodel.read_weights({"variables/variables.index": index,
                                 "variables/variables.data-00000-of-00001": data[:100]})


@pytest.mark.slow
def test_a_scan_matches_the_saved_model_to_its_tflite_copy(built: dict, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    lite = tmp_path / "digits.tflite"
    lite.write_bytes(built["tflite"])
    assert main(["zoo", "add", str(lite), "--zoo", str(zoo), "--pairs", "12", "--steps", "2",
                 "--name", "digits-lite", "--license", "MIT"]) == 0
    out = tmp_path / "scan.csv"
    assert main(["scan", str(built["apk"]), "--zoo", str(zoo), "--csv", str(out),
                 "--db", str(tmp_path / "scan.db"), "--no-table"]) == 0
    rows = {r["entry"]: r for r in csv.DictReader(out.open())}
    r = rows["assets/digits/saved_model.pb"]
    assert (r["format"], r["runnable"]) == ("tf-savedmodel", "yes"), r["not_runnable_reason"]
    assert float(r["conversion_rel_error"]) < TOLERANCE
    assert (r["match"], r["verdict"]) == ("digits-lite", "reused"), r["match_evidence"]
    assert "weights: identical-weights" in r["match_evidence"]
    assert float(r["similarity"]) >= 0.98, r["match_evidence"]


def test_graphs_that_write_files_are_never_run(tmp_path: Path) -> None:
    """A SavedModel whose signature writes a file, and a frozen graph with a WriteFile sink:
    refused with the op named, and the file is never written."""
    target = tmp_path / "victim.txt"
    target.write_text("the user's file")

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
        def serve(self, x):  # type: ignore[no-untyped-def]
            tf.io.write_file(str(target), tf.strings.as_string(tf.reduce_sum(x)))
            return {"y": x * 2.0}

    folder = tmp_path / "writer"
    module = Writer()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    apk = tmp_path / "writer.apk"
    apk.write_bytes(builders.apk([(f"assets/w/{p.relative_to(folder).as_posix()}", p.read_bytes())
                                  for p in sorted(folder.rglob("*")) if p.is_file()]))
    conversion = convert_here(_saved(apk))
    assert not conversion.runnable and "WriteFile" in conversion.reason, conversion.reason
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None, 4), name="x")
        tf.identity(x * 2.0, name="y")
        tf.io.write_file(str(target), tf.strings.as_string(tf.reduce_sum(x)), name="leak")
    pb = tmp_path / "frozen.pb"
    pb.write_bytes(graph.as_graph_def().SerializeToString())
    (found,) = extract(str(pb)).models
    conversion = convert_here(found)
    assert not conversion.runnable and "WriteFile" in conversion.reason, conversion.reason
    assert target.read_text() == "the user's file"
