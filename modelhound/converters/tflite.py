"""TFLite -> ONNX with tf2onnx, checked against LiteRT (the native reference).

Outcomes:
* ONNX within tolerance: ``runtime="onnxruntime"``, ``onnx`` set; ``native`` also holds
  the .tflite so LiteRT stays available.
* No faithful ONNX form but LiteRT runs it: ``runtime="litert"``, ``onnx=None``, the
  reason says what failed and ``rel_error`` holds the measured error when there was one.
* Neither: ``runnable=False`` with the custom ops nothing can run, or LiteRT's error.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any

from modelhound.converters import fidelity, tflite_custom_ops
from modelhound.converters.interface import Conversion
from modelhound.converters.runtimes import LiteRTRunnable
from modelhound.converters.verify import verified
from modelhound.errors import ConversionError
from modelhound.records import FoundModel

#: ONNX opset emitted by tf2onnx (tested range 14-18).
OPSET = 17


def converter_name() -> str:
    """``tf2onnx <version>``."""
    import tf2onnx

    return f"tf2onnx {tf2onnx.__version__}"


def to_onnx(data: bytes, *, sample: list | None = None) -> tuple[bytes, list[str]]:
    """Convert TFLite bytes to ONNX bytes; returns (onnx, notes on workarounds applied).

    ``sample`` is a valid input batch, needed only for models with DENSIFY ops.
    """
    import logging

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    from tf2onnx import convert

    notes = []
    try:
        model = tflite_custom_ops.load_model(data)
    except Exception as exc:
        raise ConversionError(f"not a readable TFLite flatbuffer: {exc}") from exc
    if tflite_custom_ops.has_op(model, "DENSIFY"):
        if sample is None:
            raise ConversionError("sparse weights (DENSIFY) need LiteRT to densify them")
        data = tflite_custom_ops.densify(data, model, sample)
        model = tflite_custom_ops.load_model(data)
        notes.append("sparse weights densified through LiteRT")
    if tflite_custom_ops.flatten_fc_inputs(model):
        data = tflite_custom_ops.pack(model)
        model = tflite_custom_ops.load_model(data)
        notes.append("fully-connected inputs flattened first (tf2onnx drops their bias)")
    handlers = tflite_custom_ops.custom_op_handlers(model)
    if handlers:
        names = ", ".join(h.removeprefix("TFL_") for h in handlers)
        notes.append(f"custom op {names} lowered to ConvTranspose")
    with tempfile.TemporaryDirectory(prefix="modelhound-tflite-") as tmp:
        path = os.path.join(tmp, "model.tflite")
        with open(path, "wb") as f:
            f.write(data)
        try:
            proto, _ = convert.from_tflite(path, opset=OPSET, custom_op_handlers=handlers or None)
        except Exception as exc:  # tf2onnx raises anything from ValueError to KeyError
            raise ConversionError(f"tf2onnx failed: {type(exc).__name__}: {exc}") from exc
    return proto.SerializeToString(), notes


def _strip_outputs(onnx_bytes: bytes, keep: list[str]) -> bytes:
    """The ONNX model with only the graph outputs named in ``keep``, in that order."""
    import onnx

    m = onnx.load_from_string(onnx_bytes)
    by_name = {o.name: o for o in m.graph.output}
    outputs = [by_name[n] for n in keep]
    del m.graph.output[:]
    m.graph.output.extend(outputs)
    return m.SerializeToString()


def _convert_checked(
    found: FoundModel, model: Any, native: LiteRTRunnable, sample: list
) -> Conversion:
    """Convert, then check against LiteRT on a copy exposing sigmoid logits as outputs."""
    exposed = tflite_custom_ops.expose_logits(model)
    check_data = tflite_custom_ops.pack(model) if exposed else found.data
    check_native = LiteRTRunnable(check_data) if exposed else native
    onnx_bytes, notes = to_onnx(check_data, sample=sample)
    tolerance = fidelity.TOLERANCE
    if tflite_custom_ops.is_hybrid(model):
        tolerance = fidelity.HYBRID_TOLERANCE
        notes.append("dynamic-range model: LiteRT quantizes activations at run time, "
                     "ONNX computes them in float")
    if exposed:
        notes.append("sigmoid/softmax outputs checked on their logits")
    result = verified(
        found, onnx_bytes, check_native, converter=converter_name(), notes=notes,
        ignore=frozenset(exposed), tolerance=tolerance,
    )
    if result.rel_error is not None and result.rel_error > fidelity.GOAL:
        spread = _kernel_spread(check_data, check_native, frozenset(exposed))
        if spread is not None:
            result = dataclasses.replace(result, reason="; ".join(filter(None, [
                result.reason, f"LiteRT's own XNNPACK and builtin kernels differ by {spread:.2g}"])))
    if result.onnx is not None:
        result = dataclasses.replace(
            result, onnx=_strip_outputs(result.onnx, [s.name for s in native.outputs]),
            inputs=native.inputs, outputs=native.outputs,
        )
    return result


def _kernel_spread(data: bytes, native: LiteRTRunnable, ignore: frozenset[str]) -> float | None:
    """Relative error between LiteRT's default (XNNPACK) and builtin kernels, or None.

    Tells whether an ONNX error above the goal is within the native runtime's own
    numerical spread (float re-association in deep nets), rather than a conversion bug.
    """
    try:
        builtin = LiteRTRunnable(data, default_delegates=False)
        sample = fidelity.seeded_inputs(native.inputs)
        keep = [j for j, s in enumerate(native.outputs) if s.name not in ignore]
        a, b = native.run(sample), builtin.run(sample)
        return fidelity.relative_error([b[j] for j in keep], [a[j] for j in keep])
    except (ConversionError, ValueError):
        return None


def convert(found: FoundModel) -> Conversion:
    """Bring a TFLite model to its runnable form and measure its fidelity against LiteRT."""
    sha, entry = found.entry.sha256, found.entry.entry
    try:
        model = tflite_custom_ops.load_model(found.data)
        customs = tflite_custom_ops.custom_ops(model)
    except Exception as exc:
        return Conversion(sha, False, reason=f"{entry}: not a readable TFLite flatbuffer: {exc}")
    unknown = tuple(c for c in customs if c not in tflite_custom_ops.HANDLED_CUSTOM_OPS)
    try:
        native: LiteRTRunnable | None = LiteRTRunnable(found.data)
        sample = fidelity.seeded_inputs(native.inputs)
        native.run(sample)
        native_error = ""
    except (ConversionError, ValueError) as exc:
        native, sample, native_error = None, None, str(exc)
    if native is None:
        reason = f"{entry}: {native_error}"
        if unknown:
            reason = f"{entry}: custom ops no runtime implements: {', '.join(unknown)}"
        return Conversion(sha, False, reason=reason, unsupported_ops=unknown)
    try:
        result = _convert_checked(found, model, native, sample)
    except ConversionError as exc:
        result = Conversion(sha, False, converter="tf2onnx", reason=f"{entry}: {exc}")
    result = dataclasses.replace(result, native=found.data)
    if result.runnable:
        return result
    return dataclasses.replace(
        result, runnable=True, runtime=LiteRTRunnable.runtime, onnx=None,
        inputs=native.inputs, outputs=native.outputs,
        reason=f"{result.reason}; runs natively with LiteRT",
    )
