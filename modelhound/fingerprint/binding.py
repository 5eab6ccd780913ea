"""Multi-input and stateful models seen through one data input, so ModelDiff applies.

Documented rule (applied to the declared inputs, without running anything):

1. **State inputs** are recurrent state or caches: named ``state``, ``h``/``c``/``h0``/``c0``,
   ``hidden``, ``cell``, ``memory``, ``cache`` or ``past*``. They are held at **zero** (the
   state a stream starts from).
2. **Control inputs** are held at documented values: a scalar or one-element integer input
   named ``sr`` / ``sample_rate`` at the **declared sample rate** (16000 Hz when the file
   declares none: the rate every fixture audio model uses); ``attention_mask`` / ``mask``
   at **ones** (full length); ``token_type_ids`` / ``segment_ids`` at zeros;
   ``position_ids`` at ``0..L-1``; any other integer input at zero.
3. The **data input** is what remains: the one the model's metadata names when known,
   else the largest (most elements) non-state, non-control input; ties go to the first.
4. A free length of the data input is fixed: the probe set's own size for images (as for
   every model), and :data:`AUDIO_WINDOW` samples for a float ``[batch, samples]`` input
   (one 32 ms window at 16 kHz plus the 64-sample context silero-vad prepends): a float
   input whose length is free is read as a waveform, whether or not the model has a
   sample-rate or a recurrent-state input beside it (openwakeword's melspectrogram has
   neither); an integer one gets :data:`SEQUENCE` tokens.

A recurrent model is run one window per call from the zero state, sample by sample (the
state's batch axis is not always the first), so every pair is scored from the same state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from modelhound.records import TensorSpec

DEFAULT_SAMPLE_RATE = 16000
AUDIO_WINDOW = 576
SEQUENCE = 16
_STATE = re.compile(r"(^|[_./:])(state|states|h|c|h0|c0|hn|cn|hidden|cell|memory|cache)"
                    r"([_./:]|\d|$)|^past", re.I)
_RATE = re.compile(r"^(sr|sample_?rate|sampling_?rate)$", re.I)
_MASK = re.compile(r"(attention_?mask|^mask$|input_mask)", re.I)
_ZERO_IDS = re.compile(r"(token_?type_?ids|segment_?ids)", re.I)
_POSITIONS = re.compile(r"position_?ids", re.I)


@dataclass(frozen=True)
class Binding:
    """Which input carries the data, and the value every other input is held at."""

    data: int
    """Index of the data input."""
    data_spec: TensorSpec
    """The data input with its free length fixed (batch stays free)."""
    held: tuple[tuple[int, str], ...] = field(default=())
    """(input index, how it is held) for every other input."""

    def describe(self) -> str:
        """One line for reports: the data input and what the others are held at."""
        parts = [f"data input {self.data_spec.describe()}"]
        parts += [f"{how}" for _, how in self.held]
        return "; ".join(parts)


def _kind(spec: TensorSpec) -> str:
    name = spec.name.rsplit("/", 1)[-1]
    if _RATE.search(name) and np.dtype(spec.dtype).kind in "iu":
        return "rate"
    if _MASK.search(name):
        return "mask"
    if _ZERO_IDS.search(name):
        return "zero-ids"
    if _POSITIONS.search(name):
        return "positions"
    if _STATE.search(name):
        return "state"
    return "data"


def _size(spec: TensorSpec) -> int:
    return int(np.prod([d if d > 0 else SEQUENCE for d in spec.shape])) if spec.shape else 1


def _is_float(spec: TensorSpec) -> bool:
    return spec.dtype != "str" and np.dtype(spec.dtype).kind == "f"


def is_free_waveform(spec: TensorSpec) -> bool:
    """A float ``[batch, samples]`` input whose length is free: read as a waveform of
    :data:`AUDIO_WINDOW` samples (rule 4)."""
    return len(spec.shape) == 2 and spec.shape[1] < 0 and _is_float(spec)


def bind(inputs: Sequence[TensorSpec], data_name: str = "") -> Binding | None:
    """The binding of a model's inputs (None when there is no data input left)."""
    kinds = [_kind(s) for s in inputs]
    named = [i for i, s in enumerate(inputs) if data_name and s.name == data_name]
    candidates = named or [i for i, k in enumerate(kinds) if k == "data"]
    if not candidates:  # e.g. only ids + mask: integer inputs other than rate and mask
        candidates = [i for i, s in enumerate(inputs) if s.dtype != "str"
                      and np.dtype(s.dtype).kind in "iu" and kinds[i] not in ("rate", "mask")]
    if not candidates:
        return None
    data = max(candidates, key=lambda i: (_size(inputs[i]), -i))
    spec = inputs[data]
    # a float [batch, samples] input whose length is free takes a waveform of any length
    # (openwakeword's melspectrogram.onnx: "input" [batch_size, samples]); fixed-length
    # float vectors (tabular features, sensor windows) stay vectors
    audio = "rate" in kinds or ("state" in kinds and _is_float(spec)) or is_free_waveform(spec)
    if len(spec.shape) == 2 and spec.shape[1] < 0:
        spec = TensorSpec(spec.name, (spec.shape[0], AUDIO_WINDOW if audio else SEQUENCE),
                          spec.dtype, spec.quantization,
                          "audio" if audio and _is_float(spec) else spec.layout)
    if spec.shape and spec.shape[0] < 0:
        spec = TensorSpec(spec.name, (1, *spec.shape[1:]), spec.dtype, spec.quantization,
                          spec.layout)
    held = []
    for i, (s, k) in enumerate(zip(inputs, kinds)):
        if i == data:
            continue
        how = {"rate": f"{s.name} = {DEFAULT_SAMPLE_RATE} (sample rate)",
               "mask": f"{s.name} = ones (full length)",
               "zero-ids": f"{s.name} = zeros", "positions": f"{s.name} = 0..L-1",
               "state": f"{s.name} = zeros (initial state)"}.get(k, f"{s.name} = zeros")
        held.append((i, how))
    return Binding(data, spec, tuple(held))


