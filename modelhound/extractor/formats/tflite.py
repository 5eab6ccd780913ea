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


def _check_buffer(buf: Any, index: int, total: int) -> None:
    """A buffer's bytes must lie inside the file (a cut-off model fails here)."""
    o = buf._tab.Offset(4)  # field 0: data
    if o:
        start = buf._tab.Vector(o)
        if start + buf._tab.VectorLen(o) > total:
            raise ExtractError(
                f"truncated TFLite model: buffer {index} ends at byte "
                f"{start + buf._tab.VectorLen(o)} but the file has {total} bytes"
            )
    elif buf.Offset() > 1 and buf.Offset() + buf.Size() > total:
        raise ExtractError(
            f"truncated TFLite model: buffer {index} ends at byte {buf.Offset() + buf.Size()} "
            f"but the file has {total} bytes"
        )


def _spec(tensor: Any) -> TensorSpec:
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    if tensor.ShapeSignatureLength():
        shape = tuple(int(d) for d in tensor.ShapeSignatureAsNumpy())
    q = tensor.Quantization()
    quant = None
    if q is not None and q.ScaleLength():
        quant = Quantization(
            scale=tuple(float(x) for x in q.ScaleAsNumpy()),
            zero_point=tuple(int(x) for x in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,),
            axis=int(q.QuantizedDimension()),
        )
    layout = "NHWC" if len(shape) == 4 else None
    return TensorSpec(
        name=(tensor.Name() or b"").decode("utf-8", "replace"),
        shape=shape,
        dtype=_DTYPES.get(tensor.Type(), f"type{tensor.Type()}"),
        quantization=quant,
        layout=layout,
    )


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


def _describe(data: bytes) -> ModelInfo:
    schema, op_names = _schema()
    total = len(data)
    model = schema.Model.GetRootAs(data, 0)
    version = model.Version()
    n_sub = _check_len(model.SubgraphsLength(), 4, total, "subgraphs")
    if n_sub == 0:
        raise ExtractError("TFLite model has no subgraph")
    n_codes = _check_len(model.OperatorCodesLength(), 4, total, "operator codes")
    codes: list[str] = []
    for i in range(n_codes):
        oc = model.OperatorCodes(i)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == 32:  # CUSTOM
            codes.append("CUSTOM:" + (oc.CustomCode() or b"?").decode("utf-8", "replace"))
        else:
            codes.append(op_names.get(code, f"OP{code}"))
    n_buf = _check_len(model.BuffersLength(), 4, total, "buffers")
    ops: Counter[str] = Counter()
    params = 0
    wdtypes: set[str] = set()
    notes: list[str] = []
    sub0 = model.Subgraphs(0)
    for s in range(n_sub):
        sub = model.Subgraphs(s)
        n_t = _check_len(sub.TensorsLength(), 4, total, "tensors")
        n_o = _check_len(sub.OperatorsLength(), 4, total, "operators")
        for o in range(n_o):
            idx = sub.Operators(o).OpcodeIndex()
            if idx >= len(codes):
                raise ExtractError(f"operator {o} uses opcode {idx} of {len(codes)}")
            ops[codes[idx]] += 1
        for t in range(n_t):
            tensor = sub.Tensors(t)
            b = tensor.Buffer()
            if b >= n_buf and n_buf:
                raise ExtractError(f"tensor {t} refers to buffer {b} of {n_buf}")
            if 0 < b < n_buf:
                buf = model.Buffers(b)
                nbytes = buf.DataLength() or int(buf.Size())
                _check_buffer(buf, b, total)
                if nbytes > 0:
                    dt = _DTYPES.get(tensor.Type(), "other")
                    shape = tensor.ShapeAsNumpy() if tensor.ShapeLength() else []
                    count = 1
                    for d in shape:
                        count *= max(int(d), 1)
                    params += count if tensor.ShapeLength() else nbytes // _ITEMSIZE.get(dt, 1)
                    wdtypes.add(dt)
                    if tensor.Sparsity() is not None:
                        notes.append("sparse weights")
    n_in = _check_len(sub0.InputsLength(), 4, total, "inputs")
    n_out = _check_len(sub0.OutputsLength(), 4, total, "outputs")
    n_t0 = sub0.TensorsLength()
    inputs = []
    for i in range(n_in):
        idx = int(sub0.Inputs(i))
        if not 0 <= idx < n_t0:
            raise ExtractError(f"input {i} refers to tensor {idx} of {n_t0}")
        inputs.append(_spec(sub0.Tensors(idx)))
    outputs = []
    for i in range(n_out):
        idx = int(sub0.Outputs(i))
        if not 0 <= idx < n_t0:
            raise ExtractError(f"output {i} refers to tensor {idx} of {n_t0}")
        outputs.append(_spec(sub0.Tensors(idx)))
    meta_names = []
    for i in range(_check_len(model.MetadataLength(), 4, total, "metadata")):
        meta_names.append((model.Metadata(i).Name() or b"").decode("utf-8", "replace"))
    if "TFLITE_METADATA" in meta_names:
        notes.append("has TFLite metadata")
    custom = sorted({c[7:] for c in ops if c.startswith("CUSTOM:")})
    if custom:
        notes.append("custom ops: " + ", ".join(custom))
    if n_sub > 1:
        notes.append(f"{n_sub} subgraphs")
    desc = (model.Description() or b"").decode("utf-8", "replace")
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
