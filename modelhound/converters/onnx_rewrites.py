"""Rewrites of an ONNX graph into fewer operators that compute the same function.

Paddle's exports spell hard-swish as four element-wise nodes, ``x * Clip(x + 3, 0, 6) / 6``:
four memory-bound passes over the activation where one would do. PaddleOCR's models run it
after nearly every Conv, so the spelt-out form costs more than the convolutions around it
(onnxruntime on PP-OCRv3's recogniser: Mul, Clip, Add and Div 46 % of a forward pass).

- :func:`hard_swish_sites` finds the pattern (each intermediate used once, nowhere else).
- :func:`hard_swish_for_onnxruntime` writes each site as ``x * HardSigmoid(x)`` with
  ``alpha = 1/6, beta = 1/2`` (standard ONNX since opset 6): the same function, up to float
  rounding (``x / 6 + 1/2`` instead of ``(x + 3) / 6``), which onnxruntime runs as two
  passes. :class:`modelhound.converters.runtimes.OnnxRunnable` applies it to every model it
  opens, so a reference and a scanned copy of it always run the same graph.
- :mod:`modelhound.fingerprint.gradient_speed` writes the same sites as one fused node for
  torch.

Anything that does not parse or match comes back unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

#: bumped whenever a rewrite here changes what onnxruntime computes (even in the last bits):
#: a reference's DDV on pairs its outputs barely tell apart moves with float rounding
#: (PP-OCRv3's detector on the 224x224 probe set: cosine 0.963 between the graph as given
#: and rewritten), so the default zoo's build stamp carries it and a default zoo built
#: before is rebuilt with the graphs that scans run. Revision 1: hard-swish.
REVISION = 1


@dataclasses.dataclass(frozen=True)
class HardSwishSite:
    """One spelt-out hard-swish: ``out = x * Clip(x + 3, 0, 6) / 6``."""

    x: str  #: the input tensor
    out: str  #: the Div's output, which the graph goes on with
    div: Any  #: the Div node, where a replacement goes (topologically after ``x``)
    inner: tuple[Any, ...]  #: the Add, Clip and Mul nodes that go with it


def _scalar(consts: dict[str, np.ndarray], name: str) -> float | None:
    v = consts.get(name)
    if v is None or v.size != 1:
        return None
    return float(v.reshape(()))


def hard_swish_sites(graph: Any) -> list[HardSwishSite]:
    """The spelt-out hard-swishes of an ``onnx.GraphProto`` (top level), in graph order."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    producer = {o: n for n in graph.node for o in n.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for i in node.input:
            uses[i] = uses.get(i, 0) + 1
    outputs = {o.name for o in graph.output}

    def private(name: str) -> bool:
        return uses.get(name, 0) == 1 and name not in outputs

    def clip_bounds(node: Any) -> tuple[float | None, float | None]:
        if len(node.input) >= 3:
            return _scalar(consts, node.input[1]), _scalar(consts, node.input[2])
        attrs = {a.name: a.f for a in node.attribute}
        return attrs.get("min"), attrs.get("max")

    sites = []
    for div in graph.node:
        if div.op_type != "Div" or div.domain not in ("", "ai.onnx") or \
                _scalar(consts, div.input[1]) != 6.0:
            continue
        mul = producer.get(div.input[0])
        if mul is None or mul.op_type != "Mul" or not private(div.input[0]):
            continue
        for x_name, c_name in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            clip = producer.get(c_name)
            if clip is None or clip.op_type != "Clip" or not private(c_name) or \
                    clip_bounds(clip) != (0.0, 6.0):
                continue
            add = producer.get(clip.input[0])
            if add is None or add.op_type != "Add" or not private(clip.input[0]):
                continue
            a, b = add.input
            if not ((a == x_name and _scalar(consts, b) == 3.0) or
                    (b == x_name and _scalar(consts, a) == 3.0)):
                continue
            sites.append(HardSwishSite(x=x_name, out=div.output[0], div=div, inner=(add, clip, mul)))
            break
    return sites


def replace_sites(graph: Any, sites: list[HardSwishSite], make: Any) -> None:
    """Replace each site's four nodes in ``graph`` by ``make(site)`` (a list of nodes) at
    the Div's place."""
    drop = {id(n) for s in sites for n in s.inner}
    new = {id(s.div): s for s in sites}
    nodes: list[Any] = []
    for n in graph.node:
        if id(n) in drop:
            continue
        nodes.extend(make(new[id(n)]) if id(n) in new else [n])
    del graph.node[:]
    graph.node.extend(nodes)


def _default_opset(model: Any) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def hard_swish_for_onnxruntime(onnx_model: bytes) -> bytes:
    """``onnx_model`` with each spelt-out hard-swish as ``Mul(x, HardSigmoid(x))``."""
    if b"Clip" not in onnx_model or b"Div" not in onnx_model:
        return onnx_model  # cheap: most models have no such site, and need no parse
    try:
        import onnx
        from onnx import helper

        model = onnx.load_from_string(onnx_model)
        if _default_opset(model) < 6:
            return onnx_model
        sites = hard_swish_sites(model.graph)
        if not sites:
            return onnx_model
        taken = {o for n in model.graph.node for o in n.output} | \
            {t.name for t in model.graph.initializer} | {i.name for i in model.graph.input}

        def fresh(base: str) -> str:
            name = base
            while name in taken:
                name += "_"
            taken.add(name)
            return name

        def make(site: HardSwishSite) -> list[Any]:
            gate = fresh(f"{site.out}__hard_sigmoid")
            base = site.div.name or site.out
            return [helper.make_node("HardSigmoid", [site.x], [gate], name=fresh(f"{base}__hard_sigmoid"),
                                     alpha=1.0 / 6.0, beta=0.5),
                    helper.make_node("Mul", [site.x, gate], [site.out], name=fresh(f"{base}__hard_swish"))]

        replace_sites(model.graph, sites, make)
        return model.SerializeToString()
    except Exception:  # noqa: BLE001 - a model this cannot read runs as it was given
        return onnx_model
