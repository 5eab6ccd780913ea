"""White-box evidence: how much of a reference model's weights a suspect model carries.

Reference tensors are matched to suspect tensors of the same element count, under every
axis order that fits (TFLite OHWI, Caffe/ONNX/PyTorch OIHW, Keras HWIO, transposed dense
layers), and compared element by element. The layout-matched correlation separates:

- identical weights (re-packaged, converted to another format, metadata stripped): 0 error;
- float16 or int8 copies: correlation near 1, error at the quantization step;
- pruned copies: the weights that survive match, the rest are exact zeros;
- fine-tuned / transfer children: frozen layers identical, tuned layers still correlated;
- independently trained models: correlation near 0, whatever their architecture.

A tensor whose values are an exact permutation of a reference tensor (e.g. a dense layer
after a flatten in the other layout) also counts as identical: equal multisets of thousands
of float values do not happen by chance.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from modelhound.extractor.tensors import NamedTensor

#: correlation above which a tensor is a (dequantized / half-precision) copy
NEAR = 0.99
#: correlation above which a tensor is derived (fine-tuned, pruned and retrained)
RELATED = 0.5
#: relative error (max abs diff / max abs reference) at which a tensor counts as identical
IDENTICAL_RTOL = 1e-6
#: at most this many axis orders are tried per tensor pair
MAX_PERMUTATIONS = 24
#: after this many compared tensors with no correlation above EARLY_EXIT_BELOW, stop
EARLY_EXIT_AFTER = 6
EARLY_EXIT_BELOW = 0.25


@dataclass(frozen=True)
class TensorMatch:
    """How one reference tensor was found in the suspect."""

    reference: str
    suspect: str
    numel: int
    correlation: float
    identical: bool
    pruned_fraction: float
    """Share of the reference's non-zero weights that are exactly zero in the suspect."""
    layout: str
    """'same', an axis permutation such as '(0, 3, 1, 2)', or 'permuted values'."""
    change: str = ""
    """Storage change from reference to suspect, e.g. 'float32->int8', when there is one."""


@dataclass(frozen=True)
class WeightMatch:
    """A suspect's weights set against a reference's."""

    score: float
    """Mean over reference tensors of the best correlation found (0 when absent), in [0, 1]."""
    weighted_score: float
    """The same, weighted by tensor size."""
    identical_fraction: float
    """Share of reference tensors found identical: by count or by size, whichever is larger
    (a converter may fold a few small tensors away; a transfer child replaces a large head)."""
    near_fraction: float
    related_fraction: float
    pruned_fraction: float
    reference_tensors: int
    suspect_tensors: int
    kind: str
    """identical-weights, half-precision, quantized, pruned, fine-tuned, partial, none."""
    matches: tuple[TensorMatch, ...] = field(default=(), repr=False)

    @property
    def strength(self) -> float:
        """How strongly the weights say 'derived from the reference', in [0, 1]."""
        return max(self.score, self.weighted_score)

    @property
    def evidence(self) -> str:
        """One line a report can show."""
        if not self.reference_tensors:
            return "no reference weights to compare"
        return (f"weights: {self.kind}; {self.identical_fraction:.0%} of {self.reference_tensors} "
                f"reference tensors identical, {self.near_fraction:.0%} near-copies, "
                f"{self.related_fraction:.0%} correlated (mean r={self.score:.2f})"
                + (f", {self.pruned_fraction:.0%} of weights pruned" if self.pruned_fraction > 0.05 else ""))


def multiset_key(values: np.ndarray) -> str:
    """Layout-independent identity of a tensor's values (hash of the sorted float32 values)."""
    return hashlib.sha1(np.sort(values.astype(np.float32).ravel()).tobytes()).hexdigest()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64)
    b = b.ravel().astype(np.float64)
    da, db = a - a.mean(), b - b.mean()
    denom = np.sqrt((da * da).sum() * (db * db).sum())
    if denom == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float((da * db).sum() / denom)


