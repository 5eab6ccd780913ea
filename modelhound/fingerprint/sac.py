"""SAC-m style sample-correlation fingerprints (numpy only, seeded).

The fingerprint of a model on a fixed probe batch is the matrix of Pearson correlations
between its output vectors for every pair of probe samples. Two models that compute the
same function (copies, and students that imitate a teacher's outputs) put the same
samples close to each other, so their matrices agree even when the output spaces are
only similar. SAC-m builds the probe batch from CutMix-augmented samples of the
reference's domain: mixed images sit off the data manifold, where independently trained
models disagree more than on clean samples.

Comparison: the cosine between the off-diagonal entries of the two (centred) matrices,
clipped to [0, 1]. Models with different output widths can still be compared (the matrix
is samples x samples), which clean label agreement cannot do.
"""

from __future__ import annotations

import numpy as np


def cutmix(images: np.ndarray, n: int, seed: int = 0, min_frac: float = 0.3, max_frac: float = 0.7) -> np.ndarray:
    """``n`` CutMix images: a random box of one image pasted into another (seeded).

    ``images``: canonical N x H x W x C floats. Box sides are a uniform fraction in
    [min_frac, max_frac] of the image side.
    """
    rng = np.random.default_rng(seed)
    images = np.asarray(images, dtype=np.float32)
    n_img, h, w = images.shape[0], images.shape[1], images.shape[2]
    a = rng.integers(0, n_img, size=n)
    b = rng.integers(0, n_img, size=n)
    out = images[a].copy()
    for i in range(n):
        bh = max(1, int(round(h * rng.uniform(min_frac, max_frac))))
        bw = max(1, int(round(w * rng.uniform(min_frac, max_frac))))
        y0 = int(rng.integers(0, h - bh + 1))
        x0 = int(rng.integers(0, w - bw + 1))
        out[i, y0 : y0 + bh, x0 : x0 + bw] = images[b[i], y0 : y0 + bh, x0 : x0 + bw]
    return out


def correlation_matrix(outputs: np.ndarray) -> np.ndarray:
    """Pearson correlations between the output vectors of every pair of samples (N x N)."""
    z = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    z = z - z.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    z = z / np.where(norm > 0, norm, 1.0)
    return z @ z.T


def sac_similarity(reference_matrix: np.ndarray, suspect_outputs: np.ndarray) -> float:
    """:func:`matrix_similarity` of a stored matrix and the suspect outputs' own matrix."""
    return matrix_similarity(reference_matrix, correlation_matrix(suspect_outputs))


def matrix_similarity(reference_matrix: np.ndarray, suspect_matrix: np.ndarray) -> float:
    """Similarity in [0, 1] of a stored correlation matrix and a suspect's outputs.

    Cosine between the off-diagonal entries of the two matrices after removing each one's
    mean (the mean correlation only says how peaked the outputs are), clipped at 0.
    """
    ref = np.asarray(reference_matrix, dtype=np.float64)
    sus = np.asarray(suspect_matrix, dtype=np.float64)
    if ref.shape != sus.shape:
        raise ValueError(f"probe count differs: reference {ref.shape}, suspect {sus.shape}")
    iu = np.triu_indices(len(ref), k=1)
    a, b = ref[iu], sus[iu]
    a, b = a - a.mean(), b - b.mean()
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    if den == 0.0:
        return 0.0
    return float(max(0.0, min(1.0, float(a @ b) / den)))
