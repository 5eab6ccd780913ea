"""Safe, bounded reading of zip archives (APKs, bundles, nested zips) and gzip/tar blobs.

Nothing here trusts an archive: sizes are capped per entry and per input, nesting depth
is bounded, entries flagged as encrypted are tried as Android does (it ignores the flag),
names that disagree between the central directory and the local header are read by
offset, and an archive whose central directory is missing or cut off is recovered from
its local headers. Entry names are only ever labels: nothing is written to disk here.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator

from modelhound.errors import ExtractError

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile inputs from exhausting memory or time."""

    max_entry_bytes: int = 512 * MiB
    """Largest single entry read in full."""
    max_input_bytes: int = 4 * GiB
    """Total decompressed bytes read from one input, across all nesting levels."""
    max_depth: int = 3
    """Archives inside archives opened up to this depth (the input itself is depth 0)."""
    max_entries: int = 200_000
    """Entries listed per input, across all nesting levels."""
    bomb_ratio: int = 1000
    """Declared compression ratio beyond which a large entry is refused as a zip bomb."""
    bomb_min_bytes: int = 16 * MiB
    """Entries smaller than this are never refused for their ratio."""


class LimitExceeded(ExtractError):
    """A read was refused because it would pass one of the :class:`Limits`."""


@dataclass
class Budget:
    """Mutable count of what one input has cost so far."""

    limits: Limits
    bytes_read: int = 0
    entries: int = 0

    def charge(self, n: int, what: str) -> None:
        """Account for ``n`` more decompressed bytes, refusing past the input's limit."""
        if self.bytes_read + n > self.limits.max_input_bytes:
            raise LimitExceeded(
                f"{what}: reading {n} more bytes would pass the per-input limit of "
                f"{self.limits.max_input_bytes} bytes"
            )
        self.bytes_read += n


@dataclass(frozen=True)
class Member:
    """One file inside an archive."""

    path: str
    """Full path, nested archives joined with ``!/``."""
    name: str
    """Name inside its own archive."""
    size: int
    """Declared uncompressed size."""
    compressed_size: int
    encrypted: bool = False
    duplicate: int = 0
    """0 for a unique name; n >= 2 for the n-th entry carrying the same name."""
    opener: Callable[[], IO[bytes]] = field(default=lambda: io.BytesIO(), repr=False, compare=False)
    note: str = ""
    """Something odd found while reading this entry (fake encryption, name mismatch)."""
    reader: "Callable[[int | None], bytes | None] | None" = field(default=None, repr=False,
                                                                compare=False)
    """A shortcut for plainly stored entries of an archive held in memory: the first n
    bytes (None: all of them), or None whenever ``opener`` must decide (see
    :func:`_direct_reader`)."""


@dataclass
class Archive:
    """An opened archive and the problems met while opening it."""

    members: list[Member]
    problems: list[str]
    closer: Callable[[], None] = lambda: None


def _read_capped(stream: IO[bytes], n: int) -> bytes:
    chunks = []
    left = n
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_head(member: Member, n: int, budget: Budget) -> bytes:
    """The first ``n`` bytes of a member (fewer if it is shorter)."""
    if member.reader is not None:
        head = member.reader(n)
        if head is not None:
            budget.charge(len(head), member.path)
            return head
    try:
        with member.opener() as f:
            head = _read_capped(f, n)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, struct.error, ValueError) as e:
        raise ExtractError(f"{member.path}: cannot read entry ({e})") from e
    budget.charge(len(head), member.path)
    return head


def read_all(member: Member, budget: Budget) -> bytes:
    """A member's full content, within the entry and input limits."""
    lim = budget.limits
    if member.size > lim.max_entry_bytes:
        raise LimitExceeded(
            f"{member.path}: entry declares {member.size} bytes, over the limit of "
            f"{lim.max_entry_bytes} bytes; not read"
        )
    if (member.size > lim.bomb_min_bytes and member.compressed_size > 0
            and member.size / member.compressed_size > lim.bomb_ratio):
        raise LimitExceeded(
            f"{member.path}: compression ratio {member.size // member.compressed_size}:1 "
            f"({member.size} bytes from {member.compressed_size}); refused as a likely zip bomb"
        )
    budget.charge(member.size, member.path)
    if member.reader is not None:
        data = member.reader(None)
        if data is not None:
            return data
    try:
        with member.opener() as f:
            data = _read_capped(f, lim.max_entry_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError, struct.error, ValueError) as e:
        raise ExtractError(f"{member.path}: cannot read entry ({e})") from e
    if len(data) > lim.max_entry_bytes:
        raise LimitExceeded(f"{member.path}: entry is larger than {lim.max_entry_bytes} bytes")
    return data


