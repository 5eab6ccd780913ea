"""Running a suspect model on the zoo's probe pairs: one batch per probe set.

The suspect is untrusted: its inference runs in a converters worker process (time and
memory limited); the parent only chooses the probe sets and reads back the DDVs.
"""

from __future__ import annotations

from typing import Any

from modelhound.errors import ProfileError
from modelhound.records import FoundModel, ModelFormat


def normalization_of(found: FoundModel) -> Any:
    """TFLite metadata input normalisation, when the model declares it."""
    if found.entry.format is not ModelFormat.TFLITE:
        return None
    from modelhound.fingerprint.inputs import tflite_input_normalization

    try:
        norms = tflite_input_normalization(found.data)
    except (ProfileError, ValueError, IndexError):
        return None
    return norms[0] if norms else None


def ddvs_here(conversion: Any, probes: list[tuple[str, str]], normalization: Any) -> tuple[dict[str, tuple[float, ...]], list[str]]:
    """(probe id -> DDV, problems): run in a worker, never in the scanning process."""
    from modelhound.converters import load_runnable
    from modelhound.corpus.zoo import _load_pairs
    from modelhound.fingerprint.profile import profile_runnable

    runnable = load_runnable(conversion, threads=1)
    out: dict[str, tuple[float, ...]] = {}
    notes: list[str] = []
    for probe_id, path in probes:
        try:
            out[probe_id] = profile_runnable(runnable, _load_pairs(path), normalization=normalization).ddv
        except Exception as exc:  # noqa: BLE001 - the runtime's error on this input, reported
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            notes.append(f"{type(exc).__name__}: {first}")
    return out, notes


def suspect_ddvs(matcher: Any, found: FoundModel, conversion: Any,
                 pool: Any = None) -> tuple[dict[str, tuple[float, ...]], str]:
    """The suspect's DDV on every probe set it fits, and a note when there are none.

    ``pool`` is the ConverterPool whose worker runs the suspect; without one a pool is
    started for this call.
    """
    if conversion is None:
        return {}, "behaviour not compared: conversion not attempted"
    if not conversion.runnable:
        return {}, "behaviour not compared: the model is not runnable"
    if len(conversion.inputs) != 1:
        return {}, f"behaviour not compared: {len(conversion.inputs)} inputs (ModelDiff needs one)"
    from modelhound.converters import ConverterPool
    from modelhound.converters.pool import WorkerCallError
    from modelhound.fingerprint.inputs import InputAdapter

    is_image = InputAdapter(conversion.inputs[0]).geometry is not None
    probes = [(p, str(matcher.zoo.probe_file(p))) for p in matcher.probes_for(is_image)]
    if not probes:
        return {}, "behaviour not compared: no probe set in the zoo fits this input"
    target = "modelhound.corpus.suspect:ddvs_here"
    args = (conversion, probes, normalization_of(found))
    try:
        if pool is not None:
            ddvs, notes = pool.call(target, *args)
        else:
            with ConverterPool(1) as own:
                ddvs, notes = own.call(target, *args)
    except WorkerCallError as exc:
        return {}, f"behaviour not compared: running the model failed ({exc})"
    note = "" if ddvs else "behaviour not compared: " + ("; ".join(notes[:2]) or "no DDV")
    return ddvs, note
