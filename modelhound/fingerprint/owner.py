"""Owner evidence: conferrable probes built from the model owner's data.

Why: a copy stolen through a reference's outputs shares no weights, and on the reference's
own domain it behaves like any independent model of the task (bench/reuse, issue 6: stolen
copies agree with their teacher on 90-97 % of test labels, independent models on 89-96 %).
What only a copy inherits are the reference's *own* decisions: its mistakes on its training
data and the places near its decision boundary where it decides differently from other
models of the task. The owner's data makes those findable, because with it the tool can
train the two pools that conferrable adversarial examples (Lukas et al., ICLR 2021) need:

* **independents**: small models trained from scratch on the owner's data and labels, with
  several seeds and two architectures, and (``--owner-base``) the owner's public base model
  fine-tuned on the owner's data with other seeds and other 80 % shares of it: the hardest
  negatives (models trained on the owner's own data, sharing the reference's starting
  point, that never saw the reference);
* **surrogates**: small models distilled from the reference on the owner's data (hard
  labels and probabilities) and on public query data of the domain (``--owner-queries``;
  else mixed / shifted owner inputs): a thief with or without the owner's data.

Candidate probes are the owner's samples (with labels: only those the reference gets
wrong, since where it is right every good model agrees), the query samples, and targeted
adversarial examples optimised against both pools (transfer to the surrogates, not to the
independents). Each candidate gets the reference's label; its conferrability is
``mean_S[s == t]`` times ``(1 - mean_I[i == t])`` for each kind of *selection* independent
(from scratch, from the base), and the ``n_probes`` most conferrable are kept. The
statistic for a suspect is its top-1 agreement with the reference on those probes
(label-only: any runnable suspect can be scored, quantized ones too).

Calibration uses models that took no part in the selection: the *calibration*
independents' agreements form the null. The p-value is the binomial upper tail of the
suspect's agreement count over the probes at the highest calibration independent's rate
plus ``MARGIN``, and a suspect is flagged when ``p < alpha`` **and** the owner declared how
the reference started (``--owner-base ONNX|scratch``). A suspect closer than every
calibration model but not significantly so is "inconclusive".

Measured (bench/reuse/results-owner.md): with the tool's from-scratch null alone, models
that share the reference's public pretraining agree with it far more than the null and 27
of 52 independent pairs were flagged; hence no flag without a declared start. With the base
fine-tunes in both pools and MARGIN 0.15: 0 of 58 independent pairs flagged, 4 of 28
distilled or stolen children flagged (the real independents still spread above the
calibration models, so the margin has to be wide and recall is low).

Data-provenance evidence (dataset inference) is deliberately not used for the verdict: it
flags any model trained on the owner's data, independent ones included (see
shared/background/theft-evidence.md section 0).

Training and the adversarial search need torch (the ``gradient`` extra); scoring a suspect
is numpy only. Everything is seeded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from modelhound.errors import ProfileError

OWNER_LAYOUT = 1
"""Layout version of the stored evidence (``owner.npz``)."""

#: the null agreement rate is the highest calibration independent's plus this margin: the
#: smallest of 0.05-0.30 with no false positive in either measured probe selection of
#: bench/reuse (results-owner.md; 0.05 and 0.10 flagged independents in one of them)
MARGIN = 0.15

#: how the owner says the reference started (``--owner-base``): fine-tuned from a public
#: base model, or trained from scratch. Without either, the tool's from-scratch null does not
#: represent independents that share a public base (bench/reuse: 27 of 52 flagged), and the
#: evidence only reports, never flags.
STARTS = ("base", "scratch")
_START_NOTE = {
    "base": "fine-tuned from the owner's base model (independents fine-tuned from it are in the null)",
    "scratch": "trained from scratch (declared by the owner)",
    "undeclared": "not declared (--owner-base ONNX|scratch), so the evidence reports but never flags",
}


class OwnerEvidenceError(ProfileError):
    """The owner evidence cannot be built (or read) for this reference / data."""


@dataclass(frozen=True)
class OwnerSettings:
    """How owner evidence is built (defaults: the values bench/reuse measures)."""

    n_independent: int = 4
    """Independents trained from scratch on the owner's data (half select probes, half calibrate)."""
    n_base: int = 8
    """Independents fine-tuned from the owner's named base model (``--owner-base``) on the
    owner's data, each on its own random share of it (half select, half calibrate)."""
    base_share: float = 0.8
    """Share of the owner's samples each base fine-tune sees (its own seeded subset)."""
    n_surrogate: int = 4
    n_probes: int = 200
    n_adv_seeds: int = 300
    eps: float = 0.15
    """L-infinity radius of the adversarial candidates (in the data's own units x range)."""
    adv_steps: int = 20
    min_steps: int = 300
    """Training updates per small model (at least)."""
    batch: int = 64
    max_samples: int = 6000
    """At most this many owner samples are used (a seeded subset)."""
    alpha: float = 1e-3
    seed: int = 0
    threads: int = 1


