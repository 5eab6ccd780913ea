"""Generating ModelDiff input pairs on one model: white-box PGD or black-box score search."""

from __future__ import annotations

import numpy as np

from modelhound.converters.interface import Runnable
from modelhound.errors import ProfileError
from modelhound.fingerprint.inputs import InputAdapter, Normalization
from modelhound.fingerprint.interface import (
    Generator,
    PairSet,
    PgdConfig,
    SearchConfig,
    SeedSet,
)
from modelhound.fingerprint.modeldiff import flatten_outputs


def _single_input(runnable: Runnable) -> None:
    if len(runnable.inputs) != 1:
        raise ProfileError(
            f"ModelDiff pairs need a single-input model; this one has {len(runnable.inputs)} inputs"
        )


def run_float(runnable: Runnable, adapter: InputAdapter, x_float: np.ndarray) -> np.ndarray:
    """Run a single-input model on model-float-space inputs; flattened outputs (n, k)."""
    return flatten_outputs(runnable.run([adapter.float_to_model(x_float)]))


def _as_probabilities(y: np.ndarray) -> np.ndarray:
    """Outputs as probability rows: kept when they already are, softmax otherwise."""
    if np.all(y >= 0) and np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        return y
    z = y - y.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _pairwise(p: np.ndarray) -> np.ndarray:
    sq = (p * p).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * p @ p.T, 0.0)
    return np.sqrt(d2)


def score_search(
    runnable: Runnable, adapter: InputAdapter, x_float: np.ndarray, config: SearchConfig
) -> np.ndarray:
    """The paper's black-box search (reference ``test.ipynb`` ``optimize_towards_goal``).

    Outputs are read as probabilities; ``divergence`` = mean ``||p(x'_i) - p(x_i)||``,
    ``diversity`` = mean all-pairs distance among ``p(x')``, score = divergence +
    ``diversity_weight`` * diversity. Each iteration picks one random input coordinate and
    adds +eps or -eps to it on the "remaining" inputs (predicted label unchanged and either
    divergence below the mean or in a pair closer than the 1.1 % distance quantile),
    clipped to the seed batch's range (``blackbox_ablation.py``); the better sign is kept
    when it raises the score.
    """
    rng = np.random.default_rng(config.seed)
    lo, hi = float(x_float.min()), float(x_float.max())
    p0 = _as_probabilities(run_float(runnable, adapter, x_float))
    labels = p0.argmax(axis=1)
    n = x_float.shape[0]
    off_diag = ~np.eye(n, dtype=bool)

    def evaluate(x_adv: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        p = _as_probabilities(run_float(runnable, adapter, x_adv))
        div = np.linalg.norm(p - p0, axis=1)
        dist = _pairwise(p)
        score = float(div.mean() + config.diversity_weight * dist[off_diag].mean())
        return score, p, div, dist

    x_adv = x_float.copy()
    score, p, div, dist = evaluate(x_adv)
    flat_size = int(np.prod(x_float.shape[1:]))
    for _ in range(config.iterations):
        close = dist < np.quantile(dist[off_diag], 0.011)
        np.fill_diagonal(close, False)
        remaining = (p.argmax(axis=1) == labels) & ((div < div.mean()) | close.any(axis=1))
        if not remaining.any():
            remaining = np.ones(n, dtype=bool)
        coord = int(rng.integers(flat_size))
        best: tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        for sign in (1.0, -1.0):
            cand = x_adv.reshape(n, -1).copy()
            cand[remaining, coord] = np.clip(cand[remaining, coord] + sign * config.eps, lo, hi)
            cand = cand.reshape(x_adv.shape)
            s, cp, cdiv, cdist = evaluate(cand)
            if s > score and (best is None or s > best[0]):
                best = (s, cand, cp, cdiv, cdist)
        if best is not None:
            score, x_adv, p, div, dist = best
    return x_adv.astype(np.float32)


def _check_onnx_input(onnx_model: bytes, adapter: InputAdapter) -> None:
    """The ONNX form must take what the runnable takes (same rank and fixed dimensions)."""
    import onnx

    graph = onnx.load_from_string(onnx_model).graph
    init = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init]
    if len(inputs) != 1:
        raise ProfileError(f"ONNX form has {len(inputs)} inputs; PGD needs one")
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inputs[0].type.tensor_type.shape.dim]
    want = adapter.spec.shape
    if len(dims) != len(want) or any(a > 0 and b > 0 and a != b for a, b in zip(dims[1:], want[1:])):
        raise ProfileError(
            f"ONNX input {dims} does not match the runnable's {adapter.spec.describe()}: "
            "PGD would run in another layout"
        )


