"""Caffe's NetParameter schema (the subset modelhound reads), as a declarative table.

Field numbers follow BVLC Caffe's ``caffe.proto``. Unknown fields are kept by the binary
parser and skipped by :func:`parse_prototxt`, so the subset only has to cover what we read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from google.protobuf import text_format

from modelhound.protos.builder import build

MESSAGES: dict[str, list[tuple[Any, ...]]] = {
    "BlobShape": [("repeated", "int64", "dim", 1, {"packed": True})],
    "BlobProto": [
        ("optional", "BlobShape", "shape", 7),
        ("repeated", "float", "data", 5, {"packed": True}),
        ("repeated", "float", "diff", 6, {"packed": True}),
        ("repeated", "double", "double_data", 8, {"packed": True}),
        ("optional", "int64", "num", 1),
        ("optional", "int64", "channels", 2),
        ("optional", "int64", "height", 3),
        ("optional", "int64", "width", 4),
    ],
    "InputParameter": [("repeated", "BlobShape", "shape", 1)],
    "LayerParameter": [
        ("optional", "string", "name", 1),
        ("optional", "string", "type", 2),
        ("repeated", "string", "bottom", 3),
        ("repeated", "string", "top", 4),
        ("repeated", "BlobProto", "blobs", 7),
        ("optional", "InputParameter", "input_param", 143),
    ],
    "V1LayerParameter": [
        ("repeated", "string", "bottom", 2),
        ("repeated", "string", "top", 3),
        ("optional", "string", "name", 4),
        ("optional", "int32", "type", 5),
        ("repeated", "BlobProto", "blobs", 6),
    ],
    "NetParameter": [
        ("optional", "string", "name", 1),
        ("repeated", "string", "input", 3),
        ("repeated", "BlobShape", "input_shape", 8),
        ("repeated", "int64", "input_dim", 4),
        ("repeated", "LayerParameter", "layer", 100),
        ("repeated", "V1LayerParameter", "layers", 2),
    ],
}

#: V1LayerParameter.LayerType numbers -> the type names of the current schema.
V1_LAYER_TYPES: dict[int, str] = {
    0: "None", 35: "AbsVal", 1: "Accuracy", 30: "ArgMax", 2: "BNLL", 3: "Concat",
    37: "ContrastiveLoss", 4: "Convolution", 5: "Data", 39: "Deconvolution", 6: "Dropout",
    32: "DummyData", 7: "EuclideanLoss", 25: "Eltwise", 38: "Exp", 8: "Flatten",
    9: "HDF5Data", 10: "HDF5Output", 28: "HingeLoss", 11: "Im2col", 12: "ImageData",
    13: "InfogainLoss", 14: "InnerProduct", 15: "LRN", 29: "MemoryData",
    16: "MultinomialLogisticLoss", 34: "MVN", 17: "Pooling", 26: "Power", 18: "ReLU",
    19: "Sigmoid", 27: "SigmoidCrossEntropyLoss", 36: "Silence", 20: "Softmax",
    21: "SoftmaxWithLoss", 22: "Split", 33: "Slice", 23: "TanH", 24: "WindowData",
    31: "Threshold",
}


@lru_cache(maxsize=1)
def classes() -> dict[str, type]:
    """The message classes, built once per process."""
    return build("caffe", MESSAGES)


def net_parameter() -> Any:
    """A new, empty NetParameter message."""
    return classes()["NetParameter"]()


def parse_caffemodel(data: bytes) -> Any:
    """Parse a binary ``.caffemodel``; raises ``google.protobuf.message.DecodeError``."""
    net = net_parameter()
    net.ParseFromString(data)
    return net


def parse_prototxt(text: str) -> Any:
    """Parse a text ``.prototxt``, ignoring fields outside the subset."""
    net = net_parameter()
    text_format.Parse(text, net, allow_unknown_field=True)
    return net
