"""Running a suspect model on the zoo's probe sets: its DDV and its behaviour outputs.

Per probe set the suspect runs on the pairs (x, x') for ModelDiff and on the CutMix images
of the seeds (:func:`modelhound.fingerprint.detector.probe_inputs`) for the behavioural
agreement; one set of forward passes serves every reference that shares the probe set.

The suspect is untrusted: its inference runs in a converters worker process (time and
memory limited); the parent only chooses the probe sets and reads back DDVs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class SuspectRun:
    """What a suspect computed on the zoo's probe sets."""

    ddvs: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """probe id -> the suspect's DDV on that probe set's pairs."""
    outputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """probe id -> the suspect's outputs on that probe set's behaviour inputs."""
    note: str = ""
    """Why behaviour could not be compared (empty when it was)."""


def ddvs_here(conversion: Any, probes: list[tuple[str, str]], normalization: Any
              ) -> tuple[dict[str, tuple[float, ...]], dict[str, np.ndarray], dict[str, str]]:
    """(probe id -> DDV, probe id -> behaviour outputs, probe id -> problem): run in a
    worker, never in the scanning process."""
    from modelhound.converters import load_runnable
    from modelhound.corpus.zoo import _load_pairs
    from modelhound.fingerprint.detector import probe_inputs, sketch
    from modelhound.fingerprint.profile import profile_runnable, run_canonical

    from modelhound.fingerprint.binding import single_input

    runnable = single_input(load_runnable(conversion, threads=1))
    ddvs: dict[str, tuple[float, ...]] = {}
    outputs: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    for probe_id, path in probes:
        try:
            pairs = _load_pairs(path)
            ddvs[probe_id] = profile_runnable(runnable, pairs, normalization=normalization).ddv
        except Exception as exc:  # noqa: BLE001 - the runtime's error on this input, reported
            notes[probe_id] = _first_line(exc)
            continue
        try:  # a failure on the CutMix rows keeps the DDV
            outputs[probe_id] = sketch(run_canonical(runnable, probe_inputs(pairs.x, pairs.x_adv),
                                                     normalization, batch=pairs.n))
        except Exception as exc:  # noqa: BLE001
            notes[probe_id] = _first_line(exc)
    return ddvs, outputs, notes


def _first_line(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"


def run_suspect(matcher: Any, found: FoundModel, conversion: Any, pool: Any = None,
                cache: Any = None) -> SuspectRun:
    """The suspect's DDV and behaviour outputs on every probe set it fits (with a note when
    there are none).

    ``pool`` is the ConverterPool whose worker runs the suspect; without one a pool is
    started for this call (or a callable giving one, called only when something must
    run). ``cache`` (a :class:`modelhound.cache.ResultCache`) holds earlier runs per probe
    set: only the probe sets it lacks are run, and their results are added to it.
    """
    if conversion is None:
        return SuspectRun(note="behaviour not compared: conversion not attempted")
    if not conversion.runnable:
        return SuspectRun(note="behaviour not compared: the model is not runnable")
    from modelhound.converters import ConverterPool
    from modelhound.converters.pool import WorkerCallError
    from modelhound.fingerprint.binding import bind
    from modelhound.fingerprint.inputs import InputAdapter

    data_spec = conversion.inputs[0] if len(conversion.inputs) == 1 else None
    if data_spec is None:  # multi-input: through its data input, the others held
        binding = bind(conversion.inputs)
        if binding is None:
            return SuspectRun(note=f"behaviour not compared: none of its {len(conversion.inputs)} "
                                   "inputs carries data")
        data_spec = binding.data_spec
    is_image = InputAdapter(data_spec).geometry is not None
    probes = [(p, str(matcher.zoo.probe_file(p))) for p in matcher.probes_for(is_image)]
    norm = normalization_of(found)
    owner = _owner_outputs(matcher, conversion, norm, pool)
    if not probes:
        return SuspectRun(outputs=owner, note="behaviour not compared: no probe set in the zoo fits this input")
    ddvs: dict[str, tuple[float, ...]] = {}
    outputs: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    todo = []
    for probe_id, path in probes:
        hit = cache.probe_run(found, probe_id, norm) if cache is not None else None
        if hit is None:
            todo.append((probe_id, path))
            continue
        ddv, out, problem = hit
        if ddv is not None:
            ddvs[probe_id] = ddv
        if out is not None:
            outputs[probe_id] = out
        if problem:
            notes[probe_id] = problem
    if todo:
        target = "modelhound.corpus.suspect:ddvs_here"
        args = (conversion, todo, norm)
        try:
            if pool is not None:
                got = (pool() if callable(pool) else pool).call(target, *args)
            else:
                with ConverterPool(1) as own:
                    got = own.call(target, *args)
        except WorkerCallError as exc:
            return SuspectRun(note=f"behaviour not compared: running the model failed ({exc})")
        new_ddvs, new_outputs, new_notes = got
        ddvs.update(new_ddvs)
        outputs.update(new_outputs)
        notes.update(new_notes)
        if cache is not None:
            for probe_id, _ in todo:
                cache.store_probe_run(found, probe_id, norm, new_ddvs.get(probe_id),
                                      new_outputs.get(probe_id), new_notes.get(probe_id, ""))
    order = [p for p, _ in probes]
    ddvs = {p: ddvs[p] for p in order if p in ddvs}
    outputs = {p: outputs[p] for p in order if p in outputs}
    problems = [notes[p] for p in order if p in notes]
    note = "" if ddvs else "behaviour not compared: " + ("; ".join(problems[:2]) or "no DDV")
    return SuspectRun(ddvs, {**outputs, **owner}, note)


def _owner_outputs(matcher: Any, conversion: Any, norm: Any, pool: Any) -> dict[str, np.ndarray]:
    """The suspect's outputs on the owner-evidence probes of the references that have them
    (``owner:<reference>`` keys; {} when none, or when the run fails)."""
    owner = tuple((r.name, str(matcher.zoo.path)) for r in matcher.refs if r.owner_evidence)
    if not owner:
        return {}
    from modelhound.converters import ConverterPool
    from modelhound.converters.pool import WorkerCallError

    target = "modelhound.corpus.owner:owner_outputs_here"
    try:
        if pool is not None:
            return (pool() if callable(pool) else pool).call(target, conversion, owner, norm)
        with ConverterPool(1) as own:
            return own.call(target, conversion, owner, norm)
    except WorkerCallError:
        return {}
