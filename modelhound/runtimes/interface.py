"""The runtimes stage's interface: a format's own runtime, run in a worker process.

A :class:`NativeRuntime` opens a model in the runtime its format was made for (ncnn, MNN,
PyTorch, Keras, onnxruntime's ORT format) and hands back a
:class:`~modelhound.converters.interface.Runnable`. Heavy imports happen inside
``open``, which only ever runs in a converters worker (time and memory limited; a crash
there is a row, not a dead scan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

from modelhound.converters.interface import Runnable


#: reasons of files holding a graph without trained weights start with this
GRAPH_ONLY = "graph-only"
#: reasons of files holding weights without a network to run start with this
WEIGHTS_ONLY = "weights-only"


@dataclass(frozen=True)
class NativeModel:
    """The bytes a native runtime needs: the model file and its companions."""

    data: bytes = field(repr=False)
    subformat: str
    companions: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    name: str = ""
    """Entry path, for messages."""


class NativeRuntime(Protocol):
    """One format's own runtime."""

    name: str
    """Runtime name reported in rows (ncnn, mnn, torch, keras, onnxruntime-ort)."""

    def graph_only(self, model: NativeModel) -> str:
        """Why the file holds no trained network ('' when it does); no runtime import.

        A reason starting with :data:`WEIGHTS_ONLY` means weights without a graph."""
        ...

    def open(self, model: NativeModel, threads: int = 1) -> Runnable:
        """The model loaded in its runtime; raises ConversionError when it refuses it."""
        ...

    def version(self) -> str:
        """The runtime's version (imports it: call in a worker only)."""
        ...
