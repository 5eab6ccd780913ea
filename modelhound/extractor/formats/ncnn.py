"""ncnn: text (``7767517``) or binary (0x007685DD) param files, and their weight blobs."""

from __future__ import annotations

import struct
from collections import Counter

from modelhound.errors import ExtractError
from modelhound.records import ModelFormat, ModelInfo, Sniffed, TensorSpec

MAGIC = 7767517
#: weight-blob storage tags (4-byte header before each weight array)
_WEIGHT_TAGS = (0x00000000, 0x01306B47, 0x000D4B38, 0x0002C056)


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """Text param starting ``7767517`` then ``layers blobs``, or the binary magic."""
    if head[:4] == struct.pack("<I", MAGIC) and len(head) >= 12:
        return Sniffed(ModelFormat.NCNN, "param-bin", "binary param magic 0x007685DD")
    lines = head[:256].split(b"\n", 2)
    if len(lines) >= 2 and lines[0].strip() == b"7767517":
        counts = lines[1].split()
        if len(counts) == 2 and all(c.isdigit() for c in counts):
            return Sniffed(ModelFormat.NCNN, "param", "text param magic 7767517 and layer/blob counts")
    return None


def parse_param(text: str) -> list[tuple[str, str, list[str], list[str], dict[int, str]]]:
    """(type, name, bottoms, tops, params) for each layer of a text param file."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != str(MAGIC):
        raise ExtractError("ncnn param does not start with 7767517")
    try:
        n_layers, _ = (int(x) for x in lines[1].split())
    except (IndexError, ValueError) as e:
        raise ExtractError("ncnn param has no layer/blob count line") from e
    out = []
    for ln in lines[2 : 2 + n_layers]:
        parts = ln.split()
        if len(parts) < 4:
            raise ExtractError(f"ncnn param: malformed layer line {ln[:60]!r}")
        ltype, lname = parts[0], parts[1]
        try:
            nb, nt = int(parts[2]), int(parts[3])
        except ValueError as e:
            raise ExtractError(f"ncnn param: malformed layer line {ln[:60]!r}") from e
        bottoms = parts[4 : 4 + nb]
        tops = parts[4 + nb : 4 + nb + nt]
        params: dict[int, str] = {}
        for kv in parts[4 + nb + nt :]:
            k, _, v = kv.partition("=")
            try:
                params[int(k)] = v
            except ValueError:
                continue
        out.append((ltype, lname, bottoms, tops, params))
    if len(out) != n_layers:
        raise ExtractError(f"ncnn param declares {n_layers} layers, has {len(out)}")
    return out


def _int(params: dict[int, str], key: int, default: int = 0) -> int:
    try:
        return int(float(params.get(key, default)))
    except ValueError:
        return default


def expected_weight_bytes(layers: list[tuple[str, str, list[str], list[str], dict[int, str]]]) -> int | None:
    """Size of the fp32 ``.bin`` this param file loads, or None for layers we can't size."""
    total = 0
    for ltype, _, _, _, p in layers:
        if ltype in ("Convolution", "ConvolutionDepthWise", "Deconvolution",
                     "DeconvolutionDepthWise", "InnerProduct"):
            if ltype == "InnerProduct":
                num_out, bias, wsize = _int(p, 0), _int(p, 1), _int(p, 2)
            else:
                num_out, bias, wsize = _int(p, 0), _int(p, 5), _int(p, 6)
            if _int(p, 8):  # int8_scale_term: sizes differ
                return None
            total += 4 + 4 * wsize + (4 * num_out if bias else 0)
        elif ltype == "PReLU":
            total += 4 * _int(p, 0)
        elif ltype == "BatchNorm":
            total += 16 * _int(p, 0)
        elif ltype == "Scale":
            n = _int(p, 0)
            total += 4 * n * (2 if _int(p, 1) else 1) if n != -233 else 0
        elif ltype == "Bias":
            total += 4 * _int(p, 0)
        elif ltype in ("MemoryData", "Embed", "LSTM", "GRU", "RNN", "MultiHeadAttention",
                       "Convolution1D", "Convolution3D", "Normalize", "LayerNorm",
                       "InstanceNorm", "GroupNorm"):
            return None
    return total


def weights_plausible(head: bytes) -> bool:
    """A weight blob starts with a storage tag (or raw fp32 for PReLU/BN-first nets)."""
    if len(head) < 8:
        return False
    return struct.unpack_from("<I", head, 0)[0] in _WEIGHT_TAGS


def describe(data: bytes, subformat: str = "param") -> ModelInfo:
    """Layer types and inputs of a text param; binary params give counts only."""
    if subformat == "param-bin":
        if len(data) < 12:
            raise ExtractError("ncnn binary param is truncated")
        n_layers, n_blobs = struct.unpack_from("<ii", data, 4)
        if not 0 < n_layers < 100000 or not 0 < n_blobs < 100000:
            raise ExtractError(f"ncnn binary param: implausible counts {n_layers}/{n_blobs}")
        return ModelInfo(op_count=n_layers, notes=("binary param: layer types are numeric ids",))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ExtractError("ncnn param is not text") from e
    layers = parse_param(text)
    inputs = []
    for ltype, name, _, tops, p in layers:
        if ltype == "Input":
            # Input: 0=w 1=h 2=c; as NCHW that is (1, c, h, w)
            dims = tuple(d for d in (_int(p, 2), _int(p, 1), _int(p, 0)) if d)
            shape = (1, *dims) if dims else ()
            inputs.append(TensorSpec(tops[0] if tops else name, shape, "float32", layout="NCHW"))
    consumed = {b for _, _, bottoms, _, _ in layers for b in bottoms}
    outputs = [TensorSpec(t, (), "float32") for _, _, _, tops, _ in layers for t in tops
               if t not in consumed]
    types = Counter(ltype for ltype, *_ in layers)
    return ModelInfo(
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        op_count=len(layers),
        op_types=tuple(sorted(types.items())),
    )
