"""The explicit mapping ModelFormat -> converter, and the in-process conversion it drives.

:func:`convert_here` runs in whatever process calls it (the pool's workers call it); it
never raises for a bad model: every failure becomes a ``Conversion(runnable=False)``.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Callable, Mapping

from modelhound.converters import caffe, onnx_model, tf_graphdef, tflite
from modelhound.converters.interface import Conversion
from modelhound.runtimes import convert as native
from modelhound.records import FoundModel, ModelFormat, RUNNABLE_FORMATS

Converter = Callable[[FoundModel], Conversion]

#: One converter per runnable format (a test checks this covers RUNNABLE_FORMATS).
CONVERTERS: Mapping[ModelFormat, Converter] = {
    ModelFormat.TFLITE: tflite.convert,
    ModelFormat.ONNX: onnx_model.convert,
    ModelFormat.CAFFE: caffe.convert,
    ModelFormat.TF_GRAPHDEF: tf_graphdef.convert,
    # formats that run in their own runtime (modelhound.runtimes.RUNTIMES)
    ModelFormat.NCNN: native.convert,
    ModelFormat.MNN: native.convert,
    ModelFormat.PYTORCH: native.convert,
    ModelFormat.ORT: native.convert,
    ModelFormat.KERAS_H5: native.convert,
    ModelFormat.TFJS: native.convert,
}

assert set(CONVERTERS) == set(RUNNABLE_FORMATS)


def _graph_only(found: FoundModel) -> str:
    """Why a model holds no trained weights ('' when it does or cannot tell): such a model
    must never be run and fingerprinted as if it were trained. Native-runtime formats say
    it in their own converter."""
    if found.entry.format is not ModelFormat.ONNX:
        return ""
    try:
        import onnx

        from modelhound.extractor.formats.onnx import graph_only

        return graph_only(onnx.load_model_from_string(found.data))
    except Exception:  # noqa: BLE001 - a malformed model is the converter's to report
        return ""


def convert_here(found: FoundModel) -> Conversion:
    """Convert one model in this process; any exception becomes a non-runnable Conversion."""
    entry = found.entry
    converter = CONVERTERS.get(entry.format)
    if converter is None:
        return Conversion(entry.sha256, False,
                          reason=f"{entry.entry}: no converter for format {entry.format.value}")
    start = time.perf_counter()
    reason = _graph_only(found)
    if reason:
        return Conversion(entry.sha256, False, reason=f"{entry.entry}: {reason}")
    try:
        result = converter(found)
    except MemoryError:
        result = Conversion(entry.sha256, False, reason=f"{entry.entry}: out of memory")
    except Exception as exc:  # noqa: BLE001 - untrusted input: report, never propagate
        last = traceback.extract_tb(exc.__traceback__)[-1]
        result = Conversion(
            entry.sha256, False,
            reason=f"{entry.entry}: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                   f" (at {last.name}:{last.lineno})",
        )
    return dataclasses.replace(result, seconds=time.perf_counter() - start)
