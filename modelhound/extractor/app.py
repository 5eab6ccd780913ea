"""Extract every model from one input: an APK, a bundle of APKs, a zip, or a bare file."""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field, replace
from typing import IO, Callable

from modelhound.errors import ExtractError
from modelhound.extractor import formats, signatures
from modelhound.extractor.archive import (
    DIRECT_MAX_BYTES,
    Archive,
    Budget,
    LimitExceeded,
    Limits,
    Member,
    gunzip,
    open_zip,
    read_all,
    read_head,
    tar_members,
)
from modelhound.extractor.formats import caffe, ncnn, pytorch, savedmodel, tfjs
from modelhound.extractor.manifest import (
    Manifest,
    parse_manifest,
    parse_proto_manifest,
    parse_xapk_manifest,
)
from modelhound.extractor.named import attach_named
from modelhound.extractor.runtimes import runtime_of
from modelhound.records import (
    AppInfo,
    AppScan,
    FoundModel,
    ModelEntry,
    ModelFormat,
    ModelInfo,
    Sniffed,
    Status,
)

#: file extensions read as zip archives at the top level, and the kind they name
ARCHIVE_KINDS: dict[str, str] = {
    ".apk": "apk", ".xapk": "xapk", ".apks": "apks", ".apkm": "apkm", ".aab": "aab",
    ".zip": "zip", ".obb": "obb", ".jar": "jar",
}
#: names that say "model" although content decides (evidence for suspected-encrypted blobs)
MODEL_NAME_HINTS = (
    ".tflite", ".lite", ".tfl", ".pb", ".onnx", ".ort", ".mnn", ".param", ".bin", ".nb",
    ".caffemodel", ".prototxt", ".model", ".dlc", ".pt", ".ptl", ".pth", ".ms", ".om",
    ".rknn", ".tnnmodel", ".tnnproto", ".h5", ".keras", ".mlmodel", ".dat", ".weights",
    ".ckpt", ".pbtxt", ".params", ".enc", ".data",
)
MODEL_NAME_WORDS = ("model", "detect", "recogn", "track", "classif", "segment", "landmark",
                    "face", "pose", "ocr", "mnist", "net", "weights")
ENTROPY_THRESHOLD = 7.5
SNIFF_PREVIEW = 512
"""First look at every entry: enough for every junk, archive and magic-number check."""

HEAD_BYTES = formats.HEAD_BYTES


@dataclass(frozen=True)
class Extraction:
    """An input's metadata and its models, with their bytes."""

    app: AppInfo
    models: tuple[FoundModel, ...] = ()
    """Recognised models (status ok), with their bytes, in entry order."""
    others: tuple[ModelEntry, ...] = ()
    """Entries that may hold a model but could not be read, or look encrypted."""
    error: str = ""

    def to_scan(self) -> AppScan:
        """The same without bytes, as the reports need it."""
        entries = sorted([m.entry for m in self.models] + list(self.others),
                         key=lambda e: (e.entry, e.status.value))
        return AppScan(app=self.app, models=tuple(entries), error=self.error)


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file, streamed; of a folder input, over its files' names and hashes."""
    if os.path.isdir(path):
        h = hashlib.sha256(b"modelhound-folder\n")
        for name in folder_files(path):
            h.update(f"{name}\0{sha256_file(os.path.join(path, name))}\n".encode())
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: descriptions of the models met by this process, by content: an SDK model shipped in
#: many apps is parsed once per process, not once per app (ModelInfo is immutable)
_DESCRIBED: dict[tuple[str, str, str], ModelInfo | ExtractError | None] = {}
_DESCRIBED_MAX = 4096


