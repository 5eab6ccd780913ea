"""TensorFlow.js models: a ``model.json`` (graph or layers model) and its weight shards.

Hybrid React Native / Cordova / Capacitor apps ship them as web assets. The JSON holds
the topology (a TF GraphDef as JSON, or a Keras model config) and a ``weightsManifest``
naming the binary shards that hold the weights, concatenated in manifest order. The
format is read by hand (tensorflowjs cannot be installed beside TensorFlow 2.21).
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from modelhound.errors import ExtractError
from modelhound.records import ModelFormat, ModelInfo, Sniffed, TensorSpec

#: the topology key, opening an object, somewhere in the first bytes of the JSON
_TOPOLOGY = re.compile(rb'"modelTopology"\s*:\s*(\{|null)')
_COMPANION_KEYS = (b'"weightsManifest"', b'"format"', b'"convertedBy"', b'"generatedBy"',
                   b'"node"', b'"class_name"')

#: weightsManifest dtypes as numpy dtypes
_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "uint8": np.uint8,
           "float16": np.float16, "int8": np.int8, "uint16": np.uint16, "int16": np.int16,
           "complex64": np.complex64}
#: at most this many shard paths per model (a hostile manifest must not list millions)
MAX_SHARDS = 4096


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """A JSON object whose first bytes hold a ``modelTopology`` object and a tfjs key."""
    if not head.lstrip()[:1] == b"{":
        return None
    if not _TOPOLOGY.search(head) or not any(k in head for k in _COMPANION_KEYS):
        return None
    sub = "layers-model" if b'"layers-model"' in head or b'"class_name"' in head[:2048] \
        else "graph-model"
    return Sniffed(ModelFormat.TFJS, sub, "JSON with modelTopology and tfjs keys")


@dataclass(frozen=True)
class WeightSpec:
    """One entry of a ``weightsManifest`` group."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Mapping[str, Any] | None


@dataclass(frozen=True)
class Group:
    """One ``weightsManifest`` group: its shard paths and the weights they hold, in order."""

    paths: tuple[str, ...]
    weights: tuple[WeightSpec, ...]


def load(data: bytes) -> dict[str, Any]:
    """The model.json as a dict; :class:`ExtractError` when it is not one."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ExtractError(f"tfjs model.json is not valid JSON ({e})") from e
    if not isinstance(doc, dict) or "modelTopology" not in doc:
        raise ExtractError("tfjs model.json has no modelTopology")
    return doc


def groups(doc: Mapping[str, Any]) -> list[Group]:
    """The manifest's groups; :class:`ExtractError` for a malformed manifest."""
    manifest = doc.get("weightsManifest") or []
    if not isinstance(manifest, list):
        raise ExtractError("tfjs weightsManifest is not a list")
    out = []
    total = 0
    for g in manifest:
        if not isinstance(g, dict):
            raise ExtractError("tfjs weightsManifest group is not an object")
        paths = tuple(str(p) for p in g.get("paths", []))
        total += len(paths)
        if total > MAX_SHARDS:
            raise ExtractError(f"tfjs weightsManifest lists more than {MAX_SHARDS} shards")
        specs = []
        for w in g.get("weights", []):
            try:
                shape = tuple(int(d) for d in w.get("shape", []))
                specs.append(WeightSpec(str(w["name"]), shape, str(w.get("dtype", "float32")),
                                        w.get("quantization")))
            except (KeyError, TypeError, ValueError) as e:
                raise ExtractError(f"tfjs weightsManifest entry malformed: {w!r:.80}") from e
        out.append(Group(paths, tuple(specs)))
    return out


def shard_paths(entry: str, data: bytes) -> list[str]:
    """Entry paths of the shards a model.json at ``entry`` names (resolved beside it)."""
    folder = posixpath.dirname(entry.replace("!/", "\x00"))
    out = []
    for g in groups(load(data)):
        for p in g.paths:
            joined = posixpath.normpath(posixpath.join(folder, p)) if folder else posixpath.normpath(p)
            out.append(joined.replace("\x00", "!/"))
    return out


