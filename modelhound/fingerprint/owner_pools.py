"""Owner evidence, torch side: the models the tool trains on the owner's data, and the
conferrable search over them.

Every model here takes *canonical* inputs (N x H x W x C images, or N x ... arrays) and
returns class logits, whatever its layout inside:

* :func:`small_net`: two small architectures of the tool's own (LeNet-like, strided);
* :func:`load_graph`: an ONNX model (the owner's public base, or the reference itself) as a
  torch module (onnx2torch); :func:`trainable_copy` makes a trainable copy of it, either
  re-initialised (**the reference's own architecture trained from scratch**: the hardest
  independent a user can meet, the same network on the same data) or keeping its weights
  with a new last layer (a fine-tune of the base);
* :func:`fit` trains any of them on hard or soft targets;
* :func:`conferrable_cem`: conferrable adversarial examples as Lukas et al. (ICLR 2021)
  optimise them, and :func:`conferrable_targeted`, the targeted variant for references
  that cannot be differentiated.

Everything is seeded; torch is imported lazily (the ``gradient`` extra).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from modelhound.errors import ProfileError


class OwnerEvidenceError(ProfileError):
    """The owner evidence cannot be built (or read) for this reference / data."""


def softmax(z: np.ndarray) -> np.ndarray:
    from modelhound.fingerprint.agreement import softmax as sm

    return sm(z).astype(np.float32)


def _canonical(inner: Any, nchw: bool, head: Any = None) -> Any:
    """A module taking canonical inputs: ``inner`` (NCHW images when ``nchw``), its output
    flattened, then ``head`` (after a ReLU) when given."""
    import torch

    class Canonical(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner, self.nchw = inner, nchw
            self.head = head

        def forward(self, x: Any) -> Any:
            z = self.inner(x.permute(0, 3, 1, 2) if self.nchw else x)
            z = z[0] if isinstance(z, (list, tuple)) else z
            z = z.reshape(z.shape[0], -1)
            return self.head(torch.relu(z)) if self.head is not None else z

    return Canonical()


def small_net(kind: int, shape: tuple[int, ...], n_classes: int, is_image: bool, seed: int) -> Any:
    """One of the tool's two small architectures for the input shape (seeded init)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    if not is_image:
        d = int(np.prod(shape))
        hidden = (128,) if kind == 0 else (64, 64)
        layers: list[Any] = [nn.Flatten()]
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        return _canonical(nn.Sequential(*layers, nn.Linear(d, n_classes)), False)
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
    return _canonical(nn.Sequential(*pool_in, *body), True)


@dataclass(frozen=True)
class Graph:
    """An ONNX model as a frozen torch module on canonical inputs."""

    module: Any
    width: int
    """Its output width."""


def load_graph(onnx_model: bytes, sample: np.ndarray, what: str = "owner base model") -> Graph:
    """``onnx_model`` as a torch module on canonical inputs; ``sample``: a few canonical inputs
    (the layout, NHWC or NCHW, is found by running them). OwnerEvidenceError if it cannot be
    converted or does not take these inputs."""
    import torch

    from modelhound.fingerprint.gradient import load_differentiable

    try:
        inner = load_differentiable(onnx_model)
    except ProfileError as exc:
        raise OwnerEvidenceError(f"{what}: {exc}") from exc
    x = torch.from_numpy(np.ascontiguousarray(sample[:2], dtype=np.float32))
    for nchw in ([False, True] if x.ndim == 4 else [False]):
        m = _canonical(inner, nchw)
        try:
            with torch.no_grad():
                z = m(x)
            return Graph(m, int(z.shape[1]))
        except Exception:  # noqa: BLE001 - the other layout, or a model for another input
            continue
    raise OwnerEvidenceError(f"{what} does not take the reference's input {tuple(sample.shape[1:])}")


def _weights_in_order(gm: Any) -> list[tuple[str, Any]]:
    """(kind, handle) of the weight layers of an onnx2torch graph in execution order: conv and
    linear modules, and MatMul weights held as constants (2-D float tensors)."""
    import torch

    out: list[tuple[str, Any]] = []
    seen: set[int] = set()
    for node in gm.graph.nodes:
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Conv1d, torch.nn.Linear)) and id(mod) not in seen:
                seen.add(id(mod))
                out.append(("module", mod))
        elif node.op == "get_attr":
            owner, _, name = str(node.target).rpartition(".")
            t = getattr(gm.get_submodule(owner) if owner else gm, name)
            if isinstance(t, torch.Tensor) and t.is_floating_point() and t.ndim >= 1 and t.numel() > 1:
                out.append(("tensor", (gm.get_submodule(owner) if owner else gm, name)))
    return out