def held_value(spec: TensorSpec, data: np.ndarray, batch: int = 1) -> np.ndarray:
    """The value an input other than the data input is held at, for the samples ``data``
    (batch axis included): the first free axis takes ``batch`` (1 when run sample by
    sample), a mask's or ids' free last axis the data's length, other free axes 1."""
    kind = _kind(spec)
    dtype = np.dtype(spec.dtype if spec.dtype != "str" else "float32")
    length = data.shape[1] if data.ndim >= 2 else 1
    free = [i for i, d in enumerate(spec.shape) if d <= 0]
    shape = tuple(d if d > 0 else (length if i == len(spec.shape) - 1 and kind in
                                   ("mask", "zero-ids", "positions")
                                   else batch if free and i == free[0] else 1)
                  for i, d in enumerate(spec.shape))
    if kind == "rate":
        return np.full(shape, DEFAULT_SAMPLE_RATE, dtype=dtype)
    if kind == "mask":
        return np.ones(shape, dtype=dtype)
    if kind == "positions":
        return np.broadcast_to(np.arange(shape[-1], dtype=dtype), shape).copy() if shape else \
            np.zeros((), dtype)
    return np.zeros(shape, dtype=dtype)


class BoundRunnable:
    """A multi-input runnable seen as a single-input one (see the module docstring)."""

    def __init__(self, runnable: object, binding: Binding) -> None:
        self._inner = runnable
        self.binding = binding
        self.inputs = (binding.data_spec,)
        self.outputs = tuple(getattr(runnable, "outputs"))
        self.runtime = str(getattr(runnable, "runtime", ""))
        self._batch_axes: tuple[tuple[int, tuple[int, ...]], ...] | None = None

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each sample with the other inputs held; outputs concatenated on the batch axis.

        The first call of 3 or more samples checks whether the model also takes them as one
        batch (held inputs batched along their first free axis, e.g. silero-vad's state
        ``[2, B, 128]``) with the same outputs as sample by sample, to 1e-5; if so,
        later calls run whole batches (equal to the per-sample outputs to 1e-5).
        """
        (x,) = inputs
        if self._batch_axes is None and len(x) >= 3:
            self._batch_axes = self._check_batched(x[:3]) or ()
        if self._batch_axes:
            try:
                return self._run_batched(x, self._batch_axes)
            except Exception:  # noqa: BLE001 - the runtime refused this batch: per sample
                self._batch_axes = ()
        return self._run_each(x)

    def _full(self, x: np.ndarray, batch: int) -> list[np.ndarray]:
        specs = getattr(self._inner, "inputs")
        return [x if i == self.binding.data else held_value(s, x, batch)
                for i, s in enumerate(specs)]

    def _run_each(self, x: np.ndarray) -> list[np.ndarray]:
        parts = [getattr(self._inner, "run")(self._full(x[b:b + 1], 1)) for b in range(len(x))]
        return [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]

    def _run_batched(self, x: np.ndarray, axes: tuple[tuple[int, tuple[int, ...]], ...]
                     ) -> list[np.ndarray]:
        outs = getattr(self._inner, "run")(self._full(x, len(x)))
        n = len(x)
        return [np.moveaxis(np.asarray(o), a, 0).reshape((n * part[0], *part[1:]))
                for o, (a, part) in zip(outs, axes)]

    def _check_batched(self, x: np.ndarray) -> tuple[tuple[int, tuple[int, ...]], ...] | None:
        """Per output (its batch axis, one sample's output shape) when batching is exact."""
        try:
            each = self._run_each(x)
            one = getattr(self._inner, "run")(self._full(x[:1], 1))
            batched = getattr(self._inner, "run")(self._full(x, len(x)))
        except Exception:  # noqa: BLE001 - no batched form
            return None
        axes = []
        for e, o, b in zip(each, one, batched):
            part, b = tuple(np.asarray(o).shape), np.asarray(b)
            cand = [a for a in range(b.ndim) if a < len(part) and part[a] == 1
                    and b.shape[a] == len(x)
                    and b.shape[:a] + b.shape[a + 1:] == part[:a] + part[a + 1:]]
            if len(cand) != 1:
                return None
            moved = np.moveaxis(b, cand[0], 0).reshape((len(x) * part[0], *part[1:]))
            if moved.shape != e.shape or not np.allclose(moved, e, rtol=1e-5, atol=1e-5):
                return None
            axes.append((cand[0], part))
        return tuple(axes)


def single_input(runnable: object) -> object:
    """The runnable itself when it has one input, else it bound through its data input.

    Raises ValueError when no input can carry data.
    """
    specs = tuple(getattr(runnable, "inputs"))
    if len(specs) == 1:
        return runnable
    binding = bind(specs)
    if binding is None:
        raise ValueError(f"no data input among {[s.describe() for s in specs]}")
    return BoundRunnable(runnable, binding)
