"""Formats modelhound recognises and reports but does not run yet.

Each matcher looks at content first; where a format has no magic of its own (MNN), a
structural check of the bytes decides and the file name only adds evidence.
"""

from __future__ import annotations

import re
import struct

from modelhound.extractor import protowire as pw
from modelhound.records import ModelFormat, Sniffed

_FB_IDS: dict[bytes, tuple[ModelFormat, str]] = {
    b"ORTM": (ModelFormat.ORT, "flatbuffer"),
    b"MSL0": (ModelFormat.MINDSPORE_LITE, "flatbuffer"),
    b"MSL1": (ModelFormat.MINDSPORE_LITE, "flatbuffer"),
    b"MSL2": (ModelFormat.MINDSPORE_LITE, "flatbuffer"),
    b"NETD": (ModelFormat.SNPE_DLC, "netd"),
    b"NETP": (ModelFormat.SNPE_DLC, "params"),
    b"CIR0": (ModelFormat.TFLITE, "circle"),
}
_TNN_PROTO = re.compile(rb'^"\s*\d+\s+\d+\s+\d+\s+\d+\s*,?\s*"\s*\n')


def flatbuffer_id(head: bytes, name: str, size: int) -> Sniffed | None:
    """FlatBuffer formats with a 4-byte file identifier at offset 4."""
    if len(head) < 8:
        return None
    ident = head[4:8]
    root = struct.unpack_from("<I", head, 0)[0]
    if not 8 <= root < size:
        return None
    if ident in _FB_IDS:
        fmt, sub = _FB_IDS[ident]
        return Sniffed(fmt, sub, f"FlatBuffer identifier {ident.decode()} at byte 4")
    if re.fullmatch(rb"ET\d\d", ident):
        return Sniffed(ModelFormat.EXECUTORCH, "pte", f"FlatBuffer identifier {ident.decode()}")
    return None


def _fb_vector_of_strings(buf: bytes, pos: int) -> int:
    """Number of valid strings in the vector of offsets at ``pos`` (0 if not one)."""
    if pos + 4 > len(buf):
        return 0
    n = struct.unpack_from("<I", buf, pos)[0]
    if n == 0 or n > 1_000_000 or pos + 4 + 4 * n > len(buf):
        return 0
    for i in range(min(n, 8)):
        p = pos + 4 + 4 * i
        s = p + struct.unpack_from("<I", buf, p)[0]
        if s + 4 > len(buf):
            return 0
        ln = struct.unpack_from("<I", buf, s)[0]
        if ln > 4096 or s + 4 + ln >= len(buf) or buf[s + 4 + ln] != 0:
            return 0
        if ln and not pw.is_printable(buf[s + 4 : s + 4 + ln]):
            return 0
    return n


def mnn(head: bytes, name: str, size: int) -> Sniffed | None:
    """An MNN Net: a FlatBuffer without identifier whose root table holds a vector of
    tables (the op list) and a vector of tensor-name strings."""
    if len(head) < 32:
        return None
    root = struct.unpack_from("<I", head, 0)[0]
    if root not in (0x18, 0x1C, 0x20) or root + 4 > len(head):
        return None
    vt = root - struct.unpack_from("<i", head, root)[0]
    if not 4 <= vt < root:
        return None
    vt_size, obj_size = struct.unpack_from("<HH", head, vt)
    if vt_size < 8 or vt_size % 2 or vt + vt_size > root or obj_size < 4:
        return None
    n_fields = (vt_size - 4) // 2
    strings = 0
    for i in range(n_fields):
        off = struct.unpack_from("<H", head, vt + 4 + 2 * i)[0]
        if not off:
            continue
        if off >= obj_size:
            return None
        p = root + off
        if p + 4 > len(head):
            continue
        target = p + struct.unpack_from("<I", head, p)[0]
        strings = max(strings, _fb_vector_of_strings(head, target) if target < len(head) else 0)
    if not 8 <= n_fields <= 20 or not strings:
        return None
    hint = " and .mnn name" if name.lower().endswith(".mnn") else ""
    return Sniffed(ModelFormat.MNN, "flatbuffer",
                   f"identifier-less FlatBuffer Net with {strings} tensor names{hint}")


