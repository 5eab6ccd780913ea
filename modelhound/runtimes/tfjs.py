"""TensorFlow.js layers models: the Keras topology of ``model.json`` rebuilt by Keras, its
weights set from the shards (tensorflowjs itself cannot be installed beside TF 2.21; the
shard format is read by :mod:`modelhound.extractor.formats.tfjs`).

The topology is deserialised with Keras' safe mode (no Lambda bytecode). Graph models
(a TF GraphDef as JSON) are rebuilt and converted by :mod:`modelhound.runtimes.tfjs_graph`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from modelhound.errors import ConversionError, ExtractError
from modelhound.runtimes.interface import GRAPH_ONLY, NativeModel
from modelhound.runtimes.keras import KerasRunnable

name = "keras-tfjs"


def graph_only(model: NativeModel) -> str:
    """A model.json whose manifest names no shards holds a topology only."""
    from modelhound.extractor.formats import tfjs

    try:
        groups = tfjs.groups(tfjs.load(model.data))
    except ExtractError:
        return ""
    if not any(g.paths for g in groups):
        return "tfjs model.json without weight shards (a topology only)"
    return ""


def version() -> str:
    """keras' version."""
    import keras

    return str(keras.__version__)


def _assign(loaded: Any, weights: list[tuple[str, np.ndarray, str]], where: str) -> None:
    by_name = {n: v for n, v, _ in weights}
    values = []
    for i, var in enumerate(loaded.weights):
        path = str(getattr(var, "path", var.name))
        key = next((k for k in (path, path.split("/", 1)[-1]) if k in by_name), None)
        v = by_name[key] if key is not None else (weights[i][1] if i < len(weights) else None)
        if v is None or tuple(v.shape) != tuple(var.shape):
            raise ConversionError(f"{where}: no weight of shape {tuple(var.shape)} for {path}")
        values.append(v)
    loaded.set_weights(values)


def open(model: NativeModel, threads: int = 1) -> KerasRunnable:  # noqa: A001 - interface verb
    """The layers model rebuilt in Keras with its shard weights."""
    import keras

    from modelhound.extractor.formats import tfjs

    if model.subformat != "layers-model":
        raise ConversionError(f"{model.name}: tfjs graph models run through their TF GraphDef "
                              "(modelhound.runtimes.tfjs_graph), not Keras")
    reason = graph_only(model)
    if reason:
        raise ConversionError(f"{model.name}: {GRAPH_ONLY}: {reason}")
    try:
        doc = tfjs.load(model.data)
        weights = tfjs.read_weights(model.data, model.companions)
    except ExtractError as exc:
        raise ConversionError(f"{model.name}: {exc}") from exc
    topology = doc["modelTopology"]
    config = topology.get("model_config", topology) if isinstance(topology, dict) else topology
    try:
        loaded = keras.models.model_from_json(json.dumps(config))
    except Exception as exc:  # noqa: BLE001 - Keras raises many types on foreign configs
        raise ConversionError(f"{model.name}: Keras cannot rebuild the tfjs topology: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from exc
    _assign(loaded, weights, model.name)
    return KerasRunnable.of(loaded)
