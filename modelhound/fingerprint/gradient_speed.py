"""Faster torch copies of ONNX forms for PGD: the same function through fewer, fused ops.

PGD spends its time in forward+backward passes of the torch copy that onnx2torch builds
(:func:`modelhound.fingerprint.gradient.load_differentiable`). Exports from Paddle keep
every BatchNormalization beside its Conv and spell hard-swish as four element-wise nodes
(``x * Clip(x + 3, 0, 6) / 6``), each a separate memory-bound pass forward and backward:
on PP-OCRv3's recogniser at 48x320 they were half of a PGD step (bench/profile/results.md).
Three rewrites keep the computed function, up to float rounding:

1. :func:`basic_optimized`: onnxruntime's *basic* graph optimisations, saved as ONNX
   (constant folding, BatchNormalization folded into the Conv before it, Identity and
   Dropout removed). Basic-level rewrites emit only standard ONNX operators.
2. :func:`fuse_hard_swish`: ``Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)`` becomes one
   ``HardSwish`` node in this module's domain, which onnx2torch maps (through the
   converter registered here) to torch's fused ``nn.Hardswish``: one kernel forward and
   one backward, with the same derivative (``x / 3 + 1/2`` on (-3, 3), 0 below, 1 above).
3. :func:`channels_last`: 4-D weights in channels-last memory order, oneDNN's own layout
   for convolutions (no reorder of every activation before each Conv).

4. :func:`dense_prelu`: onnx2torch's masked PReLU as one dense ``where`` (MediaPipe).
5. :func:`symmetric_depthwise_pads`: a depthwise Conv padded more on one side than the
   other (TensorFlow's ``SAME`` at stride 2, all over MediaPipe's TFLite models) becomes a
   Conv with symmetric padding and a kernel one tap larger whose extra tap is zero.
   onnx2torch gives the asymmetric form an explicit pad before the Conv: a copy of the
   activation forward, a slice backward, and a pad output that is not channels-last, so
   oneDNN reorders it too. The symmetric form reads the same inputs with the same
   weights (the zero tap only ever meets padding or a product that is exactly 0): same
   outputs and input gradients bit for bit on this machine, at half the time of the
   pad + Conv pair (bench/profile/results.md, session 10).

Each step falls back to its input when it fails (an onnxruntime that cannot load the form,
a graph onnx2torch cannot convert after the rewrite): the result is never worse than the
plain conversion. PGD still compares a batched pass with one-sample passes before it
trusts the batch (:func:`modelhound.fingerprint.gradient.batch_mode`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the ONNX domain of the fused nodes this module writes (read only by onnx2torch here)
DOMAIN = "modelhound_grad"  # no dots: onnx2torch puts it in module names


def basic_optimized(onnx_model: bytes) -> bytes:
    """``onnx_model`` after onnxruntime's basic graph optimisations (unchanged on failure)."""
    import os
    import tempfile

    try:
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "basic.onnx")
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            so.optimized_model_filepath = out
            so.log_severity_level = 3
            so.intra_op_num_threads = 1
            ort.InferenceSession(onnx_model, so, providers=["CPUExecutionProvider"])
            with open(out, "rb") as fh:
                return fh.read()
    except Exception:  # noqa: BLE001 - any refusal: the form as it was
        return onnx_model


def fuse_hard_swish(onnx_model: bytes) -> bytes:
    """``x * Clip(x + 3, 0, 6) / 6`` (each intermediate used once:
    :func:`modelhound.converters.onnx_rewrites.hard_swish_sites`) as one HardSwish node of
    :data:`DOMAIN`; the model unchanged when it has none."""
    import onnx
    from onnx import helper

    from modelhound.converters.onnx_rewrites import hard_swish_sites, replace_sites

    model = onnx.load_from_string(onnx_model)
    try:  # shapes first: inference cannot see through the fused node, onnx2torch needs them
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - converted without them, or refused and left unfused
        pass
    sites = hard_swish_sites(model.graph)
    if not sites:
        return onnx_model
    replace_sites(model.graph, sites, lambda site: [helper.make_node(
        "HardSwish", [site.x], [site.out], name=f"{site.div.name or site.out}_hardswish",
        domain=DOMAIN)])
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return model.SerializeToString()


