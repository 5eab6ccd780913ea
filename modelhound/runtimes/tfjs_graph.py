"""TensorFlow.js graph models: the TF GraphDef of ``model.json`` rebuilt with its weights,
then run and converted exactly as a frozen TF GraphDef is (TensorFlow as the reference,
tf2onnx for the ONNX form, fidelity checked between the two).

A graph model's ``modelTopology`` is a GraphDef serialised as JSON (protobuf's
``MessageToDict``); the converter empties every Const node that holds a weight and writes
its values to the shards, under the node's name (tfjs ``tf_saved_model_conversion_v2``).
Rebuilding is ``json_format.ParseDict`` into TensorFlow's ``GraphDef`` and putting each
shard weight back into its Const node, in the node's own dtype (tensorflowjs itself cannot
be installed beside TF 2.21: dependency-probe-2.md section 8). Layers models stay with
:mod:`modelhound.runtimes.tfjs` (Keras).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from modelhound.converters.interface import Conversion
from modelhound.errors import ConversionError, ExtractError
from modelhound.records import FoundModel

name = "tensorflow-tfjs"


def graph_def_bytes(data: bytes, companions: dict[str, bytes], where: str = "") -> bytes:
    """The frozen GraphDef (serialised) of a tfjs graph model and its shards."""
    import tensorflow as tf
    from google.protobuf import json_format

    from modelhound.extractor.formats import tfjs

    try:
        doc = tfjs.load(data)
        weights = tfjs.read_weights(data, companions)
    except ExtractError as exc:
        raise ConversionError(f"{where}: {exc}") from exc
    topology = doc.get("modelTopology")
    if not isinstance(topology, dict) or "node" not in topology:
        raise ConversionError(f"{where}: tfjs model.json holds no graph (modelTopology.node)")
    graph_def = tf.compat.v1.GraphDef()
    try:
        json_format.ParseDict(topology, graph_def, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise ConversionError(f"{where}: the tfjs graph is not a TensorFlow GraphDef: "
                              f"{str(exc).splitlines()[0][:200]}") from exc
    by_name = {n: v for n, v, _ in weights}
    filled = set()
    for node in graph_def.node:
        if node.op != "Const" or node.name not in by_name:
            continue
        dtype = tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype
        value = np.asarray(by_name[node.name])
        if np.issubdtype(dtype, np.integer):
            value = np.rint(value)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value.astype(dtype)))
        filled.add(node.name)
    missing = [n for n in by_name if n not in filled]
    if missing:
        raise ConversionError(f"{where}: tfjs weights without a Const node: "
                              f"{', '.join(missing[:3])}")
    return graph_def.SerializeToString()


def convert(found: FoundModel) -> Conversion:
    """A graph model through the TF GraphDef converter; layers models through Keras."""
    from modelhound.converters import tf_graphdef
    from modelhound.runtimes import convert as native

    if found.entry.subformat != "graph-model":
        return native.convert(found)
    try:
        frozen = graph_def_bytes(found.data, dict(found.companions), found.entry.entry)
    except ConversionError as exc:
        return Conversion(found.entry.sha256, False, runtime=name, reason=str(exc))
    result = tf_graphdef.convert(dataclasses.replace(found, data=frozen, companions={}))
    note = "tfjs graph model rebuilt as a TF GraphDef"
    return dataclasses.replace(result, reason="; ".join(r for r in (note, result.reason) if r))
