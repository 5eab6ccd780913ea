"""A bounded reader of the protobuf wire format, for sniffing without a schema.

Protobuf files have no magic number. What identifies ONNX, Caffe, TensorFlow, Paddle or
Core ML files is which top-level field numbers occur with which wire types; this module
reads those cheaply and never loops more than a fixed number of times.
"""

from __future__ import annotations

from dataclasses import dataclass

VARINT, FIXED64, LEN, SGROUP, EGROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def text(value: object) -> str:
    """A protobuf string field as text: proto2 hands back ``bytes`` for one that is not
    valid UTF-8 (hostile files do that), which must not mix with ``str`` downstream."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class WireField:
    """One top-level field occurrence."""

    number: int
    wire_type: int
    value: int
    """The varint / fixed value, or the payload length for LEN fields."""
    offset: int
    """Offset of the payload (LEN fields) or value."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode one varint at ``pos``; return (value, next position)."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(
    buf: bytes | memoryview, start: int = 0, end: int | None = None, limit: int = 64
) -> list[WireField]:
    """Read up to ``limit`` fields of the message in ``buf[start:end]``.

    Raises :class:`WireError` when the bytes read so far are not valid wire format.
    Reading stops early (without error) once ``limit`` fields are read.
    """
    end = len(buf) if end is None else end
    pos = start
    out: list[WireField] = []
    while pos < end and len(out) < limit:
        key, pos = read_varint(buf, pos)
        number, wt = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wt == VARINT:
            value, pos = read_varint(buf, pos)
            out.append(WireField(number, wt, value, pos))
        elif wt == FIXED64:
            if pos + 8 > end:
                raise WireError("truncated fixed64")
            out.append(WireField(number, wt, int.from_bytes(buf[pos : pos + 8], "little"), pos))
            pos += 8
        elif wt == FIXED32:
            if pos + 4 > end:
                raise WireError("truncated fixed32")
            out.append(WireField(number, wt, int.from_bytes(buf[pos : pos + 4], "little"), pos))
            pos += 4
        elif wt == LEN:
            length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise WireError(f"field {number} runs past the end ({length} bytes)")
            out.append(WireField(number, wt, length, pos))
            pos += length
        else:
            raise WireError(f"unsupported wire type {wt}")
    return out


def first_fields(buf: bytes | memoryview, limit: int = 64) -> list[WireField] | None:
    """Like :func:`fields` over the whole buffer, but ``None`` instead of an error."""
    try:
        return fields(buf, 0, None, limit)
    except WireError:
        return None


def head_fields(buf: bytes | memoryview, limit: int = 16) -> list[WireField] | None:
    """Fields that lie entirely at the start of ``buf`` (for a head-only peek).

    A LEN field that runs past the end of ``buf`` ends the list instead of failing,
    so this works on the first kilobytes of a large file.
    """
    out: list[WireField] = []
    pos = 0
    end = len(buf)
    try:
        while pos < end and len(out) < limit:
            key, p = read_varint(buf, pos)
            number, wt = key >> 3, key & 7
            if number == 0 or wt not in (VARINT, FIXED64, LEN, FIXED32):
                return None
            if wt == VARINT:
                value, p = read_varint(buf, p)
            elif wt == FIXED64:
                value, p = 0, p + 8
            elif wt == FIXED32:
                value, p = 0, p + 4
            else:
                value, p = read_varint(buf, p)
                out.append(WireField(number, wt, value, p))
                if p + value > end:
                    return out
                pos = p + value
                continue
            out.append(WireField(number, wt, value, p))
            pos = p
    except WireError:
        return out or None
    return out


def is_printable(data: bytes | memoryview) -> bool:
    """Whether ``data`` is non-empty printable UTF-8 without control characters."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c in "\t" for c in text)
