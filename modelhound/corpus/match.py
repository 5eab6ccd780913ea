"""Matching an extracted model against the zoo: exact bytes, weights, then behaviour.

Signals, strongest first:

1. **same bytes** (sha256): an identical copy, found without running anything;
2. **weights** (white-box): the suspect carries the reference's tensors, identical in
   another format or layout, dequantized, pruned or partly fine-tuned
   (:mod:`modelhound.fingerprint.weights`);
3. **behaviour** (ModelDiff): the cosine of the DDVs on the reference's probe pairs
   (printed, and a verdict at its calibrated threshold);
4. **behavioural agreement**: SAC-m, label and output agreement on the reference's stored
   behaviour probes (seeds, ModelDiff twins, CutMix), which catches distilled and stolen
   models whose weights share nothing (:mod:`modelhound.fingerprint.detector`);
5. **structure**: the same weight shapes or not (:mod:`modelhound.fingerprint.structure`),
   reported as evidence and used to break ties, never a verdict on its own;
6. **owner evidence**, for references whose owner brought data: the suspect's agreement
   with the reference on conferrable probes, with a calibrated p-value
   (:mod:`modelhound.fingerprint.owner`). It is the only signal that separates distilled
   and stolen copies from independent models of the same task; without it, rows say so.

The combined verdict names the reference, a reuse type and the evidence behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from modelhound.corpus.zoo import Reference, Zoo

#: ModelDiff similarity at or above which ModelDiff alone says "reused". bench/reuse (re-seeded
#: zoo, 2026-11-28): the highest unrelated pair scores 0.979, and ModelDiff's own 1 %-FPR point
#: (0.94, ``fingerprint.compare.DEFAULT_THRESHOLD``) gives 131 false positives of 8,040 pairs. A
#: verdict must not accuse independent models, so the combined verdict uses 0.98 (every
#: quantized copy still passes; pruned and retrained copies are the weights' job).
BEHAVIOUR_THRESHOLD = 0.98
#: weight-evidence strength at or above which the weights alone say "reused"
WEIGHTS_THRESHOLD = 0.5


@dataclass(frozen=True)
class Signals:
    """The evidence about one (suspect, reference) pair."""

    reference: str
    same_bytes: bool = False
    weight_strength: float | None = None
    weight_kind: str = ""
    weight_evidence: str = ""
    behaviour: float | None = None
    """ModelDiff similarity, when both sides could be run on the probe pairs."""
    behaviour_note: str = ""
    agreement: float | None = None
    """Label-free behavioural agreement in [0, 1] on the reference's stored probes
    (:func:`modelhound.fingerprint.detector.behaviour_scores` ``.behaviour``): SAC-m, top-1
    and output agreement on CutMix / low-margin inputs; sees distilled and stolen copies."""
    structure: float | None = None
    """Architecture similarity (weighted Jaccard of weight shapes, :mod:`modelhound.fingerprint.structure`):
    supporting evidence only, never a verdict on its own."""
    owner_agreement: float | None = None
    """Agreement with the reference on its owner-evidence probes (None without owner evidence)."""
    owner_p: float | None = None
    owner_flagged: bool = False
    owner_evidence: str = ""
    """The owner evidence's one-line account (:meth:`~modelhound.fingerprint.owner.OwnerScore.describe`)."""
    owner_note: str = ""
    """Why owner evidence was not used (no evidence stored, or the suspect could not run it)."""


@dataclass(frozen=True)
class Match:
    """The combined verdict for a suspect model."""

    reference: str
    verdict: str
    """reused or not-reused."""
    reuse_type: str
    """identical copy, re-packaged, quantized, pruned, fine-tuned or transfer, distilled or
    stolen ('' when not reused)."""
    confidence: float
    similarity: float | None
    """ModelDiff similarity to the matched reference, when computed."""
    weight_similarity: float | None
    evidence: str
    agreement: float | None = None
    structure: float | None = None
    signals: tuple[Signals, ...] = field(default=(), repr=False)
    owner_p: float | None = None
    """p-value of the owner evidence of the matched (or closest) reference, when it was used."""


