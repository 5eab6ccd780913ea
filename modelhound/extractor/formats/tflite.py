"""TensorFlow Lite: a FlatBuffer with file identifier ``TFL3`` at byte 4."""

from __future__ import annotations

import struct
from collections import Counter
from functools import lru_cache
from typing import Any

from modelhound.errors import ExtractError
from modelhound.records import ModelFormat, ModelInfo, Quantization, Sniffed, TensorSpec

_DTYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
    6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128",
    12: "uint64", 13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
    18: "bfloat16",
}
_ITEMSIZE = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "int64": 8, "bool": 1,
             "int16": 2, "int8": 1, "float64": 8, "uint64": 8, "uint32": 4, "uint16": 2,
             "bfloat16": 2, "complex64": 8, "complex128": 16}


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """TFL3 identifier with a root offset inside the file."""
    if len(head) >= 8 and head[4:8] == b"TFL3":
        root = struct.unpack_from("<I", head, 0)[0]
        if 8 <= root < size:
            return Sniffed(ModelFormat.TFLITE, "flatbuffer", "FlatBuffer identifier TFL3 at byte 4")
    return None


@lru_cache(maxsize=1)
def _schema() -> tuple[Any, dict[int, str]]:
    from ai_edge_litert import schema_py_generated as schema

    names = {
        v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")
    }
    return schema, names


def _check_len(n: int, elem: int, total: int, what: str) -> int:
    if n < 0 or n * elem > total:
        raise ExtractError(f"{what} claims {n} elements, more than the file can hold")
    return n


def describe(data: bytes) -> ModelInfo:
    """Read inputs, outputs, ops and weights from a TFLite flatbuffer."""
    try:
        return _describe(data)
    except ExtractError:
        raise
    except struct.error as e:
        raise ExtractError(
            f"truncated or malformed TFLite flatbuffer: it refers to data beyond the end of "
            f"the {len(data)}-byte file ({e})"
        ) from e
    except (IndexError, ValueError, TypeError, AttributeError, OverflowError) as e:
        raise ExtractError(f"malformed TFLite flatbuffer ({type(e).__name__}: {e})") from e


class _Table:
    """One FlatBuffer table, read as the generated schema code reads it (same offsets, same
    defaults), without its per-field objects: describing a model is one pass of struct
    reads instead of tens of thousands of generated-accessor calls."""

    __slots__ = ("buf", "pos", "_vt", "_vlen")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        self._vt = pos - _I32.unpack_from(buf, pos)[0]
        self._vlen = _U16.unpack_from(buf, self._vt)[0]

    def offset(self, field: int) -> int:
        """The field's offset in the table, 0 when absent."""
        at = 4 + 2 * field
        return _U16.unpack_from(self.buf, self._vt + at)[0] if at < self._vlen else 0

    def scalar(self, field: int, fmt: struct.Struct, default: int = 0) -> Any:
        o = self.offset(field)
        return fmt.unpack_from(self.buf, self.pos + o)[0] if o else default

    def _vector(self, o: int) -> tuple[int, int]:
        at = self.pos + o
        at += _U32.unpack_from(self.buf, at)[0]
        return at + 4, _U32.unpack_from(self.buf, at)[0]

    def vector(self, field: int) -> tuple[int, int]:
        """(start of the elements, element count); (0, 0) when absent."""
        o = self.offset(field)
        return self._vector(o) if o else (0, 0)

    def tables(self, field: int) -> list["_Table"]:
        start, n = self.vector(field)
        return [self.table_at(start + 4 * i) for i in range(n)]

    def table_at(self, at: int) -> "_Table":
        return _Table(self.buf, at + _U32.unpack_from(self.buf, at)[0])

    def table(self, field: int) -> "_Table | None":
        o = self.offset(field)
        return self.table_at(self.pos + o) if o else None

    def string(self, field: int) -> bytes | None:
        o = self.offset(field)
        if not o:
            return None
        start, n = self._vector(o)
        return bytes(self.buf[start:start + n])

    def numbers(self, field: int, code: str) -> tuple[Any, ...]:
        start, n = self.vector(field)
        return struct.unpack_from(f"<{n}{code}", self.buf, start) if n else ()


_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_U64 = struct.Struct("<Q")
_I8 = struct.Struct("<b")
_U8 = struct.Struct("<B")

# field numbers of schema.fbs
_MODEL_VERSION, _MODEL_CODES, _MODEL_SUBGRAPHS, _MODEL_DESCRIPTION, _MODEL_BUFFERS = 0, 1, 2, 3, 4
_MODEL_METADATA = 6
_SUB_TENSORS, _SUB_INPUTS, _SUB_OUTPUTS, _SUB_OPERATORS = 0, 1, 2, 3
_T_SHAPE, _T_TYPE, _T_BUFFER, _T_NAME, _T_QUANT, _T_SPARSITY, _T_SIGNATURE = 0, 1, 2, 3, 4, 6, 7


def _check_buffer_at(buf: _Table, index: int, total: int) -> int:
    """A buffer's byte count; its bytes must lie inside the file (a cut-off model fails here)."""
    start, n = buf.vector(0)  # data
    if start:
        if start + n > total:
            raise ExtractError(
                f"truncated TFLite model: buffer {index} ends at byte {start + n} but the file "
                f"has {total} bytes"
            )
        return n
    offset, size = buf.scalar(1, _U64), buf.scalar(2, _U64)
    if offset > 1 and offset + size > total:
        raise ExtractError(
            f"truncated TFLite model: buffer {index} ends at byte {offset + size} but the file "
            f"has {total} bytes"
        )
    return int(size)