def _describe_once(sniffed: Sniffed, data: bytes, digest: str) -> ModelInfo | None:
    """:func:`formats.describe`, remembered by (sha256, format, subformat)."""
    key = (digest, sniffed.format.value, sniffed.subformat)
    if key not in _DESCRIBED:
        try:
            result: ModelInfo | ExtractError | None = formats.describe(sniffed, data)
        except ExtractError as e:
            result = e
        if len(_DESCRIBED) >= _DESCRIBED_MAX:
            _DESCRIBED.pop(next(iter(_DESCRIBED)))
        _DESCRIBED[key] = result
    result = _DESCRIBED[key]
    if isinstance(result, ExtractError):
        raise ExtractError(str(result))
    return result


def model_like(path: str) -> bool:
    """Whether an entry sits where models live or is named like one."""
    low = path.lower()
    inner = low.rsplit("!/", 1)[-1]
    base = inner.rsplit("/", 1)[-1]
    if base.endswith(MODEL_NAME_HINTS) or any(w in base for w in MODEL_NAME_WORDS):
        return True
    return (inner.startswith(("assets/", "res/raw/")) or "/assets/" in inner
            or "/res/raw/" in inner or "/" not in inner)


@dataclass
class _Unknown:
    member: Member
    head: bytes


@dataclass
class _Walk:
    """What one input's walk collects before pairing and reporting."""

    budget: Budget
    models: list[FoundModel] = field(default_factory=list)
    protos: list[tuple[Member, bytes, object]] = field(default_factory=list)
    caffemodels: list[tuple[Member, bytes, object]] = field(default_factory=list)
    params: list[tuple[Member, bytes, Sniffed]] = field(default_factory=list)
    tfjs: list[tuple[Member, bytes, Sniffed]] = field(default_factory=list)
    paddle: list[tuple[Member, bytes, Sniffed]] = field(default_factory=list)
    saved: list[tuple[Member, bytes, Sniffed]] = field(default_factory=list)
    unknowns: list[_Unknown] = field(default_factory=list)
    rows: list[ModelEntry] = field(default_factory=list)
    runtimes: dict[str, set[str]] = field(default_factory=dict)
    manifests: list[tuple[str, Manifest]] = field(default_factory=list)
    xapk: Manifest | None = None
    splits: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    siblings: set[str] = field(default_factory=set)
    """Paths of files beside a bare model file, read only to pair it (never reported)."""
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Archives stay open until pairing is done: weight blobs are read late."""

    def close(self) -> None:
        """Close every archive opened during the walk."""
        for close in reversed(self.closers):
            close()
        self.closers.clear()

    # -- rows -----------------------------------------------------------------------------

    def unreadable(self, member: Member, reason: str, fmt: ModelFormat = ModelFormat.UNKNOWN,
                   subformat: str = "", evidence: str = "") -> None:
        """Record an entry that may hold a model but could not be read."""
        self.rows.append(ModelEntry(entry=member.path, format=fmt, subformat=subformat,
                                    sha256="", size=member.size, status=Status.UNREADABLE,
                                    reason=reason, evidence=evidence))

    def found(self, member: Member, data: bytes, sniffed: Sniffed, info: ModelInfo | None,
              companions: dict[str, bytes] | None = None, reason: str = "",
              digest: str = "") -> None:
        """Record a recognised model (``digest``: its sha256, when already known)."""
        notes = [n for n in (member.note, reason) if n]
        entry = ModelEntry(
            entry=member.path, format=sniffed.format, subformat=sniffed.subformat,
            sha256=digest or _sha(data), size=len(data), status=Status.OK, reason="; ".join(notes),
            evidence=sniffed.evidence, info=info, companions=tuple(companions or ()),
        )
        self.models.append(FoundModel(entry=entry, data=data, companions=companions or {}))

    # -- walking --------------------------------------------------------------------------

    def walk(self, archive: Archive, depth: int) -> None:
        """Visit every member of an opened archive."""
        self.problems.extend(f"{p}" for p in archive.problems)
        arsc = next((m for m in archive.members if m.name == "resources.arsc"), None)
        for member in archive.members:
            if member.name == "AndroidManifest.xml":
                self._manifest(member, arsc)
                continue
            if member.name.endswith("manifest/AndroidManifest.xml") and depth == 0:
                self._bundle_manifest(member)
                continue
            if member.name == "manifest.json" and depth == 0:
                try:
                    self.xapk = parse_xapk_manifest(read_all(member, self.budget))
                except ExtractError as e:
                    self.problems.append(str(e))
                continue
            self.visit(member, depth)

    def _manifest(self, member: Member, arsc: Member | None) -> None:
        try:
            axml = read_all(member, self.budget)
        except ExtractError as e:
            self.problems.append(f"{member.path}: {e}")
            return

        def arsc_bytes() -> bytes | None:
            if arsc is None:
                return None
            try:
                return read_all(arsc, self.budget)
            except ExtractError:
                return None

        prefix = member.path[: -len("AndroidManifest.xml")]
        self.manifests.append((prefix, parse_manifest(axml, arsc_bytes)))

    def _bundle_manifest(self, member: Member) -> None:
        """``base/manifest/AndroidManifest.xml`` of an app bundle (protobuf XML)."""
        try:
            data = read_all(member, self.budget)
        except ExtractError as e:
            self.problems.append(str(e))
            return
        prefix = member.path[: -len("manifest/AndroidManifest.xml")]
        if data[:4] == b"\x03\x00\x08\x00":
            self.manifests.append((prefix, parse_manifest(data, lambda: None)))
        else:
            self.manifests.append((prefix, parse_proto_manifest(data)))

    def visit(self, member: Member, depth: int) -> None:
        """Classify one member; never raises for a problem with the member itself."""
        try:
            self._visit(member, depth)
        except LimitExceeded as e:
            self.unreadable(member, str(e))
        except ExtractError as e:
            if model_like(member.path):
                self.unreadable(member, str(e))
            else:
                self.problems.append(str(e))
        except Exception as e:  # noqa: BLE001 - hostile input must not end the scan
            self.unreadable(member, f"internal error while reading: {type(e).__name__}: {e}")

    def _visit(self, member: Member, depth: int) -> None:
        runtime = runtime_of(member.name)
        if runtime is not None:
            self.runtimes.setdefault(runtime, set()).add(member.path)
        if member.size == 0:
            return
        head = read_head(member, SNIFF_PREVIEW, self.budget)
        if member.encrypted:
            if signatures.not_a_model(head) or formats.sniff(head, member.name, member.size):
                member = replace(member, note="entry flagged encrypted but stored in the clear "
                                              "(anti-analysis trick)")
            else:
                self.unreadable(member, "encrypted zip entry: content cannot be inspected")
                return
        junk = signatures.not_a_model(head)
        if junk == signatures.JSON_TEXT:
            # JSON is not a model, except a TensorFlow.js model.json
            if member.size > len(head):
                head = read_head(member, HEAD_BYTES, self.budget)
            sniffed = tfjs.match(head, member.name, member.size)
            if sniffed is not None:
                self._model(member, read_all(member, self.budget), sniffed)
            return
        if junk:
            return
        enc = signatures.encrypted_signature(head)
        if enc:
            data = read_all(member, self.budget)
            self.rows.append(ModelEntry(
                entry=member.path, format=ModelFormat.UNKNOWN, subformat="", sha256=_sha(data),
                size=len(data), status=Status.SUSPECTED_ENCRYPTED, reason=f"{enc} signature",
                evidence=f"starts with {enc}"))
            return
        if signatures.is_zip(head):
            self._nested_zip(member, depth)
            return
        if signatures.is_gzip(head):
            self._gzip(member, depth)
            return
        if signatures.is_tar(head):
            self._tar(read_all(member, self.budget), member.path, depth)
            return
        if member.size > len(head):
            head = read_head(member, HEAD_BYTES, self.budget)
        sniffed = formats.sniff(head, member.name, member.size)
        if sniffed is None:
            if not signatures.looks_like_text(head):
                self.unknowns.append(_Unknown(member, head))
            return
        data = read_all(member, self.budget)
        self._model(member, data, sniffed)

    def _model(self, member: Member, data: bytes, sniffed: Sniffed) -> None:
        if sniffed.format is ModelFormat.CAFFE:
            try:
                net = caffe.parse(data, sniffed.subformat)
            except ExtractError as e:
                self.unreadable(member, str(e), sniffed.format, sniffed.subformat, sniffed.evidence)
                return
            target = self.protos if sniffed.subformat == "prototxt" else self.caffemodels
            target.append((member, data, net))
            return
        if sniffed.format is ModelFormat.NCNN:
            self.params.append((member, data, sniffed))
            return
        if sniffed.format is ModelFormat.TFJS:
            self.tfjs.append((member, data, sniffed))
            return
        if sniffed.format is ModelFormat.PADDLE:
            self.paddle.append((member, data, sniffed))
            return
        if sniffed.format is ModelFormat.TF_SAVED_MODEL:
            self.saved.append((member, data, sniffed))
            return
        digest = _sha(data)
        try:
            info = _describe_once(sniffed, data, digest)
        except ExtractError as e:
            self.unreadable(member, str(e), sniffed.format, sniffed.subformat, sniffed.evidence)
            return
        self.found(member, data, sniffed, info, digest=digest)

    def _nested_zip(self, member: Member, depth: int) -> None:
        if depth + 1 > self.budget.limits.max_depth:
            self.unreadable(member, f"archive nested deeper than {self.budget.limits.max_depth} "
                                    "levels: not opened")
            return
        data = read_all(member, self.budget)
        try:
            sub = open_zip(data, member.path + "!/", self.budget)
        except ExtractError as e:
            raise ExtractError(f"{member.path}: {e}") from e
        self.closers.append(sub.closer)
        names = [m.name for m in sub.members]
        container = formats.sniff_container(names)
        if container is not None:
            info = pytorch.describe_container(names) if container.format is ModelFormat.PYTORCH else None
            self.found(member, data, container, info)
            return
        if "AndroidManifest.xml" in names:
            self.splits.append(member.path)
        self.walk(sub, depth + 1)

    def _gzip(self, member: Member, depth: int) -> None:
        inner = gunzip(read_all(member, self.budget), member.path, self.budget)
        if signatures.is_tar(inner):
            self._tar(inner, member.path, depth)
            return
        name = member.name[:-3] if member.name.lower().endswith(".gz") else member.name + "~"
        pseudo = Member(path=member.path + "!/" + name.rsplit("/", 1)[-1], name=name,
                        size=len(inner), compressed_size=len(inner),
                        opener=lambda: io.BytesIO(inner))
        if depth + 1 > self.budget.limits.max_depth:
            self.unreadable(member, "gzip nested too deep: not opened")
            return
        self.visit(pseudo, depth + 1)

    def _tar(self, data: bytes, path: str, depth: int) -> None:
        if depth + 1 > self.budget.limits.max_depth:
            raise LimitExceeded(f"{path}: tar archive nested too deep: not opened")
        for m in tar_members(data, path + "!/", self.budget):
            self.visit(m, depth + 1)

    # -- after the walk -------------------------------------------------------------------

    def pair_caffe(self) -> None:
        """Pair definitions with weights by layer names and types, never by file names."""
        scores = []
        for pi, (_, _, pnet) in enumerate(self.protos):
            for mi, (_, _, mnet) in enumerate(self.caffemodels):
                s = caffe.pair_score(pnet, mnet)
                if s is not None:
                    scores.append((s, pi, mi))
        used_p: set[int] = set()
        used_m: set[int] = set()
        pairs: dict[int, int] = {}
        for s, pi, mi in sorted(scores, key=lambda t: (-t[0], t[1], t[2])):
            if pi not in used_p and mi not in used_m:
                pairs[mi] = pi
                used_p.add(pi)
                used_m.add(mi)
        for mi, (member, data, _) in enumerate(self.caffemodels):
            if member.path in self.siblings and (
                    mi not in pairs or self.protos[pairs[mi]][0].path in self.siblings):
                continue  # neither half is the input itself
            if mi in pairs:
                pm, pdata, _ = self.protos[pairs[mi]]
                info = _caffe_info(pdata, data)
                sn = Sniffed(ModelFormat.CAFFE, "caffemodel+prototxt",
                             f"NetParameter weights; definition {pm.path} matched by layer names")
                self.found(member, data, sn, info, {pm.path: pdata})
            else:
                info = _safe_describe(lambda d=data: caffe.describe(d, "caffemodel"))
                sn = Sniffed(ModelFormat.CAFFE, "caffemodel", "protobuf NetParameter with layers")
                self.found(member, data, sn, info, reason="no matching prototxt in the app")
        for pi, (member, data, _) in enumerate(self.protos):
            if pi not in used_p and member.path not in self.siblings:
                info = _safe_describe(lambda d=data: caffe.describe(d, "prototxt"))
                sn = Sniffed(ModelFormat.CAFFE, "prototxt", "text NetParameter with layer blocks")
                self.found(member, data, sn, info, reason="definition only: no matching weights")

    def attach(self, sniffed: Sniffed, pick: int | None, taken: set[int], what: str, how: str,
               missing: str) -> tuple[Sniffed, dict[str, bytes], str]:
        """Read the unknown member ``pick`` (chosen as ``what``, e.g. "weights", because
        ``how``) as a model's companion and mark it taken. Returns the sniffed record with the
        evidence extended, the companions, and the reason a row gives when there is none."""
        if pick is None:
            return sniffed, {}, missing
        taken.add(pick)
        w = self.unknowns[pick].member
        try:
            data = read_all(w, self.budget)
        except ExtractError as e:
            return sniffed, {}, f"{what} {w.path} unreadable: {e}"
        evidence = f"{sniffed.evidence}; {what} {w.path}" + (f": {how}" if how else "")
        return replace(sniffed, evidence=evidence), {w.path: data}, ""

    def pair_ncnn(self) -> None:
        """Attach each param file's weight blob: exact expected size first, then name."""
        taken: set[int] = set()
        for member, data, sniffed in self.params:
            info: ModelInfo | None
            try:
                info = ncnn.describe(data, sniffed.subformat)
            except ExtractError as e:
                self.unreadable(member, str(e), sniffed.format, sniffed.subformat, sniffed.evidence)
                continue
            expected = None
            if sniffed.subformat == "param":
                try:
                    expected = ncnn.expected_weight_bytes(ncnn.parse_param(data.decode("utf-8")))
                except (ExtractError, UnicodeDecodeError):
                    expected = None
            stem = member.path.rsplit(".param", 1)[0]
            pick, how = None, ""
            for i, u in enumerate(self.unknowns):
                if i not in taken and expected and u.member.size == expected:
                    pick, how = i, f"size {expected} bytes equals what the param loads"
                    break
            if pick is None:
                for i, u in enumerate(self.unknowns):
                    if (i not in taken and u.member.path.rsplit(".", 1)[0] == stem
                            and ncnn.weights_plausible(u.head)):
                        pick, how = i, "same name and a weight storage tag"
                        break
            sniffed, companions, reason = self.attach(
                sniffed, pick, taken, "weights", how, "no weight blob found for this param")
            self.found(member, data, sniffed, info, companions, reason)
        self.unknowns = [u for i, u in enumerate(self.unknowns) if i not in taken]

    def pair_paddle(self) -> None:
        """Attach each Paddle program's parameters file: the same stem with ``.pdiparams`` or
        ``.params``, else ``__params__`` / ``params`` in the same folder (how Paddle saves
        combined inference models)."""
        taken: set[int] = set()
        for member, data, sniffed in self.paddle:
            stem = member.path.rsplit(".", 1)[0] if "." in member.name else member.path
            folder = member.path.rsplit("/", 1)[0] + "/" if "/" in member.path else ""
            wanted = [stem + ".pdiparams", stem + ".params", folder + "__params__",
                      folder + "params"]
            pick = next((i for w in wanted for i, u in enumerate(self.unknowns)
                         if i not in taken and u.member.path == w), None)
            sniffed, companions, reason = self.attach(
                sniffed, pick, taken, "parameters", "", "no parameters file found for this program")
            info = _safe_describe(lambda: formats.describe(sniffed, data))
            self.found(member, data, sniffed, info, companions, reason)
        self.unknowns = [u for i, u in enumerate(self.unknowns) if i not in taken]

    def pair(self) -> None:
        """Group companions with their models (Caffe, ncnn, tfjs, SavedModel, Paddle), then flag
        suspects."""
        self.pair_caffe()
        self.pair_ncnn()
        attach_named(self, self.tfjs, "weight shards", lambda e, d, _: tfjs.shard_paths(e, d),
                     lambda d, _: tfjs.describe(d))
        attach_named(self, self.saved, "variables",
                     lambda e, _, have: savedmodel.companion_paths(e, have), savedmodel.describe)
        self.pair_paddle()
        self.flag_suspects()

    def flag_suspects(self) -> None:
        """High-entropy blobs with no signature, where models live: suspected encrypted."""
        for u in self.unknowns:
            if u.member.size < 1024 or not model_like(u.member.path) or u.member.path in self.siblings:
                continue
            try:
                head = u.head if len(u.head) >= min(u.member.size, HEAD_BYTES) else \
                    read_head(u.member, HEAD_BYTES, self.budget)
            except ExtractError:
                continue
            ent = signatures.entropy(head)
            if ent < ENTROPY_THRESHOLD:
                continue
            try:
                data = read_all(u.member, self.budget)
            except ExtractError as e:
                self.unreadable(u.member, str(e))
                continue
            self.rows.append(ModelEntry(
                entry=u.member.path, format=ModelFormat.UNKNOWN, subformat="",
                sha256=_sha(data), size=len(data), status=Status.SUSPECTED_ENCRYPTED,
                reason="no known model signature, high entropy",
                evidence=f"entropy {ent:.2f} bits/byte over the first {len(head)} bytes; "
                         f"located/named like a model; starts {signatures.hex_edges(head[:16], 8)}"))


