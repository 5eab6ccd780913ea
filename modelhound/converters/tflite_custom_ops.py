"""Workarounds for TFLite constructs tf2onnx 1.17 cannot convert, as explicit objects.

* Sparse weights feeding ``DENSIFY`` (MediaPipe ``*_sparse`` / pose_detection): tf2onnx
  fails with "cannot reshape array". :func:`densify` runs LiteRT once with every tensor
  preserved and the default XNNPACK delegate off (XNNPACK leaves intermediates as garbage),
  reads each DENSIFY output, and rewrites the flatbuffer so that output is a plain
  constant and the DENSIFY op is gone.
* MediaPipe's custom op ``Convolution2DTransposeBias``: its options are a raw 12-byte C
  struct (padding, stride_w, stride_h), not flexbuffers, so tf2onnx drops them and emits a
  node onnxruntime rejects. :func:`custom_op_handlers` returns a tf2onnx
  ``custom_op_handlers`` mapping that lowers it to Transpose -> ConvTranspose -> Transpose,
  with the options read from the model itself (no global registration).
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Mapping

import numpy as np

from modelhound.converters.runtimes import LiteRTRunnable

CONV_TRANSPOSE_BIAS = "Convolution2DTransposeBias"
#: Custom ops the converter knows how to lower to ONNX.
HANDLED_CUSTOM_OPS = frozenset({CONV_TRANSPOSE_BIAS})

_TFLITE_SAME, _TFLITE_VALID = 1, 2


def load_model(data: bytes) -> Any:
    """The TFLite flatbuffer as LiteRT's generated object API (``ModelT``)."""
    from ai_edge_litert import schema_py_generated as schema

    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


def op_name(model: Any, opcode_index: int) -> str:
    """Builtin operator name or custom code of an opcode index."""
    from ai_edge_litert import schema_py_generated as schema

    code = model.operatorCodes[opcode_index]
    if code.customCode:
        cc = code.customCode
        return cc.decode() if isinstance(cc, bytes) else str(cc)
    number = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(number, f"BUILTIN_{number}")


def custom_ops(model: Any) -> list[str]:
    """Names of the custom ops the model uses, sorted."""
    return sorted({op_name(model, i) for i, c in enumerate(model.operatorCodes) if c.customCode})


def has_op(model: Any, name: str) -> bool:
    """Whether any subgraph uses the operator ``name``."""
    codes = {i for i in range(len(model.operatorCodes)) if op_name(model, i) == name}
    return any(op.opcodeIndex in codes for g in model.subgraphs for op in (g.operators or []))


def pack(model: Any) -> bytes:
    """Serialize a ``ModelT`` back to a TFLite flatbuffer."""
    import flatbuffers

    builder = flatbuffers.Builder(1024 * 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def densify(data: bytes, model: Any, sample: list[np.ndarray]) -> bytes:
    """Replace every DENSIFY op of the main subgraph by a constant holding its dense output.

    ``sample`` is one valid input batch for LiteRT; the dense values do not depend on it.
    """
    from ai_edge_litert import schema_py_generated as schema

    codes = {i for i in range(len(model.operatorCodes)) if op_name(model, i) == "DENSIFY"}
    graph = model.subgraphs[0]
    targets = [op for op in graph.operators if op.opcodeIndex in codes]
    if not targets:
        return data
    runner = LiteRTRunnable(data, default_delegates=False, preserve_all_tensors=True)
    runner.run([x[:1] for x in sample])
    for op in targets:
        dense = runner.tensor(int(op.outputs[0]))
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(dense).tobytes(), dtype=np.uint8)
        model.buffers.append(buffer)
        graph.tensors[op.outputs[0]].buffer = len(model.buffers) - 1
        sparse = graph.tensors[op.inputs[0]]
        sparse.buffer = 0
        sparse.sparsity = None
    graph.operators = [op for op in graph.operators if op.opcodeIndex not in codes]
    return pack(model)