def trainable_copy(g: Graph, seed: int, n_classes: int, reinit: bool) -> Any:
    """A trainable copy of ``g``: its constant float tensors become parameters. ``reinit``:
    every weight drawn anew (the same architecture trained from scratch); else the weights
    are kept and the last weight layer is drawn anew (a fine-tune with a new head). When the
    graph's width is not ``n_classes``, a new linear head is added on top instead."""
    import torch

    torch.manual_seed(seed)
    m = copy.deepcopy(g.module)
    gm = m.inner
    layers = _weights_in_order(gm)
    for kind, h in layers:
        if kind == "tensor":
            owner, name = h
            t = getattr(owner, name)
            if not isinstance(t, torch.nn.Parameter):
                delattr(owner, name)
                owner.register_parameter(name, torch.nn.Parameter(t.detach().clone()))
    for p in m.parameters():
        p.requires_grad_(True)
    weights = [(k, h) for k, h in layers if k == "module" or getattr(h[0], h[1]).ndim >= 2]

    def draw(kind: str, h: Any) -> None:
        if kind == "module":
            h.reset_parameters()
            return
        p = getattr(h[0], h[1])
        with torch.no_grad():
            if p.ndim >= 2:
                bound = 1.0 / np.sqrt(max(1, p.shape[0] if p.ndim == 2 else int(np.prod(p.shape[1:]))))
                p.uniform_(-bound, bound)
            else:
                p.zero_()

    if reinit:
        for kind, h in layers:
            if kind == "module" or getattr(h[0], h[1]).ndim >= 2:
                draw(kind, h)
        # 1-D constants right after a MatMul weight are its bias
        for i, (kind, h) in enumerate(layers):
            if kind == "tensor" and getattr(h[0], h[1]).ndim == 1 and i and layers[i - 1][0] == "tensor":
                prev = getattr(layers[i - 1][1][0], layers[i - 1][1][1])
                if prev.ndim == 2 and prev.shape[1] == getattr(h[0], h[1]).shape[0]:
                    draw(kind, h)
    if g.width != n_classes:
        m.head = torch.nn.Linear(g.width, n_classes)
    elif not reinit and weights:
        draw(*weights[-1])
    return m


def fit(model: Any, x: np.ndarray, target: np.ndarray, soft: bool, seed: int, *, steps: int,
        batch: int, lr: float = 2e-3, share: float = 1.0) -> Any:
    """Train ``model`` (canonical inputs) for at least ``steps`` updates (at least 3 epochs)
    on a seeded ``share`` of (x, target); returns it frozen, in eval mode."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if share < 1.0:
        keep = np.sort(rng.choice(len(x), max(10, int(share * len(x))), replace=False))
        x, target = x[keep], target[keep]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    n = len(x)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    tt = torch.from_numpy(target.astype(np.float32 if soft else np.int64))
    model.train()
    for _ in range(max(3, -(-steps * batch // n))):
        order = torch.from_numpy(rng.permutation(n))
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            logits = model(xt[idx])
            if soft:
                loss = -(tt[idx] * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            else:
                loss = torch.nn.functional.cross_entropy(logits, tt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def logits(model: Any, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """A model's logits on canonical inputs (numpy)."""
    import torch

    if not len(x):
        return np.zeros((0, 0), np.float32)
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], dtype=np.float32)))
                               .numpy() for i in range(0, len(x), batch)])


def labels(model: Any, x: np.ndarray) -> np.ndarray:
    return logits(model, x).argmax(1) if len(x) else np.zeros(0, np.int64)


def _ensemble(models: list[Any], x: Any, keep: float, gen: Any) -> Any:
    """Mean softmax of ``models`` on ``x``, each dropped with probability 1 - ``keep`` (at
    least one stays): the ensemble dropout of Lukas et al."""
    import torch

    if keep < 1.0:
        mask = torch.rand(len(models), generator=gen) < keep
        if not bool(mask.any()):
            mask[int(torch.randint(len(models), (1,), generator=gen))] = True
        models = [m for m, k in zip(models, mask.tolist()) if k]
    return torch.stack([torch.softmax(m(x), 1) for m in models]).mean(0)


