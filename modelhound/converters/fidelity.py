"""Fidelity of a runnable form: seeded inputs and the relative error against a native run.

``rel_error`` is ``max |candidate - reference| / max |reference|`` over every output
element of a seeded batch (each output's error taken relative to that output's own
range, then the worst output kept), so one large-valued output cannot hide a wrong small
one.

Policy: a conversion within :data:`TOLERANCE` is used. One beyond it is never used
silently: the converters keep the measured error in ``Conversion.rel_error``, drop the
ONNX form and say why in ``Conversion.reason`` (a TFLite model then still runs natively
with LiteRT; other formats become ``runnable=False``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from modelhound.converters.runtimes import DYNAMIC_DIM
from modelhound.records import TensorSpec

#: The fidelity the project aims at; errors above it are explained in the reason.
GOAL = 1e-4
#: Largest accepted relative error of a float model's runnable form. The goal is 1e-4;
#: float32 re-association in deep nets (pose_landmark_full: ~1e-4) needs a margin.
TOLERANCE = 1e-3
#: Accepted error for a model with quantized outputs, in output quanta: integer
#: kernels of LiteRT and onnxruntime's float-emulated QDQ may round differently.
QUANTUM_TOLERANCE = 2.0
#: Seed of every fidelity check, so reruns measure the same inputs.
SEED = 0
#: Batch size of the fidelity check (2: exercises the batching of fixed-batch models).
BATCH = 2


def concrete_shape(spec: TensorSpec, batch: int) -> tuple[int, ...]:
    """The spec's shape with the batch set and other dynamic dimensions made concrete.

    A fixed first dimension other than 1 is not a batch and is kept. A float
    ``[batch, samples]`` input of free length is a waveform
    (:mod:`modelhound.fingerprint.binding`) and gets the fingerprint's audio window, not a
    length too short for a front end's frames.
    """
    if not spec.shape:
        return ()
    from modelhound.fingerprint.binding import AUDIO_WINDOW, is_free_waveform

    if is_free_waveform(spec):
        return (spec.shape[0] if spec.shape[0] > 1 else batch, AUDIO_WINDOW)
    if spec.shape[0] > 1:
        return tuple(DYNAMIC_DIM if d < 0 else d for d in spec.shape)
    rest = tuple(DYNAMIC_DIM if d < 0 else d for d in spec.shape[1:])
    return (batch, *rest)


def seeded_inputs(
    specs: Sequence[TensorSpec], *, batch: int = BATCH, seed: int = SEED
) -> list[np.ndarray]:
    """Random inputs for ``specs`` in their declared dtypes, reproducible from ``seed``.

    Floats are uniform in [0, 1) (image-like); quantized and other integer inputs cover
    the dtype's range (int32/int64: 0..9, as token or class ids); bools are coin flips.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        shape = concrete_shape(spec, batch)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            arrays.append(rng.random(shape, dtype=np.float32).astype(dtype))
        elif dtype.kind in "iu" and dtype.itemsize == 1:
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype))
        elif dtype.kind in "iu":
            arrays.append(rng.integers(0, 10, shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            raise ValueError(f"{spec.name}: cannot invent inputs of dtype {spec.dtype}")
    return arrays


def relative_error(candidate: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Worst per-output ``max |candidate - reference| / max |reference|``.

    Raises ValueError when the outputs differ in number or shape (that is not a small
    numerical error but a wrong conversion). An all-zero reference output counts by its
    absolute error.
    """
    if len(candidate) != len(reference):
        raise ValueError(f"{len(candidate)} outputs instead of {len(reference)}")
    worst = 0.0
    for i, (c, r) in enumerate(zip(candidate, reference)):
        c = np.asarray(c, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if c.shape != r.shape:
            if c.size == r.size:
                c = c.reshape(r.shape)
            else:
                raise ValueError(f"output {i}: shape {c.shape} instead of {r.shape}")
        if not np.all(np.isfinite(r)):
            finite = np.isfinite(r)
            if not np.array_equal(finite, np.isfinite(c)):
                return float("inf")
            c, r = c[finite], r[finite]
        if r.size == 0:
            continue
        scale = float(np.max(np.abs(r)))
        diff = float(np.max(np.abs(c - r)))
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def quantum_error(
    candidate: Sequence[np.ndarray], reference: Sequence[np.ndarray],
    outputs: Sequence[TensorSpec],
) -> float | None:
    """Worst error in output quanta, or None when some output is not quantized."""
    worst = 0.0
    for c, r, spec in zip(candidate, reference, outputs):
        q = spec.quantization
        if q is None or not q.scale or len(q.scale) != 1 or q.scale[0] <= 0:
            return None
        diff = np.max(np.abs(np.asarray(c, np.float64) - np.asarray(r, np.float64)), initial=0.0)
        worst = max(worst, float(diff) / q.scale[0])
    return worst


def within_tolerance(rel: float, quanta: float | None = None, tolerance: float = TOLERANCE) -> bool:
    """Whether a measured error is acceptable (see the module docstring)."""
    if quanta is not None and quanta <= QUANTUM_TOLERANCE:
        return True
    return bool(np.isfinite(rel)) and rel <= tolerance
