"""Fidelity of a model that runs only in its own runtime (ncnn, MNN...), against a second path.

A TFLite, GraphDef or Caffe model is checked against its ONNX form. An ncnn or MNN model has
no ONNX form, but an app often ships the network it was converted from as well (an ONNX,
TFLite or PyTorch file with the same weights). That original is the second path: both run
on the same seeded inputs, laid out for each (NHWC / NCHW), and the worst relative error of
their outputs is the model's fidelity error, reported as for TFLite.

:func:`originals` picks the candidates in the scan process, by weights (identical,
near-identical or half-precision copies only: another network is not a second path);
:func:`check_here` runs in a converters worker.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from modelhound.records import FoundModel, ModelFormat, TensorSpec

#: formats whose conversion has no reference to be checked against: their own runtime is
#: the only path (ncnn, MNN, TorchScript, ORT, Keras, tfjs layers), or paddle2onnx's ONNX
CHECKED = frozenset({ModelFormat.NCNN, ModelFormat.MNN, ModelFormat.PYTORCH, ModelFormat.ORT,
                     ModelFormat.KERAS_H5, ModelFormat.TFJS, ModelFormat.PADDLE})
#: weight kinds that make another model of the app the same network
SAME_NETWORK = ("identical-weights", "near-identical", "half-precision")
#: at most this many models of an app are compared by weights per checked model
MAX_CANDIDATES = 4
#: axis orders tried to lay one model's input out for another (identity first)
_LAYOUTS = ((0, 1, 2, 3), (0, 3, 1, 2), (0, 2, 3, 1))


def originals(found: FoundModel, others: Sequence[FoundModel]) -> list[tuple[FoundModel, str]]:
    """(model, weight kind) of the app's other models, of a runnable format other than
    ``found``'s, that hold the same network by weights: formats with a checked path of
    their own first (ONNX, TFLite...), then closest parameter count."""
    from modelhound.errors import ExtractError
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.weights import compare_weights

    def params(f: FoundModel) -> int:
        return (f.entry.info.param_count or 0) if f.entry.info else 0

    pool = [o for o in others if o.entry.format.runnable
            and o.entry.format is not found.entry.format and o.entry.sha256 != found.entry.sha256]
    pool.sort(key=lambda o: (o.entry.format in CHECKED, abs(params(o) - params(found)),
                             o.entry.entry))
    try:
        mine = read_tensors(found.entry.format, found.entry.subformat, found.data, found.companions)
    except ExtractError:
        return []
    out = []
    for other in pool[:MAX_CANDIDATES]:
        try:
            theirs = read_tensors(other.entry.format, other.entry.subformat, other.data,
                                  other.companions)
        except ExtractError:
            continue
        kind = compare_weights(mine, theirs).kind if mine and theirs else "none"
        if kind in SAME_NETWORK:
            out.append((other, kind))
    return out


def _layout(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """``x`` (the original's input) laid out for ``spec``: same shape, an axis order that
    gives its shape (free dimensions match anything, the batch axis stays), or a plain
    reshape of equal size."""
    want = spec.shape

    def fits(shape: tuple[int, ...]) -> bool:  # axis 0 is the batch, free in every Runnable
        return len(shape) == len(want) and all(w < 0 or w == s for s, w in zip(shape[1:], want[1:]))

    if fits(x.shape):
        return x
    if x.ndim == 4:
        for order in _LAYOUTS[1:]:
            if fits(tuple(x.shape[i] for i in order)):
                return np.ascontiguousarray(x.transpose(order))
    if all(d > 0 for d in want[1:]) and int(np.prod(want[1:])) * x.shape[0] == x.size:
        return x.reshape((x.shape[0], *want[1:]))
    raise ValueError(f"input {spec.name} {spec.shape} has no layout of {x.shape}")


def _output_error(got: np.ndarray, want: np.ndarray) -> float:
    """Relative error of one output, in the layout that fits best (equal element counts:
    as stored, or a 4-D output in the other channel order)."""
    from modelhound.converters.fidelity import relative_error

    if got.size != want.size:
        return float("inf")
    tries = [want]
    if want.ndim == 4:
        tries += [want.transpose(o) for o in _LAYOUTS[1:]]
    return min(relative_error([got.reshape(-1)], [t.reshape(-1)]) for t in tries)


def compare(candidate, original, batch: int = 2) -> float:  # type: ignore[no-untyped-def]
    """Worst relative error of ``candidate``'s outputs against ``original``'s (Runnables)
    on the same seeded inputs; each original output is paired with the candidate output
    of its size that agrees best."""
    from modelhound.converters.fidelity import seeded_inputs

    xs = seeded_inputs(original.inputs, batch=batch)
    if len(candidate.inputs) != len(xs):
        raise ValueError(f"{len(candidate.inputs)} inputs against {len(xs)}")
    feed = []
    for x, spec in zip(xs, candidate.inputs):
        y = _layout(x, spec)
        feed.append(y.astype(spec.dtype) if np.dtype(spec.dtype).kind == "f" else y)
    got = [np.asarray(g, np.float32) for g in candidate.run(feed)]
    want = [np.asarray(w, np.float32) for w in original.run(xs)]
    worst = 0.0
    for w in want:
        errors = [_output_error(g, w) for g in got]
        worst = max(worst, min(errors, default=float("inf")))
    return worst


def check_here(found: FoundModel, original: FoundModel) -> float:
    """In a worker: ``found`` in its runtime against ``original`` in its own (TFLite in
    LiteRT, the others through their converter)."""
    from modelhound.converters import load_runnable
    from modelhound.converters.registry import convert_here
    from modelhound.converters.tflite import native_here
    from modelhound.errors import ConversionError

    mine = convert_here(found)
    theirs = native_here(original) if original.entry.format is ModelFormat.TFLITE \
        else convert_here(original)
    for c, f in ((mine, found), (theirs, original)):
        if not c.runnable:  # the reason names the entry
            raise ConversionError(c.reason if f.entry.entry in c.reason
                                  else f"{f.entry.entry}: {c.reason}")
    return compare(load_runnable(mine, native=True), load_runnable(theirs, native=True))


__all__ = ["CHECKED", "SAME_NETWORK", "check_here", "compare", "originals"]
