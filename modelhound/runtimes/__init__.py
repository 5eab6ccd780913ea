"""Native runtimes: every recognised format runs in the runtime it was made for.

:data:`RUNTIMES` is the explicit registry (format -> runtime module); adding a runtime is
one module with ``name``, ``graph_only``, ``open`` and ``version`` (see
:class:`~modelhound.runtimes.interface.NativeRuntime`) and one line here. Nothing heavy is
imported by this package: each runtime imports its library inside ``open``, which only
runs in a converters worker process.
"""

from __future__ import annotations

from typing import Mapping

from modelhound.records import ModelFormat
from modelhound.runtimes import keras, mnn, ncnn, ort, tfjs, torchscript
from modelhound.runtimes.interface import GRAPH_ONLY, WEIGHTS_ONLY, NativeModel, NativeRuntime

RUNTIMES: Mapping[ModelFormat, NativeRuntime] = {
    ModelFormat.NCNN: ncnn,  # type: ignore[dict-item]
    ModelFormat.MNN: mnn,  # type: ignore[dict-item]
    ModelFormat.PYTORCH: torchscript,  # type: ignore[dict-item]
    ModelFormat.ORT: ort,  # type: ignore[dict-item]
    ModelFormat.KERAS_H5: keras,  # type: ignore[dict-item]
    ModelFormat.TFJS: tfjs,  # type: ignore[dict-item]
}

BY_NAME: Mapping[str, NativeRuntime] = {rt.name: rt for rt in RUNTIMES.values()}

__all__ = ["BY_NAME", "GRAPH_ONLY", "RUNTIMES", "WEIGHTS_ONLY", "NativeModel", "NativeRuntime"]