def _spec_of(t: _Table) -> TensorSpec:
    shape = tuple(int(d) for d in t.numbers(_T_SHAPE, "i"))
    signature = t.numbers(_T_SIGNATURE, "i")
    if signature:
        shape = tuple(int(d) for d in signature)
    q = t.table(_T_QUANT)
    quant = None
    if q is not None:
        scale = q.numbers(2, "f")
        if scale:
            zero = q.numbers(3, "q")
            quant = Quantization(
                scale=tuple(float(x) for x in scale),
                zero_point=tuple(int(x) for x in zero) if zero else (0,),
                axis=int(q.scalar(6, _I32)),
            )
    kind = t.scalar(_T_TYPE, _I8)
    return TensorSpec(
        name=(t.string(_T_NAME) or b"").decode("utf-8", "replace"),
        shape=shape,
        dtype=_DTYPES.get(kind, f"type{kind}"),
        quantization=quant,
        layout="NHWC" if len(shape) == 4 else None,
    )


def _describe(data: bytes) -> ModelInfo:
    _, op_names = _schema()
    total = len(data)
    model = _Table(data, _U32.unpack_from(data, 0)[0])
    version = model.scalar(_MODEL_VERSION, _U32)
    n_sub = _check_len(model.vector(_MODEL_SUBGRAPHS)[1], 4, total, "subgraphs")
    if n_sub == 0:
        raise ExtractError("TFLite model has no subgraph")
    _check_len(model.vector(_MODEL_CODES)[1], 4, total, "operator codes")
    codes: list[str] = []
    for oc in model.tables(_MODEL_CODES):
        code = max(int(oc.scalar(3, _I32)), int(oc.scalar(0, _I8)))
        if code == 32:  # CUSTOM
            codes.append("CUSTOM:" + (oc.string(1) or b"?").decode("utf-8", "replace"))
        else:
            codes.append(op_names.get(code, f"OP{code}"))
    n_buf = _check_len(model.vector(_MODEL_BUFFERS)[1], 4, total, "buffers")
    buf_start = model.vector(_MODEL_BUFFERS)[0]
    ops: Counter[str] = Counter()
    params = 0
    wdtypes: set[str] = set()
    notes: list[str] = []
    subgraphs = model.tables(_MODEL_SUBGRAPHS)
    for sub in subgraphs:
        n_t = _check_len(sub.vector(_SUB_TENSORS)[1], 4, total, "tensors")
        _check_len(sub.vector(_SUB_OPERATORS)[1], 4, total, "operators")
        for o, op in enumerate(sub.tables(_SUB_OPERATORS)):
            idx = op.scalar(0, _U32)
            if idx >= len(codes):
                raise ExtractError(f"operator {o} uses opcode {idx} of {len(codes)}")
            ops[codes[idx]] += 1
        for t, tensor in enumerate(sub.tables(_SUB_TENSORS)):
            b = tensor.scalar(_T_BUFFER, _U32)
            if b >= n_buf and n_buf:
                raise ExtractError(f"tensor {t} refers to buffer {b} of {n_buf}")
            if 0 < b < n_buf:
                nbytes = _check_buffer_at(model.table_at(buf_start + 4 * b), b, total)
                if nbytes > 0:
                    kind = tensor.scalar(_T_TYPE, _I8)
                    dt = _DTYPES.get(kind, "other")
                    shape = tensor.numbers(_T_SHAPE, "i")
                    count = 1
                    for d in shape:
                        count *= max(int(d), 1)
                    params += count if shape else nbytes // _ITEMSIZE.get(dt, 1)
                    wdtypes.add(dt)
                    if tensor.offset(_T_SPARSITY):
                        notes.append("sparse weights")
        del n_t
    sub0 = subgraphs[0]
    n_t0 = sub0.vector(_SUB_TENSORS)[1]
    tensors0 = sub0.vector(_SUB_TENSORS)[0]
    specs = []
    for what, field in (("input", _SUB_INPUTS), ("output", _SUB_OUTPUTS)):
        _check_len(sub0.vector(field)[1], 4, total, what + "s")
        found = []
        for i, idx in enumerate(sub0.numbers(field, "i")):
            if not 0 <= idx < n_t0:
                raise ExtractError(f"{what} {i} refers to tensor {idx} of {n_t0}")
            found.append(_spec_of(sub0.table_at(tensors0 + 4 * idx)))
        specs.append(found)
    inputs, outputs = specs
    _check_len(model.vector(_MODEL_METADATA)[1], 4, total, "metadata")
    meta_names = [(m.string(0) or b"").decode("utf-8", "replace")
                  for m in model.tables(_MODEL_METADATA)]
    if "TFLITE_METADATA" in meta_names:
        notes.append("has TFLite metadata")
    custom = sorted({c[7:] for c in ops if c.startswith("CUSTOM:")})
    if custom:
        notes.append("custom ops: " + ", ".join(custom))
    if n_sub > 1:
        notes.append(f"{n_sub} subgraphs")
    desc = (model.string(_MODEL_DESCRIPTION) or b"").decode("utf-8", "replace")
    return ModelInfo(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        op_count=sum(ops.values()),
        op_types=tuple(sorted(ops.items())),
        param_count=params,
        weight_dtypes=tuple(sorted(wdtypes)),
        producer=desc,
        version=f"schema v{version}",
        notes=tuple(dict.fromkeys(notes)),
    )
