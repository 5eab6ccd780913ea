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


def import_onnx2torch() -> Any:
    """onnx2torch, imported as PGD needs it: torchvision stubbed where absent
    (:func:`_stub_torchvision`), its Slice patched (:func:`_slice_with_tuples`)."""
    _stub_torchvision()
    import onnx2torch

    _slice_with_tuples()
    return onnx2torch


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


#: end index meaning "to the end" in a rewritten Slice.
_TO_END = np.iinfo(np.int64).max


def _constant(graph: Any, constants: dict[str, Any], name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    t = constants.get(name)
    return None if t is None else numpy_helper.to_array(t)


def _add_initializer(graph: Any, constants: dict[str, Any], base: str, value: np.ndarray) -> str:
    from onnx import numpy_helper

    name = f"{base}__grad_form"
    while name in constants:
        name += "_"
    tensor = numpy_helper.from_array(value, name)
    graph.initializer.append(tensor)
    constants[name] = tensor
    return name


def gradient_form(onnx_model: bytes) -> bytes:
    """The ONNX model rewritten for batched gradients through onnx2torch.

    Graphs converted from TFLite fix the batch at 1: the input is ``[1, H, W, C]``, Reshapes
    carry constant targets that start with 1 (``[1, -1, 16]``, ``[1, 16, 1, 1]``) and some
    Slices cut axis 0 to ``[0, 1)``. Here the first dimension of the inputs and outputs
    becomes symbolic, those Reshape targets get 0 ("copy the input's dimension") and
    those Slices run to the end, so N samples flow through as a batch of N; at batch 1
    every rewritten node computes what it computed before. ``DepthToSpace`` in DCR mode
    (which onnx2torch lacks) becomes its definition, Reshape-Transpose-Reshape. Other
    graphs come back unchanged. The batched result is only trusted after
    :func:`batch_mode` has compared it with per-sample runs.
    """
    import onnx
    from onnx import helper

    model = onnx.load_from_string(onnx_model)
    graph = model.graph
    init = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in init]
    dims = [i.type.tensor_type.shape.dim for i in inputs]
    fixed_batch = bool(dims) and all(len(d) > 0 and d[0].dim_value == 1 for d in dims)
    shapes: dict[str, list[int]] = {}
    if any(n.op_type == "DepthToSpace" for n in graph.node):
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
            for vi in list(inferred.value_info) + list(inferred.input):
                shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        except Exception:  # noqa: BLE001 - no shapes: DepthToSpace stays as it is
            shapes = {}
    constants: dict[str, Any] = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = node.attribute[0].t
    if fixed_batch:
        for d in dims + [o.type.tensor_type.shape.dim for o in graph.output]:
            if len(d) and d[0].dim_value == 1:
                d[0].dim_param = "batch"
        del graph.value_info[:]  # shapes inferred for batch 1 no longer hold
    nodes = []
    for node in graph.node:
        if fixed_batch and node.op_type == "Reshape" and len(node.input) >= 2:
            target = _constant(graph, constants, node.input[1])
            allowzero = any(a.name == "allowzero" and a.i == 1 for a in node.attribute)
            if target is not None and target.ndim == 1 and target.size and int(target[0]) == 1 \
                    and not allowzero:
                target = target.copy()
                target[0] = 0
                node.input[1] = _add_initializer(graph, constants, node.input[1], target)
        elif fixed_batch and node.op_type == "Slice" and len(node.input) >= 4:
            starts, ends, axes = (_constant(graph, constants, n) for n in node.input[1:4])
            steps = _constant(graph, constants, node.input[4]) if len(node.input) > 4 and \
                node.input[4] else None
            if starts is not None and ends is not None and axes is not None:
                hits = [k for k, a in enumerate(axes.tolist()) if a == 0 and int(starts[k]) == 0
                        and int(ends[k]) == 1 and (steps is None or int(steps[k]) == 1)]
                if hits:
                    ends = ends.copy()
                    ends[hits] = _TO_END
                    node.input[2] = _add_initializer(graph, constants, node.input[2], ends)
        elif node.op_type == "DepthToSpace" and node.input[0] in shapes:
            mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "DCR")
            b = next((a.i for a in node.attribute if a.name == "blocksize"), 0)
            shape = shapes[node.input[0]]
            if mode == "DCR" and b > 0 and len(shape) == 4 and all(v > 0 for v in shape[1:]):
                _, c, h, w = shape
                first = _add_initializer(graph, constants, node.output[0] + "_d2s_shape",
                                         np.array([0, b, b, c // (b * b), h, w], np.int64))
                second = _add_initializer(graph, constants, node.output[0] + "_d2s_out",
                                          np.array([0, c // (b * b), h * b, w * b], np.int64))
                mid, moved = node.output[0] + "_d2s_6d", node.output[0] + "_d2s_moved"
                nodes += [
                    helper.make_node("Reshape", [node.input[0], first], [mid]),
                    helper.make_node("Transpose", [mid], [moved], perm=[0, 3, 4, 1, 5, 2]),
                    helper.make_node("Reshape", [moved, second], [node.output[0]]),
                ]
                continue
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def load_differentiable(onnx_model: bytes, fast: bool = True) -> Any:
    """An ``torch.nn.Module`` (fx GraphModule) computing the ONNX model, in float32.

    The batch dimension is made free first (:func:`gradient_form`), so PGD can run all its
    samples in one pass; :func:`batch_mode` checks that against per-sample runs. ``fast``:
    the same function through fewer, fused operators (:mod:`.gradient_speed`), falling back
    to the plain conversion when onnx2torch cannot take the rewritten graph.
    """
    if not gradient_available():
        raise ProfileError(
            "white-box pair generation needs the 'gradient' extra (torch + onnx2torch); "
            "use the black-box score search instead"
        )
    import onnx

    onnx2torch = import_onnx2torch()
    form = gradient_form(onnx_model)
    module = None
    if fast:
        from modelhound.fingerprint import gradient_speed

        gradient_speed.register_converters()
        try:
            fused = gradient_speed.symmetric_depthwise_pads(
                gradient_speed.fuse_hard_swish(gradient_speed.basic_optimized(form)))
            module = onnx2torch.convert(onnx.load_from_string(fused))
        except Exception:  # noqa: BLE001 - the plain conversion below decides
            module = None
    if module is None:
        try:
            module = onnx2torch.convert(onnx.load_from_string(form))
        except Exception as exc:  # noqa: BLE001 - onnx2torch raises bare NotImplementedError/KeyError
            raise ProfileError(f"onnx2torch cannot convert the model: {exc}") from exc
    elif fast:
        module = gradient_speed.channels_last(module)
    from modelhound.fingerprint.gradient_speed import dense_prelu

    module = dense_prelu(module)
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def _flat(out: Any, n: int) -> Any:
    import torch

    outs = out if isinstance(out, (list, tuple)) else [out]
    return torch.cat([o.reshape(n, -1).float() for o in outs], dim=1)


def _per_sample(module: Any, x: Any) -> Any:
    import torch

    return torch.cat([_flat(module(x[i : i + 1]), 1) for i in range(x.shape[0])], dim=0)


#: how many samples :func:`batch_mode` compares, and how closely (relative to the
#: outputs' and gradients' magnitude): batched and per-sample convolutions sum in another
#: order, so float32 rounding differs in the last bits, nothing more.
CHECK_SAMPLES = 3
CHECK_RTOL = 1e-4


def batch_mode(module: Any, x: Any) -> bool:
    """Whether ``module`` computes a batch exactly as it computes each sample alone.

    Compares outputs and input gradients of a batch of (up to) :data:`CHECK_SAMPLES`
    distinct samples with one-sample runs. A graph that folds the batch into another
    axis, concatenates across it, or fails on a batch answers False, and PGD then runs
    sample by sample (slower, same result).
    """
    import torch

    k = min(CHECK_SAMPLES, int(x.shape[0]))
    if k < 2:
        return False
    xs = x[:k].clone()

    def out_and_grad(fn: Any) -> tuple[Any, Any]:
        xi = xs.clone().requires_grad_(True)
        y = fn(xi)
        w = torch.linspace(-1.0, 1.0, y.shape[1], dtype=y.dtype).expand_as(y)
        (g,) = torch.autograd.grad((y * w).sum(), xi)
        return y.detach(), g

    try:
        yb, gb = out_and_grad(lambda t: _flat(module(t), t.shape[0]))
    except Exception:  # noqa: BLE001 - a graph that cannot take a batch
        return False
    ys, gs = out_and_grad(lambda t: _per_sample(module, t))
    if yb.shape != ys.shape:
        return False

    def close(a: Any, b: Any) -> bool:
        scale = float(b.abs().max()) or 1.0
        return bool(float((a - b).abs().max()) <= CHECK_RTOL * scale)

    return close(yb, ys) and close(gb, gs)


#: samples per forward+backward pass in a batched attack: the pass's activations grow
#: with the batch (about 40 MB a sample for a 256x256 MediaPipe model), so big batches go
#: through in chunks; the loss is a mean of per-sample terms, so chunking changes nothing.
MAX_CHUNK_ELEMENTS = 32 * 256 * 256 * 3
#: and at most this many samples, so a chunk's activations stay in the CPU's caches: of the
#: default zoo's nine PGD generators, chunks of 25 beat 50 on the two that cost most (PP-OCRv3's
#: recogniser 1.2x, hand_landmark_lite 1.35x) and are within 10 % on the others
#: (bench/profile/results-chunks.md). Before: 50, which beat 100 by 1.4x on the recogniser.
MAX_CHUNK_SAMPLES = 25


def _chunk(x_shape: tuple[int, ...]) -> int:
    per_sample = max(1, int(np.prod(x_shape[1:])))
    return max(1, min(int(x_shape[0]), MAX_CHUNK_SAMPLES, MAX_CHUNK_ELEMENTS // per_sample))


def pgd_perturb(module: Any, x_float: np.ndarray, config: PgdConfig, threads: int = 1,
                batched: bool | None = None) -> np.ndarray:
    """ModelDiff's targeted L-inf PGD on a batch in model float space; returns x'.

    ``threads``: torch intra-op threads during the attack (restored afterwards). One is the
    default: on a shared 2-core machine two threads made the attack 8x slower, not faster.
    ``batched``: run each step as batched passes (True), sample by sample (False), or
    decide with :func:`batch_mode` (None).
    """
    import torch

    from modelhound.fingerprint.heap import keep_freed_memory

    keep_freed_memory()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _pgd(module, x_float, config, batched)  # Slice warns not: _slice_with_tuples
    finally:
        torch.set_num_threads(previous)


def _pgd(module: Any, x_float: np.ndarray, config: PgdConfig, batched: bool | None) -> np.ndarray:
    import torch

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(np.ascontiguousarray(x_float, dtype=np.float32))
    clip_min, clip_max = float(x.min()), float(x.max())
    if batched is None:
        batched = batch_mode(module, x)
    n = int(x.shape[0])
    step = _chunk(tuple(x.shape)) if batched else 1

    def forward(t: Any) -> Any:
        return _flat(module(t), t.shape[0])

    with torch.no_grad():
        y = torch.cat([forward(x[i : i + step]) for i in range(0, n, step)], dim=0)
        target = config.target_scale * (y.mean(dim=0, keepdim=True) - y)

    def objective_sum(out: Any, t: Any, scale: Any) -> Any:
        loss = (out[:, 0] - t[:, 0]) ** 2
        if out.shape[1] > 1:
            loss = loss + config.rest_weight * ((out[:, 1:] - t[:, 1:]) ** 2).mean(dim=1)
        return (loss * scale).sum() / n  # chunks of the batch mean

    # AdverTorch projects each step twice: onto the eps-ball, then x + delta onto the clip
    # range. Both boxes contain 0, so that is one clamp onto their intersection, whose
    # bounds are computed once; each chunk is then updated in place right after its
    # backward pass (the loss is per sample, so no chunk sees another's update).
    lower = torch.clamp(clip_min - x, min=-config.eps)
    upper = torch.clamp(clip_max - x, max=config.eps)
    if config.rand_init:
        delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * config.eps
    else:
        delta = torch.zeros_like(x)
    delta = torch.clamp(delta, lower, upper)
    exponent = torch.zeros(n, dtype=torch.float32)  # each sample's loss scale is 2**exponent
    for _ in range(config.steps):
        for i in range(0, n, step):
            d = delta[i : i + step].detach().requires_grad_(True)
            loss = objective_sum(forward(x[i : i + step] + d), target[i : i + step],
                                 torch.exp2(exponent[i : i + step]))
            (g,) = torch.autograd.grad(loss, d)
            with torch.no_grad():
                exponent[i : i + step] = _next_exponent(exponent[i : i + step], g)
                chunk = delta[i : i + step]
                chunk.add_(g.sign_().nan_to_num_(nan=0.0), alpha=config.step_size)  # g is ours
                torch.clamp(chunk, lower[i : i + step], upper[i : i + step], out=chunk)
    return (x + delta).detach().numpy().astype(np.float32)


#: the largest loss scale, 2**MAX_SCALE_EXPONENT: far below float32's overflow even after
#: the output gradient (|2 T| <= 2e3 x the outputs) and the backward pass multiply it
MAX_SCALE_EXPONENT = 64.0
#: how far the scale jumps when a sample's whole gradient came back zero
ZERO_GRADIENT_JUMP = 24.0


def _next_exponent(exponent: Any, g: Any) -> Any:
    """Each sample's loss-scale exponent for the next step, from this step's gradient.

    PGD steps along ``sign(g)``, and each sample's loss term is its own, so multiplying a
    sample's term by a power of two changes no sign the float32 backward pass can represent
    (power-of-two scaling is exact). It does keep the backward pass out of float32's
    subnormal range: a model pushed to saturation (a softmax classifier at p = 1) sends
    back gradients that shrink by orders of magnitude a step, and below ~1e-38 every
    multiply-add takes the CPU's slow microcode path (PaddleOCR's classifier: a step went
    from 0.6 s to 3.8 s, 20x in its convolutions' backward; flushing subnormals to zero would
    be as fast but would zero those signs). The scale aims each sample's largest gradient
    component at about 1; a sample whose gradient overflowed steps back down.
    """
    import torch

    flat = g.reshape(g.shape[0], -1)
    # amax propagates NaN: a sample with a NaN component gets peak inf, as one with an inf
    peak = torch.nan_to_num(flat.abs().amax(dim=1), nan=float("inf"), posinf=float("inf"))
    finite = torch.isfinite(peak)
    zero = peak == 0
    shift = torch.where(finite & ~zero, -torch.floor(torch.log2(peak.clamp_min(1e-45))),
                        torch.full_like(peak, ZERO_GRADIENT_JUMP))
    shift = torch.where(finite, shift, torch.full_like(peak, -ZERO_GRADIENT_JUMP))
    return (exponent + shift).clamp(0.0, MAX_SCALE_EXPONENT)