def _opcode(model: Any, name: str) -> int:
    """Index of the builtin opcode ``name``, added to the model when missing."""
    from ai_edge_litert import schema_py_generated as schema

    for i in range(len(model.operatorCodes)):
        if op_name(model, i) == name:
            return i
    code = schema.OperatorCodeT()
    number = getattr(schema.BuiltinOperator, name)
    code.builtinCode = number
    code.deprecatedBuiltinCode = min(number, 127)
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def flatten_fc_inputs(model: Any) -> int:
    """Put an explicit RESHAPE to [-1, K] before every FULLY_CONNECTED with a rank > 2 input.

    tf2onnx 1.17 drops the bias of such an op (its TFL_FULLY_CONNECTED handler replaces the
    inputs by [reshaped, weights]); with the input already 2-D the bias is kept. Returns
    the number of ops rewritten.
    """
    from ai_edge_litert import schema_py_generated as schema

    fc = {i for i in range(len(model.operatorCodes)) if op_name(model, i) == "FULLY_CONNECTED"}
    count = 0
    for graph in model.subgraphs:
        new_ops = []
        for op in graph.operators or []:
            if op.opcodeIndex in fc and len(op.inputs) >= 3 and op.inputs[2] >= 0:
                keep = op.builtinOptions is not None and bool(op.builtinOptions.keepNumDims)
                x = graph.tensors[op.inputs[0]]
                w = graph.tensors[op.inputs[1]]
                if not keep and x.shape is not None and len(x.shape) > 2:
                    k = int(w.shape[1])
                    shape_t = schema.TensorT()
                    shape_t.name = f"{_text(x.name)}/modelhound_fc_shape".encode()
                    shape_t.shape = np.array([2], dtype=np.int32)
                    shape_t.type = schema.TensorType.INT32
                    buf = schema.BufferT()
                    buf.data = np.frombuffer(np.array([-1, k], np.int32).tobytes(), np.uint8)
                    model.buffers.append(buf)
                    shape_t.buffer = len(model.buffers) - 1
                    flat = schema.TensorT()
                    flat.name = f"{_text(x.name)}/modelhound_fc_flat".encode()
                    rows = int(np.prod(x.shape)) // k if min(x.shape) > 0 else -1
                    flat.shape = np.array([rows, k], dtype=np.int32)
                    flat.shapeSignature = np.array([-1 if rows < 0 else rows, k], dtype=np.int32)
                    flat.type = x.type
                    flat.quantization = x.quantization
                    flat.buffer = 0
                    graph.tensors.extend([shape_t, flat])
                    reshape = schema.OperatorT()
                    reshape.opcodeIndex = _opcode(model, "RESHAPE")
                    reshape.inputs = np.array([op.inputs[0], len(graph.tensors) - 2], np.int32)
                    reshape.outputs = np.array([len(graph.tensors) - 1], np.int32)
                    reshape.builtinOptionsType = schema.BuiltinOptions.ReshapeOptions
                    reshape.builtinOptions = schema.ReshapeOptionsT()
                    reshape.builtinOptions.newShape = [-1, k]
                    new_ops.append(reshape)
                    op.inputs = np.array(op.inputs, dtype=np.int32)
                    op.inputs[0] = len(graph.tensors) - 1
                    count += 1
            new_ops.append(op)
        graph.operators = new_ops
    return count


#: Output activations whose logits the fidelity check compares instead.
SATURATING = frozenset({"LOGISTIC", "SOFTMAX"})


def expose_logits(model: Any) -> dict[str, str]:
    """Add the input of every LOGISTIC/SOFTMAX producing a graph output as an extra output.

    Returns ``{output name: logits name}``. On seeded noise a sigmoid saturates (masks
    are ~1e-8) and a softmax goes one-hot, so max-normalised errors of those outputs are
    meaningless or blind; fidelity is measured on the logits instead.
    """
    graph = model.subgraphs[0]
    producers = {int(op.outputs[0]): op for op in graph.operators or [] if len(op.outputs)}
    exposed: dict[str, str] = {}
    extra = []
    for out in list(graph.outputs):
        op = producers.get(int(out))
        if op is not None and op_name(model, op.opcodeIndex) in SATURATING:
            logits = int(op.inputs[0])
            exposed[_text(graph.tensors[out].name)] = _text(graph.tensors[logits].name)
            if logits not in graph.outputs:
                extra.append(logits)
    if extra:
        graph.outputs = np.concatenate([np.asarray(graph.outputs, np.int32),
                                        np.asarray(extra, np.int32)])
    return exposed


