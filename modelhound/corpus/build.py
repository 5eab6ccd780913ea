"""Adding references to a zoo: store, convert, read weights, and profile with ModelDiff.

Profiling needs the model's runnable form and, for the white-box PGD generator, the
optional ``gradient`` extra (torch + onnx2torch). References with the same input share a
probe set (the pairs are generated on the first of them), so a scanned model runs one
batch per probe set rather than one per reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from modelhound.corpus.zoo import Reference, Zoo, now
from modelhound.errors import ConversionError, CorpusError, ExtractError, ProfileError
from modelhound.records import FoundModel, ModelFormat, Status


@dataclass(frozen=True)
class ProfileSettings:
    """How references are profiled (the defaults are ModelDiff's reference settings)."""

    n_pairs: int = 100
    pgd_steps: int = 50
    pgd_step_size: float = 0.01
    pgd_eps: float = 0.06
    seed: int = 0
    profile: bool = True
    """False: store and index references without behavioural profiles."""


def spec_key(spec: Any, domain: str = "") -> str:
    """Key of an input spec for sharing probe sets: image geometry, or the input domain
    (:mod:`modelhound.fingerprint.domain`) with the shape and dtype."""
    from modelhound.fingerprint.inputs import InputAdapter

    geo = InputAdapter(spec).geometry
    if geo is not None and domain in ("", "image"):
        _, h, w, c = geo
        return f"image:{h}x{w}x{c}"
    return f"{domain or 'vector'}:{'x'.join(str(d) for d in spec.shape[1:])}:{spec.dtype}"


def probe_spec(runnable: Any, single: Any, normalization: Any = None,
               file_name: str = "") -> tuple[str, Any, str]:
    """(input domain, data input spec with a free image size resolved, how it was resolved)
    of a model whose probe set is chosen: ``runnable`` as loaded, ``single`` its single-input
    view (:func:`modelhound.fingerprint.binding.single_input`). The domain and spec decide
    the probe set (:func:`spec_key`); planning and profiling both use this, so a reference
    is scheduled in the group of the probe set it is profiled on."""
    from modelhound.fingerprint.domain import model_domain

    found_domain = model_domain(tuple(runnable.inputs))
    domain, spec = found_domain if found_domain else ("vector", single.inputs[0])
    note = ""
    if domain == "image":  # a free height/width: its documented size, or the first that runs
        from modelhound.fingerprint.shapes import resolve_image_size

        spec, note = resolve_image_size(single, spec, normalization, file_name=file_name)
    return domain, spec, note


def _normalization(found: FoundModel) -> Any:
    from modelhound.corpus.suspect import normalization_of

    return normalization_of(found)


def add_reference(
    zoo: Zoo,
    found: FoundModel,
    *,
    pool: Any,
    name: str = "",
    source: str = "",
    license: str = "",
    task: str = "",
    seeds: Callable[[Any], Any] | None = None,
    settings: ProfileSettings = ProfileSettings(),
    owner_data: str | None = None,
    keep_owner_data: bool = False,
    owner_base: str | None = None,
    owner_queries: str | None = None,
) -> Reference:
    """Add one extracted model to the zoo and return its record.

    ``seeds`` maps the model's input spec to a SeedSet (domain images); by default the
    fingerprint stage's seeded fallback is used and the reference says so. ``owner_data``
    (a path, :mod:`modelhound.corpus.owner`) builds owner evidence; a failure to build it
    is recorded in ``profile_note`` and the reference is still added.
    """
    from modelhound.converters import load_runnable
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.weights import multiset_key

    e = found.entry
    if e.status is not Status.OK:
        raise ExtractError(f"{e.entry}: not a readable model ({e.status.value}: {e.reason})")
    ref_name = zoo.unique_name(name or e.entry.rsplit("!/", 1)[-1].rsplit("/", 1)[-1].rsplit(".", 1)[0])
    files = zoo.store_files(ref_name, found)
    try:
        tensors = read_tensors(e.format, e.subformat, found.data, found.companions)
    except ExtractError:
        tensors = []
    keys = [(multiset_key(t.values), int(t.values.size)) for t in tensors]
    info = e.info
    ref = Reference(
        name=ref_name, format=e.format.value, subformat=e.subformat, sha256=e.sha256,
        size=e.size, source=source, license=license, task=task,
        inputs=tuple(t.describe() for t in info.inputs) if info else (),
        outputs=tuple(t.describe() for t in info.outputs) if info else (),
        files=files, added=now(), params=info.param_count if info else None,
    )
    conv = pool.convert(found) if e.format.runnable else None
    if conv is None or not conv.runnable:
        reason = conv.reason if conv is not None else f"{e.format.value} models cannot be run yet"
        ref = replace(ref, runnable=False, not_runnable_reason=reason)
        zoo.insert(ref, keys)
        return ref
    ref = replace(ref, runnable=True, runtime=conv.runtime, conversion_rel_error=conv.rel_error)
    if conv.onnx is not None:
        ref = replace(ref, onnx_file=zoo.store_onnx(ref_name, conv.onnx))
    if settings.profile:
        ref = _profile(zoo, ref, found, conv, load_runnable(conv, threads=2), seeds, settings)
    if owner_data:
        ref = _owner(zoo, ref, found, conv, owner_data, keep_owner_data, owner_base, owner_queries)
    zoo.insert(ref, keys)
    return ref


def _owner(zoo: Zoo, ref: Reference, found: FoundModel, conv: Any, data: str, keep: bool,
           base: str | None = None, queries: str | None = None) -> Reference:
    from modelhound.converters import load_runnable
    from modelhound.corpus.owner import build_for_reference
    from modelhound.errors import ModelhoundError

    try:
        summary = build_for_reference(zoo, ref.name, load_runnable(conv, threads=2),
                                      _normalization(found), data, keep=keep, base=base, queries=queries,
                                      reference=conv.onnx)
    except ModelhoundError as exc:
        note = f"owner evidence not built: {exc}"
        return replace(ref, profile_note=f"{ref.profile_note}; {note}" if ref.profile_note else note)
    return replace(ref, owner_evidence=summary)


def _profile(zoo: Zoo, ref: Reference, found: FoundModel, conv: Any, runnable: Any,
             seeds: Callable[[Any], Any] | None, settings: ProfileSettings) -> Reference:
    from modelhound.corpus.domain_seeds import domain_seed_set
    from modelhound.fingerprint.binding import BoundRunnable, single_input
    from modelhound.fingerprint.domain import TOKENS
    from modelhound.fingerprint.generate import generate_pairs
    from modelhound.fingerprint.interface import PgdConfig
    from modelhound.fingerprint.profile import profile_and_probes
    from modelhound.fingerprint.seeds import default_seeds
    from modelhound.fingerprint.tokens import TokenSearchConfig, substitution_pairs

    whole = runnable
    try:
        runnable = single_input(runnable)  # multi-input: its data input, the others held
    except ValueError as exc:
        return replace(ref, profile_note=f"no behavioural profile: {exc}")
    bound = isinstance(runnable, BoundRunnable)
    norm = _normalization(found)
    domain, spec, size_note = probe_spec(whole, runnable, norm, found.entry.entry)
    key = spec_key(spec, domain)
    probe_id = zoo.probe_for_spec(key)
    try:
        if probe_id is None:
            seed_set = domain_seed_set(domain, spec, image_seeds=seeds, onnx=conv.onnx,
                                       n=settings.n_pairs, seed=settings.seed)
            if seed_set is None:
                seed_set = default_seeds(spec, n=settings.n_pairs, seed=settings.seed)
            seed_set = _take(seed_set, settings.n_pairs)
            pgd = PgdConfig(eps=settings.pgd_eps, steps=settings.pgd_steps,
                            step_size=settings.pgd_step_size, seed=settings.seed)
            if domain == TOKENS:  # ids are categories: substitutions, not eps-steps
                pairs = substitution_pairs(runnable, seed_set,
                                           TokenSearchConfig(seed=settings.seed), ref.name)
            else:
                # PGD differentiates the ONNX form (or a TorchScript model's own graph)
                # through one input: bound models search
                pairs = generate_pairs(runnable, seed_set,
                                       onnx_model=None if bound else conv.onnx,
                                       module=None if bound else _own_graph(runnable, conv),
                                       normalization=norm, pgd=pgd, subject=ref.name)
            probe_id = pairs.pairs_id
            zoo.store_probe(probe_id, key, ref.name, pairs)
        pairs = zoo.pairs(probe_id)
        profile, behaviour = profile_and_probes(runnable, pairs, norm, ref.name, probe_id)
    except (ProfileError, ConversionError, CorpusError, ValueError) as exc:
        return replace(ref, profile_note=f"no behavioural profile: {exc}")
    except Exception as exc:  # noqa: BLE001 - a runtime's own error on an untrusted model
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return replace(ref, profile_note=f"no behavioural profile: the runtime failed on the "
                                         f"probe inputs ({type(exc).__name__}: {first})")
    zoo.store_profile(ref.name, profile)
    zoo.store_behaviour(ref.name, behaviour)
    note = f"{pairs.generator.value} pairs generated on {pairs.generated_on}"
    if bound:
        note += f"; {runnable.binding.describe()}"  # type: ignore[attr-defined]
    if size_note:
        note += f"; {size_note}"
    return replace(ref, probe_id=probe_id, seeds=pairs.seeds_name, profile_note=note)


def _own_graph(runnable: Any, conv: Any) -> Any:
    """A TorchScript model's own differentiable graph for PGD (None for every other
    runtime, whose PGD goes through the ONNX form, and when the gradient extra is absent)."""
    from modelhound.fingerprint.gradient import gradient_available

    if conv.onnx is not None or not hasattr(runnable, "differentiable") or \
            not gradient_available():
        return None
    return runnable.differentiable()


def _take(seed_set: Any, n: int) -> Any:
    from modelhound.fingerprint.interface import SeedSet

    if seed_set.data.shape[0] <= n:
        return seed_set
    return SeedSet(name=f"{seed_set.name} (first {n})", data=seed_set.data[:n],
                   is_image=seed_set.is_image, domain=seed_set.domain)


def add_file(zoo: Zoo, path: str, *, pool: Any, name: str = "", source: str = "",
             license: str = "", task: str = "", seeds: Callable[[Any], Any] | None = None,
             settings: ProfileSettings = ProfileSettings(),
             on_added: Callable[[Reference], None] | None = None,
             owner_data: str | None = None, keep_owner_data: bool = False,
             owner_base: str | None = None, owner_queries: str | None = None) -> list[Reference]:
    """Add every model found in a file (a model, an APK, a wheel, a zip) to the zoo."""
    from modelhound.extractor import extract

    x = extract(path)
    if x.error:
        raise ExtractError(x.error)
    if not x.models:
        raise ExtractError(f"{path}: no model found")
    refs = []
    for i, found in enumerate(x.models):
        ref_name = name if name and len(x.models) == 1 else (f"{name}-{i + 1}" if name else "")
        ref = add_reference(zoo, found, pool=pool, name=ref_name,
                            source=source or f"{path}!/{found.entry.entry}" if x.app.kind != "file"
                            else source or path,
                            license=license, task=task, seeds=seeds, settings=settings,
                            owner_data=owner_data, keep_owner_data=keep_owner_data,
                            owner_base=owner_base, owner_queries=owner_queries)
        refs.append(ref)
        if on_added is not None:
            on_added(ref)
    return refs


def add_many(zoo: Zoo, founds: Iterable[tuple[FoundModel, dict[str, str]]], *, pool: Any,
             seeds: Callable[[Any], Any] | None = None,
             settings: ProfileSettings = ProfileSettings(),
             on_added: Callable[[Reference], None] | None = None) -> list[Reference]:
    """Add many extracted models, each with its own metadata (name, source, license, task)."""
    out = []
    for found, meta in founds:
        ref = add_reference(zoo, found, pool=pool, seeds=seeds, settings=settings, **meta)
        out.append(ref)
        if on_added is not None:
            on_added(ref)
    return out


def profile_pending(zoo: Zoo, *, seeds: Callable[[Any], Any] | None = None,
                    settings: ProfileSettings = ProfileSettings(),
                    on_added: Callable[[Reference], None] | None = None) -> list[Reference]:
    """Profile runnable references that have none yet on a probe set that now fits them
    (a reference whose own pair generation failed borrows a later reference's probes)."""
    from modelhound.converters import load_runnable
    from modelhound.converters.interface import Conversion
    from modelhound.records import TensorSpec

    done = []
    for ref in zoo.references():
        if ref.probe_id or not ref.runnable or not settings.profile:
            continue
        onnx = zoo.file(ref.onnx_file).read_bytes() if ref.onnx_file else None
        native = zoo.file(ref.files[0]).read_bytes() if ref.format == "tflite" else None
        found_like = FoundModel(entry=_entry_for(ref), data=zoo.file(ref.files[0]).read_bytes())
        conv = Conversion(ref.sha256, True, runtime=ref.runtime, onnx=onnx, native=native)
        try:
            runnable = load_runnable(conv, threads=2)
        except ConversionError:
            continue
        from modelhound.fingerprint.domain import model_domain

        dom = model_domain(tuple(runnable.inputs))
        if dom is None or zoo.probe_for_spec(spec_key(dom[1], dom[0])) is None:
            continue
        updated = _profile(zoo, ref, found_like, conv, runnable, seeds, settings)
        if updated.probe_id:
            zoo.insert(updated, zoo_keys(zoo, ref.name))
            done.append(updated)
            if on_added is not None:
                on_added(updated)
    return done


def zoo_keys(zoo: Zoo, name: str) -> list[tuple[str, int]]:
    """The stored weight keys of a reference."""
    return [(k, n) for k, n in zoo._db.execute(
        "SELECT key, numel FROM tensor_keys WHERE name = ?", (name,))]


def _entry_for(ref: Reference) -> Any:
    from modelhound.records import ModelEntry

    return ModelEntry(entry=ref.files[0], format=ModelFormat(ref.format), subformat=ref.subformat,
                      sha256=ref.sha256, size=ref.size, status=Status.OK)