_WEIGHT_TYPES = {
    "identical-weights": "re-packaged",
    "near-identical": "re-packaged",
    "half-precision": "quantized",
    "quantized": "quantized",
    "pruned": "pruned",
    "fine-tuned": "fine-tuned or transfer",
}


def verdict(s: Signals) -> tuple[bool, str, float]:
    """(reused, reuse type, confidence) from one pair's signals."""
    if s.same_bytes:
        return True, "identical copy", 1.0
    w = s.weight_strength or 0.0
    b = s.behaviour
    if s.weight_kind in _WEIGHT_TYPES and w >= WEIGHTS_THRESHOLD:
        conf = min(1.0, 0.5 + 0.5 * w)
        return True, _WEIGHT_TYPES[s.weight_kind], conf
    if b is not None and b >= BEHAVIOUR_THRESHOLD:
        if s.weight_kind == "partial":
            return True, "fine-tuned or transfer", b
        return True, "distilled or stolen", b
    if s.owner_flagged and s.owner_p is not None:
        return True, "distilled or stolen", min(0.999, 1.0 - s.owner_p)
    a = s.agreement
    if a is not None:
        from modelhound.fingerprint.detector import AGREEMENT_THRESHOLD, behaviour_confidence

        if a >= AGREEMENT_THRESHOLD:
            kind = "fine-tuned or transfer" if s.weight_kind == "partial" else "distilled or stolen"
            return True, kind, behaviour_confidence(a)
        return False, "", max(w, b or 0.0, 0.5 * a)
    return False, "", max(w, b or 0.0)


def _owner_fields(owner: Any) -> tuple[float | None, float | None, bool, str]:
    """Signals' plain owner fields from an OwnerScore (or None)."""
    if owner is None:
        return None, None, False, ""
    return owner.agreement, owner.p_value, owner.flagged, owner.describe()


def _rank(s: Signals) -> tuple[float, ...]:
    reused, _, conf = verdict(s)
    return (1.0 if reused else 0.0, conf, s.weight_strength or 0.0, s.behaviour or 0.0, s.agreement or 0.0,
            s.structure or 0.0)


def decide(signals: Sequence[Signals]) -> Match | None:
    """The best-supported reference among the signals (None when there are none)."""
    if not signals:
        return None
    best = max(signals, key=_rank)
    reused, rtype, conf = verdict(best)
    parts = []
    if not reused and conf > 0:
        parts.append(f"closest reference {best.reference} (below the thresholds)")
    if best.same_bytes:
        parts.append("same sha256 as the reference")
    if best.weight_evidence and best.weight_strength:
        parts.append(best.weight_evidence)
    if best.behaviour is not None:
        parts.append(f"ModelDiff similarity {best.behaviour:.3f} (threshold {BEHAVIOUR_THRESHOLD})")
    elif best.behaviour_note:
        parts.append(best.behaviour_note)
    if best.agreement is not None:
        from modelhound.fingerprint.detector import AGREEMENT_THRESHOLD

        parts.append(f"behavioural agreement {best.agreement:.3f} (threshold {AGREEMENT_THRESHOLD})")
    if best.structure is not None:
        from modelhound.fingerprint.structure import describe

        parts.append(describe(best.structure))
    if best.owner_evidence:
        parts.append(best.owner_evidence)
    elif best.owner_note and not (reused and rtype != "distilled or stolen"):
        parts.append(best.owner_note)
    return Match(
        reference=best.reference if reused else "",
        verdict="reused" if reused else "not-reused",
        reuse_type=rtype,
        confidence=round(float(conf), 4),
        similarity=best.behaviour,
        weight_similarity=best.weight_strength,
        evidence="; ".join(parts),
        agreement=None if best.agreement is None else round(float(best.agreement), 4),
        structure=None if best.structure is None else round(float(best.structure), 4),
        signals=tuple(signals),
        owner_p=None if best.owner_p is None else float(f"{best.owner_p:.3g}"),
    )


