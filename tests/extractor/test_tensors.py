"""Weights read from every format that stores them, and never by running untrusted code."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from modelhound.errors import ExtractError
from modelhound.extractor.tensors import read_tensors
from modelhound.records import ModelFormat
from tests import builders
from tests.conftest import fixture_path


def _values(tensors) -> np.ndarray:
    return np.sort(np.concatenate([t.values.ravel() for t in tensors]))


def test_built_models_give_back_the_weights_written():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4)).astype(np.float32)  # what tflite_model(seed=0) writes first
    tfl = read_tensors(ModelFormat.TFLITE, "flatbuffer", builders.tflite_model(seed=0))
    assert [t.shape for t in tfl] == [] and w.size < 16  # 12 weights: below the weight floor
    big = read_tensors(ModelFormat.TFLITE, "flatbuffer", builders.tflite_model(8, 8, seed=1))
    assert [t.shape for t in big] == [(8, 8)]
    onnx = read_tensors(ModelFormat.ONNX, "protobuf", builders.onnx_model(8, 4, seed=2))
    assert [(t.name, t.shape) for t in onnx] == [("W", (8, 4))]
    caffe = read_tensors(ModelFormat.CAFFE, "caffemodel", builders.caffe_model())
    assert [(t.name, t.shape) for t in caffe] == [("conv1/0", (2, 1, 3, 3)), ("fc1/0", (3, 8))]
    ncnn = read_tensors(ModelFormat.NCNN, "param", builders.NCNN_PARAM.encode(),
                        {"w.bin": builders.ncnn_weights()})
    assert [(t.name, t.shape) for t in ncnn] == [("conv1/weight", (2, 1, 3, 3)),
                                                 ("fc1/weight", (3, 8))]
    graph = read_tensors(ModelFormat.TF_GRAPHDEF, "frozen-graph", builders.tf_graphdef(8, 4, seed=3))
    assert [(t.name, t.shape) for t in graph] == [("weights", (8, 4))]
    expected = np.random.default_rng(3).standard_normal((8, 4)).astype(np.float32)
    assert np.array_equal(graph[0].values, expected)


def test_quantized_weights_are_dequantized():
    data = fixture_path("models", "tflite", "qiulongquan-codelab-mnist.tflite").read_bytes()
    tensors = read_tensors(ModelFormat.TFLITE, "flatbuffer", data)
    int8 = [t for t in tensors if t.stored_dtype == "int8"]
    assert int8 and all(t.values.dtype == np.float32 for t in int8)
    assert all(np.abs(t.values).max() < 10 for t in int8)  # real-valued, not raw integers


def test_mtcnn_weights_match_across_ncnn_and_pytorch_layouts_but_not_the_other_caffe():
    for i, net in ((1, "pnet"), (2, "rnet"), (3, "onet")):
        ncnn = read_tensors(ModelFormat.NCNN, "param",
                            fixture_path("models", "ncnn", f"mtcnn-det{i}.param").read_bytes(),
                            {"bin": fixture_path("models", "ncnn", f"mtcnn-det{i}.bin").read_bytes()})
        torch = read_tensors(ModelFormat.PYTORCH, "legacy-pickle", fixture_path(
            "models", "pytorch", f"facenet-pytorch-mtcnn-{net}.pt").read_bytes())
        caffe = read_tensors(ModelFormat.CAFFE, "caffemodel", fixture_path(
            "models", "caffe", f"mtcnn-det{i}.caffemodel").read_bytes())
        assert len(ncnn) == len(torch)
        assert np.array_equal(_values(ncnn), _values(torch))
        assert np.isin(_values(caffe), _values(torch)).mean() < 0.01


def test_torchscript_and_keras_weights():
    jit = read_tensors(ModelFormat.PYTORCH, "torchscript",
                       fixture_path("models", "pytorch", "silero_vad.jit").read_bytes())
    assert len(jit) > 10 and any("encoder" in t.name for t in jit)
    h5 = read_tensors(ModelFormat.KERAS_H5, "hdf5",
                      fixture_path("models", "keras-h5", "Tracer1337-mnist_model.h5").read_bytes())
    assert ("dense/dense/kernel:0", (784, 300)) in [(t.name, t.shape) for t in h5]


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/modelhound-pwned",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    f = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {}):
        pickle.dump(obj, f, protocol=2)
    pickle.dump({"weight": _Boom()}, f, protocol=2)
    if os.path.exists("/tmp/modelhound-pwned"):
        os.remove("/tmp/modelhound-pwned")
    with pytest.raises(ExtractError, match="refusing to load global"):
        read_tensors(ModelFormat.PYTORCH, "legacy-pickle", f.getvalue())
    assert not os.path.exists("/tmp/modelhound-pwned")


def test_formats_without_weights_say_so():
    with pytest.raises(ExtractError, match="prototxt holds no weights"):
        read_tensors(ModelFormat.CAFFE, "prototxt", builders.CAFFE_PROTOTXT.encode())
    with pytest.raises(ExtractError, match="cannot be read yet"):
        read_tensors(ModelFormat.TNN, "tnnmodel", b"\x00" * 64)
    with pytest.raises(ExtractError, match="MNN"):
        read_tensors(ModelFormat.MNN, "flatbuffer", b"\x00" * 64)
    benchmark = fixture_path("models", "mnn", "squeezenetv1.1.mnn").read_bytes()
    with pytest.raises(ExtractError, match="graph-only MNN file: none of its 26"):
        read_tensors(ModelFormat.MNN, "flatbuffer", benchmark)
