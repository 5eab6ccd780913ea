"""ModelDiff's decision-distance vector (DDV) and model similarity, in numpy only.

Faithful to the reference code (``evaluate.ipynb`` ``compute_ddv``; ``modeldiff.py``
``compute_similarity_with_ddv``; ``utils.normalize``):

* ``DDV_i = scipy.spatial.distance.cosine(y_i, y'_i) = 1 - cos(y_i, y'_i)`` on the raw
  (dequantised) outputs of the model, all outputs of one input flattened into one vector;
* the DDV is divided by its L2 norm when that norm is non-zero;
* similarity = ``1 - cosine_distance(DDV_a, DDV_b)``; both are non-negative unit vectors,
  so this is their dot product, in [0, 1]. Models with different output sizes compare
  directly: a DDV has one element per pair whatever the output size.

A model with a single output value per input (a sigmoid probability) would have an all-zero
DDV (the cosine distance between two positive scalars is 0): its output is read as the
two-class vector ``(y, 1 - y)``. Degenerate cases scipy answers with NaN are defined here: the cosine distance between two
zero vectors is 0, between a zero and a non-zero vector 1; an all-zero DDV (the model does
not react to any pair) has similarity 0 with everything, including itself.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def flatten_outputs(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate every output of a batch into one (batch, k) float64 matrix."""
    if not outputs:
        raise ValueError("model returned no outputs")
    n = outputs[0].shape[0]
    flat = np.concatenate([np.asarray(o, dtype=np.float64).reshape(n, -1) for o in outputs], axis=1)
    if flat.shape[1] == 1:  # one value (a sigmoid) has no direction: read it as (y, 1 - y)
        flat = np.concatenate([flat, 1.0 - flat], axis=1)
    return flat


def cosine_distances(y: np.ndarray, y_adv: np.ndarray) -> np.ndarray:
    """Row-wise ``1 - cos(y_i, y'_i)`` for two (n, k) matrices (see module notes for zeros)."""
    y = np.asarray(y, dtype=np.float64)
    y_adv = np.asarray(y_adv, dtype=np.float64)
    if y.shape != y_adv.shape:
        raise ValueError(f"output shapes differ: {y.shape} vs {y_adv.shape}")
    na = np.linalg.norm(y, axis=1)
    nb = np.linalg.norm(y_adv, axis=1)
    dot = np.einsum("ij,ij->i", y, y_adv)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    d = 1.0 - np.clip(cos, -1.0, 1.0)
    both_zero = (na == 0) & (nb == 0)
    one_zero = (na == 0) ^ (nb == 0)
    d[both_zero] = 0.0
    d[one_zero] = 1.0
    # Round-off: a model that maps x and x' to parallel outputs gives 0, not -1e-16.
    return np.maximum(d, 0.0)


def normalize(v: np.ndarray) -> np.ndarray:
    """Divide by the L2 norm when it is non-zero (reference ``utils.normalize``)."""
    v = np.asarray(v, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def compute_ddv(outputs: Sequence[np.ndarray], outputs_adv: Sequence[np.ndarray]) -> np.ndarray:
    """The unit-norm DDV of one model from its outputs on ``x`` and on ``x'``."""
    return normalize(cosine_distances(flatten_outputs(outputs), flatten_outputs(outputs_adv)))


def ddv_similarity(ddv_a: np.ndarray | Sequence[float], ddv_b: np.ndarray | Sequence[float]) -> float:
    """``1 - cosine_distance(DDV_a, DDV_b)``; 0 when either DDV is all zero."""
    a = np.asarray(ddv_a, dtype=np.float64)
    b = np.asarray(ddv_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"DDVs from different pair sets cannot be compared: {a.shape} vs {b.shape}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0))
