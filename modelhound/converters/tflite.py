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


def _best_hybrid_form(
    onnx_bytes: bytes, native: LiteRTRunnable, ignore: frozenset[str]
) -> tuple[bytes, str]:
    """For a dynamic-range model, the ONNX form (with or without emulated activation
    quantization) closer to LiteRT, and a note saying which."""
    from modelhound.converters.runtimes import OnnxRunnable
    from modelhound.converters.verify import measure

    import itertools

    errors: dict[tuple[str | None, str | None], float] = {}
    forms: dict[tuple[str | None, str | None], tuple[bytes, int]] = {}
    for conv, matmul in itertools.product(tflite_custom_ops.HYBRID_MODES, repeat=2):
        form, count = tflite_custom_ops.emulate_hybrid_inputs(onnx_bytes, conv, matmul)
        if (conv or matmul) and not count:
            continue
        if form in (f for f, _ in forms.values()):
            continue
        try:
            errors[(conv, matmul)], _ = measure(
                OnnxRunnable(form, outputs=native.outputs), native, ignore)
        except ConversionError:
            continue
        forms[(conv, matmul)] = (form, count)
    plain = errors.get((None, None))
    best = min(errors, key=errors.__getitem__) if errors else (None, None)
    # emulate only when it clearly helps (it costs a quantize step per op)
    if plain is None or best == (None, None) or plain <= 1e-6 or errors[best] > plain / 2:
        return onnx_bytes, ("dynamic-range model: LiteRT quantizes activations at run time, "
                            "ONNX computes them in float")
    form, count = forms[best]
    return form, (f"dynamic-range model: LiteRT's run-time activation quantization emulated "
                  f"(conv {best[0] or 'float'}, matmul {best[1] or 'float'}; {count} ops; "
                  f"error {plain:.2g} without)")


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
    if tflite_custom_ops.is_hybrid(model):
        onnx_bytes, note = _best_hybrid_form(onnx_bytes, check_native, frozenset(exposed))
        notes.append(note)
    if exposed:
        notes.append("sigmoid/softmax outputs checked on their logits")
    result = verified(
        found, onnx_bytes, check_native, converter=converter_name(), notes=notes,
        ignore=frozenset(exposed),
    )
    if result.rel_error is not None and result.rel_error > fidelity.GOAL and result.onnx:
        note = _versus_builtin_kernels(result.onnx, check_data, check_native, frozenset(exposed))
        if note:
            result = dataclasses.replace(result, reason="; ".join(filter(None, [result.reason, note])))
    if result.onnx is not None:
        result = dataclasses.replace(
            result, onnx=_strip_outputs(result.onnx, [s.name for s in native.outputs]),
            inputs=native.inputs, outputs=native.outputs,
        )
    return result


def _versus_builtin_kernels(
    onnx_bytes: bytes, data: bytes, native: LiteRTRunnable, ignore: frozenset[str]
) -> str:
    """Explain an error above the goal: the ONNX form against LiteRT's builtin kernels, and
    how far LiteRT's default (XNNPACK) and builtin kernels are apart themselves.

    Both are LiteRT; when they disagree as much as the ONNX form does, the error is the
    runtime's own numerical spread (float re-association, its own dynamic quantization),
    not a conversion fault. Returns '' when the builtin kernels cannot run the model.
    """
    from modelhound.converters.runtimes import OnnxRunnable
    from modelhound.converters.verify import measure

    try:
        builtin = LiteRTRunnable(data, default_delegates=False)
        sample = fidelity.seeded_inputs(native.inputs)
        keep = [j for j, s in enumerate(native.outputs) if s.name not in ignore]
        a, b = native.run(sample), builtin.run(sample)
        spread = fidelity.relative_error([b[j] for j in keep], [a[j] for j in keep])
        versus, _ = measure(OnnxRunnable(onnx_bytes, outputs=native.outputs), builtin, ignore)
    except (ConversionError, ValueError):
        return ""
    return (f"vs LiteRT builtin kernels {versus:.2g}; LiteRT's own XNNPACK and builtin kernels "
            f"differ by {spread:.2g}")


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


#: What a natively run TFLite model's rows say about its runnable form.
NATIVE_NOTE = "run natively by LiteRT; no ONNX form built (scan --convert builds and checks one)"


def native_here(found: FoundModel) -> Conversion:
    """A TFLite model as LiteRT runs it, without building its ONNX form (a scan's default).

    A scan needs a model's outputs on the probe inputs, which LiteRT gives directly (and
    faster than the ONNX form, bench/convert); tf2onnx and its fidelity check cost seconds
    per model and the TensorFlow import. The model is opened and run once on seeded
    inputs here, in the worker; when LiteRT cannot run it, the full conversion decides
    (it says why, or finds a form that runs).
    """
    import time

    from modelhound.converters.registry import convert_here

    start = time.perf_counter()
    try:
        runnable = LiteRTRunnable(found.data)
        runnable.run(fidelity.seeded_inputs(runnable.inputs))
    except (ConversionError, ValueError, RuntimeError):
        return convert_here(found)
    return Conversion(
        found.entry.sha256, True, runtime=LiteRTRunnable.runtime, converter="none (LiteRT)",
        inputs=runnable.inputs, outputs=runnable.outputs, reason=NATIVE_NOTE, native=found.data,
        seconds=time.perf_counter() - start,
    )
