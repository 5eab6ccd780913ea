"""White-box pair generation: ModelDiff's PGD through a torch copy of the ONNX form.

Needs the optional ``gradient`` extra (torch 2.13 CPU + onnx2torch installed with
``--no-deps``; see ``scripts/install-gradient.sh``). Nothing here is imported by the
comparison path: comparing against stored pairs and DDVs never needs torch.

The attack is AdverTorch's ``LinfPGDAttack(targeted=True)`` as ``evaluate.ipynb`` sets it
up: uniform random start in the eps-ball, ``clip_min/clip_max`` = min/max of the seed
batch, ``steps`` sign-gradient steps of ``step_size``, each followed by projection on the
eps-ball and the clip range. The objective is the reference's custom loss on raw outputs:
``T = 1000 * (mean_batch(y) - y)`` from the clean outputs, and each step ascends
``(y_0 - T_0)^2 + 0.1 * mean_{j>=1} (y_j - T_j)^2`` (averaged over the batch), which pushes
every output further from the batch mean along its own deviation ("high diversity, high
divergence"). Outputs of multi-output models are flattened and concatenated.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np

from modelhound.errors import ProfileError
from modelhound.fingerprint.interface import PgdConfig


def gradient_available() -> bool:
    """Whether torch and onnx2torch can be imported (the ``gradient`` extra)."""
    try:
        import importlib.util

        return (
            importlib.util.find_spec("torch") is not None
            and importlib.util.find_spec("onnx2torch") is not None
        )
    except (ImportError, ValueError):
        return False


def _stub_torchvision() -> None:
    """onnx2torch imports torchvision only for NMS/RoiAlign; PyPI's does not load beside
    torch 2.13 CPU, so an empty stand-in is registered when the real one is absent."""
    if "torchvision" in sys.modules:
        return
    try:
        import torchvision  # noqa: F401

        return
    except Exception:  # noqa: BLE001 - any import failure means: use the stub
        sys.modules.pop("torchvision", None)
    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")

    def _missing(*_args: Any, **_kwargs: Any) -> Any:
        raise ProfileError("torchvision ops (NMS, RoiAlign) are not available for gradients")

    ops.nms = _missing  # type: ignore[attr-defined]
    ops.batched_nms = _missing  # type: ignore[attr-defined]
    ops.roi_align = _missing  # type: ignore[attr-defined]
    tv.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.ops"] = ops


def _slice_with_tuples() -> None:
    """onnx2torch 1.5 indexes tensors with a *list* of slices (``x[[slice, slice]]``), which
    torch deprecates (a UserWarning on every Slice node: "will be interpreted as tensor
    index"). Its ``_do_slice`` is replaced by one that indexes with the tuple it means, so
    the result stays right when torch changes the list meaning, and nothing warns."""
    from onnx2torch.node_converters import slice as o2t_slice

    if getattr(o2t_slice._do_slice, "_modelhound", False):
        return

    def _do_slice(x: Any, flip_dims: list[Any], pos_axes_slices: list[Any],
                  neg_axes_slices: list[Any]) -> Any:
        import torch

        if flip_dims:
            x = torch.flip(x, dims=flip_dims)
        if pos_axes_slices:
            x = x[tuple(pos_axes_slices)]
        if neg_axes_slices:
            x = x[tuple(neg_axes_slices)]
        return x

    _do_slice._modelhound = True  # type: ignore[attr-defined]
    o2t_slice._do_slice = _do_slice


def load_differentiable(onnx_model: bytes) -> Any:
    """An ``torch.nn.Module`` (fx GraphModule) computing the ONNX model, in float32."""
    if not gradient_available():
        raise ProfileError(
            "white-box pair generation needs the 'gradient' extra (torch + onnx2torch); "
            "use the black-box score search instead"
        )
    import onnx

    _stub_torchvision()
    import onnx2torch

    _slice_with_tuples()
    try:
        module = onnx2torch.convert(onnx.load_from_string(onnx_model))
    except Exception as exc:  # noqa: BLE001 - onnx2torch raises bare NotImplementedError/KeyError
        raise ProfileError(f"onnx2torch cannot convert the model: {exc}") from exc
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _forward(module: Any, x: Any) -> Any:
    """Flattened, concatenated raw outputs, (n, k); falls back to per-sample for batch-1 graphs."""
    import torch

    def flat(out: Any, n: int) -> Any:
        outs = out if isinstance(out, (list, tuple)) else [out]
        return torch.cat([o.reshape(n, -1).float() for o in outs], dim=1)

    try:
        return flat(module(x), x.shape[0])
    except RuntimeError:
        return torch.cat([flat(module(x[i : i + 1]), 1) for i in range(x.shape[0])], dim=0)


def pgd_perturb(module: Any, x_float: np.ndarray, config: PgdConfig, threads: int = 1) -> np.ndarray:
    """ModelDiff's targeted L-inf PGD on a batch in model float space; returns x'.

    ``threads``: torch intra-op threads during the attack (restored afterwards). One is the
    default: on a shared 2-core machine two threads made the attack 8x slower, not faster.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _pgd(module, x_float, config)
    finally:
        torch.set_num_threads(previous)


def _pgd(module: Any, x_float: np.ndarray, config: PgdConfig) -> np.ndarray:
    import torch

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(np.ascontiguousarray(x_float, dtype=np.float32))
    clip_min, clip_max = float(x.min()), float(x.max())
    with torch.no_grad():
        y = _forward(module, x)
        target = config.target_scale * (y.mean(dim=0, keepdim=True) - y)

    def objective(out: Any) -> Any:
        loss = (out[:, 0] - target[:, 0]) ** 2
        if out.shape[1] > 1:
            loss = loss + config.rest_weight * ((out[:, 1:] - target[:, 1:]) ** 2).mean(dim=1)
        return loss.mean()

    if config.rand_init:
        delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * config.eps
    else:
        delta = torch.zeros_like(x)
    delta = torch.clamp(x + delta, clip_min, clip_max) - x
    for _ in range(config.steps):
        delta.requires_grad_(True)
        loss = objective(_forward(module, x + delta))
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = delta + config.step_size * grad.sign()
            delta = torch.clamp(delta, -config.eps, config.eps)
            delta = torch.clamp(x + delta, clip_min, clip_max) - x
    return (x + delta).detach().numpy().astype(np.float32)
