"""Label and output agreement on a reference's hard inputs (AKH-style; numpy only).

A model stolen through a reference's outputs learns the reference's *function*, errors
included: where the reference is wrong, the copy tends to be wrong the same way, while an
independently trained model of the same task is right (or wrong differently). Agreement on
inputs the reference gets right says little (every good model of the task agrees there);
agreement on its mistakes is the fingerprint.

* With labels (the reference owner's data): the hard inputs are the ones the reference
  misclassifies (AKH).
* Without labels: the inputs on which the reference is least certain (smallest top-1
  minus top-2 logit margin), which is where its decision boundary is its own.

Scores are chance-corrected (Cohen's kappa over the hard inputs) so that a model that
always predicts one class does not look like a copy.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of N x K scores (outputs that already sum to 1 are kept)."""
    z = np.asarray(logits, dtype=np.float64).reshape(len(logits), -1)
    if np.all(z >= 0) and np.allclose(z.sum(axis=1), 1.0, atol=1e-3):
        return z
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def hard_indices(reference_outputs: np.ndarray, labels: np.ndarray | None = None, k: int = 100) -> np.ndarray:
    """Indices of up to ``k`` hard inputs for the reference, in a deterministic order.

    With ``labels``: the misclassified inputs (first ``k`` in input order); without: the
    ``k`` smallest top-1/top-2 margins (ties broken by index).
    """
    out = np.asarray(reference_outputs, dtype=np.float64).reshape(len(reference_outputs), -1)
    if labels is not None:
        wrong = np.flatnonzero(out.argmax(axis=1) != np.asarray(labels))
        return wrong[:k]
    if out.shape[1] < 2:
        return np.arange(min(k, len(out)))
    top2 = np.sort(out, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    return np.lexsort((np.arange(len(out)), margin))[:k]


def kappa(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    """Cohen's kappa between two label vectors (0 = chance, 1 = identical), clipped at 0."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return 0.0
    po = float((a == b).mean())
    pa = np.bincount(a, minlength=n_classes) / len(a)
    pb = np.bincount(b, minlength=n_classes) / len(b)
    pe = float(pa @ pb)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else 0.0
    return float(max(0.0, (po - pe) / (1.0 - pe)))


def label_agreement(reference_outputs: np.ndarray, suspect_outputs: np.ndarray) -> float:
    """Chance-corrected top-1 agreement (kappa) of two models on the same inputs.

    0 when the output widths differ (the label spaces cannot be matched).
    """
    pair = _comparable(reference_outputs, suspect_outputs)
    if pair is None:
        return 0.0
    r, s = pair
    return kappa(r.argmax(axis=1), s.argmax(axis=1), r.shape[1])


def output_agreement(reference_outputs: np.ndarray, suspect_outputs: np.ndarray) -> float:
    """1 - mean total-variation distance between the two softmax distributions, in [0, 1].

    0 when the output widths differ.
    """
    pair = _comparable(reference_outputs, suspect_outputs)
    if pair is None:
        return 0.0
    r, s = pair
    return float(1.0 - 0.5 * np.abs(softmax(r) - softmax(s)).sum(axis=1).mean())


def _comparable(reference_outputs: np.ndarray, suspect_outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Both outputs as N x K rows, or None when either is empty or their shapes differ."""
    if len(reference_outputs) == 0 or len(suspect_outputs) == 0:
        return None
    r = np.asarray(reference_outputs).reshape(len(reference_outputs), -1)
    s = np.asarray(suspect_outputs).reshape(len(suspect_outputs), -1)
    return (r, s) if r.shape == s.shape else None