def conferrable_cem(source: Any, surrogates: list[Any], references: list[Any], x0: np.ndarray,
                    lo: float, hi: float, *, eps: float, steps: int, seed: int, keep: float = 0.7,
                    batch: int = 128) -> np.ndarray:
    """Conferrable adversarial examples (Lukas et al., ICLR 2021): from each seed, signed
    gradient steps inside an L-infinity ball of ``eps`` minimise

        CE(1, conf(x)[t]) - CE(source(x0), source(x)) + CE(source(x), surrogates(x))

    where t is the source's current label and conf = mean surrogate P(t) x (1 - mean
    reference P(t)), with each ensemble member dropped with probability 1 - ``keep`` per step:
    the source's label moves away from the seed's, the surrogates follow it, the references
    (independents) do not."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    step = 2.5 * eps / steps
    out = []
    for i in range(0, len(x0), batch):
        x = torch.from_numpy(np.ascontiguousarray(x0[i : i + batch], dtype=np.float32))
        with torch.no_grad():
            p0 = torch.softmax(source(x), 1)
        adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps * 0.1).clamp(lo, hi)
        for _ in range(steps):
            adv.requires_grad_(True)
            ps_src = torch.softmax(source(adv), 1)
            t = ps_src.argmax(1)
            ps = _ensemble(surrogates, adv, keep, gen)
            pr = _ensemble(references, adv, keep, gen)
            conf = (ps * (1 - pr)).gather(1, t[:, None]).squeeze(1)
            l1 = -torch.log(conf + 1e-7)
            l2 = -(p0 * torch.log(ps_src.clamp(1e-7, 1 - 1e-7))).sum(1)
            l3 = -(ps_src * torch.log(ps.clamp(1e-7, 1.0))).sum(1)
            grad, = torch.autograd.grad((l1 - l2 + l3).sum(), adv)
            with torch.no_grad():
                adv = adv - step * grad.sign()
                adv = torch.max(torch.min(adv, x + eps), x - eps).clamp(lo, hi)
        out.append(adv.detach().numpy())
    return np.concatenate(out) if out else x0[:0]


def conferrable_targeted(surrogates: list[Any], references: list[Any], x0: np.ndarray, target: np.ndarray,
                         lo: float, hi: float, *, eps: float, steps: int, seed: int, batch: int = 256) -> np.ndarray:
    """Targeted signed-gradient search without the source: the surrogates move to ``target``,
    the references do not (for references that cannot be differentiated)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    step = 2.5 * eps / steps
    out = []
    for i in range(0, len(x0), batch):
        x = torch.from_numpy(np.ascontiguousarray(x0[i : i + batch], dtype=np.float32))
        t = torch.from_numpy(target[i : i + batch].astype(np.int64))
        adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps * 0.5).clamp(lo, hi)
        for _ in range(steps):
            adv.requires_grad_(True)
            ps = torch.stack([torch.softmax(m(adv), 1) for m in surrogates]).mean(0)
            pi = torch.stack([torch.softmax(m(adv), 1) for m in references]).mean(0)
            pts = ps.gather(1, t[:, None]).squeeze(1)
            pti = pi.gather(1, t[:, None]).squeeze(1)
            loss = -(torch.log(pts + 1e-6) + torch.log(1 - pti + 1e-6)).sum()
            grad, = torch.autograd.grad(loss, adv)
            with torch.no_grad():
                adv = adv - step * grad.sign()
                adv = torch.max(torch.min(adv, x + eps), x - eps).clamp(lo, hi)
        out.append(adv.detach().numpy())
    return np.concatenate(out) if out else x0[:0]


def mix(x: np.ndarray, rng: np.random.Generator, is_image: bool) -> np.ndarray:
    """Other-data queries for a simulated thief: mixups and shifts of owner samples."""
    a = x[rng.permutation(len(x))]
    lam = rng.uniform(0.3, 0.7, size=(len(x),) + (1,) * (x.ndim - 1)).astype(np.float32)
    mixed = lam * x + (1 - lam) * a
    if is_image:
        dy, dx = rng.integers(-3, 4, size=2)
        mixed = np.roll(mixed, (int(dy), int(dx)), axis=(1, 2))
    return mixed.astype(np.float32)


Log = Callable[[str], None]