def symmetric_depthwise_pads(onnx_model: bytes) -> bytes:
    """Depthwise 2-D Convs with asymmetric ``pads`` as symmetric ones (module docstring,
    rewrite 5); the model unchanged when it has none.

    Per spatial axis padded ``b`` before and ``e`` after (``e != b``), the kernel grows by
    ``|e - b|`` zero taps on the side padded less and both sides get ``max(b, e)``: output
    ``o`` then reads the same input positions with the same weights, plus taps that are
    zero, and the output size ``(H + b + e - k) // s + 1`` is unchanged. Only depthwise
    Convs (one input channel per group) with a constant weight, no dilation and explicit
    pads are rewritten: that is where the explicit pad cost most and the extra taps cost
    least (a dense Conv pays the larger kernel in every input channel).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(onnx_model)
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    taken = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    changed = False
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        pads = list(attrs.get("pads", ()))
        w = numpy_helper.to_array(weights[node.input[1]])
        if (len(pads) != 4 or pads[:2] == pads[2:] or w.ndim != 4 or w.shape[1] != 1
                or int(attrs.get("group", 1)) < 2
                or any(int(d) != 1 for d in attrs.get("dilations", (1, 1)))
                or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")):
            continue
        widths = []
        for axis in range(2):
            b, e = int(pads[axis]), int(pads[axis + 2])
            widths.append((max(0, e - b), max(0, b - e)))
        w2 = np.pad(w, ((0, 0), (0, 0), *widths))
        name = f"{node.input[1]}_symmetric_pads"
        while name in taken:
            name += "_"
        taken.add(name)
        graph.initializer.append(numpy_helper.from_array(w2.astype(w.dtype), name))
        node.input[1] = name
        symmetric = [max(int(pads[a]), int(pads[a + 2])) for a in range(2)]
        for attr in node.attribute:
            if attr.name == "pads":
                del attr.ints[:]
                attr.ints.extend(symmetric + symmetric)
            elif attr.name == "kernel_shape":
                del attr.ints[:]
                attr.ints.extend(int(k) for k in w2.shape[2:])
        changed = True
    if not changed:
        return onnx_model
    used: set[str] = set()

    def collect(g: Any) -> None:  # subgraphs (If, Loop) may read the outer initializers
        for n in g.node:
            used.update(n.input)
            for a in n.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    collect(sub)

    collect(graph)
    used.update(i.name for i in graph.input)
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return model.SerializeToString()


def register_converters() -> None:
    """onnx2torch's converter for this module's HardSwish node (once per process)."""
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, add_converter
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node
    from torch import nn

    if any(d.domain == DOMAIN for d in _CONVERTER_REGISTRY):
        return

    @add_converter(operation_type="HardSwish", version=1, domain=DOMAIN)
    def _hard_swish(node: Any, graph: Any) -> Any:  # noqa: ARG001 - the registry's signature
        return OperationConverterResult(torch_module=nn.Hardswish(),
                                        onnx_mapping=onnx_mapping_from_node(node=node))


def channels_last(module: Any) -> Any:
    """``module`` with its 4-D parameters and buffers in channels-last memory order."""
    import torch

    try:
        return module.to(memory_format=torch.channels_last)
    except Exception:  # noqa: BLE001 - a module that refuses keeps its layout
        return module


def dense_prelu(module: Any) -> Any:
    """Replace onnx2torch's PReLU modules with ``where(x >= 0, x, x * slope)``.

    onnx2torch computes a PReLU whose slope is not per-channel with boolean-mask
    indexing: three quarters of a MediaPipe model's backward time, and not vectorisable.
    The dense form gives the same values and gradients.
    """
    import torch
    from torch import nn

    class DensePReLU(nn.Module):  # type: ignore[misc]
        """``where(x >= 0, x, x * slope)``."""

        def forward(self, input_tensor: Any, slope: Any) -> Any:
            """Same values and gradients as the masked assignment."""
            if input_tensor.dim() >= 2 and slope.numel() == input_tensor.shape[1] and \
                    slope.dim() <= input_tensor.dim() and \
                    slope.shape[-(input_tensor.dim() - 1):][0] == slope.numel():
                # one slope per channel (axis 1): torch's fused kernel
                return nn.functional.prelu(input_tensor, slope.reshape(-1))
            return torch.where(input_tensor >= 0, input_tensor, input_tensor * slope)

    for name, child in list(module.named_modules()):
        if type(child).__name__ == "OnnxPReLU":
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, DensePReLU())
    return module
