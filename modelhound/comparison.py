"""``modelhound compare A B``: is B derived from A? Bytes, weights and behaviour.

A is treated as the reference (the known model) and B as the suspect; ModelDiff pairs are
generated on A, as the zoo does (bench/reuse measures both choices).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from modelhound.corpus.match import Signals, verdict
from modelhound.errors import ExtractError, ModelhoundError
from modelhound.records import FoundModel, Status


def pick_model(spec: str) -> FoundModel:
    """The model named by ``FILE`` or ``FILE!/ENTRY`` (an archive must then name one)."""
    from modelhound.extractor import extract

    path, _, entry = spec.partition("!/")
    if not os.path.exists(path):
        raise ExtractError(f"{path}: no such file")
    x = extract(path)
    if x.error:
        raise ExtractError(x.error)
    models = [m for m in x.models if m.entry.status is Status.OK]
    if entry:
        models = [m for m in models if m.entry.entry == entry]
        if not models:
            raise ExtractError(f"{spec}: no model at that entry")
    if not models:
        raise ExtractError(f"{path}: no model found")
    if len(models) > 1:
        names = ", ".join(m.entry.entry for m in models[:8])
        raise ExtractError(f"{path}: holds {len(models)} models; name one as {path}!/ENTRY ({names})")
    return models[0]


@dataclass(frozen=True)
class FileComparison:
    """The outcome of comparing two model files."""

    a: str
    b: str
    a_format: str
    b_format: str
    reused: bool
    reuse_type: str
    confidence: float
    similarity: float | None
    """ModelDiff similarity (cosine of DDVs), when both models ran."""
    threshold: float
    weight_similarity: float | None
    weight_kind: str
    evidence: tuple[str, ...]
    modeldiff: dict[str, Any] = field(default_factory=dict)
    agreement: float | None = None
    """Behavioural agreement of B with A on A's behaviour probes (seeds, twins, CutMix)."""
    structure: float | None = None
    """Architecture similarity (weight shapes), supporting evidence only."""
    owner_p: float | None = None
    """p-value of B under A's owner evidence (``--owner-data``), when it was built."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "a": self.a, "b": self.b, "a_format": self.a_format, "b_format": self.b_format,
            "verdict": "reused" if self.reused else "not-reused", "reuse_type": self.reuse_type,
            "confidence": self.confidence, "similarity": self.similarity,
            "threshold": self.threshold, "weight_similarity": self.weight_similarity,
            "weight_kind": self.weight_kind, "agreement": self.agreement,
            "structure": self.structure, "owner_p": self.owner_p, "evidence": list(self.evidence),
            "modeldiff": self.modeldiff,
        }


def compare_files(a: str, b: str, *, seeds_dir: str | None = None, n_pairs: int = 100,
                  pgd_steps: int = 50, behaviour: bool = True,
                  owner_data: str | None = None, owner_base: str | None = None) -> FileComparison:
    """Compare two model files (any recognised format; behaviour needs runnable ones).

    ``owner_data``: A's owner's data; owner evidence is then built for A and B scored with
    it (:mod:`modelhound.corpus.owner`); ``owner_base``: how A started (``--owner-base``)."""
    from modelhound.corpus.match import BEHAVIOUR_THRESHOLD
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.structure import describe, structure_similarity
    from modelhound.fingerprint.weights import compare_weights

    fa, fb = pick_model(a), pick_model(b)
    structure = None
    evidence: list[str] = []
    same = fa.entry.sha256 == fb.entry.sha256
    if same:
        evidence.append("same sha256")
    try:
        ta = read_tensors(fa.entry.format, fa.entry.subformat, fa.data, fa.companions)
        tb = read_tensors(fb.entry.format, fb.entry.subformat, fb.data, fb.companions)
        wm = compare_weights(tb, ta) if ta and tb else None
        structure = structure_similarity(ta, tb)
    except ExtractError as exc:
        wm = None
        evidence.append(f"weights not compared: {exc}")
    if wm is not None:
        evidence.append(wm.evidence)
    comp, agreement, note = (None, None, "behaviour not compared (--no-behaviour)")
    if behaviour:
        comp, agreement, note = _behaviour(fa, fb, seeds_dir, n_pairs, pgd_steps)
    if comp is not None:
        evidence.append(f"ModelDiff similarity {comp.similarity:.3f} on {comp.n_pairs} "
                        f"{comp.generator.value} pairs generated on A ({comp.seeds})")
    elif note:
        evidence.append(note)
    if agreement is not None:
        from modelhound.fingerprint.detector import AGREEMENT_THRESHOLD

        evidence.append(f"behavioural agreement {agreement:.3f} (threshold {AGREEMENT_THRESHOLD}) on A's "
                        "seeds, their ModelDiff twins and CutMix images")
    if structure is not None:
        evidence.append(describe(structure))
    from modelhound.corpus.owner import NO_OWNER_NOTE, compare_with_owner_data

    owner, owner_note = (compare_with_owner_data(fa, fb, owner_data, owner_base) if owner_data
                         else (None, NO_OWNER_NOTE))
    from modelhound.corpus.match import _owner_fields

    sig = Signals("A", same, wm.strength if wm else None, wm.kind if wm else "",
                  wm.evidence if wm else "", comp.similarity if comp else None, note, agreement, structure,
                  *_owner_fields(owner), owner_note)
    reused, rtype, conf = verdict(sig)
    if owner is not None:
        evidence.append(owner.describe())
    elif not (reused and rtype != "distilled or stolen"):
        evidence.append(owner_note)
    return FileComparison(
        a=a, b=b, a_format=fa.entry.format.value, b_format=fb.entry.format.value,
        reused=reused, reuse_type=rtype, confidence=round(float(conf), 4),
        similarity=comp.similarity if comp else None, threshold=BEHAVIOUR_THRESHOLD,
        weight_similarity=wm.strength if wm else None, weight_kind=wm.kind if wm else "",
        evidence=tuple(evidence), modeldiff=comp.as_dict() if comp else {},
        agreement=agreement, structure=structure,
        owner_p=None if owner is None else float(f"{owner.p_value:.3g}"),
    )


def behaviour_here(ca: Any, cb: Any, seeds_images: Any, n_pairs: int, steps: int,
                   norm_a: Any, norm_b: Any) -> Any:
    """ModelDiff comparison of two converted models, and B's behavioural agreement with A on
    A's behaviour probes (None when B cannot run them): runs in a worker process."""
    from modelhound.converters import load_runnable
    from modelhound.fingerprint.compare import compare_on_pairs
    from modelhound.fingerprint.detector import probe_inputs
    from modelhound.fingerprint.generate import generate_pairs
    from modelhound.fingerprint.interface import PgdConfig
    from modelhound.fingerprint.profile import behaviour_probes, run_canonical
    from modelhound.fingerprint.seeds import default_seeds

    ra, rb = load_runnable(ca, threads=1), load_runnable(cb, threads=1)
    seeds = None
    if seeds_images is not None:
        from modelhound.corpus.seeds import seed_set

        seeds = seed_set(seeds_images[1], ra.inputs[0], n=n_pairs, name=seeds_images[0])
    if seeds is None:
        seeds = default_seeds(ra.inputs[0], n=n_pairs)
    pairs = generate_pairs(ra, seeds, onnx_model=ca.onnx, normalization=norm_a,
                           pgd=PgdConfig(steps=steps), subject="a")
    comp = compare_on_pairs(ra, rb, pairs, normalization_a=norm_a, normalization_b=norm_b, generated_on="a")
    try:
        probes = behaviour_probes(ra, pairs, norm_a)
        agreement = probes.scores(run_canonical(rb, probe_inputs(pairs.x, pairs.x_adv), norm_b,
                                                batch=pairs.n)).behaviour
    except Exception:  # noqa: BLE001 - B's runtime on the probe inputs: agreement is then unknown
        agreement = None
    return comp, agreement