def _safe_describe(fn: Callable[[], ModelInfo]) -> ModelInfo | None:
    try:
        return fn()
    except ExtractError:
        return None


def _caffe_info(proto: bytes, weights: bytes) -> ModelInfo | None:
    """The definition's inputs/outputs with the weights' parameter count."""
    pinfo = _safe_describe(lambda: caffe.describe(proto, "prototxt"))
    winfo = _safe_describe(lambda: caffe.describe(weights, "caffemodel"))
    if pinfo is None:
        return winfo
    return replace(pinfo, param_count=winfo.param_count if winfo else None,
                   weight_dtypes=winfo.weight_dtypes if winfo else (), notes=())


def _kind(path: str, head: bytes) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in ARCHIVE_KINDS:
        return ARCHIVE_KINDS[ext]
    return "zip" if signatures.is_zip(head) else "file"


def is_archive_input(path: str) -> bool:
    """Whether a file is an input of its own: an archive by extension, or a zip without one."""
    ext = os.path.splitext(path)[1].lower()
    if ext in ARCHIVE_KINDS:
        return True
    if ext:
        return False
    try:
        with open(path, "rb") as f:
            return signatures.is_zip(f.read(4))
    except OSError:
        return False


def folder_files(folder: str) -> list[str]:
    """Names of the files a folder input holds: regular files directly in it, sorted,
    archives excepted (each archive is an input of its own)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [n for n in names
            if os.path.isfile(os.path.join(folder, n)) and not os.path.islink(os.path.join(folder, n))
            and not is_archive_input(os.path.join(folder, n))]


def is_model_file(path: str) -> bool:
    """Whether a bare file's first bytes are a recognised model (never raises)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        junk = signatures.not_a_model(head)
        if junk and junk != signatures.JSON_TEXT:
            return False
        if signatures.is_zip(head):  # a PyTorch or Keras v3 archive, by its member names
            import zipfile

            with zipfile.ZipFile(path) as zf:
                return formats.sniff_container(zf.namelist()[:10_000]) is not None
        return formats.sniff(head, os.path.basename(path), size) is not None
    except (OSError, ExtractError, zipfile_errors()):
        return False