def _fix_free_dims(onnx_model: bytes, shape: tuple[int, ...]) -> bytes:
    """The ONNX form with its input's free non-batch dimensions set to the seeds' (free
    image sizes, :mod:`.shapes`), shapes re-inferred, so onnx2torch knows every rank
    (PP-OCRv4's recogniser: its BatchNorms' ranks come through computed Reshapes)."""
    import onnx

    model = onnx.load_from_string(onnx_model)
    init = {i.name for i in model.graph.initializer}
    (inp,) = [i for i in model.graph.input if i.name not in init]
    dims = inp.type.tensor_type.shape.dim
    free = [k for k in range(1, min(len(dims), len(shape)))
            if not dims[k].HasField("dim_value")]
    if not free:
        return onnx_model
    for k in free:
        dims[k].dim_value = int(shape[k])
    del model.graph.value_info[:]
    try:  # onnxruntime's symbolic inference follows Shape->Concat->Reshape with a free batch
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        model = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - inference is a help for onnx2torch, not required
        try:
            model = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # noqa: BLE001
            pass
    return model.SerializeToString()


def generate_pairs(
    runnable: Runnable,
    seeds: SeedSet,
    *,
    onnx_model: bytes | None = None,
    normalization: Normalization | None = None,
    method: Generator | None = None,
    pgd: PgdConfig = PgdConfig(),
    search: SearchConfig = SearchConfig(),
    subject: str = "",
    module: object | None = None,
) -> PairSet:
    """ModelDiff pairs generated on one model.

    Args:
        runnable: the model the pairs are generated on (its outputs drive the search).
        seeds: the ``x_i``, canonical space (ModelDiff uses 100 from the model's domain).
        onnx_model: its ONNX form; needed for PGD (the white-box method).
        normalization: TFLite metadata normalisation of its input, when known.
        method: ``PGD`` or ``SCORE_SEARCH``; default PGD when ``onnx_model`` is given and
            the ``gradient`` extra is installed, the black-box search otherwise.
        pgd / search: settings of each method (defaults = the reference code's).
        subject: identifier of the model recorded as ``generated_on``.
        module: a differentiable torch module computing the model itself (a TorchScript
            model's own graph, :meth:`TorchRunnable.differentiable`); PGD runs through it
            instead of a torch copy of the ONNX form.
    """
    from modelhound.fingerprint.gradient import gradient_available

    _single_input(runnable)
    adapter = InputAdapter(runnable.inputs[0], normalization)
    if seeds.is_image != adapter.is_image:
        raise ProfileError(
            f"{adapter.spec.describe()}: seed set {seeds.name!r} "
            f"({'images' if seeds.is_image else 'vectors'}) does not fit this input"
        )
    if method is None:
        method = (
            Generator.PGD
            if (onnx_model is not None or module is not None) and gradient_available()
            else Generator.SCORE_SEARCH
        )
    x_float = adapter.to_float(seeds.data)
    if method is Generator.PGD:
        from modelhound.fingerprint.gradient import load_differentiable, pgd_perturb

        if module is None:
            if onnx_model is None:
                raise ProfileError("PGD needs the model's ONNX form or a differentiable module")
            _check_onnx_input(onnx_model, adapter)
            module = load_differentiable(_fix_free_dims(onnx_model, x_float.shape))
        x_adv = pgd_perturb(module, x_float, pgd)
        config = repr(pgd)
    else:
        x_adv = score_search(runnable, adapter, x_float, search)
        config = repr(search)
    # Store both halves through the same inverse mapping, so that replaying them on the
    # generator itself gives back x_float (up to float rounding).
    return PairSet(
        seeds_name=seeds.name,
        x=adapter.float_to_canonical(x_float),
        x_adv=adapter.float_to_canonical(x_adv),
        is_image=seeds.is_image,
        generator=method,
        generated_on=subject,
        generator_input=adapter.describe(),
        config=config,
        domain=seeds.domain,
    )
