"""The few AndroidManifest.xml facts a scan row needs, read straight from binary XML.

androguard's ``AXMLPrinter`` builds an lxml tree of the whole manifest (and its first use
parses the platform's public resource table): most of the cost of reading an app's
metadata. A row needs the ``<manifest>`` attributes and two of its children, so this walks
the chunks once, decodes only the strings those attributes use and formats their values
as androguard does. It reads only files laid out the way aapt and aapt2 write them; for
anything unusual (packer tricks, renamed attributes, odd chunk sizes, bad strings) it
returns None and the caller parses the file with androguard, so results never differ.
"""

from __future__ import annotations

import re
import struct

from modelhound.extractor.arsc import string_span

ANDROID_URI = "http://schemas.android.com/apk/res/android"

RES_XML = 0x0003
RES_STRING_POOL = 0x0001
RES_XML_RESOURCE_MAP = 0x0180
START_NAMESPACE = 0x0100
END_NAMESPACE = 0x0101
START_ELEMENT = 0x0102
END_ELEMENT = 0x0103
CDATA = 0x0104
NONE = 0xFFFFFFFF

#: android attributes a row reads, by their platform resource id
ATTRIBUTE_IDS = {
    0x01010001: "label", 0x0101021B: "versionCode", 0x0101021C: "versionName",
    0x0101020C: "minSdkVersion", 0x01010270: "targetSdkVersion",
}
WANTED = frozenset(ATTRIBUTE_IDS.values()) | {"package", "split"}
#: elements whose attributes a row reads: the root and these children of it
CHILDREN = ("uses-sdk", "application")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_URI = re.compile(r"^https?://[A-Za-z0-9._/-]+$")  # what lxml surely takes as a namespace
_BAD_CHARS = re.compile("[^\u0020-\ud7ff\u0009\u000a\u000d\ue000-\ufffd\U00010000-\U0010ffff]")
_CHUNK = struct.Struct("<HHI")


class _Unusual(Exception):
    """The file is not laid out plainly: let androguard read it."""


class _Strings:
    """A string pool, decoded one string at a time."""

    def __init__(self, data: bytes, at: int) -> None:
        kind, header, size, count, styles, flags, start, style_start = struct.unpack_from(
            "<HHIIIIII", data, at)
        if (kind != RES_STRING_POOL or header != 0x1C or at + size > len(data)
                or start != header + 4 * (count + styles) or start > size):
            raise _Unusual("string pool header")
        # androguard ends the characters where the styles begin
        end = at + (style_start if styles and style_start else size)
        self.data, self.at, self.end = data, at, end
        self.count, self.utf8, self.start = count, bool(flags & 0x100), at + start
        self.offsets = struct.unpack_from(f"<{count}I", data, at + header)

    def __getitem__(self, index: int) -> str:
        if index >= self.count:
            raise _Unusual("string index out of range")
        pos = self.start + self.offsets[index]
        d = self.data
        pos, n = string_span(d, pos, self.utf8)
        width = 1 if self.utf8 else 2
        raw, term = d[pos:pos + n], d[pos + n:pos + n + width]
        codec = "utf-8" if self.utf8 else "utf-16-le"
        if pos + len(raw) > self.end or not term or any(term):
            raise _Unusual("string not terminated inside the pool")
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as e:
            raise _Unusual("string not decodable") from e
        if "\x00" in text or _BAD_CHARS.search(text):
            raise _Unusual("string with characters XML cannot hold")
        return text


def _value(kind: int, data: int, raw: int, strings: _Strings) -> str:
    """An attribute value formatted as androguard's ``format_value`` does."""
    if kind == 0x03:  # string: androguard reads the raw string index
        return strings[raw]
    if kind in (0x01, 0x02):  # reference, attribute reference
        return ("@" if kind == 0x01 else "?") + ("android:" if data >> 24 == 1 else "") + f"{data:08X}"
    if kind == 0x10:
        return str(data - 0x100000000 if data > 0x7FFFFFFF else data)
    if kind == 0x11:
        return f"0x{data:08X}"
    if kind == 0x12:
        return "false" if data == 0 else "true"
    raise _Unusual(f"value type 0x{kind:02x}")


def read_manifest(data: bytes) -> dict[str, dict[str, str]] | None:
    """``{"manifest": attrs, "uses-sdk": attrs, "application": attrs}`` (attrs: the wanted
    attribute names, android namespace first, to their values as androguard gives them),
    or None when the file is not plainly laid out."""
    try:
        return _read(data)
    except (_Unusual, struct.error, IndexError):
        return None


