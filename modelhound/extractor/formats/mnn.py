"""MNN models: the Net FlatBuffer read without MNN, for its ops and the weights they hold.

MNN keeps weights inside op parameters (Convolution2D, InnerProduct, BatchNorm, Scale,
PReLU, LSTM) and in Const ops' Blobs. Benchmark files ship the graph with every weight
stripped ("graph-only"); :func:`read` says so rather than returning nothing. Field slots
follow MNN's schema (``schema/default/*.fbs``); MNN itself is never imported here (it
prints to the terminal from C at import).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from modelhound.errors import ExtractError
from modelhound.records import ModelInfo

# OpParameter union members that carry weights
_BATCHNORM, _BLOB, _CONV2D, _INNERPRODUCT, _LSTM, _PRELU, _SCALE = 5, 7, 9, 20, 24, 32, 58
#: OpType values of ops that need weights to mean anything
_WEIGHTED_TYPES = {12: "Convolution", 13: "ConvolutionDepthwise", 17: "Deconvolution",
                   18: "DeconvolutionDepthwise", 33: "InnerProduct"}
_BLOB_DTYPES = {1: ("float32s", 18, np.float32), 3: ("int32s", 14, np.int32),
                4: ("uint8s", 10, np.uint8), 6: ("int8s", 12, np.int8)}


class _Table:
    """A FlatBuffer table: fields by vtable offset (4 + 2 * slot), bounds-checked."""

    def __init__(self, buf: bytes, pos: int) -> None:
        if not 0 <= pos <= len(buf) - 4:
            raise ExtractError(f"MNN FlatBuffer table at {pos} outside the file")
        self.buf, self.pos = buf, pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        if not 0 <= vt <= len(buf) - 4:
            raise ExtractError("MNN FlatBuffer vtable outside the file")
        self.vt = vt
        self.vt_size = struct.unpack_from("<H", buf, vt)[0]

    def _field(self, off: int) -> int:
        if off >= self.vt_size:
            return 0
        rel = struct.unpack_from("<H", self.buf, self.vt + off)[0]
        return self.pos + rel if rel else 0

    def scalar(self, off: int, fmt: str, default: int | float) -> int | float:
        p = self._field(off)
        return struct.unpack_from("<" + fmt, self.buf, p)[0] if p else default

    def table(self, off: int) -> "_Table | None":
        p = self._field(off)
        return _Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0]) if p else None

    def _vector(self, off: int) -> tuple[int, int]:
        p = self._field(off)
        if not p:
            return 0, 0
        start = p + struct.unpack_from("<I", self.buf, p)[0]
        if start + 4 > len(self.buf):
            raise ExtractError("MNN FlatBuffer vector outside the file")
        return start + 4, struct.unpack_from("<I", self.buf, start)[0]

    def array(self, off: int, dtype: type) -> np.ndarray:
        start, n = self._vector(off)
        size = n * np.dtype(dtype).itemsize
        if start + size > len(self.buf):
            raise ExtractError("MNN FlatBuffer array outside the file")
        return np.frombuffer(self.buf, dtype=np.dtype(dtype).newbyteorder("<"), count=n,
                             offset=start) if n else np.zeros(0, dtype)

    def tables(self, off: int) -> list["_Table"]:
        start, n = self._vector(off)
        if start + 4 * n > len(self.buf):
            raise ExtractError("MNN FlatBuffer table vector outside the file")
        return [_Table(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
                for i in range(n)]

    def string(self, off: int) -> str:
        start, n = self._vector(off)
        return self.buf[start:start + n].decode("utf-8", "replace") if n else ""


@dataclass
class MnnWeights:
    """What an MNN file holds: its weight tensors, and how many weighted ops lack weights."""

    tensors: list[tuple[str, np.ndarray, str]] = field(default_factory=list)
    op_types: dict[int, int] = field(default_factory=dict)
    """OpType value -> count."""
    weighted_ops: int = 0
    empty_ops: int = 0
    external: int = 0
    compressed: int = 0
    biz_code: str = ""

    @property
    def graph_only(self) -> bool:
        """Every op that needs weights has none (a benchmark file)."""
        return self.weighted_ops > 0 and self.empty_ops == self.weighted_ops


def _ops(net: _Table) -> list[_Table]:
    ops = net.tables(10)
    for sub in net.tables(24):
        ops.extend(sub.tables(12))
    return ops


def read(data: bytes) -> MnnWeights:
    """Weights of every op of an MNN Net (main graph and subgraphs), in op order."""
    try:
        net = _Table(data, struct.unpack_from("<I", data, 0)[0])
        out = MnnWeights(biz_code=net.string(4))
        ops = _ops(net)
        if not ops:
            raise ExtractError("MNN Net holds no ops")
        for i, op in enumerate(ops):
            t = int(op.scalar(14, "i", 0))
            out.op_types[t] = out.op_types.get(t, 0) + 1
            _op(op, i, out)
    except (struct.error, ValueError) as e:
        raise ExtractError(f"malformed MNN FlatBuffer ({e})") from e
    return out


def _op(op: _Table, i: int, out: MnnWeights) -> None:
    name = op.string(10) or f"op{i}"
    optype = int(op.scalar(14, "i", 0))
    kind = int(op.scalar(6, "B", 0))
    main = op.table(8)
    weighted = optype in _WEIGHTED_TYPES
    if weighted:
        out.weighted_ops += 1
    if main is None:
        if weighted:
            out.empty_ops += 1
        return
    add = out.tensors.append
    if kind == _CONV2D:
        common = main.table(4)
        w, b = main.array(6, np.float32), main.array(8, np.float32)
        if w.size:
            oc = int(common.scalar(24, "i", 0)) if common else 0
            kx = int(common.scalar(8, "i", 1)) if common else 1
            ky = int(common.scalar(10, "i", 1)) if common else 1
            per = oc * kx * ky
            shape = (oc, w.size // per, ky, kx) if per and w.size % per == 0 else (w.size,)
            add((f"{name}/weight", w.reshape(shape), "float32"))
        if b.size:
            add((f"{name}/bias", b.copy(), "float32"))
        if not w.size:
            if main.table(10) is not None:
                out.compressed += 1
            elif main.array(16, np.int64).size:
                out.external += 1
            elif weighted:
                out.empty_ops += 1
    elif kind == _INNERPRODUCT:
        w, b = main.array(10, np.float32), main.array(12, np.float32)
        oc = int(main.scalar(4, "i", 0))
        if w.size:
            add((f"{name}/weight", w.reshape((oc, -1)) if oc and w.size % oc == 0 else w,
                 "float32"))
        if b.size:
            add((f"{name}/bias", b.copy(), "float32"))
        if not w.size:
            if main.table(18) is not None:
                out.compressed += 1
            elif weighted:
                out.empty_ops += 1
    elif kind == _BLOB:
        _blob(main, name, add)
    elif kind == _BATCHNORM:
        for off, part in ((6, "slope"), (8, "mean"), (10, "var"), (12, "bias")):
            v = main.array(off, np.float32)
            if v.size:
                add((f"{name}/{part}", v.copy(), "float32"))
    elif kind == _SCALE:
        for off, part in ((6, "scale"), (8, "bias")):
            v = main.array(off, np.float32)
            if v.size:
                add((f"{name}/{part}", v.copy(), "float32"))
    elif kind == _PRELU:
        v = main.array(6, np.float32)
        if v.size:
            add((f"{name}/slope", v.copy(), "float32"))
    elif kind == _LSTM:
        for off, part in ((10, "weightI"), (12, "weightH"), (14, "bias")):
            blob = main.table(off)
            if blob is not None:
                _blob(blob, f"{name}/{part}", add)
    elif weighted:
        out.empty_ops += 1


def _blob(blob: _Table, name: str, add: "object") -> None:
    dtype = int(blob.scalar(8, "i", 1))
    if dtype not in _BLOB_DTYPES:
        return
    _, off, np_type = _BLOB_DTYPES[dtype]
    values = blob.array(off, np_type)
    if not values.size or dtype == 3:
        return  # int32 Blobs are shapes and indices, not weights
    dims = tuple(int(d) for d in blob.array(4, np.int32))
    if dims and int(np.prod(dims)) == values.size:
        values = values.reshape(dims)
    add((name, np.asarray(values, dtype=np.float32), np.dtype(np_type).name))  # type: ignore[operator]


def describe(data: bytes) -> ModelInfo:
    """Op counts (by OpType number, named where known) and the weight count."""
    found = read(data)
    names = {11: "Const", 34: "Input", 47: "Pooling", 69: "ReLU", 70: "ReLU6", 85: "Softmax",
             10: "Concat", 22: "Eltwise", 7: "BinaryOp", 73: "Reshape", 77: "Scale"}
    names.update(_WEIGHTED_TYPES)
    ops = sorted((names.get(t, f"OpType{t}"), n) for t, n in found.op_types.items())
    notes = ("graph only: no convolution or dense op carries weights",) if found.graph_only else ()
    return ModelInfo(op_count=sum(found.op_types.values()), op_types=tuple(ops),
                     param_count=sum(int(v.size) for _, v, _ in found.tensors),
                     weight_dtypes=tuple(sorted({s for _, _, s in found.tensors})),
                     producer=found.biz_code, notes=notes)
