"""TensorFlow SavedModel -> frozen GraphDef -> ONNX, in the isolated worker.

The SavedModel folder is written back to a private temporary directory as the app ships
it (``saved_model.pb``, ``variables/``), loaded with ``tf.saved_model.load``, and its
serving signature (``serving_default``, else the first by name) is frozen with
TensorFlow's ``convert_variables_to_constants_v2``, the step tf2onnx's own ``--saved-model``
path takes. The frozen graph is first checked against the loaded signature on seeded
inputs, then converted and verified exactly as a frozen ``.pb`` is
(:mod:`modelhound.converters.tf_graphdef`: TensorFlow is the reference, tf2onnx makes the
ONNX form, the fidelity error is reported).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tempfile

import numpy as np

from modelhound.converters import fidelity
from modelhound.converters.interface import Conversion
from modelhound.errors import ConversionError
from modelhound.records import FoundModel, TensorSpec

name = "tensorflow-savedmodel"


def _write(found: FoundModel, folder: str) -> None:
    """The SavedModel's files under ``folder``, at their paths relative to saved_model.pb."""
    root = posixpath.dirname(found.entry.entry)
    with open(os.path.join(folder, "saved_model.pb"), "wb") as f:
        f.write(found.data)
    for path, blob in found.companions.items():
        rel = posixpath.relpath(path, root) if root else path
        if rel.startswith("..") or posixpath.isabs(rel) or not rel.startswith("variables/"):
            continue  # only the variables folder beside it, never a path out of the folder
        target = os.path.join(folder, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(blob)


def frozen_graph(found: FoundModel) -> tuple[bytes, str, float | None]:
    """(serialised frozen GraphDef, signature key, relative error of the frozen graph
    against the loaded signature on seeded inputs; None when no concrete input shape)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from modelhound.converters.tf_safety import savedmodel_writes

    where = found.entry.entry
    try:
        unsafe = savedmodel_writes(found.data)
    except Exception as exc:  # noqa: BLE001 - DecodeError & co. on a malformed file
        raise ConversionError(f"{where}: not a SavedModel TensorFlow can parse: "
                              f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    if unsafe:
        raise ConversionError(f"{where}: not run: loading or calling it could execute ops that "
                              f"write files or run Python ({', '.join(unsafe)})")
    with tempfile.TemporaryDirectory(prefix="modelhound-savedmodel-") as folder:
        _write(found, folder)
        try:
            loaded = tf.saved_model.load(folder)
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises anything on a bad model
            raise ConversionError(f"{where}: TensorFlow cannot load the SavedModel: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                                  ) from exc
        signatures = dict(loaded.signatures)
        if not signatures:
            raise ConversionError(f"{where}: the SavedModel has no signature to call")
        key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
        function = signatures[key]
        frozen = convert_variables_to_constants_v2(function)
        graph_def = frozen.graph.as_graph_def()
        error = _frozen_error(function, frozen)
    return graph_def.SerializeToString(), key, error


def _frozen_error(function, frozen) -> float | None:  # type: ignore[no-untyped-def]
    """Relative error of the frozen graph against the signature on seeded inputs (None if
    an input has free dimensions beyond the batch). The frozen function takes its inputs
    flat, in the order of its placeholders, and returns the outputs flat, keys sorted."""
    import tensorflow as tf

    by_name = {spec.name: key for key, spec in function.structured_input_signature[1].items()}
    specs, keys = [], []
    for t in frozen.inputs:
        key = by_name.get(t.name.split(":")[0])
        dims = t.shape.as_list() if t.shape.rank is not None else None
        if key is None or dims is None or any(d is None for d in dims[1:]):
            return None
        specs.append(TensorSpec(key, tuple(-1 if d is None else d for d in dims),
                                t.dtype.name))
        keys.append(key)
    xs = fidelity.seeded_inputs(specs)
    want = function(**{k: tf.constant(x) for k, x in zip(keys, xs)})
    got = frozen(*[tf.constant(x) for x in xs])
    got = got if isinstance(got, (list, tuple)) else [got]
    return fidelity.relative_error([np.asarray(g, np.float32) for g in got],
                                   [np.asarray(want[k], np.float32) for k in sorted(want)])


def convert(found: FoundModel) -> Conversion:
    """Freeze the serving signature, then convert and verify it as a TF GraphDef."""
    from modelhound.converters import tf_graphdef

    try:
        frozen, key, error = frozen_graph(found)
    except ConversionError as exc:
        return Conversion(found.entry.sha256, False, runtime=name, reason=str(exc))
    if error is not None and error > fidelity.TOLERANCE:
        return Conversion(found.entry.sha256, False, runtime=name,
                          reason=f"{found.entry.entry}: the frozen signature {key} differs from "
                                 f"the SavedModel (relative error {error:.2g})")
    result = tf_graphdef.convert(dataclasses.replace(found, data=frozen, companions={}))
    note = f"SavedModel signature {key} frozen to a TF GraphDef" + (
        f" (relative error {error:.2g} against the loaded SavedModel)" if error is not None else "")
    return dataclasses.replace(result, reason="; ".join(r for r in (note, result.reason) if r))
