"""Computing, storing and loading ModelDiff profiles and pair sets (numpy only).

A pair set is stored as ``.npz`` (arrays ``x`` and ``x_adv`` plus a JSON ``meta`` string); a
profile as JSON. Both carry ``schema_version``; loading refuses unknown versions (version-1 pair
sets, made before input domains, are migrated on read), and a profile is only ever compared on the pair set whose ``pairs_id``
it names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelhound.converters.interface import Runnable
from modelhound.errors import ProfileError
from modelhound.fingerprint.inputs import InputAdapter, Normalization
from modelhound.fingerprint.interface import (
    ALGORITHM,
    PROFILE_SCHEMA_VERSION,
    READABLE_SCHEMA_VERSIONS,
    Generator,
    PairSet,
    Profile,
)
from modelhound.fingerprint.modeldiff import compute_ddv
from modelhound.npz import save_npz

if TYPE_CHECKING:
    from modelhound.fingerprint.detector import PairProbes


def profile_outputs(
    runnable: Runnable, pairs: PairSet, normalization: Normalization | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """The model's outputs on ``x`` and on ``x'`` (two batched forward passes)."""
    if len(runnable.inputs) != 1:
        raise ProfileError(f"ModelDiff needs a single-input model, got {len(runnable.inputs)} inputs")
    adapter = InputAdapter(runnable.inputs[0], normalization)
    if adapter.is_image != pairs.is_image:
        raise ProfileError(f"{adapter.spec.describe()}: pair set {pairs.pairs_id} does not fit this input")
    # Two batches of n, not one of 2n: on small models XNNPACK ran one 2n batch 2x slower
    # than two n batches (cache size), and a scan keeps the batch size fixed at n.
    out = runnable.run([adapter.to_model(pairs.x)])
    out_adv = runnable.run([adapter.to_model(pairs.x_adv)])
    return out, out_adv, adapter.describe()


def run_canonical(
    runnable: Runnable, x: np.ndarray, normalization: Normalization | None = None, batch: int = 100
) -> np.ndarray:
    """The model's first output on canonical inputs ``x``, flattened to one row per input.

    Batches of ``batch`` rows (the pair-set size), for the reason given in :func:`profile_outputs`.
    """
    if len(runnable.inputs) != 1:
        raise ProfileError(f"needs a single-input model, got {len(runnable.inputs)} inputs")
    adapter = InputAdapter(runnable.inputs[0], normalization)
    parts = []
    for i in range(0, len(x), max(1, batch)):
        out = runnable.run([adapter.to_model(x[i : i + batch])])[0]
        parts.append(np.asarray(out, dtype=np.float32).reshape(len(x[i : i + batch]), -1))
    return np.concatenate(parts)


def behaviour_probes(
    runnable: Runnable, pairs: PairSet, normalization: Normalization | None = None, probe_id: str = ""
) -> "PairProbes":
    """A reference's stored behaviour probes on one pair set (its outputs on
    :func:`~modelhound.fingerprint.detector.probe_inputs`)."""
    from modelhound.fingerprint.detector import PairProbes, probe_inputs

    x = probe_inputs(pairs.x, pairs.x_adv)
    return PairProbes.build(run_canonical(runnable, x, normalization, batch=pairs.n), pairs.n,
                            probe_id=probe_id or pairs.pairs_id)


def profile_and_probes(
    runnable: Runnable, pairs: PairSet, normalization: Normalization | None = None,
    subject: str = "", probe_id: str = "",
) -> tuple[Profile, "PairProbes"]:
    """:func:`profile_runnable` and :func:`behaviour_probes` from one pass over the probe
    inputs: their first two batches are ``x`` and ``x'``, which the profile needs too, so
    they run once instead of twice. The batches are those both functions run (``n`` rows
    each), so the results are the same arrays."""
    from modelhound.fingerprint.detector import PairProbes, probe_inputs

    if len(runnable.inputs) != 1:
        raise ProfileError(f"ModelDiff needs a single-input model, got {len(runnable.inputs)} inputs")
    adapter = InputAdapter(runnable.inputs[0], normalization)
    if adapter.is_image != pairs.is_image:
        raise ProfileError(f"{adapter.spec.describe()}: pair set {pairs.pairs_id} does not fit this input")
    x = probe_inputs(pairs.x, pairs.x_adv)
    n = max(1, pairs.n)
    full, rows = [], []
    for i in range(0, len(x), n):
        outs = runnable.run([adapter.to_model(x[i : i + n])])
        if i < 2 * n:
            full.append(outs)
        rows.append(np.asarray(outs[0], dtype=np.float32).reshape(len(x[i : i + n]), -1))
    profile = Profile(subject=subject, pairs_id=pairs.pairs_id,
                      ddv=tuple(float(v) for v in compute_ddv(full[0], full[1])),
                      inputs=adapter.describe())
    probes = PairProbes.build(np.concatenate(rows), pairs.n, probe_id=probe_id or pairs.pairs_id)
    return profile, probes


def profile_runnable(
    runnable: Runnable,
    pairs: PairSet,
    *,
    normalization: Normalization | None = None,
    subject: str = "",
) -> Profile:
    """The model's unit-norm DDV on ``pairs``."""
    out, out_adv, how = profile_outputs(runnable, pairs, normalization)
    ddv = compute_ddv(out, out_adv)
    return Profile(
        subject=subject,
        pairs_id=pairs.pairs_id,
        ddv=tuple(float(v) for v in ddv),
        inputs=how,
    )


