"""The explicit mapping ModelFormat -> converter, and the in-process conversion it drives.

:func:`convert_here` runs in whatever process calls it (the pool's workers call it); it
never raises for a bad model: every failure becomes a ``Conversion(runnable=False)``.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Callable, Mapping

from modelhound.converters import caffe, onnx_model, paddle, savedmodel, tf_graphdef, tflite
from modelhound.converters.interface import Conversion
from modelhound.runtimes import convert as native
from modelhound.runtimes import tfjs_graph
from modelhound.records import FoundModel, ModelFormat, RUNNABLE_FORMATS

Converter = Callable[[FoundModel], Conversion]

#: One converter per runnable format (a test checks this covers RUNNABLE_FORMATS).
CONVERTERS: Mapping[ModelFormat, Converter] = {
    ModelFormat.TFLITE: tflite.convert,
    ModelFormat.ONNX: onnx_model.convert,
    ModelFormat.CAFFE: caffe.convert,
    ModelFormat.TF_GRAPHDEF: tf_graphdef.convert,
    ModelFormat.TF_SAVED_MODEL: savedmodel.convert,  # serving signature frozen, then as above
    ModelFormat.PADDLE: paddle.convert,  # paddle2onnx's C++ core, then as ONNX
    # formats that run in their own runtime (modelhound.runtimes.RUNTIMES)
    ModelFormat.NCNN: native.convert,
    ModelFormat.MNN: native.convert,
    ModelFormat.PYTORCH: native.convert,
    ModelFormat.ORT: native.convert,
    ModelFormat.KERAS_H5: native.convert,
    ModelFormat.TFJS: tfjs_graph.convert,  # layers models: Keras; graph models: TF + tf2onnx
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
        result = Conversion(entry.sha256, False, reason=f"{entry.entry}: {OUT_OF_MEMORY}"
                                                        f"{_memory_limit()}")
    except Exception as exc:  # noqa: BLE001 - untrusted input: report, never propagate
        last = traceback.extract_tb(exc.__traceback__)[-1]
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        result = Conversion(
            entry.sha256, False,
            reason=f"{entry.entry}: {type(exc).__name__}: {first} (at {last.name}:{last.lineno})",
        )
        if _native_out_of_memory(exc):
            result = dataclasses.replace(result, reason=f"{entry.entry}: {OUT_OF_MEMORY}"
                                                        f"{_memory_limit()} ({first[:200]})")
    reason = result.reason or ""
    if not result.runnable and OUT_OF_MEMORY not in reason and _says_out_of_memory(reason):
        # a converter that caught the runtime's allocation failure and reported it as its own
        detail = reason[len(entry.entry) + 2:] if reason.startswith(f"{entry.entry}: ") else reason
        result = dataclasses.replace(result, reason=f"{entry.entry}: {OUT_OF_MEMORY}"
                                                    f"{_memory_limit()} ({detail[:200]})")
    return dataclasses.replace(result, seconds=time.perf_counter() - start)


#: how a conversion that ran out of memory is reported (the worker restarts after one)
OUT_OF_MEMORY = "out of memory"


def _native_out_of_memory(exc: BaseException) -> bool:
    """A runtime's own allocation failure (C++ bad_alloc, ORT's allocator, TF's), anywhere
    in the exception's chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if _says_out_of_memory(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _says_out_of_memory(text: str) -> bool:
    text = text.lower()
    return any(m in text for m in ("bad_alloc", "failed to allocate", "alloc failed",
                                   "out of memory"))


def _memory_limit() -> str:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return "" if soft == resource.RLIM_INFINITY else f" (worker memory limit {soft >> 20} MiB)"