@dataclass(frozen=True)
class OwnerScore:
    """One suspect scored with a reference's owner evidence."""

    agreement: float
    """Top-1 agreement with the reference on its conferrable probes."""
    p_value: float
    flagged: bool
    null_max: float
    threshold: float

    undeclared: bool = False
    """The owner did not say how the reference started (``--owner-base``): never flagged."""

    @property
    def inconclusive(self) -> bool:
        """Would be flagged but the start is undeclared, or closer to the reference than every
        calibration independent but not significantly: the evidence cannot tell a copy from
        an independent model here."""
        return not self.flagged and (self.agreement > self.null_max or self.undeclared)

    def describe(self) -> str:
        """One line for the evidence column."""
        if self.flagged:
            verdict = "copy of the reference's own decisions"
        elif self.undeclared and self.p_value < 1e-3:
            verdict = ("inconclusive: above the threshold, but the owner did not name the reference's "
                       "starting point (zoo add --owner-base ONNX|scratch), so independents fine-tuned from "
                       "a public base are not in the null")
        elif self.inconclusive:
            verdict = ("inconclusive: closer than every independent model the tool trained on the owner's "
                       "data, but below the threshold")
        else:
            verdict = "no sign of theft"
        return (f"owner evidence: agreement {self.agreement:.3f} on conferrable probes "
                f"(independent models on the owner's data <= {self.null_max:.3f}; threshold "
                f"{self.threshold:.3f}; p = {self.p_value:.2g}): {verdict}")


