"""Check an ONNX form against the native runtime and turn the outcome into a Conversion."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from modelhound.converters import fidelity
from modelhound.converters.interface import Conversion, Runnable
from modelhound.converters.runtimes import OnnxRunnable
from modelhound.errors import ConversionError
from modelhound.records import FoundModel, TensorSpec

#: Op types an onnxruntime CPU build accepts only in these domains (others: custom).
_STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}


def foreign_ops(onnx_bytes: bytes) -> list[str]:
    """Op types outside the standard ONNX domains or left as ``TFL_*`` by tf2onnx, sorted."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    ops = set()
    graphs = [model.graph]
    while graphs:
        g = graphs.pop()
        for node in g.node:
            if node.domain not in _STANDARD_DOMAINS or node.op_type.startswith("TFL_"):
                ops.add(node.op_type.removeprefix("TFL_"))
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.HasField("g") else list(attr.graphs))
    return sorted(ops)


def _align(
    onnx_run: OnnxRunnable, native: Runnable
) -> tuple[list[int], list[int]]:
    """Index maps: native input i -> onnx input, native output j -> onnx output.

    Names are matched when both sides use the same ones, else the declared order.
    """
    def mapping(ours: Sequence[TensorSpec], theirs: Sequence[TensorSpec], what: str) -> list[int]:
        if len(ours) != len(theirs):
            raise ConversionError(f"ONNX form has {len(ours)} {what}s, native has {len(theirs)}")
        names = [s.name for s in ours]
        if sorted(names) == sorted(s.name for s in theirs):
            return [names.index(s.name) for s in theirs]
        return list(range(len(theirs)))

    return (
        mapping(onnx_run.inputs, native.inputs, "input"),
        mapping(onnx_run.outputs, native.outputs, "output"),
    )


def measure(
    onnx_run: OnnxRunnable, native: Runnable, ignore: frozenset[str] = frozenset()
) -> tuple[float, float | None]:
    """(relative error, error in output quanta or None) of ONNX vs native on seeded inputs.

    Native outputs named in ``ignore`` are left out (their logits are compared instead).
    """
    in_map, out_map = _align(onnx_run, native)
    sample = fidelity.seeded_inputs(native.inputs)
    reference = native.run(sample)
    ours_in = [None] * len(sample)
    for i, k in enumerate(in_map):
        ours_in[k] = sample[i].astype(onnx_run.inputs[k].dtype, copy=False)
    got = onnx_run.run(ours_in)  # type: ignore[arg-type]
    got = [got[k] for k in out_map]
    keep = [j for j, spec in enumerate(native.outputs) if spec.name not in ignore]
    got, reference = [got[j] for j in keep], [reference[j] for j in keep]
    specs = [native.outputs[j] for j in keep]
    try:
        rel = fidelity.relative_error(got, reference)
    except ValueError as exc:
        raise ConversionError(f"ONNX form disagrees with the native runtime: {exc}") from exc
    return rel, fidelity.quantum_error(got, reference, specs)


def verified(
    found: FoundModel, onnx_bytes: bytes, native: Runnable | None, *, converter: str,
    notes: Sequence[str] = (), specs: tuple[Sequence[TensorSpec], Sequence[TensorSpec]] | None = None,
    ignore: frozenset[str] = frozenset(), tolerance: float = fidelity.TOLERANCE,
) -> Conversion:
    """A Conversion for ``onnx_bytes`` after checking it against ``native`` (when given).

    Beyond tolerance the ONNX form is dropped (``onnx=None``, ``runnable=False``) and the
    reason says so; callers with a native fallback (LiteRT) override that.
    """
    sha = found.entry.sha256
    bad = foreign_ops(onnx_bytes)
    if bad:
        return Conversion(
            sha, False, converter=converter, unsupported_ops=tuple(bad),
            reason=f"{found.entry.entry}: no ONNX equivalent for ops {', '.join(bad)}",
        )
    out_specs = specs[1] if specs else (native.outputs if native else None)
    onnx_run = OnnxRunnable(onnx_bytes, outputs=out_specs)
    inputs = tuple(specs[0]) if specs else (tuple(native.inputs) if native else onnx_run.inputs)
    outputs = tuple(out_specs) if out_specs else onnx_run.outputs
    if native is None:
        sample = fidelity.seeded_inputs(onnx_run.inputs)
        results = onnx_run.run(sample)
        if not all(np.all(np.isfinite(r)) for r in results):
            notes = [*notes, "non-finite outputs on seeded inputs"]
        return Conversion(
            sha, True, runtime=OnnxRunnable.runtime, converter=converter, onnx=onnx_bytes,
            inputs=inputs, outputs=outputs, reason="; ".join(notes),
        )
    rel, quanta = measure(onnx_run, native, ignore)
    if not fidelity.within_tolerance(rel, quanta, tolerance):
        detail = f"relative error {rel:.3g}" + (f" ({quanta:.3g} quanta)" if quanta else "")
        return Conversion(
            sha, False, converter=converter, inputs=inputs, outputs=outputs, rel_error=rel,
            reason="; ".join([*notes, f"{found.entry.entry}: ONNX form beyond tolerance "
                              f"({detail} > {tolerance:g} vs {native.runtime}); not used"]),
        )
    if quanta is not None and rel > tolerance:
        notes = [*notes, f"within {quanta:.3g} output quanta of {native.runtime}"]
    return Conversion(
        sha, True, runtime=OnnxRunnable.runtime, converter=converter, onnx=onnx_bytes,
        inputs=inputs, outputs=outputs, rel_error=rel, reason="; ".join(notes),
    )
