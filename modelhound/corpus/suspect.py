"""Running a suspect model on the zoo's probe sets: its DDV and its behaviour outputs.

Per probe set the suspect runs on the pairs (x, x') for ModelDiff and on the CutMix images
of the seeds (:func:`modelhound.fingerprint.detector.probe_inputs`) for the behavioural
agreement; one set of forward passes serves every reference that shares the probe set.

The suspect is untrusted: its inference runs in a converters worker process (time and
memory limited); the parent only chooses the probe sets and reads back DDVs and outputs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable

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


#: probe inputs resized to a suspect's input size, kept per worker process:
#: (probe id, part, height, width, channels) -> canonical rows at that size, most recent last
_RESIZED: "OrderedDict[tuple[str, str, int, int, int], np.ndarray]" = OrderedDict()
#: bytes of resized probe inputs a worker keeps (a 224x224 probe set's 400 rows: 240 MB)
RESIZED_CACHE_BYTES = 768 << 20


def at_model_size(probe_id: str, part: str, rows: Callable[[], np.ndarray],
                  adapter: Any) -> np.ndarray:
    """Canonical image rows of one part of a probe set (``x``, ``x_adv``, ``rest``), resized
    and channel-matched to the adapter's input, as :meth:`InputAdapter.to_float` would:
    once per probe set and size in this process, not once per suspect. Fed to the adapter,
    the result maps to the same model inputs as the original rows (its own resize is then
    the identity). ``rows`` is called only on a miss; non-image inputs and inputs already
    at the model's size come back as they are."""
    from modelhound.fingerprint.inputs import _match_channels, resize_bilinear

    geo = adapter.geometry
    if geo is None:
        return rows()
    key = (probe_id, part, geo[1], geo[2], geo[3])
    hit = _RESIZED.get(key)
    if hit is not None:
        _RESIZED.move_to_end(key)
        return hit
    x = np.asarray(rows(), dtype=np.float32)
    if x.ndim != 4:
        return x
    h, w = (geo[1] if geo[1] > 0 else x.shape[1]), (geo[2] if geo[2] > 0 else x.shape[2])
    if (h, w) == x.shape[1:3] and geo[3] == x.shape[3]:
        return x
    out = _match_channels(resize_bilinear(x, h, w), geo[3])
    _RESIZED[key] = out
    while sum(a.nbytes for a in _RESIZED.values()) > RESIZED_CACHE_BYTES and len(_RESIZED) > 1:
        _RESIZED.popitem(last=False)
    return out


def ddvs_here(conversion: Any, probes: list[tuple[str, str]], normalization: Any,
              timed: bool = False) -> tuple[Any, ...]:
    """(probe id -> DDV, probe id -> behaviour outputs, probe id -> problem): run in a
    worker, never in the scanning process. ``timed`` adds a fourth item, seconds per stage
    (``load``, then ``<probe id>:inputs`` / ``:ddv`` / ``:agreement``) for bench/match."""
    import time

    from modelhound.converters import load_runnable
    from modelhound.corpus.zoo import _load_pairs
    from modelhound.fingerprint.binding import single_input
    from modelhound.fingerprint.detector import probe_inputs, sketch
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.modeldiff import compute_ddv
    from modelhound.fingerprint.profile import profile_outputs, run_canonical

    clock = time.perf_counter
    seconds: dict[str, float] = {}
    t = clock()
    runnable = single_input(load_runnable(conversion, threads=1))
    seconds["load"] = clock() - t
    ddvs: dict[str, tuple[float, ...]] = {}
    outputs: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    for probe_id, path in probes:
        try:
            t = clock()
            pairs = _load_pairs(path)
            adapter = InputAdapter(runnable.inputs[0], normalization)
            if pairs.is_image and adapter.is_image:  # resized once per size per worker
                sized = replace(pairs, x=at_model_size(probe_id, "x", lambda: pairs.x, adapter),
                                x_adv=at_model_size(probe_id, "x_adv", lambda: pairs.x_adv,
                                                    adapter))
            else:
                sized = pairs
            seconds[f"{probe_id}:inputs"] = clock() - t
            t = clock()
            out, out_adv, _ = profile_outputs(runnable, sized, normalization)
            ddvs[probe_id] = tuple(float(v) for v in compute_ddv(out, out_adv))
            seconds[f"{probe_id}:ddv"] = clock() - t
        except Exception as exc:  # noqa: BLE001 - the runtime's error on this input, reported
            notes[probe_id] = _first_line(exc)
            continue
        try:  # a failure on the CutMix rows keeps the DDV
            t = clock()
            # the behaviour rows begin with x and x' in batches of n, exactly as the DDV
            # ran them: their first output is taken from that run, not computed again
            seen = [np.asarray(o[0], dtype=np.float32).reshape(len(x), -1)
                    for o, x in ((out, pairs.x), (out_adv, pairs.x_adv))]
            done = sum(len(r) for r in seen)
            more = at_model_size(probe_id, "rest",
                                 lambda: probe_inputs(pairs.x, pairs.x_adv)[done:], adapter) \
                if pairs.is_image and adapter.is_image else \
                probe_inputs(pairs.x, pairs.x_adv)[done:]
            rest = ([run_canonical(runnable, more, normalization, batch=pairs.n)]
                    if len(more) else [])
            outputs[probe_id] = sketch(np.concatenate(seen + rest))
            seconds[f"{probe_id}:agreement"] = clock() - t
        except Exception as exc:  # noqa: BLE001
            notes[probe_id] = _first_line(exc)
    if timed:
        return ddvs, outputs, notes, seconds
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
    from modelhound.fingerprint.domain import model_domain

    found_domain = model_domain(tuple(conversion.inputs))  # multi-input: its data input
    if found_domain is None:
        return SuspectRun(note=f"behaviour not compared: none of its {len(conversion.inputs)} "
                               "inputs carries data")
    domain = found_domain[0]
    probes = [(p, str(matcher.zoo.probe_file(p))) for p in matcher.probes_for(domain)]
    norm = normalization_of(found)
    owner = _owner_outputs(matcher, conversion, norm, pool)
    if not probes:
        return SuspectRun(outputs=owner,
                          note=f"behaviour not compared: no {domain} probe set in the zoo")
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
