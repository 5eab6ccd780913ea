"""The converters stage's interface: one runnable form for every later stage.

A :class:`Runnable` is what the fingerprint stage executes. A :class:`Conversion` is the
record of how an extracted model was (or was not) brought to that form, and how faithful
the runnable form is to the original runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from modelhound.records import TensorSpec


@runtime_checkable
class Runnable(Protocol):
    """A model that can be executed on batches of numpy arrays.

    ``run`` takes one array per input, in ``inputs`` order, each with the dtype the spec
    declares (the caller quantizes float data with ``spec.quantization``) and any batch
    size on axis 0, even when the model itself is fixed to batch 1. It returns one float32
    array per output, dequantized, with the same batch size on axis 0.
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    runtime: str

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Execute the model on a batch."""
        ...


@dataclass(frozen=True)
class Conversion:
    """Outcome of bringing one extracted model to its runnable form."""

    model_sha256: str
    runnable: bool
    runtime: str = ""
    """Runtime that executes the runnable form (onnxruntime, litert)."""
    converter: str = ""
    """What produced the runnable form (tf2onnx 1.17.0, modelhound-caffe, as-is)."""
    onnx: bytes | None = field(default=None, repr=False)
    """The ONNX form, when there is one."""
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    rel_error: float | None = None
    """max |onnx - native| / max |native| over seeded inputs, when a native runner exists."""
    reason: str = ""
    """Why not runnable, or what was repaired / worked around."""
    unsupported_ops: tuple[str, ...] = ()
    native: bytes | None = field(default=None, repr=False)
    """The original model for its native runtime (TFLite: LiteRT), when that runtime can
    run it. ``runtime == "litert"`` means only this form is usable (no faithful ONNX)."""
    seconds: float | None = None
    """Wall time of conversion plus fidelity check, in the worker."""
    native_companions: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    """Files the native form needs beside ``native`` (ncnn weight blob, tfjs shards)."""
    native_subformat: str = ""
    """The extractor's subformat of ``native`` (for runtimes that read several)."""
