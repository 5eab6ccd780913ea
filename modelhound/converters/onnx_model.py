"""ONNX as found: checked, shapes inferred, normalised, and repaired where onnxruntime rejects it.

Normalisation moves weights held in ``Constant`` nodes (Paddle2ONNX exports) to graph
initializers, so later stages see them as weights. When onnxruntime accepts the model as
found, the normalised form is checked against it on seeded inputs (``rel_error``); when it
rejects it, the repaired form is used unchecked and the reason says so.
"""

from __future__ import annotations

from typing import Any

from modelhound.converters import fidelity
from modelhound.converters.interface import Conversion
from modelhound.converters.runtimes import OnnxRunnable
from modelhound.converters.verify import measure
from modelhound.errors import ConversionError
from modelhound.records import FoundModel

CONVERTER = "as-found"


def constants_to_initializers(model: Any) -> int:
    """Move the tensor of every top-level ``Constant`` node to an initializer; returns the count."""
    from onnx import numpy_helper

    graph = model.graph
    keep, moved = [], 0
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.attribute) == 1:
            attr = node.attribute[0]
            if attr.name == "value" and attr.HasField("t"):
                array = numpy_helper.to_array(attr.t)
                graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
                moved += 1
                continue
        keep.append(node)
    if moved:
        del graph.node[:]
        graph.node.extend(keep)
    return moved


def _initializer_inputs(model: Any) -> int:
    """Drop initializers listed as graph inputs (IR >= 4 allows that); returns the count."""
    names = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in names]
    dropped = len(model.graph.input) - len(inputs)
    if dropped and model.ir_version >= 4:
        del model.graph.input[:]
        model.graph.input.extend(inputs)
        return dropped
    return 0


def convert(found: FoundModel) -> Conversion:
    """Check, normalise and (if needed) repair an ONNX model; measure the normalised form."""
    import onnx

    sha, entry = found.entry.sha256, found.entry.entry
    try:
        model = onnx.load_from_string(found.data)
    except Exception as exc:  # DecodeError and friends
        return Conversion(sha, False, converter=CONVERTER, reason=f"{entry}: not an ONNX model: {exc}")
    notes = []
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        notes.append(f"onnx.checker: {str(exc).splitlines()[0][:200]}")
    try:
        original: OnnxRunnable | None = OnnxRunnable(found.data)
    except ConversionError as exc:
        original = None
        notes.append(f"as found: {str(exc).splitlines()[0][:200]}")
    moved = constants_to_initializers(model)
    if moved:
        notes.append(f"{moved} Constant nodes moved to initializers")
    _initializer_inputs(model)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except MemoryError:
        raise  # the worker's limit, reported as such by convert_here
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        notes.append(f"shape inference failed: {first[:200]}")
    repaired = model.SerializeToString()
    try:
        runner = OnnxRunnable(repaired)
    except ConversionError as exc:
        return Conversion(sha, False, converter=CONVERTER, reason="; ".join([f"{entry}: {exc}", *notes]))
    rel = None
    if original is not None:
        try:
            rel, _ = measure(runner, original)
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors on invented inputs
            notes.append(f"not run on seeded inputs ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:160]})")
        if rel is not None and not fidelity.within_tolerance(rel):
            return Conversion(
                sha, True, runtime=OnnxRunnable.runtime, converter=CONVERTER, onnx=found.data,
                inputs=original.inputs, outputs=original.outputs, rel_error=rel,
                reason="; ".join([*notes, f"normalised form off by {rel:.3g}; model kept as found"]),
            )
    else:
        notes.append("repaired form used; onnxruntime rejected the original, so it is unchecked")
    return Conversion(
        sha, True, runtime=OnnxRunnable.runtime, converter=CONVERTER, onnx=repaired,
        inputs=runner.inputs, outputs=runner.outputs, rel_error=rel, reason="; ".join(notes),
    )