@dataclass(frozen=True)
class OwnerEvidence:
    """What a zoo stores per reference when its owner brought data."""

    probes: np.ndarray
    """Canonical probe inputs (float32), most conferrable first."""
    labels: np.ndarray
    """The reference's top-1 label on each probe."""
    n_classes: int
    null: np.ndarray
    """Calibration independents' agreements (the null)."""
    surrogate: np.ndarray
    """Surrogates' agreements (in-sample: they helped choose the probes; for the report)."""
    alpha: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def null_rate(self) -> float:
        """Agreement rate of the null: the highest calibration independent's plus ``MARGIN``."""
        return float(min(1.0, float(self.null.max()) + MARGIN))

    def p_value(self, agreement: float) -> float:
        """P(an independent model agrees this often): the binomial upper tail over the probes
        at :attr:`null_rate` (conservative: the *highest* independent's rate, plus a margin)."""
        n = len(self.labels)
        return _binom_sf(int(round(agreement * n)), n, self.null_rate)

    @property
    def threshold(self) -> float:
        """Lowest agreement that is flagged (p < alpha)."""
        n = len(self.labels)
        for k in range(n + 1):
            if _binom_sf(k, n, self.null_rate) < self.alpha:
                return k / n
        return 1.0

    def score(self, suspect_outputs: np.ndarray) -> OwnerScore:
        """Score a suspect from its outputs on :attr:`probes` (ValueError on a width mismatch)."""
        out = np.asarray(suspect_outputs).reshape(len(suspect_outputs), -1)
        if len(out) != len(self.labels):
            raise ValueError(f"owner evidence: {len(out)} suspect outputs for {len(self.labels)} probes")
        if out.shape[1] != self.n_classes:
            raise ValueError(f"owner evidence: suspect has {out.shape[1]} outputs, the reference {self.n_classes}")
        agree = float((out.argmax(axis=1) == self.labels).mean())
        p = self.p_value(agree)
        declared = dict(self.meta).get("start") in STARTS
        return OwnerScore(agree, p, bool(p < self.alpha) and declared, float(self.null.max()), self.threshold,
                          undeclared=not declared)

    def summary(self) -> str:
        """One line for ``zoo show`` and reports."""
        m = dict(self.meta)
        return (f"owner evidence v{OWNER_LAYOUT}: {len(self.labels)} conferrable probes from "
                f"{m.get('n_owner', '?')} owner samples ({'labelled' if m.get('labelled') else 'unlabelled'}); "
                f"null {np.round(self.null, 3).tolist()}, threshold {self.threshold:.3f}, alpha {self.alpha}; "
                f"start: {_START_NOTE.get(str(m.get('start')), _START_NOTE['undeclared'])}; "
                f"built in {m.get('seconds', 0):.0f} s")

    def to_npz(self) -> dict[str, np.ndarray]:
        """Arrays for ``np.savez_compressed``."""
        import json

        return {
            "layout": np.array(OWNER_LAYOUT), "probes": self.probes.astype(np.float32),
            "labels": self.labels.astype(np.int64), "n_classes": np.array(self.n_classes),
            "null": self.null.astype(np.float64), "surrogate": self.surrogate.astype(np.float64),
            "alpha": np.array(self.alpha), "meta": np.array(json.dumps(dict(self.meta))),
        }

    @classmethod
    def from_npz(cls, z: Mapping[str, Any], where: str = "") -> "OwnerEvidence":
        """Inverse of :meth:`to_npz` (OwnerEvidenceError for another layout)."""
        import json

        layout = int(z["layout"]) if "layout" in z else -1
        if layout != OWNER_LAYOUT:
            raise OwnerEvidenceError(f"{where}: owner evidence layout {layout}, this modelhound reads "
                                     f"{OWNER_LAYOUT}; re-add the reference with --owner-data")
        return cls(np.asarray(z["probes"], dtype=np.float32), np.asarray(z["labels"], dtype=np.int64),
                   int(z["n_classes"]), np.asarray(z["null"], dtype=np.float64),
                   np.asarray(z["surrogate"], dtype=np.float64), float(z["alpha"]),
                   json.loads(str(z["meta"])))