#: wall-time limit of one behavioural comparison (PGD on CPU), seconds
COMPARE_TIMEOUT_S = 3600.0


def _behaviour(fa: FoundModel, fb: FoundModel, seeds_dir: str | None, n_pairs: int,
               steps: int) -> tuple[Any, float | None, str]:
    """Convert both models and compare their behaviour, all in an isolated worker."""
    from modelhound.converters import ConverterPool
    from modelhound.converters.pool import WorkerCallError
    from modelhound.corpus.suspect import normalization_of

    with ConverterPool(1, timeout_s=COMPARE_TIMEOUT_S) as pool:
        ca, cb = pool.convert(fa), pool.convert(fb)
        for name, c in (("A", ca), ("B", cb)):
            if not c.runnable:
                return None, None, f"behaviour not compared: {name} is not runnable ({c.reason})"
            if len(c.inputs) != 1:
                return None, None, f"behaviour not compared: {name} has {len(c.inputs)} inputs"
        images = None
        if seeds_dir:
            from modelhound.corpus.seeds import load_images

            images = (seeds_dir, [i for batch in load_images(seeds_dir).values() for i in batch])
        try:
            comp, agreement = pool.call("modelhound.comparison:behaviour_here", ca, cb, images, n_pairs,
                                        steps, normalization_of(fa), normalization_of(fb))
        except WorkerCallError as exc:
            return None, None, f"behaviour not compared: {exc}"
    return comp, agreement, ""