def zipfile_errors() -> tuple[type[BaseException], ...]:
    """What reading a hostile zip's central directory may raise."""
    import zipfile
    import zlib

    return (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, ValueError, EOFError)


def holds_models(folder: str) -> bool:
    """Whether a folder directly holds bare model files (then it is scanned as one input,
    its files grouped as an app's assets are: ncnn and Caffe pairs, tfjs shards)."""
    return any(is_model_file(os.path.join(folder, n)) for n in folder_files(folder))


def _extract_folder(path: str, limits: Limits, sha256: str | None) -> Extraction:
    """A folder of bare model files, read like an unpacked app's assets folder."""
    names = folder_files(path)
    if savedmodel.FILE_NAME in names:  # a SavedModel folder: its variables/ come with it
        sub = os.path.join(path, "variables")
        names += [f"variables/{n}" for n in folder_files(sub)] if os.path.isdir(sub) else []
    try:
        digest = sha256 or sha256_file(path)
        size = sum(os.path.getsize(os.path.join(path, n)) for n in names)
    except OSError as e:
        return Extraction(app=AppInfo(path=path, sha256="", size=0),
                          error=f"{path}: cannot read folder ({e.strerror or e})")
    base = AppInfo(path=path, sha256=digest, size=size, kind="folder")
    walk = _Walk(Budget(limits))
    try:
        for name in names[: limits.max_entries]:
            full = os.path.join(path, name)
            n = os.path.getsize(full)
            walk.visit(Member(path=name, name=name, size=n, compressed_size=n,
                              opener=lambda full=full: open(full, "rb")), 0)
        if len(names) > limits.max_entries:
            walk.problems.append(f"{path}: more than {limits.max_entries} files; the rest "
                                 "were not read")
        walk.pair()
    finally:
        walk.close()
    return Extraction(
        app=_app_info(base, walk),
        models=tuple(sorted(walk.models, key=lambda m: m.entry.entry)),
        others=tuple(sorted(walk.rows, key=lambda r: r.entry)),
    )