# --- zip --------------------------------------------------------------------------------

_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def _raw_opener(fp: IO[bytes], info: zipfile.ZipInfo, total: int) -> Callable[[], IO[bytes]]:
    """Read an entry by its offset, as Android does: no flag or name checks."""

    def opener() -> IO[bytes]:
        fp.seek(info.header_offset)
        header = fp.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header at offset {info.header_offset}")
        fields = _LOCAL.unpack(header)
        start = info.header_offset + _LOCAL.size + fields[9] + fields[10]
        fp.seek(start)
        raw = fp.read(min(info.compress_size, max(total - start, 0)))
        if info.compress_type == zipfile.ZIP_STORED:
            return io.BytesIO(raw[: info.file_size])
        if info.compress_type == zipfile.ZIP_DEFLATED:
            d = zlib.decompressobj(-15)
            return io.BytesIO(d.decompress(raw, info.file_size) if info.file_size else d.decompress(raw))
        raise NotImplementedError(f"compression method {info.compress_type}")

    return opener


#: zip sources up to this size are held in memory while their members are read
DIRECT_MAX_BYTES = 256 * MiB
#: general-purpose flags the shortcut leaves to zipfile: encrypted, patched, strongly encrypted
_FLAGS_FOR_ZIPFILE = 0x1 | 0x20 | 0x40


def _direct_reader(buf: bytes, info: zipfile.ZipInfo) -> Callable[[int | None], bytes | None]:
    """Read an entry straight from the archive's bytes, as zipfile would give it.

    zipfile's reader costs a file object, a local-header parse and a decompressor per
    call; an APK has hundreds of entries whose first bytes are all a scan looks at. This
    slices the entry out of memory and inflates only what is asked for. It answers None,
    leaving the entry to zipfile's reader (and its errors), whenever the result might
    differ: an unusual local header, a flag, a method other than stored or deflated, a
    stored size that disagrees, output shorter than declared, or a CRC that does not hold
    when the whole entry is read (zipfile checks it then)."""

    def read(n: int | None) -> bytes | None:
        off = info.header_offset
        if (info.flag_bits & _FLAGS_FOR_ZIPFILE or off < 0 or off + _LOCAL.size > len(buf)
                or buf[off:off + 4] != b"PK\x03\x04"):
            return None
        fields = _LOCAL.unpack_from(buf, off)
        start = off + _LOCAL.size + fields[9] + fields[10]
        csize, size = info.compress_size, info.file_size
        if start + csize > len(buf):
            return None
        want = size if n is None else min(n, size)
        if info.compress_type == zipfile.ZIP_STORED:
            if csize != size:
                return None
            out = buf[start:start + want]
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            d = zlib.decompressobj(-15)
            view = memoryview(buf)[start:start + csize]
            parts, got, pos, step = [], 0, 0, max(want + 1024, 16384)
            try:
                while got < want and pos < csize and not d.eof:
                    chunk = d.decompress(view[pos:pos + step], want - got)
                    parts.append(chunk)
                    got += len(chunk)
                    if d.unconsumed_tail:
                        break  # want bytes reached
                    pos += step
            except zlib.error:
                return None
            out = b"".join(parts)
        else:
            return None
        if len(out) != want:
            return None
        if want == size and zlib.crc32(out) != info.CRC:
            return None
        return out

    return read


def _zip_opener(zf: zipfile.ZipFile, fp: IO[bytes], info: zipfile.ZipInfo,
                total: int) -> Callable[[], IO[bytes]]:
    """zipfile's reader (CRC-checked); by offset when the local header disagrees."""

    def opener() -> IO[bytes]:
        try:
            return zf.open(info)
        except UnicodeDecodeError:  # a local header name zipfile cannot decode: Android
            return _raw_opener(fp, info, total)()  # reads by offset all the same
        except zipfile.BadZipFile as e:
            if "differ" not in str(e) and "Overlapped" not in str(e):
                raise
            return _raw_opener(fp, info, total)()

    return opener


