"""Running a suspect model on the zoo's probe pairs: one batch per probe set."""

from __future__ import annotations

from typing import Any

from modelhound.errors import ConversionError, ProfileError
from modelhound.records import FoundModel, ModelFormat


def suspect_ddvs(matcher: Any, found: FoundModel, conversion: Any) -> tuple[dict[str, tuple[float, ...]], str]:
    """The suspect's DDV on every probe set it fits, and a note when there are none."""
    if conversion is None:
        return {}, "behaviour not compared: conversion not attempted"
    if not conversion.runnable:
        return {}, "behaviour not compared: the model is not runnable"
    if len(conversion.inputs) != 1:
        return {}, f"behaviour not compared: {len(conversion.inputs)} inputs (ModelDiff needs one)"
    from modelhound.converters import load_runnable
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.profile import profile_runnable

    is_image = InputAdapter(conversion.inputs[0]).geometry is not None
    probes = matcher.probes_for(is_image)
    if not probes:
        return {}, "behaviour not compared: no probe set in the zoo fits this input"
    norm = None
    if found.entry.format is ModelFormat.TFLITE:
        from modelhound.fingerprint.inputs import tflite_input_normalization

        try:
            norms = tflite_input_normalization(found.data)
            norm = norms[0] if norms else None
        except (ProfileError, ValueError, IndexError):
            norm = None
    try:
        runnable = load_runnable(conversion, threads=2)
    except ConversionError as exc:
        return {}, f"behaviour not compared: {exc}"
    out: dict[str, tuple[float, ...]] = {}
    notes = []
    for probe_id in probes:
        try:
            prof = profile_runnable(runnable, matcher.zoo.pairs(probe_id), normalization=norm)
            out[probe_id] = prof.ddv
        except (ProfileError, ValueError, RuntimeError) as exc:
            notes.append(str(exc)[:120])
    return out, ("; ".join(notes[:2]) if not out else "")