def is_hybrid(model: Any) -> bool:
    """Whether some op takes float activations with constant int8 weights (dynamic range).

    LiteRT then quantizes activations at run time, while the ONNX form computes in float.
    """
    for graph in model.subgraphs:
        for op in graph.operators or []:
            ins = [graph.tensors[i] for i in op.inputs if i >= 0]
            if len(ins) < 2 or ins[0].type != 0:  # 0 = FLOAT32
                continue
            if any(t.type == 9 and t.buffer and _size(model.buffers[t.buffer].data) for t in ins[1:]):
                return True
    return False


HYBRID_MODES = (None, "asymmetric", "symmetric")


def emulate_hybrid_inputs(
    onnx_bytes: bytes, conv: str | None = "asymmetric", matmul: str | None = None
) -> tuple[bytes, int]:
    """Quantize the float input of ops with int8 weights, as LiteRT's hybrid kernels do.

    A dynamic-range TFLite CONV_2D / FULLY_CONNECTED quantizes its activations at run
    time, per batch row, to int8 before an integer product: asymmetrically or
    symmetrically (scale = max|x| / 127) depending on the kernel. ``conv`` / ``matmul``
    pick the mode for ONNX Conv resp. Gemm/MatMul nodes whose weights are dequantized int8
    (None: leave in float). The fake quantization is per tensor, so such models are run
    sample by sample. Returns (model, number of ops emulated).
    """
    import onnx
    from onnx import helper

    model = onnx.load_from_string(onnx_bytes)
    int8 = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8}
    dequantized = {n.output[0] for n in model.graph.node
                   if n.op_type == "DequantizeLinear" and n.input[0] in int8}
    modes = {"Conv": conv, "Gemm": matmul, "MatMul": matmul}
    nodes, count = [], 0
    for node in model.graph.node:
        mode = modes.get(node.op_type)
        if mode and len(node.input) > 1 and node.input[1] in dequantized:
            base = f"{node.name or node.output[0]}_hybrid"
            if mode == "symmetric":
                nodes.extend(_symmetric_fake_quant(node.input[0], base, model))
            else:
                nodes.append(helper.make_node("DynamicQuantizeLinear", [node.input[0]],
                                              [f"{base}_q", f"{base}_s", f"{base}_z"],
                                              name=f"{base}_q"))
                nodes.append(helper.make_node("DequantizeLinear",
                                              [f"{base}_q", f"{base}_s", f"{base}_z"],
                                              [f"{base}_x"], name=f"{base}_x"))
            node.input[0] = f"{base}_x"
            count += 1
        nodes.append(node)
    if not count:
        return onnx_bytes, 0
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model.SerializeToString(), count


def _symmetric_fake_quant(x: str, base: str, model: Any) -> list[Any]:
    """Nodes computing ``{base}_x = clip(round(x / s), -127, 127) * s``, s = max|x| / 127."""
    from onnx import helper, numpy_helper

    consts = {"127": np.array(127.0, np.float32), "m127": np.array(-127.0, np.float32),
              "tiny": np.array(1e-30, np.float32)}
    for key, value in consts.items():
        model.graph.initializer.append(numpy_helper.from_array(value, f"{base}_{key}"))
    return [
        helper.make_node("Abs", [x], [f"{base}_abs"]),
        helper.make_node("ReduceMax", [f"{base}_abs"], [f"{base}_max"], keepdims=0),
        helper.make_node("Div", [f"{base}_max", f"{base}_127"], [f"{base}_s0"]),
        helper.make_node("Max", [f"{base}_s0", f"{base}_tiny"], [f"{base}_s"]),
        helper.make_node("Div", [x, f"{base}_s"], [f"{base}_d"]),
        helper.make_node("Round", [f"{base}_d"], [f"{base}_r"]),
        helper.make_node("Clip", [f"{base}_r", f"{base}_m127", f"{base}_127"], [f"{base}_c"]),
        helper.make_node("Mul", [f"{base}_c", f"{base}_s"], [f"{base}_x"]),
    ]