def _eocd_at_end(fp: IO[bytes], total: int) -> bool:
    """Whether the end-of-central-directory record closes the file, as Android requires.

    Python's zipfile takes the last EOCD it finds anywhere in the final 64 KiB, so a
    truncated APK whose tail holds a stored inner zip would be read as that inner zip.
    """
    n = min(total, 65535 + 22)
    fp.seek(total - n)
    tail = fp.read(n)
    fp.seek(0)
    idx = tail.rfind(b"PK\x05\x06")
    while idx >= 0:
        if idx + 22 <= len(tail):
            comment = struct.unpack_from("<H", tail, idx + 20)[0]
            if idx + 22 + comment == len(tail):
                return True
        idx = tail.rfind(b"PK\x05\x06", 0, idx)
    return False


def open_zip(source: str | bytes, prefix: str, budget: Budget) -> Archive:
    """List a zip's members; recover from local headers if the directory is broken."""
    problems: list[str] = []
    fp: IO[bytes]
    if isinstance(source, bytes):
        fp = io.BytesIO(source)
        total = len(source)
    else:
        fp = open(source, "rb")  # noqa: SIM115 - closed by Archive.closer
        fp.seek(0, io.SEEK_END)
        total = fp.tell()
        fp.seek(0)
    try:
        if not _eocd_at_end(fp, total):
            raise zipfile.BadZipFile("no end-of-central-directory record at the end of the file")
        zf = zipfile.ZipFile(fp)
    # NotImplementedError: zipfile refuses a directory whose entries ask for a zip version
    # it does not know; Android does not check that field, so neither does the recovery
    except (zipfile.BadZipFile, OSError, ValueError, struct.error, EOFError,
            NotImplementedError) as e:
        members = recover_local_entries(fp, total, prefix, budget)
        if not members:
            fp.close()
            raise ExtractError(f"not a readable zip archive ({e}); no entries recoverable") from e
        problems.append(
            f"zip central directory unreadable ({e}); {len(members)} entries recovered "
            "from local headers"
        )
        return Archive(members, problems, fp.close)
    members: list[Member] = []
    seen: dict[str, int] = {}
    infos = zf.infolist()
    buf: bytes | None = source if isinstance(source, bytes) else None
    if buf is None and total <= DIRECT_MAX_BYTES:
        try:
            fp.seek(0)
            buf = fp.read(total)
        except OSError:
            buf = None
        if buf is not None and len(buf) != total:
            buf = None
    if len(infos) + budget.entries > budget.limits.max_entries:
        problems.append(
            f"archive lists {len(infos)} entries; only the first "
            f"{max(budget.limits.max_entries - budget.entries, 0)} are inspected"
        )
        infos = infos[: max(budget.limits.max_entries - budget.entries, 0)]
    budget.entries += len(infos)
    dup_names = set()
    nameless = 0
    for info in infos:
        if not info.filename:
            # a central-directory record with an empty name (zipfile's is_dir() would raise
            # IndexError on it); it names no file an app could load
            nameless += 1
            continue
        if info.is_dir():
            continue
        seen[info.filename] = seen.get(info.filename, 0) + 1
        if seen[info.filename] == 2:
            dup_names.add(info.filename)
        encrypted = bool(info.flag_bits & 0x1)
        note = ""
        opener = _zip_opener(zf, fp, info, total)
        if encrypted:
            # Android ignores the encryption flag; so do we, and report what we find.
            opener = _raw_opener(fp, info, total)
            note = "entry flagged encrypted"
        if seen[info.filename] > 1:
            note = f"duplicate entry name (#{seen[info.filename]})"
        members.append(
            Member(
                path=f"{prefix}{info.filename}",
                name=info.filename,
                size=info.file_size,
                compressed_size=info.compress_size,
                encrypted=encrypted,
                duplicate=seen[info.filename] if seen[info.filename] > 1 else 0,
                opener=opener,
                note=note,
                reader=None if encrypted or buf is None else _direct_reader(buf, info),
            )
        )
    if nameless:
        problems.append(f"{nameless} entr{'y' if nameless == 1 else 'ies'} with an empty name skipped")
    if dup_names:
        problems.append(f"duplicate entry names: {', '.join(sorted(dup_names)[:5])}")
        members = [
            m if m.duplicate or m.name not in dup_names else
            Member(m.path, m.name, m.size, m.compressed_size, m.encrypted, 1, m.opener, m.note,
                   m.reader)
            for m in members
        ]

    def close() -> None:
        zf.close()
        fp.close()

    return Archive(members, problems, close)


