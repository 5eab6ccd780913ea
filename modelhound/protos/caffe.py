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


#: Layer parameter messages the converters stage reads (BVLC caffe.proto numbering).
#: Enum-typed fields name a nested enum as ``enum:Message.Enum`` (see NESTED_ENUMS):
#: Caffe's enums are nested, and their value names collide at package level (MAX).
LAYER_PARAMETERS: dict[str, list[tuple[Any, ...]]] = {
    "ConvolutionParameter": [
        ("optional", "uint32", "num_output", 1),
        ("optional", "bool", "bias_term", 2, {"default": "true"}),
        ("repeated", "uint32", "pad", 3),
        ("repeated", "uint32", "kernel_size", 4),
        ("optional", "uint32", "group", 5, {"default": 1}),
        ("repeated", "uint32", "stride", 6),
        ("optional", "uint32", "pad_h", 9),
        ("optional", "uint32", "pad_w", 10),
        ("optional", "uint32", "kernel_h", 11),
        ("optional", "uint32", "kernel_w", 12),
        ("optional", "uint32", "stride_h", 13),
        ("optional", "uint32", "stride_w", 14),
        ("optional", "int32", "axis", 16, {"default": 1}),
        ("repeated", "uint32", "dilation", 18),
    ],
    "PoolingParameter": [
        ("optional", "enum:PoolingParameter.PoolMethod", "pool", 1, {"default": "MAX"}),
        ("repeated", "uint32", "kernel_size", 2),
        ("repeated", "uint32", "stride", 3),
        ("repeated", "uint32", "pad", 4),
        ("optional", "uint32", "kernel_h", 5),
        ("optional", "uint32", "kernel_w", 6),
        ("optional", "uint32", "stride_h", 7),
        ("optional", "uint32", "stride_w", 8),
        ("optional", "uint32", "pad_h", 9),
        ("optional", "uint32", "pad_w", 10),
        ("optional", "bool", "global_pooling", 12),
        ("optional", "enum:PoolingParameter.RoundMode", "round_mode", 13, {"default": "CEIL"}),
    ],
    "InnerProductParameter": [
        ("optional", "uint32", "num_output", 1),
        ("optional", "bool", "bias_term", 2, {"default": "true"}),
        ("optional", "int32", "axis", 5, {"default": 1}),
        ("optional", "bool", "transpose", 6),
    ],
    "ReLUParameter": [("optional", "float", "negative_slope", 1)],
    "PReLUParameter": [("optional", "bool", "channel_shared", 2)],
    "ELUParameter": [("optional", "float", "alpha", 1, {"default": 1})],
    "SoftmaxParameter": [("optional", "int32", "axis", 2, {"default": 1})],
    "ConcatParameter": [
        ("optional", "uint32", "concat_dim", 1, {"default": 1}),
        ("optional", "int32", "axis", 2, {"default": 1}),
    ],
    "EltwiseParameter": [
        ("optional", "enum:EltwiseParameter.EltwiseOp", "operation", 1, {"default": "SUM"}),
        ("repeated", "float", "coeff", 2),
    ],
    "FlattenParameter": [
        ("optional", "int32", "axis", 1, {"default": 1}),
        ("optional", "int32", "end_axis", 2, {"default": -1}),
    ],
    "ReshapeParameter": [
        ("optional", "BlobShape", "shape", 1),
        ("optional", "int32", "axis", 2),
        ("optional", "int32", "num_axes", 3, {"default": -1}),
    ],
    "DropoutParameter": [("optional", "float", "dropout_ratio", 1, {"default": 0.5})],
    "LRNParameter": [
        ("optional", "uint32", "local_size", 1, {"default": 5}),
        ("optional", "float", "alpha", 2, {"default": 1}),
        ("optional", "float", "beta", 3, {"default": 0.75}),
        ("optional", "enum:LRNParameter.NormRegion", "norm_region", 4,
         {"default": "ACROSS_CHANNELS"}),
        ("optional", "float", "k", 5, {"default": 1}),
    ],
    "BatchNormParameter": [
        ("optional", "bool", "use_global_stats", 1),
        ("optional", "float", "moving_average_fraction", 2, {"default": 0.999}),
        ("optional", "float", "eps", 3, {"default": 1e-5}),
    ],
    "ScaleParameter": [
        ("optional", "int32", "axis", 1, {"default": 1}),
        ("optional", "int32", "num_axes", 2, {"default": 1}),
        ("optional", "bool", "bias_term", 4),
    ],
    "BiasParameter": [
        ("optional", "int32", "axis", 1, {"default": 1}),
        ("optional", "int32", "num_axes", 2, {"default": 1}),
    ],
    "SliceParameter": [
        ("optional", "uint32", "slice_dim", 1, {"default": 1}),
        ("repeated", "uint32", "slice_point", 2),
        ("optional", "int32", "axis", 3, {"default": 1}),
    ],
    "PowerParameter": [
        ("optional", "float", "power", 1, {"default": 1}),
        ("optional", "float", "scale", 2, {"default": 1}),
        ("optional", "float", "shift", 3),
    ],
}

#: LayerParameter fields holding the messages above (BVLC caffe.proto numbering).
LAYER_PARAMETER_FIELDS: list[tuple[Any, ...]] = [
    ("optional", "ConcatParameter", "concat_param", 104),
    ("optional", "ConvolutionParameter", "convolution_param", 106),
    ("optional", "DropoutParameter", "dropout_param", 108),
    ("optional", "EltwiseParameter", "eltwise_param", 110),
    ("optional", "InnerProductParameter", "inner_product_param", 117),
    ("optional", "LRNParameter", "lrn_param", 118),
    ("optional", "PoolingParameter", "pooling_param", 121),
    ("optional", "PowerParameter", "power_param", 122),
    ("optional", "ReLUParameter", "relu_param", 123),
    ("optional", "SoftmaxParameter", "softmax_param", 125),
    ("optional", "SliceParameter", "slice_param", 126),
    ("optional", "PReLUParameter", "prelu_param", 131),
    ("optional", "ReshapeParameter", "reshape_param", 133),
    ("optional", "FlattenParameter", "flatten_param", 135),
    ("optional", "BatchNormParameter", "batch_norm_param", 139),
    ("optional", "ELUParameter", "elu_param", 140),
    ("optional", "BiasParameter", "bias_param", 141),
    ("optional", "ScaleParameter", "scale_param", 142),
]

#: Enums nested in messages: {message: {enum: {value name: number}}}.
NESTED_ENUMS: dict[str, dict[str, dict[str, int]]] = {
    "PoolingParameter": {
        "PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
        "RoundMode": {"CEIL": 0, "FLOOR": 1},
    },
    "EltwiseParameter": {"EltwiseOp": {"PROD": 0, "SUM": 1, "MAX": 2}},
    "LRNParameter": {"NormRegion": {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}},
}


def _schema() -> dict[str, list[tuple[Any, ...]]]:
    """MESSAGES plus the layer parameter messages and the LayerParameter fields naming them."""
    messages = {name: list(fields) for name, fields in MESSAGES.items()}
    messages.update({name: list(fields) for name, fields in LAYER_PARAMETERS.items()})
    messages["LayerParameter"] = messages["LayerParameter"] + LAYER_PARAMETER_FIELDS
    return messages


@lru_cache(maxsize=1)
def classes() -> dict[str, type]:
    """The message classes, built once per process (layer parameters included)."""
    return build("caffe", _schema(), nested_enums=NESTED_ENUMS)


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
