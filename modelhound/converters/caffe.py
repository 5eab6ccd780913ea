"""Caffe (prototxt + caffemodel) -> ONNX, written over the declarative Caffe schema.

Why our own converter rather than caffe2onnx 2.0.1: caffe2onnx pins onnx 1.6 (pip would
downgrade onnx and break tf2onnx), ships pre-3.19 generated ``_pb2`` code that protobuf 7
refuses, and emits the installed onnx's newest opset. The layers that occur in Android
apps' Caffe models map one-to-one to ONNX ops, so a table of small lowering functions
over :mod:`modelhound.protos.caffe` is shorter than the shims caffe2onnx would need.

The graph comes from the prototxt (the caffemodel of a deploy net usually describes the
training net), the weights from the caffemodel, matched by layer name (``layer`` or
legacy V1 ``layers``). The batch dimension is left symbolic. OpenCV 4.x's
``cv2.dnn.readNetFromCaffe`` is the native reference.

Caffe pooling rounds its output size up (and drops a last window starting in the
padding); that is reproduced exactly with explicit extra end padding, and average pooling
divides by the window clipped to the padded input, as Caffe does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from modelhound.converters import fidelity
from modelhound.converters.interface import Conversion
from modelhound.converters.verify import verified
from modelhound.errors import ConversionError
from modelhound.records import FoundModel, TensorSpec

CONVERTER = "modelhound-caffe"
OPSET = 13


@dataclass
class _Graph:
    """The ONNX graph under construction plus Caffe blob bookkeeping."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    current: dict[str, str] = field(default_factory=dict)
    """Caffe blob name -> ONNX tensor name holding its latest value (in-place layers)."""
    shapes: dict[str, list[int]] = field(default_factory=dict)
    """ONNX tensor name -> shape (batch as declared)."""
    counter: int = 0

    def fresh(self, base: str) -> str:
        """A new tensor name derived from ``base``."""
        self.counter += 1
        return f"{base}__{self.counter}"

    def const(self, base: str, array: np.ndarray) -> str:
        """Add an initializer; returns its name."""
        from onnx import numpy_helper

        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: Sequence[str], shape: list[int], base: str, **attrs: Any) -> str:
        """Add a node with one output of known shape; returns the output name."""
        from onnx import helper

        out = self.fresh(base)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        self.shapes[out] = list(shape)
        return out


