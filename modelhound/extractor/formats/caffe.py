"""Caffe: binary NetParameter (``.caffemodel``) and text prototxt definitions."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from modelhound.errors import ExtractError
from modelhound.extractor import protowire as pw
from modelhound.records import ModelFormat, ModelInfo, Sniffed, TensorSpec

_NET_FIELDS = {1: pw.LEN, 2: pw.LEN, 3: pw.LEN, 4: pw.VARINT, 5: pw.VARINT, 6: pw.LEN,
               7: pw.VARINT, 8: pw.LEN, 100: pw.LEN}
_LAYER_KEY = re.compile(rb"(?m)^\s*layers?\s*\{")
_TYPE_KEY = re.compile(rb"(?m)^\s*type\s*:\s*\"?[A-Za-z_]")
_TOP_KEY = re.compile(rb"(?m)^\s*(top|bottom|input)\s*:")
_TF_TEXT = re.compile(rb"(?m)^\s*node\s*\{|^\s*op\s*:\s*\"")
#: layer types whose weights live in blobs
PARAMETRIC = frozenset({"Convolution", "Deconvolution", "InnerProduct", "PReLU", "BatchNorm",
                        "Scale", "Bias", "Embed", "DepthwiseConvolution", "ConvolutionDepthwise",
                        "Normalize", "LSTM", "RNN"})


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """Text prototxt with layer blocks, or a binary NetParameter with layers."""
    if _LAYER_KEY.search(head) and _TYPE_KEY.search(head) and _TOP_KEY.search(head):
        if not _TF_TEXT.search(head):
            return Sniffed(ModelFormat.CAFFE, "prototxt", "text NetParameter with layer blocks")
    fields = pw.head_fields(head, limit=8)
    if not fields:
        return None
    if any(_NET_FIELDS.get(f.number) != f.wire_type for f in fields):
        return None
    layers = [f for f in fields if f.number in (100, 2)]
    if not layers:
        return None
    first = layers[0]
    sub = pw.head_fields(head[first.offset : first.offset + min(first.value, 4096)], limit=4)
    if not sub:
        return None
    strings = [f for f in sub if f.wire_type == pw.LEN]
    if not strings:
        return None
    s = strings[0]
    if not pw.is_printable(head[first.offset + s.offset : first.offset + s.offset + s.value]):
        return None
    kind = "layer" if first.number == 100 else "V1 layers"
    return Sniffed(ModelFormat.CAFFE, "caffemodel", f"protobuf NetParameter with {kind}")


def parse(data: bytes, subformat: str) -> Any:
    """Parse either form into a NetParameter message; ExtractError when malformed."""
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError

    from modelhound.protos import caffe as cp

    try:
        if subformat == "prototxt":
            return cp.parse_prototxt(data.decode("utf-8"))
        return cp.parse_caffemodel(data)
    except (DecodeError, text_format.ParseError, UnicodeDecodeError, ValueError) as e:
        raise ExtractError(f"malformed Caffe {subformat} ({e})") from e


def layers(net: Any) -> list[tuple[str, str, list[tuple[int, ...]], list[str], list[str]]]:
    """(name, type, blob shapes, bottoms, tops) for each layer, V1 or current."""
    from modelhound.protos.caffe import V1_LAYER_TYPES

    # names are text even where a hostile file's are not UTF-8 (proto2 hands back bytes)
    out = []
    for layer in net.layer:
        out.append((pw.text(layer.name), pw.text(layer.type), [blob_shape(b) for b in layer.blobs],
                    [pw.text(b) for b in layer.bottom], [pw.text(t) for t in layer.top]))
    for layer in net.layers:
        out.append((pw.text(layer.name), V1_LAYER_TYPES.get(layer.type, f"V1_{layer.type}"),
                    [blob_shape(b) for b in layer.blobs], [pw.text(b) for b in layer.bottom],
                    [pw.text(t) for t in layer.top]))
    return out


def blob_shape(blob: Any) -> tuple[int, ...]:
    """Shape of a BlobProto, from ``shape`` or the legacy 4-D fields."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    legacy = (blob.num, blob.channels, blob.height, blob.width)
    return tuple(int(d) for d in legacy if d) or (len(blob.data),)


def describe(data: bytes, subformat: str = "caffemodel") -> ModelInfo:
    """Inputs, outputs, layer types and weights of a Caffe net."""
    net = parse(data, subformat)
    lays = layers(net)
    if not lays:
        raise ExtractError(f"Caffe {subformat} has no layers")
    inputs: list[TensorSpec] = []
    dims = [int(d) for d in net.input_dim]
    for i, name in enumerate(pw.text(n) for n in net.input):
        shape: tuple[int, ...] = ()
        if i < len(net.input_shape):
            shape = tuple(int(d) for d in net.input_shape[i].dim)
        elif len(dims) >= 4 * (i + 1):
            shape = tuple(dims[4 * i : 4 * i + 4])
        inputs.append(TensorSpec(name, shape, "float32", layout="NCHW"))
    for layer in net.layer:
        ltype, ltops = pw.text(layer.type), [pw.text(t) for t in layer.top]
        if ltype == "Input":
            shapes = [tuple(int(d) for d in s.dim) for s in layer.input_param.shape]
            for j, top in enumerate(ltops):
                shape = shapes[j] if j < len(shapes) else (shapes[0] if shapes else ())
                inputs.append(TensorSpec(top, shape, "float32", layout="NCHW"))
        elif ltype in ("Data", "ImageData", "MemoryData", "HDF5Data") and not inputs:
            inputs.extend(TensorSpec(t, (), "float32") for t in ltops[:1])
    consumed = {b for (_, _, _, bottoms, tops) in lays for b in bottoms if b not in tops}
    seen: list[str] = []
    for _, ltype, _, _, tops in lays:
        if ltype in ("Accuracy", "Silence"):
            continue
        for t in tops:
            if t not in seen:
                seen.append(t)
    input_names = {t.name for t in inputs}
    outputs = [TensorSpec(t, (), "float32") for t in seen if t not in consumed and t not in input_names]
    params = 0
    for _, _, shapes, _, _ in lays:
        for s in shapes:
            n = 1
            for d in s:
                n *= max(d, 1)
            params += n
    types = Counter(t for _, t, _, _, _ in lays)
    notes = []
    if subformat == "prototxt":
        notes.append("definition only; weights are in a separate .caffemodel")
    return ModelInfo(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        op_count=len(lays),
        op_types=tuple(sorted(types.items())),
        param_count=params,
        weight_dtypes=("float32",) if params else (),
        producer=f"net {pw.text(net.name)!r}" if net.name else "",
        notes=tuple(notes),
    )


def pair_score(prototxt: Any, caffemodel: Any) -> int | None:
    """How well a definition fits a weights file (higher is better), or None if it cannot.

    Every layer that carries weights must exist in the definition with the same type,
    and every parametric layer of the definition must carry weights. Ties are broken by
    the net name. File names play no part: real apps swap them.
    """
    defined = {name: ltype for name, ltype, _, _, _ in layers(prototxt)}
    weighted = {name: ltype for name, ltype, shapes, _, _ in layers(caffemodel) if shapes}
    if not weighted:
        return None
    for name, ltype in weighted.items():
        if defined.get(name) != ltype:
            return None
    for name, ltype in defined.items():
        if ltype in PARAMETRIC and name not in weighted:
            return None
    score = 2 * len(weighted)
    if prototxt.name and prototxt.name == caffemodel.name:
        score += 1
    return score
