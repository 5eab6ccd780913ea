"""The converters stage: every extracted TFLite, ONNX, Caffe and TF model, runnable and checked.

Entry points:

* :func:`convert` - one model, in a fresh worker process (time and memory limited).
* :class:`ConverterPool` - the same for many models, reusing workers (use this in scans).
* :func:`load_runnable` - the :class:`Runnable` of a successful :class:`Conversion`,
  in this process (onnxruntime for the ONNX form, LiteRT for ``runtime == "litert"``).

Nothing heavy is imported here; runtimes load inside the functions that need them.
"""

from __future__ import annotations

from modelhound.converters.interface import Conversion, Runnable
from modelhound.converters.pool import MEMORY_MB, TIMEOUT_S, ConverterPool
from modelhound.errors import ConversionError
from modelhound.records import FoundModel

__all__ = [
    "Conversion",
    "ConversionError",
    "ConverterPool",
    "Runnable",
    "convert",
    "load_runnable",
]


def convert(found: FoundModel, *, timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB) -> Conversion:
    """Bring one extracted model to its runnable form in an isolated worker process.

    Never raises for a bad model: crashes, hangs and unsupported models come back as
    ``Conversion(runnable=False, reason=...)``. Starting a worker costs the runtime
    imports (seconds); convert many models through one :class:`ConverterPool` instead.
    """
    with ConverterPool(1, timeout_s=timeout_s, memory_mb=memory_mb) as pool:
        return pool.convert(found)


def load_runnable(conversion: Conversion, *, native: bool = False, threads: int = 1) -> Runnable:
    """The runnable form of a successful conversion, loaded in this process.

    Args:
        conversion: a Conversion with ``runnable`` True.
        native: run a TFLite model with LiteRT even when a faithful ONNX form exists.
        threads: intra-op threads of the runtime.

    Raises:
        ConversionError: the conversion is not runnable or the runtime refuses it.
    """
    from modelhound.converters.runtimes import LiteRTRunnable, OnnxRunnable

    if not conversion.runnable:
        raise ConversionError(f"{conversion.model_sha256[:12]}: not runnable: {conversion.reason}")
    from modelhound.runtimes import BY_NAME, NativeModel

    if conversion.runtime in BY_NAME and conversion.onnx is None:
        if conversion.native is None:
            raise ConversionError(f"{conversion.model_sha256[:12]}: no model bytes for "
                                  f"{conversion.runtime}")
        return BY_NAME[conversion.runtime].open(NativeModel(
            conversion.native, conversion.native_subformat, dict(conversion.native_companions),
            conversion.model_sha256[:12]), threads)
    if conversion.runtime == LiteRTRunnable.runtime or (native and conversion.native is not None):
        if conversion.native is None:
            raise ConversionError(f"{conversion.model_sha256[:12]}: no model bytes for LiteRT")
        return LiteRTRunnable(conversion.native, threads=threads)
    if conversion.onnx is None:
        raise ConversionError(f"{conversion.model_sha256[:12]}: no ONNX form")
    return OnnxRunnable(
        conversion.onnx, threads=threads, outputs=conversion.outputs, inputs=conversion.inputs
    )
