"""Content that is known not to be a model, and archive containers, by signature.

Checked before any model sniffer (as netron's ``_openSignature`` does), so images, code,
fonts and media are passed over after reading only their first bytes.
"""

from __future__ import annotations

import math
import re
from collections import Counter

#: the name :func:`not_a_model` gives JSON (a TensorFlow.js model.json is the exception)
JSON_TEXT = "lottie/json text"

#: (name, predicate over the head) for content that is never a model.
_NOT_MODELS: tuple[tuple[str, re.Pattern[bytes]], ...] = tuple(
    (name, re.compile(pattern, re.DOTALL))
    for name, pattern in (
        ("png image", rb"^\x89PNG\r\n\x1a\n"),
        ("jpeg image", rb"^\xff\xd8\xff"),
        ("gif image", rb"^GIF8[79]a"),
        ("webp image", rb"^RIFF....WEBP"),
        ("wav audio", rb"^RIFF....WAVE"),
        ("bmp image", rb"^BM....\x00\x00\x00\x00"),
        ("ico image", rb"^\x00\x00\x01\x00[\x01-\x20]\x00"),
        ("dex bytecode", rb"^dex\n0\d\d\x00"),
        ("ELF binary", rb"^\x7fELF"),
        ("java class", rb"^\xca\xfe\xba\xbe"),
        ("android binary xml", rb"^\x03\x00\x08\x00"),
        ("android resource table", rb"^\x02\x00\x0c\x00"),
        ("truetype font", rb"^\x00\x01\x00\x00\x00[\x00-\x40]"),
        ("opentype font", rb"^OTTO"),
        ("woff font", rb"^wOF[F2]"),
        ("ogg media", rb"^OggS"),
        ("mp3 audio", rb"^ID3"),
        ("mp4/3gp media", rb"^....ftyp"),
        ("flac audio", rb"^fLaC"),
        ("matroska/webm media", rb"^\x1a\x45\xdf\xa3"),
        ("pdf document", rb"^%PDF-"),
        ("sqlite database", rb"^SQLite format 3\x00"),
        ("git lfs pointer", rb"^version https://git-lfs"),
        ("kotlin metadata", rb"^\x00\x00\x00\x03\x00\x00\x00\x01"),
        ("xz archive", rb"^\xfd7zXZ\x00"),
        ("7z archive", rb"^7z\xbc\xaf\x27\x1c"),
        ("bzip2 archive", rb"^BZh[1-9]1AY&SY"),
        ("zstd frame", rb"^\x28\xb5\x2f\xfd"),
        (JSON_TEXT, rb"^\s*[\[{]\s*\""),
        ("android baseline profile", rb"^pro\x00"),
        ("android dex metadata", rb"^prm\x00"),
    )
)

#: Signatures that mean encrypted or packed content (netron's list, plus common packers).
_ENCRYPTED: tuple[tuple[str, bytes], ...] = (
    ("OpenSSL 'Salted__' envelope", b"Salted__"),
    ("ENCRYPTED_FILE header", b"ENCRYPTED_FILE"),
)


def not_a_model(head: bytes) -> str | None:
    """Name of the known non-model content ``head`` starts with, if any."""
    for name, pattern in _NOT_MODELS:
        if pattern.match(head):
            return name
    return None


def encrypted_signature(head: bytes) -> str | None:
    """Name of a known encryption envelope at the start of ``head``, if any."""
    for name, magic in _ENCRYPTED:
        if head.startswith(magic):
            return name
    return None


def is_zip(head: bytes) -> bool:
    """A zip archive (local file header, or the end record of an empty archive)."""
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def is_gzip(head: bytes) -> bool:
    """A gzip stream."""
    return head[:3] == b"\x1f\x8b\x08"


def is_tar(head: bytes) -> bool:
    """A POSIX/GNU tar archive (``ustar`` magic at offset 257)."""
    return len(head) > 262 and head[257:262] == b"ustar"


def looks_like_text(head: bytes) -> bool:
    """Whether the head is (mostly) UTF-8 text."""
    if not head:
        return False
    sample = head[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character cut at the end of the sample is still text
        if e.start < len(sample) - 4:
            return False
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return controls <= len(sample) // 100


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (0 to 8)."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def hex_edges(data: bytes, n: int = 16) -> str:
    """First and last ``n`` bytes in hex, for error messages about unknown bytes."""
    if len(data) <= 2 * n:
        return data.hex()
    return f"{data[:n].hex()}...{data[-n:].hex()}"