def _find(companions: Mapping[str, bytes], path: str) -> bytes:
    for key, blob in companions.items():
        if key == path or key.endswith("/" + path) or posixpath.basename(key) == \
                posixpath.basename(path):
            return blob
    raise ExtractError(f"tfjs weight shard {path} missing")


def read_weights(data: bytes, companions: Mapping[str, bytes]) -> list[tuple[str, np.ndarray, str]]:
    """(name, float32 values, stored dtype) of every numeric weight, in manifest order.

    Quantized weights (uint8/uint16 with scale and min, or float16) are dequantized.
    """
    out = []
    for g in groups(load(data)):
        if not g.paths:
            continue
        buf = b"".join(_find(companions, p) for p in g.paths)
        pos = 0
        for w in g.weights:
            n = int(np.prod(w.shape)) if w.shape else 1
            q = w.quantization or {}
            stored = str(q.get("dtype", w.dtype))
            if w.dtype == "string":
                for _ in range(n):  # uint32 length, then the bytes, per element
                    if pos + 4 > len(buf):
                        raise ExtractError(f"tfjs weights end inside string tensor {w.name}")
                    pos += 4 + int(np.frombuffer(buf, "<u4", 1, pos)[0])
                continue
            if stored not in _DTYPES:
                raise ExtractError(f"tfjs weight {w.name}: unknown dtype {stored}")
            dt = np.dtype(_DTYPES[stored]).newbyteorder("<")
            size = n * dt.itemsize
            if pos + size > len(buf):
                raise ExtractError(f"tfjs weights end before {w.name} ({len(buf)} bytes)")
            arr = np.frombuffer(buf, dtype=dt, count=n, offset=pos)
            pos += size
            if stored in ("uint8", "uint16") and "scale" in q:
                values = arr.astype(np.float64) * float(q["scale"]) + float(q.get("min", 0.0))
                if q.get("original_dtype") == "int32":
                    values = np.round(values)
            else:
                values = arr
            if values.dtype.kind == "c":
                continue
            out.append((w.name, np.asarray(values, dtype=np.float32).reshape(w.shape), stored))
    return out


def _graph_specs(topology: Mapping[str, Any]) -> tuple[tuple[TensorSpec, ...], dict[str, int]]:
    inputs = []
    ops: dict[str, int] = {}
    for node in topology.get("node", []) or []:
        op = str(node.get("op", ""))
        ops[op] = ops.get(op, 0) + 1
        if op == "Placeholder":
            attr = node.get("attr", {})
            dims = attr.get("shape", {}).get("shape", {}).get("dim", [])
            shape = tuple(int(d.get("size", -1)) for d in dims)
            dtype = str(attr.get("dtype", {}).get("type", "DT_FLOAT")).lower().removeprefix("dt_")
            inputs.append(TensorSpec(str(node.get("name", "")), shape,
                                     "float32" if dtype == "float" else dtype))
    return tuple(inputs), ops


def describe(data: bytes) -> ModelInfo:
    """Inputs (graph-model placeholders), op or layer counts and the weight count."""
    doc = load(data)
    topo = doc.get("modelTopology") or {}
    inputs: tuple[TensorSpec, ...] = ()
    ops: dict[str, int] = {}
    if isinstance(topo, dict) and "node" in topo:
        inputs, ops = _graph_specs(topo)
    elif isinstance(topo, dict):
        config = topo.get("model_config", topo).get("config", {})
        layers = config.get("layers", []) if isinstance(config, dict) else config
        for layer in layers or []:
            cls = str(layer.get("class_name", "")) if isinstance(layer, dict) else ""
            ops[cls] = ops.get(cls, 0) + 1
    params = 0
    dtypes = set()
    for g in groups(doc):
        for w in g.weights:
            params += int(np.prod(w.shape)) if w.shape else 1
            dtypes.add(str((w.quantization or {}).get("dtype", w.dtype)))
    return ModelInfo(inputs=inputs, op_count=sum(ops.values()) or None,
                     op_types=tuple(sorted(ops.items())), param_count=params,
                     weight_dtypes=tuple(sorted(dtypes)),
                     producer=str(doc.get("convertedBy") or doc.get("generatedBy") or ""),
                     version=str(doc.get("format", "")))