def extract(path: str, limits: Limits | None = None, sha256: str | None = None) -> Extraction:
    """Read one input and return its metadata and models; never raises for bad input.

    ``sha256`` may be passed when the caller already hashed the file. A folder is read as
    one input holding its files (see :func:`holds_models`).
    """
    limits = limits or Limits()
    if os.path.isdir(path):
        return _extract_folder(path, limits, sha256)
    blob: bytes | None = None  # the whole file, read once, when it is small enough
    try:
        size = os.path.getsize(path)
        if size <= DIRECT_MAX_BYTES:
            with open(path, "rb") as f:
                blob = f.read()
            head = blob[:SNIFF_PREVIEW]
            digest = sha256 or hashlib.sha256(blob).hexdigest()
        else:
            digest = sha256 or sha256_file(path)
            with open(path, "rb") as f:
                head = f.read(SNIFF_PREVIEW)
    except OSError as e:
        return Extraction(app=AppInfo(path=path, sha256="", size=0),
                          error=f"{path}: cannot read file ({e.strerror or e})")
    kind = _kind(path, head)
    base = AppInfo(path=path, sha256=digest, size=size, kind=kind)
    walk = _Walk(Budget(limits))
    if kind != "file":
        if not signatures.is_zip(head):
            what = signatures.not_a_model(head) or (
                "text" if signatures.looks_like_text(head) else
                f"starts with {head[:8].hex()}" if head else "empty file")
            return Extraction(app=base, error=f"{path}: not a zip archive ({what}); "
                                              f"size {size} bytes")
        try:
            archive = open_zip(blob if blob is not None and len(blob) == size else path, "",
                               walk.budget)
        except ExtractError as e:
            return Extraction(app=base, error=f"{path}: {e}")
        walk.closers.append(archive.closer)
    try:
        if kind != "file":
            walk.walk(archive, 0)
            if kind == "zip" and any(p == "" for p, _ in walk.manifests):
                kind = "apk"
        else:
            member = Member(path=os.path.basename(path), name=os.path.basename(path), size=size,
                            compressed_size=size, opener=lambda: open(path, "rb"))
            walk.visit(member, 0)
            if walk.params or walk.protos or walk.caffemodels or walk.tfjs or walk.paddle \
                    or walk.saved:
                _visit_siblings(walk, path)
        walk.pair()
    finally:
        walk.close()
    return Extraction(
        app=_app_info(replace(base, kind=kind), walk),
        models=tuple(sorted(walk.models, key=lambda m: m.entry.entry)),
        others=tuple(sorted(walk.rows, key=lambda r: r.entry)),
    )


