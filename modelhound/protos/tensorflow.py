"""TensorFlow GraphDef schema (the subset modelhound reads), as a declarative table.

Field numbers follow tensorflow/core/framework/{graph,node_def,attr_value,tensor,
tensor_shape,types}.proto. ``map<string, AttrValue>`` is declared as its wire-compatible
repeated entry message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from modelhound.protos.builder import build

MESSAGES: dict[str, list[tuple[Any, ...]]] = {
    "Dim": [("optional", "int64", "size", 1), ("optional", "string", "name", 2)],
    "TensorShapeProto": [
        ("repeated", "Dim", "dim", 2),
        ("optional", "bool", "unknown_rank", 3),
    ],
    "TensorProto": [
        ("optional", "int32", "dtype", 1),
        ("optional", "TensorShapeProto", "tensor_shape", 2),
        ("optional", "bytes", "tensor_content", 4),
    ],
    "ListValue": [
        ("repeated", "bytes", "s", 2),
        ("repeated", "int64", "i", 3, {"packed": True}),
        ("repeated", "TensorShapeProto", "shape", 7),
        ("repeated", "int32", "type", 6, {"packed": True}),
    ],
    "AttrValue": [
        ("optional", "bytes", "s", 2),
        ("optional", "int64", "i", 3),
        ("optional", "float", "f", 4),
        ("optional", "bool", "b", 5),
        ("optional", "int32", "type", 6),
        ("optional", "TensorShapeProto", "shape", 7),
        ("optional", "TensorProto", "tensor", 8),
        ("optional", "ListValue", "list", 1),
    ],
    "AttrEntry": [("optional", "string", "key", 1), ("optional", "AttrValue", "value", 2)],
    "NodeDef": [
        ("optional", "string", "name", 1),
        ("optional", "string", "op", 2),
        ("repeated", "string", "input", 3),
        ("optional", "string", "device", 4),
        ("repeated", "AttrEntry", "attr", 5),
    ],
    "VersionDef": [
        ("optional", "int32", "producer", 1),
        ("optional", "int32", "min_consumer", 2),
    ],
    "GraphDef": [
        ("repeated", "NodeDef", "node", 1),
        ("optional", "VersionDef", "versions", 4),
        ("optional", "int32", "version", 3),
    ],
    # SavedModel (tensorflow/core/protobuf/{saved_model,meta_graph}.proto): what a scan
    # reads without TensorFlow: tags, signatures and the ops of the graph and its functions
    "FunctionDef": [("repeated", "NodeDef", "node_def", 3)],
    "FunctionDefLibrary": [("repeated", "FunctionDef", "function", 1)],
    "SavedGraphDef": [
        ("repeated", "NodeDef", "node", 1),
        ("optional", "FunctionDefLibrary", "library", 2),
        ("optional", "VersionDef", "versions", 4),
    ],
    "TensorInfo": [
        ("optional", "string", "name", 1),
        ("optional", "int32", "dtype", 2),
        ("optional", "TensorShapeProto", "tensor_shape", 3),
    ],
    "TensorInfoEntry": [("optional", "string", "key", 1), ("optional", "TensorInfo", "value", 2)],
    "SignatureDef": [
        ("repeated", "TensorInfoEntry", "inputs", 1),
        ("repeated", "TensorInfoEntry", "outputs", 2),
        ("optional", "string", "method_name", 3),
    ],
    "SignatureEntry": [("optional", "string", "key", 1), ("optional", "SignatureDef", "value", 2)],
    "MetaInfoDef": [
        ("repeated", "string", "tags", 4),
        ("optional", "string", "tensorflow_version", 5),
    ],
    "MetaGraphDef": [
        ("optional", "MetaInfoDef", "meta_info_def", 1),
        ("optional", "SavedGraphDef", "graph_def", 2),
        ("repeated", "SignatureEntry", "signature_def", 5),
    ],
    "SavedModel": [
        ("optional", "int64", "saved_model_schema_version", 1),
        ("repeated", "MetaGraphDef", "meta_graphs", 2),
    ],
    # the variables' index (tensorflow/core/protobuf/tensor_bundle.proto)
    "BundleHeaderProto": [
        ("optional", "int32", "num_shards", 1),
        ("optional", "int32", "endianness", 2),
    ],
    "BundleEntryProto": [
        ("optional", "int32", "dtype", 1),
        ("optional", "TensorShapeProto", "shape", 2),
        ("optional", "int32", "shard_id", 3),
        ("optional", "int64", "offset", 4),
        ("optional", "int64", "size", 5),
        ("repeated", "bytes", "slices", 7),
    ],
}

#: tensorflow DataType enum -> numpy dtype name
DTYPES: dict[int, str] = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 19: "float16", 22: "uint32",
    23: "uint64",
}


@lru_cache(maxsize=1)
def classes() -> dict[str, type]:
    """The message classes, built once per process."""
    return build("tfsubset", MESSAGES)


def parse_graphdef(data: bytes) -> Any:
    """Parse a binary GraphDef; raises ``google.protobuf.message.DecodeError``."""
    graph = classes()["GraphDef"]()
    graph.ParseFromString(data)
    return graph


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes as a plain dict."""
    return {entry.key: entry.value for entry in node.attr}
