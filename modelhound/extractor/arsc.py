"""Resolve one string resource (the app label) from resources.arsc without parsing it all.

androguard's ARSCParser builds every table of an app (0.1-0.2 s per app here), which is
most of the cost of reading an APK's metadata. The label needs one entry of one type, so
this walks the chunk headers, decodes only that entry and the one string it names, and
returns None whenever the table is unusual, letting the caller fall back to androguard.
"""

from __future__ import annotations

import struct

RES_STRING_POOL = 0x0001
RES_TABLE = 0x0002
RES_TABLE_PACKAGE = 0x0200
RES_TABLE_TYPE = 0x0201
TYPE_STRING = 0x03
FLAG_SPARSE = 0x01
FLAG_OFFSET16 = 0x02
NO_ENTRY = 0xFFFFFFFF


def _string(data: bytes, pool: int, index: int) -> str | None:
    """String ``index`` of the string pool chunk at offset ``pool``."""
    _, header_size, _, count, _, flags, strings_start, _ = struct.unpack_from("<HHIIIIII", data, pool)
    if index >= count:
        return None
    off = struct.unpack_from("<I", data, pool + header_size + 4 * index)[0]
    pos = pool + strings_start + off
    utf8 = bool(flags & 0x100)
    start, n = string_span(data, pos, utf8)
    return data[start : start + n].decode("utf-8" if utf8 else "utf-16-le", "replace")


def string_span(data: bytes, pos: int, utf8: bool) -> tuple[int, int]:
    """Where the string whose length prefix is at ``pos`` starts, and its size in bytes (one
    Android string-pool encoding, shared by resources.arsc and binary XML). UTF-8: a char
    count, then a byte count, each 1 or 2 bytes; UTF-16: a unit count of 1 or 2 shorts."""
    if utf8:
        pos += 2 if data[pos] & 0x80 else 1
        n = data[pos]
        if n & 0x80:
            return pos + 2, ((n & 0x7F) << 8) | data[pos + 1]
        return pos + 1, n
    n = struct.unpack_from("<H", data, pos)[0]
    pos += 2
    if n & 0x8000:
        n = ((n & 0x7FFF) << 16) | struct.unpack_from("<H", data, pos)[0]
        pos += 2
    return pos, 2 * n


def _is_default_config(data: bytes, config: int) -> bool:
    size = struct.unpack_from("<I", data, config)[0]
    return not any(data[config + 4 : config + min(size, 64)])


def resolve_string(data: bytes, res_id: int) -> str | None:
    """The default-configuration string value of ``res_id``, or None if not found simply."""
    try:
        return _resolve(data, res_id)
    except (struct.error, IndexError, UnicodeDecodeError):
        return None


def _resolve(data: bytes, res_id: int) -> str | None:
    pkg_id, type_id, entry_id = res_id >> 24, (res_id >> 16) & 0xFF, res_id & 0xFFFF
    rtype, header_size, size = struct.unpack_from("<HHI", data, 0)
    if rtype != RES_TABLE or size > len(data):
        return None
    global_pool = None
    pos = header_size
    while pos + 8 <= size:
        ctype, chead, csize = struct.unpack_from("<HHI", data, pos)
        if csize < 8:
            return None
        if ctype == RES_STRING_POOL and global_pool is None:
            global_pool = pos
        elif ctype == RES_TABLE_PACKAGE:
            pid = struct.unpack_from("<I", data, pos + 8)[0]
            if pid == pkg_id and global_pool is not None:
                return _in_package(data, pos, chead, csize, type_id, entry_id, global_pool)
        pos += csize
    return None


def _in_package(data: bytes, pkg: int, head: int, size: int, type_id: int, entry_id: int,
                pool: int) -> str | None:
    candidates: list[tuple[bool, int]] = []
    pos = pkg + head
    end = pkg + size
    while pos + 8 <= end:
        ctype, chead, csize = struct.unpack_from("<HHI", data, pos)
        if csize < 8:
            return None
        if ctype == RES_TABLE_TYPE and data[pos + 8] == type_id:
            value = _entry_value(data, pos, chead, entry_id)
            if value is not None:
                candidates.append((_is_default_config(data, pos + 20), value))
        pos += csize
    if not candidates:
        return None
    default = [v for is_default, v in candidates if is_default]
    return _string(data, pool, (default or [candidates[0][1]])[0])


def _entry_value(data: bytes, chunk: int, head: int, entry_id: int) -> int | None:
    """String-pool index held by entry ``entry_id`` of a type chunk, if it is a string."""
    flags = data[chunk + 9]
    count, entries_start = struct.unpack_from("<II", data, chunk + 12)
    offsets = chunk + head
    if flags & FLAG_SPARSE:
        for i in range(count):
            idx, off16 = struct.unpack_from("<HH", data, offsets + 4 * i)
            if idx == entry_id:
                return _value_at(data, chunk + entries_start + 4 * off16)
        return None
    if entry_id >= count:
        return None
    if flags & FLAG_OFFSET16:
        off = struct.unpack_from("<H", data, offsets + 2 * entry_id)[0]
        if off == 0xFFFF:
            return None
        return _value_at(data, chunk + entries_start + 4 * off)
    off = struct.unpack_from("<I", data, offsets + 4 * entry_id)[0]
    if off == NO_ENTRY:
        return None
    return _value_at(data, chunk + entries_start + off)


def _value_at(data: bytes, entry: int) -> int | None:
    size, eflags = struct.unpack_from("<HH", data, entry)
    if eflags & 0x0008:  # compact entry: data in the key field's place
        dtype = eflags >> 8
        return struct.unpack_from("<I", data, entry + 4)[0] if dtype == TYPE_STRING else None
    if eflags & 0x0001:  # complex (bag) entry: not a plain string
        return None
    dtype = data[entry + size + 3]
    if dtype != TYPE_STRING:
        return None
    return struct.unpack_from("<I", data, entry + size + 4)[0]