def _binom_sf(k: int, n: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(n, q), in log space (no scipy needed)."""
    if k <= 0:
        return 1.0
    if q >= 1.0:
        return 1.0
    if q <= 0.0:
        return 0.0
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(q)
            + (n - i) * math.log1p(-q) for i in range(k, n + 1)]
    top = max(logs)
    return float(min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs)))


# --- building (torch) ---------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    from modelhound.fingerprint.agreement import softmax

    return softmax(z).astype(np.float32)


def _net(kind: int, shape: tuple[int, ...], n_classes: int, is_image: bool) -> Any:
    """One of two small architectures for the input shape (images: NHWC, canonical)."""
    import torch.nn as nn

    if not is_image:
        d = int(np.prod(shape))
        hidden = (128,) if kind == 0 else (64, 64)
        layers: list[Any] = [nn.Flatten()]
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        return nn.Sequential(*layers, nn.Linear(d, n_classes))
    h, w, c = shape
    side = min(32, h, w)
    pool_in: list[Any] = [nn.AdaptiveAvgPool2d((side, side))] if (h, w) != (side, side) else []
    if kind == 0:  # LeNet-like
        body = [nn.Conv2d(c, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 32), nn.ReLU(),
                nn.Linear(32, n_classes)]
    else:  # strided, MobileNet-like widths
        body = [nn.Conv2d(c, 8, 5, stride=2, padding=2), nn.ReLU(),
                nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(144, 32), nn.ReLU(),
                nn.Linear(32, n_classes)]
    return nn.Sequential(*pool_in, *body)


class _Nets:
    """Trains and runs the small models (inputs canonical: NHWC images or flat arrays)."""

    def __init__(self, shape: tuple[int, ...], n_classes: int, is_image: bool, settings: OwnerSettings) -> None:
        import torch

        self.torch = torch
        torch.set_num_threads(max(1, settings.threads))
        self.shape, self.k, self.is_image, self.s = shape, n_classes, is_image, settings

    def tensor(self, x: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        return t.permute(0, 3, 1, 2) if self.is_image else t

    def train(self, kind: int, seed: int, x: np.ndarray, target: np.ndarray, soft: bool,
              init: Any = None) -> Any:
        """A small model trained on (x, target); ``init``: start from this model's weights
        with a new output layer (a public base model fine-tuned on the owner's data)."""
        torch = self.torch
        torch.manual_seed(seed)
        net = _net(kind, self.shape, self.k, self.is_image)
        if init is not None:
            net.load_state_dict({k: v for k, v in init.state_dict().items()
                                 if not k.startswith(str(len(net) - 1) + ".")}, strict=False)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        rng = np.random.default_rng(seed)
        n, b = len(x), self.s.batch
        epochs = max(3, -(-self.s.min_steps * b // n))
        xt = self.tensor(x)
        tt = torch.from_numpy(target.astype(np.float32 if soft else np.int64))
        net.train()
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(n))
            for i in range(0, n, b):
                idx = order[i : i + b]
                logits = net(xt[idx])
                if soft:
                    loss = -(tt[idx] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
                else:
                    loss = torch.nn.functional.cross_entropy(logits, tt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    def finetune(self, base: "_Base", seed: int, x: np.ndarray, target: np.ndarray) -> Any:
        """The owner's public base model with a new output layer, every layer fine-tuned on
        a seeded ``base_share`` of (x, target): an independent that shares the reference's
        public starting point and the owner's data, but never saw the reference."""
        import copy

        torch = self.torch
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(x), max(10, int(self.s.base_share * len(x))), replace=False))
        body = copy.deepcopy(base.module)
        for p in body.parameters():
            p.requires_grad_(True)
        net = _base_net(body, base.nchw, torch.nn.Linear(base.width, self.k))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xk, tk = x[keep], torch.from_numpy(target[keep].astype(np.int64))
        xt = torch.from_numpy(np.ascontiguousarray(xk, dtype=np.float32))
        n, b = len(xk), self.s.batch
        net.train()
        for _ in range(max(3, -(-self.s.min_steps * b // n))):
            order = torch.from_numpy(rng.permutation(n))
            for i in range(0, n, b):
                idx = order[i : i + b]
                loss = torch.nn.functional.cross_entropy(net(xt[idx]), tk[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return _Canonical(net)

    def labels(self, net: Any, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            if isinstance(net, _Canonical):
                return np.concatenate([net.net(self.torch.from_numpy(np.ascontiguousarray(
                    x[i : i + 512], dtype=np.float32))).argmax(1).numpy() for i in range(0, len(x), 512)]) \
                    if len(x) else np.zeros(0, np.int64)
            return np.concatenate([net(self.tensor(x[i : i + 1024])).argmax(1).numpy()
                                   for i in range(0, len(x), 1024)]) if len(x) else np.zeros(0, np.int64)

    def forward(self, net: Any, t: Any) -> Any:
        """Logits of a small model or a base fine-tune on a tensor from :meth:`tensor`."""
        if isinstance(net, _Canonical):
            return net.net(t.permute(0, 2, 3, 1) if self.is_image else t)
        return net(t)

    def conferrable(self, surrogates: list[Any], independents: list[Any], x0: np.ndarray,
                    target: np.ndarray, lo: float, hi: float, seed: int) -> np.ndarray:
        """Targeted PGD: the surrogates move to ``target``, the independents do not."""
        torch = self.torch
        g = torch.Generator().manual_seed(seed)
        eps = self.s.eps * (hi - lo)
        step = 2.5 * eps / self.s.adv_steps
        out = []
        for i in range(0, len(x0), 256):
            x = self.tensor(x0[i : i + 256])
            t = torch.from_numpy(target[i : i + 256].astype(np.int64))
            adv = (x + (torch.rand(x.shape, generator=g) * 2 - 1) * eps * 0.5).clamp(lo, hi)
            for _ in range(self.s.adv_steps):
                adv.requires_grad_(True)
                ps = torch.stack([torch.softmax(self.forward(m, adv), 1) for m in surrogates]).mean(0)
                pi = torch.stack([torch.softmax(self.forward(m, adv), 1) for m in independents]).mean(0)
                pts = ps.gather(1, t[:, None]).squeeze(1)
                pti = pi.gather(1, t[:, None]).squeeze(1)
                loss = -(torch.log(pts + 1e-6) + torch.log(1 - pti + 1e-6)).sum()
                grad, = torch.autograd.grad(loss, adv)
                with torch.no_grad():
                    adv = adv - step * grad.sign()
                    adv = torch.max(torch.min(adv, x + eps), x - eps).clamp(lo, hi)
            adv = adv.detach()
            out.append((adv.permute(0, 2, 3, 1) if self.is_image else adv).numpy())
        return np.concatenate(out) if out else x0[:0]


@dataclass(frozen=True)
class _Base:
    """The owner's public base model as a torch module (canonical NHWC / flat input)."""

    module: Any
    nchw: bool
    """Whether the module takes NCHW (canonical images are NHWC)."""
    width: int
    """Its output width (the new layer's input)."""


class _Canonical:
    """A base fine-tune; takes canonical inputs (never the _Nets NCHW tensors)."""

    def __init__(self, net: Any) -> None:
        self.net = net


def _base_net(body: Any, nchw: bool, head: Any) -> Any:
    import torch

    class BaseNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.head = body, head

        def forward(self, x: Any) -> Any:
            z = self.body(x.permute(0, 3, 1, 2) if nchw else x)
            z = z[0] if isinstance(z, (list, tuple)) else z
            return self.head(torch.relu(z.reshape(z.shape[0], -1)))

    return BaseNet()


def load_base(onnx_model: bytes, sample: np.ndarray) -> _Base:
    """The owner's base model (ONNX) as a trainable torch module; ``sample``: a few
    canonical inputs (its layout is found by running them). OwnerEvidenceError if it
    cannot be converted or does not take these inputs."""
    import torch

    from modelhound.fingerprint.gradient import load_differentiable

    try:
        module = load_differentiable(onnx_model)
    except ProfileError as exc:
        raise OwnerEvidenceError(f"owner base model: {exc}") from exc
    x = torch.from_numpy(np.ascontiguousarray(sample[:2], dtype=np.float32))
    tries = [False, True] if x.ndim == 4 else [False]
    for nchw in tries:
        try:
            with torch.no_grad():
                z = module(x.permute(0, 3, 1, 2) if nchw else x)
            z = z[0] if isinstance(z, (list, tuple)) else z
            return _Base(module, nchw, int(np.prod(z.shape[1:])))
        except Exception:  # noqa: BLE001 - the other layout, or a model for another input
            continue
    raise OwnerEvidenceError(f"owner base model does not take the reference's input {tuple(sample.shape[1:])}")


def _mix(x: np.ndarray, rng: np.random.Generator, is_image: bool) -> np.ndarray:
    """Other-data queries for a simulated thief: mixups and shifts of owner samples."""
    a = x[rng.permutation(len(x))]
    lam = rng.uniform(0.3, 0.7, size=(len(x),) + (1,) * (x.ndim - 1)).astype(np.float32)
    mixed = lam * x + (1 - lam) * a
    if is_image:
        dy, dx = rng.integers(-3, 4, size=2)
        mixed = np.roll(mixed, (int(dy), int(dx)), axis=(1, 2))
    return mixed.astype(np.float32)


def build_owner_evidence(
    run: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    is_image: bool,
    settings: OwnerSettings = OwnerSettings(),
    independents: Callable[[int], Any] | None = None,
    base: bytes | None = None,
    scratch: bool = False,
    queries: np.ndarray | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> OwnerEvidence:
    """Build a reference's owner evidence.

    ``run`` maps canonical inputs (N x H x W x C images or N x ... arrays, as ``x``) to the
    reference's outputs (N x K class scores). ``y`` are the owner's labels (None: the
    independents learn the reference's own labels, which makes the null a label thief on
    the owner's data, so only closer copies are flagged; the evidence says so).
    ``base``: the public model (ONNX) the owner fine-tuned the reference from; independents
    fine-tuned from it on the owner's data join both pools (they are the independents that
    share the reference's starting point). ``queries``: unlabelled inputs a thief without
    the owner's data would plausibly query with (public data of the domain): surrogates are
    distilled on them and probes are derived from them too. ``scratch``: the owner declares
    the reference was trained from scratch (no public base). Without ``base`` or ``scratch``
    the evidence never flags (:attr:`OwnerScore.undeclared`).
    ``independents`` optionally returns a cached from-scratch independent by index (bench).
    """
    from modelhound.fingerprint.gradient import gradient_available

    if not gradient_available():
        raise OwnerEvidenceError("owner evidence trains small models with torch: install the gradient "
                                 "extra (scripts/setup.sh test,gradient)")
    t0 = time.time()
    rng = np.random.default_rng(settings.seed)
    x = np.asarray(x, dtype=np.float32)
    if len(x) < 50:
        raise OwnerEvidenceError(f"owner data: {len(x)} samples; at least 50 are needed")
    if len(x) > settings.max_samples:
        keep = np.sort(rng.choice(len(x), settings.max_samples, replace=False))
        x = x[keep]
        y = None if y is None else np.asarray(y)[keep]
    ref_out = np.asarray(run(x), dtype=np.float64).reshape(len(x), -1)
    k = ref_out.shape[1]
    if k < 2:
        raise OwnerEvidenceError("owner evidence needs a classifier (a vector of class scores); "
                                 f"this reference has {k} output value(s) per input")
    t_lab = ref_out.argmax(1)
    t_prob = _softmax(ref_out)
    if y is not None:
        y = np.asarray(y).astype(np.int64)
        if y.min() < 0 or y.max() >= k:
            raise OwnerEvidenceError(f"owner data: labels span {int(y.min())}..{int(y.max())}, "
                                     f"the reference has {k} classes")
    train_y = y if y is not None else t_lab
    nets = _Nets(tuple(x.shape[1:]), k, is_image, settings)
    scratch = []
    for j in range(settings.n_independent):
        m = independents(j) if independents is not None else None
        scratch.append(m if m is not None else nets.train(j % 2, 1000 + j, x, train_y, soft=False))
    based: list[Any] = []
    if base is not None:
        b = load_base(base, x)
        based = [nets.finetune(b, 3000 + j, x, train_y) for j in range(settings.n_base)]
    log(f"owner evidence: {len(scratch)} + {len(based)} independents trained ({time.time() - t0:.0f} s)")
    if queries is not None and len(queries):
        xq = np.asarray(queries, dtype=np.float32)
        if xq.shape[1:] != x.shape[1:]:
            raise OwnerEvidenceError(f"query data: samples of shape {xq.shape[1:]}, the owner's are {x.shape[1:]}")
        if len(xq) > settings.max_samples:
            xq = xq[np.sort(rng.choice(len(xq), settings.max_samples, replace=False))]
    else:
        xq = _mix(x, rng, is_image)
    q_out = np.asarray(run(xq), dtype=np.float64).reshape(len(xq), -1)
    recipes = [(0, x, t_lab, False), (1, xq, q_out.argmax(1), False), (1, x, t_prob, True),
               (0, xq, _softmax(q_out), True)]
    surr = [nets.train(kind, 2000 + j, xs, ts, soft)
            for j, (kind, xs, ts, soft) in enumerate(recipes[: settings.n_surrogate])]
    log(f"owner evidence: {len(surr)} surrogates trained ({time.time() - t0:.0f} s)")
    hs, hb = max(1, len(scratch) // 2), len(based) // 2
    sel, cal = scratch[:hs] + based[:hb], scratch[hs:] + based[hb:]
    if not cal:
        raise OwnerEvidenceError("owner evidence needs at least 2 independents")
    # Candidates: owner samples, query samples, and conferrable adversarial examples of both.
    n_seeds = min(settings.n_adv_seeds, len(x))
    seeds_x = x[rng.choice(len(x), n_seeds, replace=False)]
    if queries is not None and len(queries):
        nq = min(settings.n_adv_seeds // 2, len(xq))
        seeds_x = np.concatenate([seeds_x[: n_seeds - nq], xq[rng.choice(len(xq), nq, replace=False)]])
    top2 = np.argsort(np.asarray(run(seeds_x), dtype=np.float64).reshape(len(seeds_x), -1), axis=1)[:, -2]
    lo, hi = float(x.min()), float(x.max())
    adv = nets.conferrable(surr, sel, seeds_x, top2, lo, hi, settings.seed)
    # With labels, only the reference's own mistakes are natural candidates: where it is
    # right, every good model of the task agrees with it, however weak the tool's pools are.
    natural = np.flatnonzero(t_lab != y) if y is not None else np.arange(len(x))
    nat_q = np.arange(len(xq)) if queries is not None and len(queries) else np.arange(0)
    cand = np.concatenate([x[natural], xq[nat_q], adv])
    c_lab = np.concatenate([t_lab[natural], q_out.argmax(1)[nat_q],
                            np.asarray(run(adv), dtype=np.float64).reshape(len(adv), -1).argmax(1)])
    a_s = np.mean([nets.labels(m, cand) == c_lab for m in surr], axis=0)
    # Conferrability against each kind of independent separately (from scratch, from the
    # base): a probe must be followed by the surrogates and by neither kind.
    conf = a_s
    for pool in (scratch[:hs], based[:hb]):
        if pool:
            conf = conf * (1.0 - np.mean([nets.labels(m, cand) == c_lab for m in pool], axis=0))
    order = np.lexsort((np.arange(len(cand)), -conf))
    chosen = order[: settings.n_probes]
    chosen = chosen[conf[chosen] > 0]
    if len(chosen) < 20:
        raise OwnerEvidenceError(f"owner evidence: only {len(chosen)} conferrable probes found "
                                 "(the reference decides like any model trained on this data)")
    probes, labels = cand[chosen], c_lab[chosen]
    null = np.array([float((nets.labels(m, probes) == labels).mean()) for m in cal])
    sur = np.array([float((nets.labels(m, probes) == labels).mean()) for m in surr])
    n_nat = len(natural)
    meta = {
        "n_owner": int(len(x)), "labelled": y is not None, "seconds": round(time.time() - t0, 1),
        "start": "base" if base is not None else "scratch" if scratch else "undeclared",
        "n_natural": int((chosen < n_nat).sum()), "n_query": int(((chosen >= n_nat) & (chosen < n_nat + len(nat_q))).sum()),
        "n_adversarial": int((chosen >= n_nat + len(nat_q)).sum()),
        "conferrability_mean": round(float(conf[chosen].mean()), 4),
        "independents": len(scratch), "base_independents": len(based), "calibration": len(cal),
        "null_base": [float(v) for v in null[len(scratch) - hs:]], "queries": int(len(nat_q)),
        "surrogates": len(surr), "settings": settings.__dict__,
        "reference_accuracy": None if y is None else round(float((t_lab == y).mean()), 4),
    }
    log(f"owner evidence: {len(chosen)} probes, null {np.round(null, 3).tolist()}, "
        f"surrogates {np.round(sur, 3).tolist()} ({meta['seconds']} s)")
    return OwnerEvidence(probes.astype(np.float32), labels, k, null, sur, settings.alpha, meta)