#: at most this many files beside a bare model file are read to find its companion
MAX_SIBLINGS = 64


def _visit_siblings(walk: _Walk, path: str) -> None:
    """A bare ncnn param or Caffe file: its weights / definition may lie beside it."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    own = os.path.basename(path)
    count = 0
    for name in names:
        full = os.path.join(folder, name)
        if name == own or not os.path.isfile(full) or count >= MAX_SIBLINGS:
            continue
        count += 1
        size = os.path.getsize(full)
        if size > walk.budget.limits.max_entry_bytes:
            continue
        sibling = Member(path=name, name=name, size=size, compressed_size=size,
                         opener=lambda full=full: open(full, "rb"))
        walk.siblings.add(name)
        before = len(walk.models), len(walk.rows)
        walk.visit(sibling, 0)
        # a sibling that is a model of its own is not part of this input
        del walk.models[before[0]:]
        del walk.rows[before[1]:]
        walk.params = [p for p in walk.params if p[0].path not in walk.siblings]
        walk.tfjs = [p for p in walk.tfjs if p[0].path not in walk.siblings]
        walk.paddle = [p for p in walk.paddle if p[0].path not in walk.siblings]


def _app_info(base: AppInfo, walk: _Walk) -> AppInfo:
    problems = list(walk.problems)
    manifest = next((m for p, m in walk.manifests if p == ""), None)
    if manifest is None:
        bases = [m for _, m in walk.manifests if not m.split]
        manifest = bases[0] if bases else (walk.manifests[0][1] if walk.manifests else None)
    if manifest is None and walk.xapk is not None:
        manifest = walk.xapk
    elif manifest is not None and walk.xapk is not None:
        manifest = Manifest(
            package=manifest.package or walk.xapk.package,
            version_name=manifest.version_name or walk.xapk.version_name,
            version_code=manifest.version_code or walk.xapk.version_code,
            label=manifest.label if manifest.label and not manifest.label.startswith("@")
            else walk.xapk.label or manifest.label,
            min_sdk=manifest.min_sdk or walk.xapk.min_sdk,
            target_sdk=manifest.target_sdk or walk.xapk.target_sdk,
            problems=manifest.problems,
        )
    for _, m in walk.manifests:
        problems.extend(m.problems)
    if manifest is None and base.kind in ("apk", "xapk", "apks", "apkm"):
        problems.append("no AndroidManifest.xml: app metadata unknown")
    runtimes = tuple(sorted(walk.runtimes))
    evidence = tuple(sorted({e for es in walk.runtimes.values() for e in es}))
    m = manifest or Manifest()
    return replace(base, package=m.package, version_name=m.version_name,
                   version_code=m.version_code, label=m.label, min_sdk=m.min_sdk,
                   target_sdk=m.target_sdk, runtimes=runtimes, runtime_evidence=evidence,
                   splits=tuple(walk.splits), problems=tuple(dict.fromkeys(problems)))
