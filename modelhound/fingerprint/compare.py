"""Comparing two models, or a model against a stored profile, with ModelDiff.

This is what ``modelhound compare A B`` calls. The file loading and conversion happen in
the converters stage; this module gets two :class:`Runnable` objects (plus, for white-box
pair generation, the ONNX form of the model the pairs are generated on).
"""

from __future__ import annotations

from modelhound.converters.interface import Runnable
from modelhound.errors import ProfileError
from modelhound.fingerprint.inputs import Normalization
from modelhound.fingerprint.interface import (
    Comparison,
    Generator,
    PairSet,
    PgdConfig,
    Profile,
    SearchConfig,
    SeedSet,
    Verdict,
)
from modelhound.fingerprint.modeldiff import ddv_similarity
from modelhound.fingerprint.profile import profile_runnable

#: Similarity at or above which ``compare`` says "reused". Calibrated on bench/reuse: the
#: lowest threshold with at most 1 % false positives over 7,056 (child, unrelated model)
#: comparisons, pairs generated on the reference from its domain (0.943 there). At it,
#: ModelDiff detects 47 % of direct-parent relations (all quantized copies, about half of
#: the pruned ones, almost no transfer/distill/steal): see bench/reuse/results.md.
DEFAULT_THRESHOLD = 0.94


def _verdict(similarity: float, threshold: float) -> Verdict:
    return Verdict.REUSED if similarity >= threshold else Verdict.NOT_REUSED


def _comparison(pa: Profile, pb: Profile, pairs: PairSet, threshold: float,
                generated_on: str) -> Comparison:
    """The Comparison record of two profiles on the same pairs."""
    sim = ddv_similarity(pa.ddv, pb.ddv)
    return Comparison(
        similarity=sim,
        threshold=threshold,
        verdict=_verdict(sim, threshold),
        pairs_id=pairs.pairs_id,
        n_pairs=pairs.n,
        generator=pairs.generator,
        generated_on=generated_on,
        seeds=pairs.seeds_name,
        inputs_a=pa.inputs,
        inputs_b=pb.inputs,
        ddv_a=pa.ddv,
        ddv_b=pb.ddv,
    )


def compare_on_pairs(
    a: Runnable,
    b: Runnable,
    pairs: PairSet,
    *,
    normalization_a: Normalization | None = None,
    normalization_b: Normalization | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    generated_on: str = "",
) -> Comparison:
    """Compare two models on an existing pair set (two forward passes per model)."""
    pa = profile_runnable(a, pairs, normalization=normalization_a, subject="a")
    pb = profile_runnable(b, pairs, normalization=normalization_b, subject="b")
    return _comparison(pa, pb, pairs, threshold, generated_on or pairs.generated_on)


def compare_runnables(
    a: Runnable,
    b: Runnable,
    *,
    seeds: SeedSet | None = None,
    generate_on: str = "a",
    onnx_a: bytes | None = None,
    onnx_b: bytes | None = None,
    normalization_a: Normalization | None = None,
    normalization_b: Normalization | None = None,
    method: Generator | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    pgd: PgdConfig = PgdConfig(),
    search: SearchConfig = SearchConfig(),
) -> Comparison:
    """ModelDiff similarity of two models, pairs generated on one of them.

    Args:
        a, b: the two models. Treat ``a`` as the reference (known model) and ``b`` as the
            suspect: the benchmark shows generating on the reference is the better choice
            for a scanner (see bench/reuse/results.md), hence ``generate_on="a"``.
        seeds: ``x_i`` in canonical space; default :func:`~modelhound.fingerprint.seeds.default_seeds`
            for the generator's input (synthetic, so pass domain seeds when known).
        generate_on: ``"a"`` or ``"b"``.
        onnx_a, onnx_b: ONNX forms, for white-box PGD on the generator; without it (or
            without the ``gradient`` extra) the black-box score search is used.
        normalization_a, normalization_b: TFLite metadata normalisation, when known.
        method: force ``Generator.PGD`` or ``Generator.SCORE_SEARCH``.
        threshold: similarity at or above which the verdict is "reused".
    """
    from modelhound.fingerprint.generate import generate_pairs
    from modelhound.fingerprint.seeds import default_seeds

    if generate_on not in ("a", "b"):
        raise ProfileError(f"generate_on must be 'a' or 'b', not {generate_on!r}")
    gen, onnx, norm = (a, onnx_a, normalization_a) if generate_on == "a" else (b, onnx_b, normalization_b)
    if not gen.inputs:
        raise ProfileError("model has no inputs")
    if seeds is None:
        seeds = default_seeds(gen.inputs[0])
    pairs = generate_pairs(
        gen, seeds, onnx_model=onnx, normalization=norm, method=method, pgd=pgd, search=search,
        subject=generate_on,
    )
    return compare_on_pairs(
        a, b, pairs, normalization_a=normalization_a, normalization_b=normalization_b,
        threshold=threshold, generated_on=generate_on,
    )


def compare_with_profile(
    suspect: Runnable,
    pairs: PairSet,
    reference: Profile,
    *,
    normalization: Normalization | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Comparison:
    """Compare a model against a stored reference profile (no torch, 2 forward passes)."""
    if reference.pairs_id != pairs.pairs_id:
        raise ProfileError(
            f"profile of {reference.subject!r} was computed on pairs {reference.pairs_id}, "
            f"not {pairs.pairs_id}"
        )
    ps = profile_runnable(suspect, pairs, normalization=normalization, subject="suspect")
    return _comparison(reference, ps, pairs, threshold, reference.subject)
