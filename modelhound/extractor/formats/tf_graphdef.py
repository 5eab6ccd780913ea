"""TensorFlow GraphDef (frozen ``.pb``): protobuf with NodeDef messages (no magic)."""

from __future__ import annotations

import re
from collections import Counter

from modelhound.errors import ExtractError
from modelhound.extractor import protowire as pw
from modelhound.extractor.protowire import text
from modelhound.records import ModelFormat, ModelInfo, Sniffed, TensorSpec

_GRAPH_FIELDS = {1: pw.LEN, 2: pw.LEN, 3: pw.VARINT, 4: pw.LEN}
_OP = re.compile(r"^[A-Z][A-Za-z0-9_]{0,80}$")
_NOT_OUTPUTS = {"Const", "NoOp", "Assert", "Placeholder", "PlaceholderWithDefault",
                "VariableV2", "Variable", "VarHandleOp", "SaveV2", "RestoreV2", "Identity_n"}


def _node_op(head: bytes, start: int, end: int) -> str | None:
    try:
        sub = pw.fields(head, start, min(end, len(head)), limit=4)
    except pw.WireError:
        if end > len(head):  # node continues past the head; read what is there
            sub = pw.head_fields(head[start:len(head)], limit=4) or []
            sub = [pw.WireField(f.number, f.wire_type, f.value, f.offset + start) for f in sub]
        else:
            return None
    names = [f for f in sub if f.number == 1 and f.wire_type == pw.LEN]
    ops = [f for f in sub if f.number == 2 and f.wire_type == pw.LEN]
    if not names or not ops:
        return None
    op = head[ops[0].offset : ops[0].offset + ops[0].value]
    if not pw.is_printable(head[names[0].offset : names[0].offset + names[0].value]):
        return None
    text = op.decode("utf-8", "replace")
    return text if _OP.match(text) else None


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """Only GraphDef fields, and the first node has a name and a TF-style op."""
    fields = pw.head_fields(head, limit=8)
    if not fields or fields[0].number != 1 or fields[0].wire_type != pw.LEN:
        return None
    if any(_GRAPH_FIELDS.get(f.number) != f.wire_type for f in fields):
        return None
    first = fields[0]
    op = _node_op(head, first.offset, first.offset + first.value)
    if op is None:
        return None
    return Sniffed(ModelFormat.TF_GRAPHDEF, "frozen-graph",
                   f"protobuf GraphDef, first node op {op!r}")


def describe(data: bytes) -> ModelInfo:
    """Placeholders as inputs, unconsumed nodes as outputs, Const tensors as weights."""
    from google.protobuf.message import DecodeError

    from modelhound.protos import tensorflow as tfp

    try:
        graph = tfp.parse_graphdef(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ExtractError(f"malformed TensorFlow GraphDef ({e})") from e
    if not graph.node:
        raise ExtractError("GraphDef has no nodes")
    ops = Counter(text(n.op) for n in graph.node)
    consumed = set()
    for n in graph.node:
        for i in n.input:
            consumed.add(text(i).lstrip("^").split(":")[0])
    inputs, outputs = [], []
    params = 0
    wdtypes = set()
    for n in graph.node:
        a = tfp.attrs(n)
        if n.op in ("Placeholder", "PlaceholderWithDefault"):
            shape = ()
            if "shape" in a and not a["shape"].shape.unknown_rank:
                shape = tuple(int(d.size) for d in a["shape"].shape.dim)
            dtype = tfp.DTYPES.get(a["dtype"].type, "unknown") if "dtype" in a else "unknown"
            inputs.append(TensorSpec(text(n.name), shape, dtype, layout="NHWC" if len(shape) == 4 else None))
        elif n.op == "Const" and "value" in a:
            t = a["value"].tensor
            count = 1
            for d in t.tensor_shape.dim:
                count *= max(int(d.size), 1)
            if t.tensor_shape.dim:
                params += count
                wdtypes.add(tfp.DTYPES.get(t.dtype, "other"))
        if text(n.name) not in consumed and text(n.op) not in _NOT_OUTPUTS:
            dtype = tfp.DTYPES.get(a["T"].type, "unknown") if "T" in a else "unknown"
            outputs.append(TensorSpec(text(n.name), (), dtype))
    producer = f"GraphDef producer {graph.versions.producer}" if graph.HasField("versions") else ""
    return ModelInfo(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        op_count=len(graph.node),
        op_types=tuple(sorted(ops.items())),
        param_count=params,
        weight_dtypes=tuple(sorted(wdtypes)),
        producer=producer,
    )