def keras_h5(head: bytes, name: str, size: int) -> Sniffed | None:
    """HDF5 with Keras attributes in its first bytes."""
    if not head.startswith(b"\x89HDF\r\n\x1a\n"):
        return None
    for marker in (b"model_config", b"keras_version", b"layer_names", b"training_config"):
        if marker in head:
            return Sniffed(ModelFormat.KERAS_H5, "hdf5", f"HDF5 with Keras attribute {marker.decode()}")
    return None


def paddle_lite(head: bytes, name: str, size: int) -> Sniffed | None:
    """Paddle-Lite naive buffer (.nb): uint16 meta version <= 2, then an opt version."""
    if len(head) < 24:
        return None
    meta = struct.unpack_from("<H", head, 0)[0]
    if meta <= 2 and re.match(rb"v\d+\.\d+", head[2:18]):
        ver = head[2:18].split(b"\x00")[0].decode("ascii", "replace")
        return Sniffed(ModelFormat.PADDLE_LITE, "naive-buffer", f"Paddle-Lite opt version {ver}")
    return None


def paddle(head: bytes, name: str, size: int) -> Sniffed | None:
    """Paddle ProgramDesc: blocks (field 1) holding vars and ops, with feed/fetch ops."""
    fields = pw.head_fields(head, limit=4)
    if not fields or fields[0].number != 1 or fields[0].wire_type != pw.LEN:
        return None
    block = pw.head_fields(head[fields[0].offset : fields[0].offset + min(fields[0].value, 65536)], 6)
    if not block or block[0].number != 1 or block[0].wire_type != pw.VARINT:
        return None
    if not any(f.number in (3, 4) and f.wire_type == pw.LEN for f in block):
        return None
    if b"feed" in head and b"fetch" in head:
        return Sniffed(ModelFormat.PADDLE, "program-desc", "protobuf ProgramDesc with feed/fetch ops")
    return None


def coreml(head: bytes, name: str, size: int) -> Sniffed | None:
    """Core ML spec: specVersion varint, a description, and a model-type field."""
    fields = pw.head_fields(head, limit=4)
    if not fields or len(fields) < 2:
        return None
    if fields[0].number != 1 or fields[0].wire_type != pw.VARINT or not 1 <= fields[0].value <= 12:
        return None
    if fields[1].number != 2 or fields[1].wire_type != pw.LEN:
        return None
    types = [f.number for f in fields[2:] if f.wire_type == pw.LEN]
    if any(200 <= t <= 620 or t == 900 or 2000 <= t <= 2010 or t == 3000 for t in types):
        return Sniffed(ModelFormat.COREML, "mlmodel", "protobuf Model with specVersion and model type")
    return None


def tnn(head: bytes, name: str, size: int) -> Sniffed | None:
    """TNN: quoted-header text proto, or a model blob starting 0xFABC0002/4."""
    if _TNN_PROTO.match(head):
        return Sniffed(ModelFormat.TNN, "tnnproto", "TNN proto header line")
    if head[:4] in (b"\x02\x00\xbc\xfa", b"\x04\x00\xbc\xfa"):
        return Sniffed(ModelFormat.TNN, "tnnmodel", "TNN model magic 0xFABC000x")
    return None


def vendor_headers(head: bytes, name: str, size: int) -> Sniffed | None:
    """Huawei OM, Rockchip RKNN and legacy SNPE DLC headers."""
    if head[:4] in (b"IMOD", b"PICO") and size >= 256:
        return Sniffed(ModelFormat.HUAWEI_OM, "om", f"header {head[:4].decode()}")
    if head[:4] in (b"RKNN", b"VPMN") or head[4:8] == b"RKNN":
        return Sniffed(ModelFormat.RKNN, "rknn", "RKNN header")
    if head[:2] == b"\xd5\x0a" and name.lower().endswith(".dlc"):
        return Sniffed(ModelFormat.SNPE_DLC, "legacy", "legacy DLC header D5 0A and .dlc name")
    return None


def match_container(names: list[str]) -> Sniffed | None:
    """Zip-based model containers other than PyTorch (SNPE DLC, Keras v3)."""
    base = set(names)
    if "model" in base and ("model.params" in base or "dlc.json" in base):
        return Sniffed(ModelFormat.SNPE_DLC, "zip", "zip with model and model.params")
    if "config.json" in base and "model.weights.h5" in base:
        return Sniffed(ModelFormat.KERAS_H5, "keras-v3", "zip with config.json and model.weights.h5")
    return None