def _blob_array(blob: Any) -> np.ndarray:
    """A BlobProto as a float32 array with its declared shape."""
    data = np.asarray(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
    if blob.HasField("shape"):
        shape = tuple(int(d) for d in blob.shape.dim)
    else:
        shape = tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
        while len(shape) > 1 and shape[0] == 1 and int(np.prod(shape[1:])) == data.size:
            shape = shape[1:]
    if int(np.prod(shape)) != data.size:
        raise ConversionError(f"blob of shape {shape} holds {data.size} values")
    return data.reshape(shape)


def _pair(values: Sequence[int], h: int | None, w: int | None, default: int) -> tuple[int, int]:
    """Caffe's (value list | *_h/*_w) convention for 2-D parameters."""
    if h is not None and w is not None:
        return int(h), int(w)
    if len(values) == 0:
        return default, default
    if len(values) == 1:
        return int(values[0]), int(values[0])
    return int(values[0]), int(values[1])


def _opt(msg: Any, name: str) -> int | None:
    """A field's value when set, else None."""
    return getattr(msg, name) if msg.HasField(name) else None


Lowering = Callable[[_Graph, Any, list[str], list[np.ndarray]], list[str]]


def _conv(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.convolution_param
    kh, kw = _pair(p.kernel_size, _opt(p, "kernel_h"), _opt(p, "kernel_w"), 1)
    sh, sw = _pair(p.stride, _opt(p, "stride_h"), _opt(p, "stride_w"), 1)
    ph, pw = _pair(p.pad, _opt(p, "pad_h"), _opt(p, "pad_w"), 0)
    dh, dw = _pair(p.dilation, None, None, 1)
    n, c, h, w = g.shapes[x[0]]
    weights = blobs[0]
    out_c = int(p.num_output) or weights.shape[0]
    deconv = layer.type == "Deconvolution"
    group = int(p.group)
    if deconv:
        weights = weights.reshape(c, out_c // group, kh, kw)
        oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + 1
        ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + 1
    else:
        weights = weights.reshape(out_c, c // group, kh, kw)
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    inputs = [x[0], g.const(layer.name + "_w", weights)]
    if p.bias_term and len(blobs) > 1:
        inputs.append(g.const(layer.name + "_b", blobs[1].reshape(-1)))
    op = "ConvTranspose" if deconv else "Conv"
    return [g.node(op, inputs, [n, out_c, oh, ow], layer.name, kernel_shape=[kh, kw],
                   strides=[sh, sw], pads=[ph, pw, ph, pw], dilations=[dh, dw], group=group)]


def _pool(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.pooling_param
    n, c, h, w = g.shapes[x[0]]
    is_max = p.pool == 0
    if p.pool == 2:
        raise ConversionError(f"layer {layer.name}: stochastic pooling has no inference form")
    if p.global_pooling:
        return [g.node("GlobalMaxPool" if is_max else "GlobalAveragePool", x, [n, c, 1, 1], layer.name)]
    kh, kw = _pair(p.kernel_size, _opt(p, "kernel_h"), _opt(p, "kernel_w"), 1)
    sh, sw = _pair(p.stride, _opt(p, "stride_h"), _opt(p, "stride_w"), 1)
    ph, pw = _pair(p.pad, _opt(p, "pad_h"), _opt(p, "pad_w"), 0)
    rnd = math.floor if p.round_mode == 1 else math.ceil

    def out_size(size: int, k: int, s: int, pad: int) -> int:
        o = int(rnd((size + 2 * pad - k) / s)) + 1
        if pad and (o - 1) * s >= size + pad:
            o -= 1
        return o

    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    eh = max((oh - 1) * sh + kh - h - 2 * ph, 0)
    ew = max((ow - 1) * sw + kw - w - 2 * pw, 0)
    if is_max:
        return [g.node("MaxPool", x, [n, c, oh, ow], layer.name, kernel_shape=[kh, kw],
                       strides=[sh, sw], pads=[ph, pw, ph + eh, pw + ew])]
    src = x[0]
    if ph or pw:
        pads = g.const(layer.name + "_pads", np.array([0, 0, ph, pw, 0, 0, ph, pw], np.int64))
        src = g.node("Pad", [src, pads], [n, c, h + 2 * ph, w + 2 * pw], layer.name + "_pad")
    return [g.node("AveragePool", [src], [n, c, oh, ow], layer.name, kernel_shape=[kh, kw],
                   strides=[sh, sw], pads=[0, 0, eh, ew], count_include_pad=0)]


def _inner_product(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.inner_product_param
    shape = g.shapes[x[0]]
    axis = int(p.axis) % len(shape)
    k = int(np.prod(shape[axis:]))
    weights = blobs[0].reshape(-1, k) if not p.transpose else blobs[0].reshape(k, -1).T
    out_n = weights.shape[0]
    flat = x[0]
    if len(shape) != 2 or axis != 1:
        flat = g.node("Flatten", x, [int(np.prod(shape[:axis])), k], layer.name + "_flat", axis=axis)
    inputs = [flat, g.const(layer.name + "_w", np.ascontiguousarray(weights))]
    if p.bias_term and len(blobs) > 1:
        inputs.append(g.const(layer.name + "_b", blobs[1].reshape(-1)))
    out = g.node("Gemm", inputs, [int(np.prod(shape[:axis])), out_n], layer.name, transB=1)
    if axis != 1:
        out = g.node("Reshape", [out, g.const(layer.name + "_shape", np.array(
            [0] * axis + [out_n], np.int64))], [*shape[:axis], out_n], layer.name + "_unflat")
    return [out]


def _channel_param(g: _Graph, name: str, values: np.ndarray, shape: list[int], axis: int = 1) -> str:
    """A per-axis parameter reshaped to broadcast against a tensor of ``shape`` from ``axis``."""
    values = values.reshape(-1) if values.ndim <= 1 else values
    trailing = len(shape) - axis - values.ndim
    return g.const(name, values.reshape(values.shape + (1,) * max(trailing, 0)))


def _relu(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    slope = float(layer.relu_param.negative_slope)
    if slope:
        return [g.node("LeakyRelu", x, g.shapes[x[0]], layer.name, alpha=slope)]
    return [g.node("Relu", x, g.shapes[x[0]], layer.name)]


def _prelu(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    shape = g.shapes[x[0]]
    slope = blobs[0].reshape(-1)
    if slope.size == 1:
        slope_name = g.const(layer.name + "_slope", slope.reshape(1))
    else:
        slope_name = _channel_param(g, layer.name + "_slope", slope, shape)
    return [g.node("PRelu", [x[0], slope_name], shape, layer.name)]


def _unary(op: str, **attrs: Any) -> Lowering:
    def lower(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
        return [g.node(op, x[:1], g.shapes[x[0]], layer.name, **attrs)]
    return lower


def _elu(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    return [g.node("Elu", x, g.shapes[x[0]], layer.name, alpha=float(layer.elu_param.alpha))]


def _softmax(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    shape = g.shapes[x[0]]
    return [g.node("Softmax", x, shape, layer.name, axis=int(layer.softmax_param.axis) % len(shape))]


def _identity(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    return [x[0]] * max(len(layer.top), 1)


def _concat(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.concat_param
    shape = list(g.shapes[x[0]])
    axis = (int(p.axis) if p.HasField("axis") or not p.HasField("concat_dim") else int(p.concat_dim))
    axis %= len(shape)
    shape[axis] = sum(g.shapes[t][axis] for t in x)
    return [g.node("Concat", x, shape, layer.name, axis=axis)]


def _eltwise(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.eltwise_param
    shape = g.shapes[x[0]]
    if p.operation == 0:
        return [g.node("Mul", x, shape, layer.name)] if len(x) == 2 else \
            [_fold(g, "Mul", x, shape, layer.name)]
    if p.operation == 2:
        return [g.node("Max", x, shape, layer.name)]
    terms = list(x)
    if len(p.coeff):
        if len(p.coeff) != len(x):
            raise ConversionError(f"layer {layer.name}: {len(p.coeff)} coefficients for {len(x)} inputs")
        terms = [t if c == 1 else g.node("Mul", [t, g.const(layer.name + "_c", np.array(c, np.float32))],
                                         shape, layer.name + "_scaled")
                 for t, c in zip(x, p.coeff)]
    return [g.node("Sum", terms, shape, layer.name)]


def _fold(g: _Graph, op: str, x: list[str], shape: list[int], name: str) -> str:
    out = x[0]
    for t in x[1:]:
        out = g.node(op, [out, t], shape, name)
    return out


def _flatten(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.flatten_param
    shape = g.shapes[x[0]]
    axis, end = int(p.axis) % len(shape), int(p.end_axis) % len(shape)
    new = shape[:axis] + [int(np.prod(shape[axis:end + 1]))] + shape[end + 1:]
    target = [0] + new[1:] if axis > 0 else new
    return [g.node("Reshape", [x[0], g.const(layer.name + "_shape", np.array(target, np.int64))],
                   new, layer.name)]


def _reshape(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.reshape_param
    shape = g.shapes[x[0]]
    axis = int(p.axis) % (len(shape) + 1) if p.axis < 0 else int(p.axis)
    end = len(shape) if p.num_axes == -1 else axis + int(p.num_axes)
    dims = [int(d) for d in p.shape.dim]
    full = [0] * axis + dims + shape[end:] if axis else dims + shape[end:]
    if axis == 0 and dims and dims[0] not in (0, -1) and dims[0] != shape[0]:
        pass  # an explicit batch size: honoured as written
    elif full:
        full[0] = 0  # keep the batch symbolic
    resolved = [shape[i] if d == 0 else d for i, d in enumerate(full)]
    if -1 in resolved:
        known = int(np.prod([d for d in resolved if d != -1]))
        resolved[resolved.index(-1)] = int(np.prod(shape)) // max(known, 1)
    return [g.node("Reshape", [x[0], g.const(layer.name + "_shape", np.array(full, np.int64))],
                   resolved, layer.name)]


def _slice(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    from onnx import helper

    p = layer.slice_param
    shape = g.shapes[x[0]]
    axis = (int(p.axis) if p.HasField("axis") or not p.HasField("slice_dim") else int(p.slice_dim))
    axis %= len(shape)
    points = [0, *[int(s) for s in p.slice_point], shape[axis]]
    if len(points) == 2:
        step = shape[axis] // len(layer.top)
        points = [i * step for i in range(len(layer.top) + 1)]
    sizes = [b - a for a, b in zip(points, points[1:])]
    outs = [g.fresh(f"{layer.name}_{i}") for i in range(len(sizes))]
    split = g.const(layer.name + "_split", np.array(sizes, np.int64))
    g.nodes.append(helper.make_node("Split", [x[0], split], outs, name=outs[0], axis=axis))
    for o, s in zip(outs, sizes):
        g.shapes[o] = shape[:axis] + [s] + shape[axis + 1:]
    return outs


def _batch_norm(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    shape = g.shapes[x[0]]
    factor = float(blobs[2].reshape(-1)[0]) if len(blobs) > 2 else 1.0
    factor = 0.0 if factor == 0 else 1.0 / factor
    mean, var = blobs[0].reshape(-1) * factor, blobs[1].reshape(-1) * factor
    eps = float(layer.batch_norm_param.eps)
    scale = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    a = _channel_param(g, layer.name + "_a", scale, shape)
    b = _channel_param(g, layer.name + "_b", (-mean * scale).astype(np.float32), shape)
    return [g.node("Add", [g.node("Mul", [x[0], a], shape, layer.name + "_mul"), b], shape, layer.name)]


def _scale(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    shape = g.shapes[x[0]]
    p = layer.scale_param if layer.type == "Scale" else layer.bias_param
    axis = int(p.axis) % len(shape)
    out = x[0]
    if layer.type == "Scale":
        factor = x[1] if len(x) > 1 else None
        if factor is None:
            factor = _channel_param(g, layer.name + "_s", blobs[0], shape, axis)
            blobs = blobs[1:]
        elif len(g.shapes[factor]) + axis < len(shape):
            raise ConversionError(f"layer {layer.name}: scale by a blob needs a reshape")
        out = g.node("Mul", [out, factor], shape, layer.name + "_mul")
        if not layer.scale_param.bias_term:
            return [out]
    bias = _channel_param(g, layer.name + "_bias", blobs[0], shape, axis)
    return [g.node("Add", [out, bias], shape, layer.name)]


def _lrn(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.lrn_param
    if p.norm_region != 0:
        raise ConversionError(f"layer {layer.name}: LRN within channel is not supported")
    return [g.node("LRN", x, g.shapes[x[0]], layer.name, size=int(p.local_size),
                   alpha=float(p.alpha), beta=float(p.beta), bias=float(p.k))]


def _power(g: _Graph, layer: Any, x: list[str], blobs: list[np.ndarray]) -> list[str]:
    p = layer.power_param
    shape = g.shapes[x[0]]
    out = x[0]
    if p.scale != 1:
        out = g.node("Mul", [out, g.const(layer.name + "_s", np.array(p.scale, np.float32))], shape,
                     layer.name + "_scale")
    if p.shift != 0:
        out = g.node("Add", [out, g.const(layer.name + "_t", np.array(p.shift, np.float32))], shape,
                     layer.name + "_shift")
    if p.power != 1:
        out = g.node("Pow", [out, g.const(layer.name + "_p", np.array(p.power, np.float32))], shape,
                     layer.name)
    return [out if out != x[0] else g.node("Identity", x, shape, layer.name)]


#: Caffe layer type -> lowering to ONNX nodes. Types absent here make a model unsupported.
LAYERS: Mapping[str, Lowering] = {
    "Convolution": _conv,
    "Deconvolution": _conv,
    "Pooling": _pool,
    "InnerProduct": _inner_product,
    "ReLU": _relu,
    "PReLU": _prelu,
    "ELU": _elu,
    "Sigmoid": _unary("Sigmoid"),
    "TanH": _unary("Tanh"),
    "AbsVal": _unary("Abs"),
    "BNLL": _unary("Softplus"),
    "Softmax": _softmax,
    "Dropout": _identity,
    "Split": _identity,
    "Silence": lambda g, layer, x, b: [],
    "Concat": _concat,
    "Eltwise": _eltwise,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Slice": _slice,
    "BatchNorm": _batch_norm,
    "Scale": _scale,
    "Bias": _scale,
    "LRN": _lrn,
    "Power": _power,
}
#: Layers that only matter in training and are dropped from a deploy graph.
TRAINING_ONLY = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
                 "Accuracy", "SoftmaxWithLoss", "EuclideanLoss", "SigmoidCrossEntropyLoss",
                 "HingeLoss", "InfogainLoss", "ContrastiveLoss", "MultinomialLogisticLoss"}


def _net_inputs(net: Any) -> list[tuple[str, list[int]]]:
    """(blob name, shape) of every network input (Input layers or legacy input fields)."""
    found = []
    for layer in net.layer:
        if layer.type == "Input":
            shapes = list(layer.input_param.shape)
            for i, top in enumerate(layer.top):
                shape = shapes[min(i, len(shapes) - 1)] if shapes else None
                if shape is None:
                    raise ConversionError(f"input {top} has no shape")
                found.append((top, [int(d) for d in shape.dim]))
    for i, name in enumerate(net.input):
        if i < len(net.input_shape):
            found.append((name, [int(d) for d in net.input_shape[i].dim]))
        elif len(net.input_dim) >= 4 * (i + 1):
            found.append((name, [int(d) for d in net.input_dim[4 * i: 4 * i + 4]]))
        else:
            raise ConversionError(f"input {name} has no shape")
    if not found:
        raise ConversionError("the prototxt declares no input")
    return found


def _weights(model: Any) -> dict[str, list[np.ndarray]]:
    """Layer name -> weight blobs, from either layer list of a caffemodel."""
    weights = {}
    for layer in list(model.layer) + list(model.layers):
        if len(layer.blobs):
            weights[layer.name] = [_blob_array(b) for b in layer.blobs]
    return weights


@dataclass(frozen=True)
class CaffeOnnx:
    """Result of :func:`to_onnx`."""

    onnx: bytes
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    output_layers: tuple[str, ...]
    """For each output, the Caffe layer that last wrote it (OpenCV's output name)."""


def to_onnx(prototxt: str, caffemodel: bytes) -> CaffeOnnx:
    """Convert a deploy prototxt plus its trained weights to ONNX."""
    import onnx
    from onnx import helper

    from modelhound.protos import caffe as schema

    try:
        net = schema.parse_prototxt(prototxt)
    except Exception as exc:
        raise ConversionError(f"prototxt does not parse: {str(exc).splitlines()[0]}") from exc
    if len(net.layers) and not len(net.layer):
        raise ConversionError("legacy V1 prototxt (layers {...}) is not supported")
    try:
        weights = _weights(schema.parse_caffemodel(caffemodel))
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"caffemodel does not parse: {exc}") from exc
    g = _Graph()
    inputs = []
    for name, shape in _net_inputs(net):
        g.current[name] = name
        g.shapes[name] = shape
        inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", *shape[1:]]))
    unsupported = sorted({l.type for l in net.layer if l.type not in LAYERS
                          and l.type not in TRAINING_ONLY and l.type != "Input"})
    if unsupported:
        raise ConversionError(f"layer types without an ONNX lowering: {', '.join(unsupported)}",
                              ) from None
    consumed: set[str] = set()
    writer: dict[str, str] = {}
    for layer in net.layer:
        if layer.type in TRAINING_ONLY or layer.type == "Input":
            continue
        try:
            bottoms = [g.current[b] for b in layer.bottom]
        except KeyError as exc:
            raise ConversionError(f"layer {layer.name}: unknown bottom {exc}") from None
        consumed.update(layer.bottom)
        blobs = weights.get(layer.name, [])
        if layer.type in ("Convolution", "Deconvolution", "InnerProduct", "PReLU", "BatchNorm") \
                and not blobs:
            raise ConversionError(f"layer {layer.name}: no weights in the caffemodel")
        try:
            outs = LAYERS[layer.type](g, layer, bottoms, blobs)
        except ConversionError as exc:
            raise ConversionError(f"layer {layer.name}: {exc}") from None
        except (IndexError, ValueError, KeyError) as exc:
            raise ConversionError(f"layer {layer.name} ({layer.type}): {exc}") from None
        for top, out in zip(layer.top, outs):
            g.current[top] = out
            writer[top] = layer.name
            consumed.discard(top)
    final = [t for t in dict.fromkeys(writer) if t not in consumed]
    outputs, specs = [], []
    for top in final:
        src = g.current[top]
        g.nodes.append(helper.make_node("Identity", [src], [top], name=f"{top}_output"))
        shape = g.shapes[src]
        outputs.append(helper.make_tensor_value_info(top, onnx.TensorProto.FLOAT, ["N", *shape[1:]]))
        specs.append(TensorSpec(top, (-1, *shape[1:]), "float32"))
    graph = helper.make_graph(g.nodes, net.name or "caffe", inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=CONVERTER)
    model.ir_version = 8
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ConversionError(f"emitted ONNX is invalid: {str(exc).splitlines()[0]}") from exc
    in_specs = tuple(TensorSpec(n, (-1, *s[1:]), "float32", layout="NCHW" if len(s) == 4 else None)
                     for n, s in _net_inputs(net))
    return CaffeOnnx(model.SerializeToString(), in_specs, tuple(specs),
                     tuple(writer[t] for t in final))


class OpenCVCaffeRunnable:
    """A Caffe model run by OpenCV 4.x's dnn module (the native reference)."""

    runtime = "opencv"

    def __init__(self, prototxt: str, caffemodel: bytes, inputs: Sequence[TensorSpec],
                 outputs: Sequence[TensorSpec], output_layers: Sequence[str]) -> None:
        """Load the network with ``cv2.dnn.readNetFromCaffe`` (exact kernels: no Winograd)."""
        import cv2

        if not hasattr(cv2.dnn, "readNetFromCaffe"):
            raise ConversionError(f"OpenCV {cv2.__version__} has no readNetFromCaffe (needs 4.x)")
        try:
            self._net = cv2.dnn.readNetFromCaffe(
                np.frombuffer(prototxt.encode(), np.uint8), np.frombuffer(caffemodel, np.uint8)
            )
        except cv2.error as exc:
            raise ConversionError(f"OpenCV cannot load the model: {str(exc).strip()[-200:]}") from exc
        self._net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self._net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        if hasattr(self._net, "enableWinograd"):
            self._net.enableWinograd(False)
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self._layers = list(output_layers)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Execute the network on a batch; returns float32 outputs."""
        for spec, x in zip(self.inputs, inputs):
            self._net.setInput(np.ascontiguousarray(x, np.float32), spec.name)
        results = self._net.forward(self._layers)
        return [np.asarray(r, np.float32) for r in results]


def _prototxt(found: FoundModel) -> str | None:
    """The prototxt among the companions (text with ``layer``/``input`` fields), if any."""
    for name, data in found.companions.items():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if "layer" in text or "input" in text:
            return text
    return None


def convert(found: FoundModel) -> Conversion:
    """Convert a Caffe model (caffemodel entry with its prototxt companion) and check it."""
    sha, entry = found.entry.sha256, found.entry.entry
    if found.entry.subformat == "prototxt":
        return Conversion(sha, False, converter=CONVERTER,
                          reason=f"{entry}: prototxt without trained weights (no caffemodel); "
                                 "not runnable")
    prototxt = _prototxt(found)
    if prototxt is None:
        return Conversion(sha, False, converter=CONVERTER,
                          reason=f"{entry}: caffemodel without its prototxt; the deploy graph "
                                 "is unknown")
    try:
        result = to_onnx(prototxt, found.data)
    except ConversionError as exc:
        unsupported: tuple[str, ...] = ()
        text = str(exc)
        if text.startswith("layer types without"):
            unsupported = tuple(text.split(": ", 1)[1].split(", "))
        return Conversion(sha, False, converter=CONVERTER, reason=f"{entry}: {exc}",
                          unsupported_ops=unsupported)
    try:
        native = OpenCVCaffeRunnable(prototxt, found.data, result.inputs, result.outputs,
                                     result.output_layers)
        native.run(fidelity.seeded_inputs(result.inputs))
    except Exception as exc:  # noqa: BLE001 - cv2.error and shape errors
        native = None
        note = f"OpenCV cannot run it ({str(exc).strip().splitlines()[-1][:160]}); ONNX form unchecked"
    else:
        note = ""
    try:
        conversion = verified(found, result.onnx, native, converter=CONVERTER,
                              notes=[note] if note else [],
                              specs=(result.inputs, result.outputs))
    except ConversionError as exc:
        return Conversion(sha, False, converter=CONVERTER, reason=f"{entry}: {exc}")
    return conversion
