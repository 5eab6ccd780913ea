"""onnxruntime's own ORT format (``.ort``): onnxruntime opens it from bytes."""

from __future__ import annotations

from modelhound.converters.runtimes import OnnxRunnable
from modelhound.runtimes.interface import NativeModel

name = "onnxruntime-ort"


def graph_only(model: NativeModel) -> str:
    """ORT files always hold their initializers."""
    return ""


def version() -> str:
    """onnxruntime's version."""
    import onnxruntime

    return str(onnxruntime.__version__)


def open(model: NativeModel, threads: int = 1) -> OnnxRunnable:  # noqa: A001 - interface verb
    """The ORT flatbuffer in onnxruntime (saved runtime optimisations are not replayed:
    onnxruntime advises that only for trusted models)."""
    runner = OnnxRunnable(model.data, threads=threads)
    runner.runtime = name  # type: ignore[misc]
    return runner
