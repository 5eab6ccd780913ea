"""ONNX: a protobuf ModelProto with a graph (no magic number)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from modelhound.errors import ExtractError
from modelhound.extractor import protowire as pw
from modelhound.extractor.protowire import text
from modelhound.records import ModelFormat, ModelInfo, Sniffed, TensorSpec

#: ModelProto field numbers and their wire types.
_MODEL_FIELDS = {1: pw.VARINT, 2: pw.LEN, 3: pw.LEN, 4: pw.LEN, 5: pw.VARINT, 6: pw.LEN,
                 7: pw.LEN, 8: pw.LEN, 14: pw.LEN, 20: pw.LEN, 25: pw.LEN}


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """ir_version varint first, only ModelProto fields, and a graph (field 7)."""
    fields = pw.head_fields(head, limit=12)
    if not fields or fields[0].number != 1 or fields[0].wire_type != pw.VARINT:
        return None
    if not 1 <= fields[0].value <= 20:
        return None
    for f in fields:
        if _MODEL_FIELDS.get(f.number) != f.wire_type:
            return None
    numbers = {f.number for f in fields}
    if 7 not in numbers and not ({2, 8} & numbers):
        return None
    producer = next((f for f in fields if f.number == 2), None)
    evidence = f"protobuf ModelProto, ir_version {fields[0].value}"
    if producer is not None and producer.offset + producer.value <= len(head):
        evidence += f", producer {head[producer.offset:producer.offset + producer.value]!r}"
    return Sniffed(ModelFormat.ONNX, "protobuf", evidence)


def _dims(type_proto: Any) -> tuple[int, ...]:
    if not type_proto.HasField("tensor_type"):
        return ()
    shape = type_proto.tensor_type.shape
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim)


def _dtype(type_proto: Any) -> str:
    import onnx.helper

    if not type_proto.HasField("tensor_type"):
        return type_proto.WhichOneof("value") or "unknown"
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(type_proto.tensor_type.elem_type))
    except (KeyError, ValueError, TypeError):
        return f"onnx{type_proto.tensor_type.elem_type}"


def _spec(vi: Any) -> TensorSpec:
    dims = _dims(vi.type)
    return TensorSpec(
        name=text(vi.name), shape=dims, dtype=_dtype(vi.type), layout="NCHW" if len(dims) == 4 else None
    )


def _numel(tensor: Any) -> int:
    n = 1
    for d in tensor.dims:
        n *= max(int(d), 1)
    return n


def describe(data: bytes) -> ModelInfo:
    """Inputs (minus initializers), outputs, ops and weights of an ONNX model."""
    import onnx
    import onnx.helper
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ExtractError(f"malformed ONNX protobuf ({e})") from e
    graph = model.graph
    if not graph.node:
        raise ExtractError("ONNX model has an empty graph")
    inits = {t.name for t in graph.initializer}
    ops = Counter(text(n.op_type) for n in graph.node)
    params = sum(_numel(t) for t in graph.initializer)
    wdtypes = set()
    for t in graph.initializer:
        try:
            wdtypes.add(str(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)))
        except (KeyError, ValueError, TypeError):
            pass
    notes = []
    constants = 0
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.dims:
                    constants += 1
                    params += _numel(a.t)
    if constants and not graph.initializer:
        notes.append(f"weights held in {constants} Constant nodes")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        notes.append("weights in external data files")
    opsets = ", ".join(f"{text(o.domain) or 'ai.onnx'} {o.version}" for o in model.opset_import)
    producer = " ".join(text(x) for x in (model.producer_name, model.producer_version) if x)
    return ModelInfo(
        inputs=tuple(_spec(v) for v in graph.input if v.name not in inits),
        outputs=tuple(_spec(v) for v in graph.output),
        op_count=len(graph.node),
        op_types=tuple(sorted(ops.items())),
        param_count=params,
        weight_dtypes=tuple(sorted(wdtypes)),
        producer=producer,
        version=f"ir {model.ir_version}; opset {opsets}",
        notes=tuple(notes),
    )


#: ops that fill a tensor from a shape: weights made by them were never trained
_GENERATED = {"ConstantOfShape", "RandomNormal", "RandomUniform", "RandomNormalLike",
              "RandomUniformLike"}
_WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
#: share of weighted ops with generated weights above which a file is graph-only
GRAPH_ONLY_SHARE = 0.9


def graph_only(model: Any) -> str:
    """Why an ONNX model (a ModelProto) holds no trained weights: its convolution and dense
    weights are generated at run time (the onnx test suite's "light" models), or ''."""
    g = model.graph
    made = {o: n.op_type for n in g.node for o in n.output}
    weighted = [n for n in g.node if n.op_type in _WEIGHTED_OPS and len(n.input) > 1]
    generated = [n for n in weighted if made.get(n.input[1]) in _GENERATED]
    if weighted and len(generated) >= GRAPH_ONLY_SHARE * len(weighted):
        return (f"graph-only: {len(generated)} of {len(weighted)} convolution/dense weights are "
                f"generated by {sorted({made[n.input[1]] for n in generated})[0]} (no trained "
                "weights in the file)")
    return ""