def _size(data: Any) -> int:
    """Length of a buffer's data (None, list or numpy array)."""
    return 0 if data is None else len(data)


def _text(name: Any) -> str:
    """A flatbuffer string as str."""
    return name.decode() if isinstance(name, bytes) else str(name)


def conv_transpose_options(model: Any) -> dict[str, tuple[int, int, int]]:
    """``{output tensor name: (padding, stride_w, stride_h)}`` of every Convolution2DTransposeBias."""
    options = {}
    for graph in model.subgraphs:
        for op in graph.operators or []:
            if op_name(model, op.opcodeIndex) != CONV_TRANSPOSE_BIAS:
                continue
            raw = bytes(np.asarray(op.customOptions, dtype=np.uint8).tobytes())
            if len(raw) < 12:
                raise ValueError(f"{CONV_TRANSPOSE_BIAS}: options are {len(raw)} bytes, not 12")
            name = graph.tensors[op.outputs[0]].name
            name = name.decode() if isinstance(name, bytes) else name
            options[name] = struct.unpack("<iii", raw[:12])
    return options


def _conv_transpose_handler(options: Mapping[str, tuple[int, int, int]]) -> Callable[..., None]:
    """A tf2onnx (old-style) handler lowering Convolution2DTransposeBias, given its options."""

    def handler(ctx: Any, node: Any, name: str, args: Any) -> None:
        key = node.output[0] if node.output[0] in options else node.name
        padding, stride_w, stride_h = options[key]
        x, w, b = node.input[:3]
        in_shape = ctx.get_shape(x)
        w_shape = ctx.get_shape(w)  # OHWI
        out_shape = ctx.get_shape(node.output[0])
        kh, kw = int(w_shape[1]), int(w_shape[2])
        pads, output_padding = [], []
        for axis, (k, s) in enumerate(((kh, stride_h), (kw, stride_w))):
            size_in = int(in_shape[1 + axis])
            full = (size_in - 1) * s + k
            want = size_in * s if padding == _TFLITE_SAME else full
            if out_shape and out_shape[1 + axis] not in (None, -1):
                want = int(out_shape[1 + axis])
            total = full - want
            pads.append((max(total, 0) // 2, max(total, 0) - max(total, 0) // 2))
            output_padding.append(max(-total, 0))
        dtype = ctx.get_dtype(x)
        x_t = ctx.make_node("Transpose", [x], attr={"perm": [0, 3, 1, 2]})
        w_t = ctx.make_node("Transpose", [w], attr={"perm": [3, 0, 1, 2]})
        attrs = {
            "strides": [stride_h, stride_w],
            "kernel_shape": [kh, kw],
            "pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
        }
        if any(output_padding):
            attrs["output_padding"] = output_padding
        conv = ctx.make_node("ConvTranspose", [x_t.output[0], w_t.output[0], b], attr=attrs)
        ctx.set_dtype(conv.output[0], dtype)
        if out_shape:
            nchw = [out_shape[0], out_shape[3], out_shape[1], out_shape[2]]
            ctx.set_shape(conv.output[0], nchw)
        node.type = "Transpose"
        node.domain = ""
        for key in list(node.attr):
            del node.attr[key]
        node.set_attr("perm", [0, 2, 3, 1])
        ctx.replace_inputs(node, [conv.output[0]])

    return handler


def custom_op_handlers(model: Any) -> dict[str, tuple[Callable[..., None], list[Any]]]:
    """tf2onnx ``custom_op_handlers`` for the custom ops of this model that we can lower."""
    handlers: dict[str, tuple[Callable[..., None], list[Any]]] = {}
    if CONV_TRANSPOSE_BIAS in custom_ops(model):
        handlers["TFL_" + CONV_TRANSPOSE_BIAS] = (
            _conv_transpose_handler(conv_transpose_options(model)), []
        )
    return handlers