def _read(data: bytes) -> dict[str, dict[str, str]] | None:
    kind, header, size = _CHUNK.unpack_from(data, 0)
    if kind != RES_XML or header != 8 or size != len(data):
        raise _Unusual("file header")
    strings = _Strings(data, 8)
    pos = 8 + _CHUNK.unpack_from(data, 8)[2]
    resmap: tuple[int, ...] = ()
    uris: set[str] = set()
    out: dict[str, dict[str, str]] = {}
    stack: list[tuple[int, int]] = []
    root_done = False
    while pos < size:
        kind, header, length = _CHUNK.unpack_from(data, pos)
        end = pos + length
        if length < 8 or end > size:
            raise _Unusual("chunk size")
        if kind != RES_XML_RESOURCE_MAP and struct.unpack_from("<I", data, pos + 12)[0] != NONE:
            raise _Unusual("a comment (lxml refuses some)")
        if kind == RES_XML_RESOURCE_MAP:
            if header != 8 or length % 4 or resmap:
                raise _Unusual("resource map")
            resmap = struct.unpack_from(f"<{(length - 8) // 4}I", data, pos + 8)
        elif kind in (START_NAMESPACE, END_NAMESPACE):
            if header != 0x10 or length != 0x18:
                raise _Unusual("namespace chunk")
            prefix, uri = struct.unpack_from("<II", data, pos + 16)
            if kind == START_NAMESPACE:
                p, u = strings[prefix], strings[uri]
                if not _NAME.match(p) or p.lower().startswith("xml") or not _URI.match(u):
                    raise _Unusual("namespace prefix or uri")
                uris.add(u)
        elif kind == START_ELEMENT:
            if header != 0x10:
                raise _Unusual("element header")
            ns, name, at_start, at_size, count, _ = struct.unpack_from("<IIHHII", data, pos + 16)
            count &= 0xFFFF
            if at_start != 0x14 or at_size != 0x14 or length != 0x24 + 20 * count:
                raise _Unusual("attribute layout")
            if root_done and not stack:
                raise _Unusual("a second root element")
            tag = strings[name]
            if not tag or (ns != NONE and strings[ns] not in uris):
                raise _Unusual("element name")
            depth = len(stack)
            stack.append((ns, name))
            target = ("manifest" if depth == 0 else
                      tag if depth == 1 and ns == NONE and tag in CHILDREN and tag not in out
                      else "")
            if depth == 0:
                root_done = True
            attrs = _attributes(data, pos + 0x24, count, strings, resmap, uris)
            if target:
                out[target] = attrs
        elif kind == END_ELEMENT:
            if header != 0x10 or length != 0x18 or not stack:
                raise _Unusual("end of element")
            if struct.unpack_from("<II", data, pos + 16) != stack.pop():
                raise _Unusual("end tag does not close its element")
        elif kind == CDATA:
            if not stack or header != 0x10 or length != 0x1C:
                raise _Unusual("text outside the root element")
            strings[struct.unpack_from("<I", data, pos + 16)[0]]  # lxml refuses some text
        else:
            raise _Unusual(f"chunk type 0x{kind:04x}")
        pos = end
    if stack or "manifest" not in out:
        raise _Unusual("unclosed elements or no root")
    return out


def _attributes(data: bytes, at: int, count: int, strings: _Strings, resmap: tuple[int, ...],
                uris: set[str]) -> dict[str, str]:
    """The wanted attributes of one element: ``{name or "{android}name": value}``. Every
    string an attribute refers to is decoded (androguard would, and may fail on it)."""
    found: dict[str, str] = {}
    for i in range(count):
        ns, name, raw, _, _, kind, value = struct.unpack_from("<IIIHBBI", data, at + 20 * i)
        text = strings[name]
        if kind == 0x03 or raw != NONE:
            strings[raw]
        res_id = resmap[name] if name < len(resmap) else None
        if res_id in ATTRIBUTE_IDS:
            if text != ATTRIBUTE_IDS[res_id]:
                raise _Unusual("attribute renamed by its resource id")
        elif res_id is not None and res_id >> 16 == 0x0101 and text in WANTED:
            # androguard names an attribute by its platform id (all are 0x0101xxxx)
            raise _Unusual("a wanted name on another resource id")
        if not _NAME.match(text):
            if text and ":" not in text and text[0].isalpha() and text not in WANTED:
                continue  # a name androguard rewrites, never into one of ours
            raise _Unusual("attribute name")
        uri = strings[ns] if ns != NONE else ""
        if uri and uri not in uris:
            raise _Unusual("attribute namespace")
        if text not in WANTED:
            continue
        key = text if not uri else "{" + uri + "}" + text
        found[key] = _value(kind, value, raw, strings)
    return found


def attribute(attrs: dict[str, str], name: str) -> str:
    """The android-namespaced attribute, else the plain one, else ''."""
    return attrs.get("{" + ANDROID_URI + "}" + name, attrs.get(name, ""))