def recover_local_entries(fp: IO[bytes], total: int, prefix: str, budget: Budget) -> list[Member]:
    """Entries found by scanning for local file headers (for truncated or damaged zips)."""
    fp.seek(0)
    data = fp.read(min(total, budget.limits.max_input_bytes))
    members: list[Member] = []
    pos = data.find(b"PK\x03\x04")
    seen: dict[str, int] = {}
    while pos != -1 and len(members) < budget.limits.max_entries:
        if pos + _LOCAL.size > len(data):
            break
        (_, _, flags, method, _, _, _, csize, usize, nlen, xlen) = _LOCAL.unpack_from(data, pos)
        name = data[pos + _LOCAL.size : pos + _LOCAL.size + nlen].decode("utf-8", "replace")
        start = pos + _LOCAL.size + nlen + xlen
        if start > len(data) or not name:
            break
        if flags & 0x8 or csize == 0 and method == 8:
            nxt = data.find(b"PK\x03\x04", start)
            end = nxt if nxt != -1 else len(data)
        else:
            end = min(start + csize, len(data))
        raw = data[start:end]
        truncated = start + csize > len(data) if not flags & 0x8 else False
        if not name.endswith("/") and method in (0, 8):
            seen[name] = seen.get(name, 0) + 1
            note = "recovered from local header" + (", truncated" if truncated else "")
            members.append(
                Member(
                    path=f"{prefix}{name}",
                    name=name,
                    size=usize if usize and not truncated else len(raw) * (1 if method == 0 else 4),
                    compressed_size=len(raw),
                    duplicate=seen[name] if seen[name] > 1 else 0,
                    opener=_recovered_opener(raw, method),
                    note=note,
                )
            )
        pos = data.find(b"PK\x03\x04", max(end, pos + 4))
    budget.entries += len(members)
    return members


def _recovered_opener(raw: bytes, method: int) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        if method == 0:
            return io.BytesIO(raw)
        d = zlib.decompressobj(-15)
        try:
            return io.BytesIO(d.decompress(raw, 1 << 31))
        except zlib.error:
            return io.BytesIO(b"")

    return opener


# --- gzip and tar -----------------------------------------------------------------------


def gunzip(data: bytes, path: str, budget: Budget) -> bytes:
    """Decompress a gzip blob within the entry limit."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, budget.limits.max_entry_bytes + 1)
    except zlib.error as e:
        raise ExtractError(f"{path}: corrupt gzip stream ({e})") from e
    if len(out) > budget.limits.max_entry_bytes:
        raise LimitExceeded(f"{path}: gzip expands past {budget.limits.max_entry_bytes} bytes")
    budget.charge(len(out), path)
    return out


def tar_members(data: bytes, prefix: str, budget: Budget) -> Iterator[Member]:
    """Regular files of a tar archive held in memory."""
    import tarfile

    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    except tarfile.TarError as e:
        raise ExtractError(f"{prefix.rstrip('!/')}: unreadable tar archive ({e})") from e
    count = 0
    members = iter(tf)
    while True:
        try:
            ti = next(members)
        except StopIteration:
            break
        except (tarfile.TarError, EOFError, zlib.error) as e:
            raise ExtractError(f"{prefix.rstrip('!/')}: tar archive ends in a damaged "
                               f"header ({e})") from e
        count += 1
        if budget.entries + count > budget.limits.max_entries:
            break
        if not ti.isreg():
            continue

        def opener(ti: tarfile.TarInfo = ti) -> IO[bytes]:
            # the tar is in memory: read the member now, so a damaged one fails here as an
            # ExtractError rather than mid-read with tarfile's own errors
            try:
                f = tf.extractfile(ti)
                return io.BytesIO(f.read() if f is not None else b"")
            except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
                raise ExtractError(f"{prefix}{ti.name}: damaged tar member ({e})") from e

        yield Member(f"{prefix}{ti.name}", ti.name, ti.size, ti.size, opener=opener)
    budget.entries += count
