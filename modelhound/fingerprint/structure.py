"""Architecture signatures: which weight shapes a model has, in any format or layout.

A model's signature is the multiset of its weight-tensor shapes, each with the size-1 axes
dropped and the remaining sizes sorted, so that the same layer reads the same in TFLite
(OHWI), ONNX/Caffe/PyTorch (OIHW) and Keras (HWIO) files. Two models' structural
similarity is the weighted Jaccard index of their signatures (each shape counted with its
element count): 1.0 for the same architecture, lower as layers differ.

This is supporting evidence only. Many apps ship the same public architecture trained
independently (the MTCNN Caffe files of the fixtures share every shape and no weight), so
the same architecture never says "reused" on its own; it qualifies a behavioural verdict
(a stolen copy of the same architecture, or a different one) and ranks ties.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from modelhound.extractor.tensors import NamedTensor

#: structural similarity at or above which two models are called "the same architecture"
SAME_ARCHITECTURE = 0.9


def shape_key(shape: Sequence[int]) -> tuple[int, ...]:
    """A layout-independent key of one weight shape: sizes > 1, sorted."""
    return tuple(sorted(int(d) for d in shape if int(d) != 1))


def signature(tensors: Sequence[NamedTensor]) -> Counter[tuple[int, ...]]:
    """The multiset of layout-independent weight shapes (empty shapes, i.e. scalars, left out)."""
    return Counter(k for k in (shape_key(t.values.shape) for t in tensors) if k)


def _numel(key: tuple[int, ...]) -> int:
    n = 1
    for d in key:
        n *= d
    return n


def structure_similarity(a: Sequence[NamedTensor], b: Sequence[NamedTensor]) -> float | None:
    """Weighted Jaccard index of the two signatures in [0, 1]; None when either has no tensors."""
    sa, sb = signature(a), signature(b)
    if not sa or not sb:
        return None
    keys = sa.keys() | sb.keys()
    inter = sum(min(sa[k], sb[k]) * _numel(k) for k in keys)
    union = sum(max(sa[k], sb[k]) * _numel(k) for k in keys)
    return float(inter / union) if union else None


def describe(similarity: float | None) -> str:
    """Evidence text for a structural similarity."""
    if similarity is None:
        return ""
    if similarity >= SAME_ARCHITECTURE:
        return f"same architecture (weight shapes {similarity:.2f})"
    return f"different architecture (weight shapes {similarity:.2f})"