def _layouts(suspect: np.ndarray, ref_shape: tuple[int, ...]) -> list[tuple[str, np.ndarray]]:
    """The suspect tensor rearranged into the reference's shape, in every plausible way."""
    s = np.squeeze(suspect) if suspect.ndim != len(ref_shape) else suspect
    target = tuple(ref_shape)
    out: list[tuple[str, np.ndarray]] = []
    if s.shape == target:
        out.append(("same", s))
    sq_target = tuple(d for d in target if d != 1)
    s2 = np.squeeze(suspect)
    if s2.ndim <= 5 and sorted(s2.shape) == sorted(sq_target) and s2.ndim:
        for perm in itertools.islice(itertools.permutations(range(s2.ndim)), MAX_PERMUTATIONS):
            moved = np.transpose(s2, perm)
            if moved.shape == sq_target and perm != tuple(range(s2.ndim)):
                out.append((str(perm), moved.reshape(target)))
            elif moved.shape == sq_target and not out:
                out.append(("same", moved.reshape(target)))
    if not out and s.size == int(np.prod(target)):
        out.append(("flat", s.reshape(target)))
    return out


def _match_tensor(ref: NamedTensor, cand: NamedTensor,
                  keys: dict[int, str] | None = None) -> TensorMatch:
    from dataclasses import replace

    m = _best_layout(ref, cand, keys if keys is not None else {})
    if ref.stored_dtype != cand.stored_dtype:
        m = replace(m, change=f"{ref.stored_dtype}->{cand.stored_dtype}")
    return m


#: elements sampled to choose a layout (full comparison follows for the chosen one)
SAMPLE = 2048


def _sample_coords(shape: tuple[int, ...], n: int) -> tuple[np.ndarray, ...]:
    size = int(np.prod(shape))
    rng = np.random.default_rng(size)
    flat = np.arange(size) if size <= n else rng.choice(size, n, replace=False)
    return np.unravel_index(flat, shape)


def _key(t: NamedTensor, keys: dict[int, str]) -> str:
    if id(t) not in keys:
        keys[id(t)] = multiset_key(t.values)
    return keys[id(t)]


def _best_layout(ref: NamedTensor, cand: NamedTensor, keys: dict[int, str]) -> TensorMatch:
    r = ref.values
    best = TensorMatch(ref.name, cand.name, r.size, 0.0, False, 0.0, "none")
    scale = float(np.abs(r).max()) or 1.0
    layouts = _layouts(cand.values, r.shape)
    if not layouts:
        return best
    # choose the layout on a sample of positions, then compare fully in that layout only
    if len(layouts) > 1 and r.size > SAMPLE:
        coords = _sample_coords(r.shape, SAMPLE)
        rs = r[coords]
        layouts = [max(layouts, key=lambda ls: _correlation(ls[1][coords], rs))]
    for layout, s in layouts:
        err = float(np.abs(s - r).max()) / scale
        corr = 1.0 if err <= IDENTICAL_RTOL else _correlation(s, r)
        nonzero = r != 0
        pruned = float(((s == 0) & nonzero).sum() / max(nonzero.sum(), 1))
        if pruned > 0.05:  # compare what survived pruning
            keep = s != 0
            if keep.sum() > 8:
                corr = max(corr, _correlation(s[keep], r[keep]))
        if corr > best.correlation:
            best = TensorMatch(ref.name, cand.name, r.size, corr, err <= IDENTICAL_RTOL, pruned, layout)
        if best.identical:
            break
    if best.correlation < NEAR and _key(cand, keys) == _key(ref, keys):
        best = TensorMatch(ref.name, cand.name, r.size, 1.0, True, 0.0, "permuted values")
    return best