def _check_schema(meta: dict[str, object], where: str) -> None:
    version = meta.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        raise ProfileError(
            f"{where}: stored with schema_version {version!r}, this modelhound reads "
            f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}; regenerate it"
        )
    algorithm = meta.get("algorithm", ALGORITHM)
    if algorithm != ALGORITHM:
        raise ProfileError(f"{where}: algorithm {algorithm!r} is not {ALGORITHM!r}")


def save_profile(path: str | Path, profile: Profile) -> None:
    """Write a profile as JSON."""
    data = {
        "schema_version": profile.schema_version,
        "algorithm": profile.algorithm,
        "subject": profile.subject,
        "pairs_id": profile.pairs_id,
        "inputs": profile.inputs,
        "ddv": list(profile.ddv),
    }
    Path(path).write_text(json.dumps(data, indent=1))


def load_profile(path: str | Path) -> Profile:
    """Read a profile written by :func:`save_profile`; refuses other schema versions."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from exc
    _check_schema(data, str(path))
    try:
        return Profile(
            subject=str(data["subject"]),
            pairs_id=str(data["pairs_id"]),
            ddv=tuple(float(v) for v in data["ddv"]),
            inputs=str(data.get("inputs", "")),
            algorithm=str(data["algorithm"]),
            schema_version=PROFILE_SCHEMA_VERSION,  # a version-1 profile reads the same
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{path}: malformed profile: {exc}") from exc


def save_pairs(path: str | Path, pairs: PairSet) -> None:
    """Write a pair set as ``.npz`` (zlib level 1: :mod:`modelhound.npz`)."""
    meta = {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "algorithm": ALGORITHM,
        "pairs_id": pairs.pairs_id,
        "seeds_name": pairs.seeds_name,
        "is_image": pairs.is_image,
        "domain": pairs.domain,
        "generator": pairs.generator.value,
        "generated_on": pairs.generated_on,
        "generator_input": pairs.generator_input,
        "config": pairs.config,
    }
    with open(path, "wb") as fh:
        save_npz(fh, x=pairs.x, x_adv=pairs.x_adv, meta=np.array(json.dumps(meta)))


def load_pairs(path: str | Path) -> PairSet:
    """Read a pair set written by :func:`save_pairs`; refuses unknown schema versions and
    files whose content does not hash to the stored ``pairs_id``. Version-1 files (no
    domain) are migrated: image pairs are the image domain, others the vector domain."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            x, x_adv = z["x"], z["x_adv"]
    except (OSError, ValueError, KeyError) as exc:
        raise ProfileError(f"{path}: cannot read pair set: {exc}") from exc
    _check_schema(meta, str(path))
    pairs = PairSet(
        seeds_name=meta["seeds_name"],
        x=x,
        x_adv=x_adv,
        is_image=bool(meta["is_image"]),
        generator=Generator(meta["generator"]),
        generated_on=meta["generated_on"],
        generator_input=meta["generator_input"],
        config=meta["config"],
        domain=str(meta.get("domain", "")) if meta["schema_version"] >= 2 else "",
    )
    if pairs.pairs_id != meta["pairs_id"]:
        raise ProfileError(f"{path}: content does not match its pairs_id {meta['pairs_id']}")
    return pairs