class Matcher:
    """Matches suspects against one zoo; keeps the zoo's tensors and profiles in memory."""

    def __init__(self, zoo: Zoo) -> None:
        self.zoo = zoo
        self.refs = []
        self.warnings: list[str] = []
        """References skipped because their files were deleted or altered since stored."""
        for ref in zoo.references():
            problem = zoo.verify(ref)
            if problem:
                self.warnings.append(f"{zoo.path}: reference {ref.name} skipped: {problem}")
            else:
                self.refs.append(ref)
        self._profiles: dict[str, Any] = {}
        self._owner: dict[str, Any] = {}

    def _owner_score(self, ref: Reference, outputs: Any) -> tuple[Any, str]:
        """(OwnerScore or None, note) for one reference."""
        from modelhound.corpus.owner import NO_OWNER_NOTE

        if not ref.owner_evidence:
            return None, NO_OWNER_NOTE
        if ref.name not in self._owner:
            self._owner[ref.name] = self.zoo.owner(ref)
        ev = self._owner[ref.name]
        if ev is None:
            return None, "owner evidence unreadable (re-add the reference with --owner-data)"
        if outputs is None:
            return None, "owner evidence not used: the model could not run the owner probes"
        try:
            return ev.score(outputs), ""
        except ValueError as exc:
            return None, f"owner evidence not used: {exc}"

    def settings(self) -> dict[str, Any]:
        """How this matcher decides, for a report's overview: zoo, references, thresholds."""
        from modelhound.corpus.zoo import ZOO_SCHEMA_VERSION
        from modelhound.fingerprint.detector import AGREEMENT_THRESHOLD

        return {
            "zoo": str(self.zoo.path), "zoo schema version": ZOO_SCHEMA_VERSION,
            "thresholds": f"weights >= {WEIGHTS_THRESHOLD}, ModelDiff >= {BEHAVIOUR_THRESHOLD}, "
                          f"agreement >= {AGREEMENT_THRESHOLD}",
            "references": [{"name": r.name, "format": r.format, "task": r.task,
                            "source": r.source, "license": r.license} for r in self.refs],
        }

    def profile(self, ref: Reference) -> Any:
        """A reference's stored profile (cached)."""
        if ref.name not in self._profiles:
            self._profiles[ref.name] = self.zoo.profile(ref)
        return self._profiles[ref.name]

    def _agreement(self, ref: Reference, outputs: Any, matrices: dict[str, Any]) -> float | None:
        """Behavioural agreement with the reference's stored probes (None without them).
        ``matrices`` memoises the suspect's correlation matrices per probe set."""
        from modelhound.fingerprint.detector import pair_matrices

        if outputs is None:
            return None
        probes = self.zoo.behaviour(ref)
        if probes is None:
            return None
        try:
            if ref.probe_id not in matrices:
                matrices[ref.probe_id] = pair_matrices(outputs, probes.n_pairs)
            return probes.scores(outputs, matrices[ref.probe_id]).behaviour
        except ValueError:
            return None

    def probes_for(self, suspect_is_image: bool | None) -> list[str]:
        """Probe sets the suspect should be run on (each once, whatever the references)."""
        ids = sorted({r.probe_id for r in self.refs if r.probe_id})
        if suspect_is_image is None:
            return []
        return [p for p in ids if self.zoo.pairs(p).is_image == suspect_is_image]

    def match(
        self,
        sha256: str,
        tensors: Sequence[Any],
        suspect_ddvs: Mapping[str, Sequence[float]] | None = None,
        behaviour_note: str = "",
        suspect_outputs: Mapping[str, Any] | None = None,
        known: Mapping[str, Signals] | None = None,
    ) -> Match | None:
        """Compare one suspect (its sha256, weight tensors, DDVs and behaviour outputs per
        probe set) to every reference. ``known``: signals already computed for some
        references (reference name -> Signals, e.g. from a result cache), used as they are."""
        suspect_ddvs = suspect_ddvs or {}
        suspect_outputs = suspect_outputs or {}
        known = known or {}
        matrices: dict[str, Any] = {}
        signals = [known[ref.name] if ref.name in known else
                   self.signals(ref, sha256, tensors, suspect_ddvs, behaviour_note,
                                suspect_outputs, matrices)
                   for ref in self.refs]
        return decide(signals)

    def signals(self, ref: Reference, sha256: str, tensors: Sequence[Any],
                suspect_ddvs: Mapping[str, Sequence[float]], behaviour_note: str,
                suspect_outputs: Mapping[str, Any], matrices: dict[str, Any]) -> Signals:
        """The evidence about the suspect and one reference."""
        from modelhound.fingerprint.modeldiff import ddv_similarity
        from modelhound.fingerprint.structure import structure_similarity
        from modelhound.fingerprint.weights import compare_weights

        same = ref.sha256 == sha256
        wstrength: float | None = None
        wkind, wevid = "", ""
        structure = None
        if not same and tensors:
            sizes = {t.values.size for t in tensors}
            ref_tensors = self.zoo.tensors(ref)
            structure = structure_similarity(tensors, ref_tensors)
            if ref_tensors and sizes & {t.values.size for t in ref_tensors}:
                wm = compare_weights(tensors, ref_tensors)
                wstrength, wkind, wevid = wm.strength, wm.kind, wm.evidence
            elif ref_tensors:
                wstrength, wkind, wevid = 0.0, "none", "weights: no tensor of a matching size"
        beh: float | None = None
        note = behaviour_note
        prof = self.profile(ref) if ref.probe_id else None
        if prof is not None and ref.probe_id in suspect_ddvs:
            beh = ddv_similarity(prof.ddv, suspect_ddvs[ref.probe_id])
        elif prof is None and not note:
            note = "reference has no behavioural profile"
        agreement = self._agreement(ref, suspect_outputs.get(ref.probe_id), matrices)
        owner, owner_note = self._owner_score(ref, suspect_outputs.get(f"owner:{ref.name}"))
        return Signals(ref.name, same, wstrength, wkind, wevid, beh, note, agreement, structure,
                       *_owner_fields(owner), owner_note)

    def detail(self, m: Match, tensors: Sequence[Any],
               suspect_ddvs: Mapping[str, Sequence[float]] | None = None) -> dict[str, Any]:
        """The evidence behind ``m`` as data, for reports that draw it: every reference's
        signals (the models x references heatmap), and for the best-supported reference
        (the match, or the closest one) both DDVs and the per-tensor weight matches."""
        from modelhound.fingerprint.weights import compare_weights

        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 4)

        out: dict[str, Any] = {"references": [
            {k: v for k, v in (("reference", s.reference), ("same_bytes", s.same_bytes or None),
                               ("weights", r(s.weight_strength)),
                               ("weight_kind", s.weight_kind or None),
                               ("modeldiff", r(s.behaviour)), ("agreement", r(s.agreement)),
                               ("structure", r(s.structure))) if v is not None}
            for s in m.signals]}
        if not m.signals:
            return out
        best = max(m.signals, key=_rank)
        out["closest"] = best.reference
        ref = next((x for x in self.refs if x.name == best.reference), None)
        if ref is None:
            return out
        prof = self.profile(ref) if ref.probe_id else None
        if prof is not None and ref.probe_id in (suspect_ddvs or {}):
            out["ddv"] = {"probe_set": ref.probe_id,
                          "suspect": [round(float(v), 5) for v in (suspect_ddvs or {})[ref.probe_id]],
                          "reference": [round(float(v), 5) for v in prof.ddv]}
        ref_tensors = self.zoo.tensors(ref) if tensors and not best.same_bytes else []
        if ref_tensors:
            wm = compare_weights(tensors, ref_tensors)
            out["tensors"] = [
                {"reference": t.reference, "suspect": t.suspect, "numel": t.numel,
                 "correlation": round(float(t.correlation), 4), "identical": t.identical,
                 "pruned": round(float(t.pruned_fraction), 3), "layout": t.layout,
                 "change": t.change}
                for t in wm.matches]
        return out