def compare_weights(suspect: Sequence[NamedTensor], reference: Sequence[NamedTensor]) -> WeightMatch:
    """Match every reference tensor to its best suspect tensor of the same size.

    Constant tensors (zero biases, unit scales) carry no evidence and are left out.
    """
    suspect = [t for t in suspect if t.values.size and np.ptp(t.values) > 0]
    reference = [t for t in reference if t.values.size and np.ptp(t.values) > 0]
    by_size: dict[int, list[NamedTensor]] = {}
    for t in suspect:
        by_size.setdefault(t.values.size, []).append(t)
    matches: list[TensorMatch] = []
    used: set[int] = set()
    keys: dict[int, str] = {}
    evaluated = 0
    for ref in sorted(reference, key=lambda t: -t.values.size):
        if evaluated >= EARLY_EXIT_AFTER and not any(
                m.correlation >= EARLY_EXIT_BELOW for m in matches):
            # the largest tensors share nothing: an unrelated model; skip the rest
            matches.append(TensorMatch(ref.name, "", ref.values.size, 0.0, False, 0.0, "skipped"))
            continue
        best: TensorMatch | None = None
        best_id = -1
        for cand in by_size.get(ref.values.size, []):
            if id(cand) in used:
                continue
            m = _match_tensor(ref, cand, keys)
            if best is None or m.correlation > best.correlation:
                best, best_id = m, id(cand)
            if m.identical:
                break
        if best is not None:
            evaluated += 1
        if best is not None and best.correlation > 0:
            used.add(best_id)
            matches.append(best)
        else:
            matches.append(TensorMatch(ref.name, "", ref.values.size, 0.0, False, 0.0, "none"))
    n = len(matches)
    if not n:
        return WeightMatch(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, len(suspect), "none")
    # Correlations that chance alone reaches on small tensors (null sd 1/sqrt(n), maximised
    # over the layouts tried) count as zero.
    corr = np.array([m.correlation if m.identical or m.correlation >= 4 / np.sqrt(m.numel)
                     else 0.0 for m in matches]).clip(0, 1)
    size = np.array([m.numel for m in matches], dtype=np.float64)
    identical = np.array([m.identical for m in matches])
    near = corr >= NEAR
    related = corr >= RELATED

    def share(mask: np.ndarray) -> float:
        return float(max(mask.mean(), (mask * size).sum() / size.sum()))

    derived = [m for m in matches if m.correlation >= RELATED]
    pruned = float(sum(m.pruned_fraction * m.numel for m in derived) / size.sum())
    wm = WeightMatch(
        score=float(corr.mean()),
        weighted_score=float((corr * size).sum() / size.sum()),
        identical_fraction=share(identical),
        near_fraction=share(near),
        related_fraction=share(related),
        pruned_fraction=pruned,
        reference_tensors=n,
        suspect_tensors=len(suspect),
        kind="none",
        matches=tuple(matches),
    )
    return _with_kind(wm, suspect)


def _with_kind(wm: WeightMatch, suspect: Sequence[NamedTensor]) -> WeightMatch:
    from dataclasses import replace

    changes = {m.change.split("->")[1] for m in wm.matches if m.change and m.correlation >= NEAR}
    found = [m for m in wm.matches if m.suspect]
    # tensors present in both but moved beyond quantization noise: retrained layers
    moved = sum(1 for m in found if m.correlation < NEAR) / max(len(found), 1)
    if wm.identical_fraction >= 0.98 and moved < 0.1:
        kind = "identical-weights"
    elif wm.near_fraction >= 0.9 and moved < 0.1 and changes & {"int8", "uint8"}:
        kind = "quantized"  # int8 rounding zeroes small weights: not pruning
    elif wm.near_fraction >= 0.9 and wm.pruned_fraction < 0.05 and moved < 0.1:
        if changes & {"int8", "uint8"}:
            kind = "quantized"
        elif "float16" in changes:
            kind = "half-precision"
        else:
            kind = "near-identical"
    elif wm.pruned_fraction >= 0.05 and wm.related_fraction >= 0.5:
        kind = "pruned"
    elif wm.related_fraction >= 0.5 or wm.identical_fraction >= 0.3:
        kind = "fine-tuned"
    elif wm.identical_fraction > 0 or wm.related_fraction >= 0.1:
        kind = "partial"
    else:
        kind = "none"
    return replace(wm, kind=kind)
