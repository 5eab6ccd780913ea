"""Files with a graph and no trained weights are said to be so and never run as if trained."""

from __future__ import annotations

import pytest

from modelhound.converters.registry import convert_here
from modelhound.errors import ExtractError
from modelhound.extractor.tensors import read_tensors
from modelhound.records import ModelFormat
from tests.conftest import fixture_path
from tests.corpus.helpers import found_model

LIGHT = ("models", "onnx", "onnx-1.23.2-light")


@pytest.mark.parametrize("name", ["light_squeezenet.onnx", "light_inception_v1.onnx",
                                  "light_bvlc_alexnet.onnx"])
def test_onnx_light_models_are_graph_only(name: str) -> None:
    data = fixture_path(*LIGHT, name).read_bytes()
    conv = convert_here(found_model(data, name))
    assert not conv.runnable and f"{name}: graph-only" in conv.reason
    assert "ConstantOfShape" in conv.reason
    with pytest.raises(ExtractError, match="graph-only"):
        read_tensors(ModelFormat.ONNX, "protobuf", data)


def test_trained_onnx_is_not_graph_only() -> None:
    data = fixture_path("models", "onnx", "mnist-8.onnx").read_bytes()
    assert convert_here(found_model(data, "mnist-8.onnx")).runnable


@pytest.mark.parametrize("param", ["squeezenet.param", "mobilenet_ssd.param"])
def test_ncnn_params_without_weights_are_graph_only(param: str) -> None:
    data = fixture_path("models", "ncnn", "benchmark-param-only", param).read_bytes()
    conv = convert_here(found_model(data, param))
    assert not conv.runnable and "graph-only: ncnn param without its weight blob" in conv.reason


def test_mnn_benchmark_nets_are_graph_only() -> None:
    data = fixture_path("models", "mnn", "mobilenet-v1-1.0.mnn").read_bytes()
    conv = convert_here(found_model(data, "mobilenet-v1-1.0.mnn"))
    assert not conv.runnable and "graph-only: MNN graph without weights" in conv.reason


def test_state_dicts_are_weights_only() -> None:
    data = fixture_path("models", "pytorch", "facenet-pytorch-mtcnn-pnet.pt").read_bytes()
    conv = convert_here(found_model(data, "pnet.pt"))
    assert not conv.runnable and "weights-only: PyTorch state dict" in conv.reason
    assert read_tensors(ModelFormat.PYTORCH, "legacy-pickle", data)
