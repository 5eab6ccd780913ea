"""PGD's per-sample loss scaling: signs the float32 backward pass can represent are kept
exactly, and a model pushed to saturation still gets its gradient's signs instead of
subnormal or zero gradients (which the CPU computes ~20x slower)."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound.fingerprint.gradient import gradient_available

if not gradient_available():
    pytest.skip("needs the 'gradient' extra (torch + onnx2torch)", allow_module_level=True)

import torch  # noqa: E402

from modelhound.fingerprint import gradient  # noqa: E402
from modelhound.fingerprint.interface import PgdConfig  # noqa: E402


def _conv_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Hardswish(),
        torch.nn.Conv2d(8, 4, 3, stride=2), torch.nn.Flatten(), torch.nn.LazyLinear(5),
    )
    net(torch.zeros(1, 3, 12, 12))
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class _Saturated(torch.nn.Module):
    """One output, exp(-(gap + w.x)), ~1e-26: the loss's gradient (~1e-50) is below even
    float32's subnormals, though float64 computes it without trouble."""

    def __init__(self, w: np.ndarray, gap: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.from_numpy(w), requires_grad=False)
        self.gap = gap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.reshape(x.shape[0], -1) * self.w.to(x.dtype)).sum(dim=1, keepdim=True)
        return torch.exp(-(z + self.gap))


def _unscaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gradient, "MAX_SCALE_EXPONENT", 0.0)


def test_scaling_changes_nothing_where_gradients_are_ordinary(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _conv_net(0)
    x = np.random.default_rng(0).uniform(0, 1, size=(6, 3, 12, 12)).astype(np.float32)
    config = PgdConfig(steps=6)
    scaled = gradient.pgd_perturb(net, x, config, batched=True)
    _unscaled(monkeypatch)
    plain = gradient.pgd_perturb(net, x, config, batched=True)
    assert np.array_equal(scaled, plain)
    assert not np.array_equal(scaled, x)


def test_saturated_model_still_steps_along_its_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    w = rng.choice([-1.0, 1.0], size=(3 * 4 * 4,)).astype(np.float32) * 0.05
    model = _Saturated(w, gap=60.0)
    x = rng.uniform(0.0, 1.0, size=(4, 3, 4, 4)).astype(np.float32)
    config = PgdConfig(steps=6, rand_init=False)

    _unscaled(monkeypatch)
    plain = gradient.pgd_perturb(model, x, config, batched=True)
    monkeypatch.undo()
    scaled = gradient.pgd_perturb(model, x, config, batched=True)

    # float32 without scaling: the gradient underflows to zero, the samples never move
    assert np.array_equal(plain, x)
    # with scaling every coordinate moves, along the sign float64 gives the gradient
    # (PGD's target is fixed by the clean pass; the step direction keeps its sign)
    xd = torch.from_numpy(x).double().requires_grad_(True)
    out = model(xd)
    target = (config.target_scale * (out.mean(dim=0, keepdim=True) - out)).detach()
    (g64,) = torch.autograd.grad(((out - target) ** 2).sum(), xd)
    want = np.sign(g64.numpy())
    assert (want != 0).all()
    moved = scaled - x
    # every sample moves; a coordinate at the batch's own min or max cannot move further out
    assert (np.abs(moved).reshape(4, -1).max(axis=1) >= 3 * config.step_size - 1e-6).all()
    assert (moved != 0).mean() > 0.95
    assert (np.sign(moved[moved != 0]) == want[moved != 0]).all()
    assert np.abs(moved).max() <= config.eps + 1e-6


def test_next_exponent_aims_the_largest_component_at_one() -> None:
    e = torch.zeros(5)
    g = torch.zeros(5, 3)
    g[0] = torch.tensor([4.0, -1.0, 0.0])  # already large: stays unscaled
    g[1] = torch.tensor([2.0**-40, 0.0, -(2.0**-41)])  # small: scaled up to ~1
    g[2] = 0.0  # all zero: a fixed jump
    g[3] = torch.tensor([float("inf"), 1.0, 0.0])  # overflowed: steps down (floor 0)
    g[4] = torch.tensor([float("nan"), 1.0, 0.0])
    nxt = gradient._next_exponent(e, g)
    assert nxt.tolist() == [0.0, 40.0, gradient.ZERO_GRADIENT_JUMP, 0.0, 0.0]
    again = gradient._next_exponent(torch.full((2,), 60.0), torch.tensor([[1e-9], [float("inf")]]))
    assert again.tolist() == [gradient.MAX_SCALE_EXPONENT, 60.0 - gradient.ZERO_GRADIENT_JUMP]

