"""The reference zoo: known models, their runnable forms and their stored profiles.

A zoo is a folder::

    zoo.sqlite              index: references, probe sets, weight-tensor keys; schema version
    refs/<name>/model.*     the reference as published (plus companions: a Caffe prototxt)
    refs/<name>/model.onnx  its runnable ONNX form, when it has one
    refs/<name>/profile.json  its ModelDiff profile (DDV) on its probe set
    refs/<name>/behaviour.npz  its outputs on the probe set's behaviour inputs (seeds, twins, CutMix)
    refs/<name>/owner.npz   owner evidence, when its owner brought data (:mod:`modelhound.corpus.owner`)
    probes/<id>.npz         ModelDiff input pairs, shared by references with the same input

A zoo built once is used without torch: matching replays the stored pairs (two forward
passes per probe set) and compares stored DDVs and weights.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from modelhound import __version__
from modelhound.errors import CorpusError
from modelhound.records import FoundModel, ModelFormat
from modelhound.store import READ_DAMAGE, damage

ZOO_SCHEMA_VERSION = 2
"""2: references carry behaviour probes (refs/<name>/behaviour.npz); 1 had DDV profiles only."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_sha ON refs(sha256);
CREATE TABLE IF NOT EXISTS tensor_keys (
    name TEXT NOT NULL REFERENCES refs(name) ON DELETE CASCADE,
    key TEXT NOT NULL,
    numel INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tensor_keys_key ON tensor_keys(key);
CREATE TABLE IF NOT EXISTS probes (
    probe_id TEXT PRIMARY KEY,
    spec_key TEXT NOT NULL,
    generated_on TEXT NOT NULL,
    file TEXT NOT NULL
);
"""

_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Reference:
    """One known model in the zoo."""

    name: str
    format: str
    subformat: str
    sha256: str
    size: int
    source: str = ""
    license: str = ""
    task: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    runnable: bool = False
    runtime: str = ""
    conversion_rel_error: float | None = None
    not_runnable_reason: str = ""
    probe_id: str = ""
    """The probe set its profile was computed on ('' when it has no profile)."""
    seeds: str = ""
    profile_note: str = ""
    files: tuple[str, ...] = ()
    """Original files, relative to the zoo folder (model first, then companions)."""
    onnx_file: str = ""
    added: str = ""
    params: int | None = None
    owner_evidence: str = ""
    """Summary of the stored owner evidence ('' without; :mod:`modelhound.corpus.owner`)."""
    hashes: tuple[tuple[str, str], ...] = ()
    """(file relative to the zoo, sha256) of every file the reference was stored with; a
    file deleted or altered since makes :meth:`Zoo.verify` refuse the reference."""

    def to_json(self) -> str:
        """Serialised record for the index."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Reference":
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        for k in ("inputs", "outputs", "files"):
            d[k] = tuple(d.get(k, ()))
        d["hashes"] = tuple((str(f), str(h)) for f, h in d.get("hashes", ()))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


def safe_ref_name(name: str) -> str:
    """A reference name usable as a folder name."""
    return _NAME.sub("_", name).strip("._-")[:80] or "model"


@dataclass
class Zoo:
    """An opened zoo folder."""

    path: Path
    _db: sqlite3.Connection = field(repr=False, default=None)  # type: ignore[assignment]

    @classmethod
    def open(cls, path: str | os.PathLike[str], create: bool = False) -> "Zoo":
        """Open a zoo; ``create`` makes an empty one where there is none."""
        from modelhound.errors import StoreError
        from modelhound.store import inspect_database

        p = Path(path)
        index = p / "zoo.sqlite"
        try:
            version = inspect_database(
                str(index), what="zoo index",
                hint="modelhound never writes into a zoo index it did not make; give --zoo "
                     "another folder")
        except StoreError as e:
            raise CorpusError(str(e)) from e
        if version is None:
            if not create:
                raise CorpusError(f"{p}: no zoo here (create one with `modelhound zoo add`)")
            p.mkdir(parents=True, exist_ok=True)
        elif version != ZOO_SCHEMA_VERSION:
            raise CorpusError(
                f"{p}: zoo has schema version {version}, this modelhound reads version "
                f"{ZOO_SCHEMA_VERSION}; rebuild it in a new folder (`modelhound zoo add` / "
                "`zoo import-wheel`); the zoo is left as it is"
            )
        try:
            db = sqlite3.connect(index, isolation_level=None)
            db.execute("PRAGMA foreign_keys=ON")
            if version is None:
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO meta VALUES ('schema_version', ?), ('generator', ?)",
                           (str(ZOO_SCHEMA_VERSION), f"modelhound {__version__}"))
        except sqlite3.Error as e:
            raise CorpusError(f"{index}: cannot open the zoo index ({e})") from e
        return cls(p, db)

    def verify(self, ref: Reference) -> str:
        """'' when the reference's files are as they were stored, else what is wrong (a file
        deleted or altered since). References stored before hashes were kept are checked by
        their model file's sha256."""
        import hashlib

        known = dict(ref.hashes)
        if ref.files:
            known.setdefault(ref.files[0], ref.sha256)
        used = [*ref.files, *([ref.onnx_file] if ref.onnx_file else []), *known]
        # every file the reference is read from: by hash where one was kept, else it must be
        # there at least
        expected = [(rel, known.get(rel, "")) for rel in dict.fromkeys(used)]
        for rel, sha in expected:
            path = self.path / rel
            try:
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            except OSError as e:
                return f"{rel}: {e.strerror or e}"
            if sha and h.hexdigest() != sha:
                return f"{rel}: altered since it was stored (sha256 {h.hexdigest()[:12]}..., " \
                       f"stored {sha[:12]}...)"
        return ""

    def _hashes(self, ref: Reference) -> tuple[tuple[str, str], ...]:
        import hashlib

        rels = list(ref.files) + [ref.onnx_file] if ref.onnx_file else list(ref.files)
        for extra in ("profile.json", "behaviour.npz", "owner.npz", "owner-data.npz"):
            rel = f"refs/{ref.name}/{extra}"
            if (self.path / rel).exists():
                rels.append(rel)
        return tuple((rel, hashlib.sha256((self.path / rel).read_bytes()).hexdigest())
                     for rel in dict.fromkeys(rels) if (self.path / rel).exists())

    def close(self) -> None:
        """Close the index."""
        self._db.close()

    # -- reading --------------------------------------------------------------------------

    def _query(self, sql: str, *args: Any) -> list[Any]:
        """Rows of a query; a damaged index is a CorpusError naming the zoo."""
        try:
            return self._db.execute(sql, args).fetchall()
        except READ_DAMAGE as e:
            raise CorpusError(f"{self.path}: the zoo index is damaged ({damage(e)})") from e

    def _record(self, text: Any) -> Reference:
        try:
            ref = Reference.from_json(text)
            files = [*ref.files, *(f for f, _ in ref.hashes)] + ([ref.onnx_file] if ref.onnx_file else [])
            if not ref.files or not all(
                    isinstance(f, str) and f and not os.path.isabs(f) and ".." not in Path(f).parts
                    for f in files):
                raise ValueError(f"files {ref.files!r:.80} are not paths inside the zoo")
            return ref
        except (TypeError, ValueError, AttributeError) as e:
            raise CorpusError(f"{self.path}: the zoo index holds a damaged reference record "
                              f"({type(e).__name__}: {e})") from e

    def references(self) -> list[Reference]:
        """All references, by name."""
        return [self._record(r) for (r,) in self._query("SELECT record FROM refs ORDER BY name")]

    def get(self, name: str) -> Reference:
        """One reference; CorpusError when absent."""
        rows = self._query("SELECT record FROM refs WHERE name = ?", name)
        if not rows:
            raise CorpusError(f"{self.path}: no reference named {name!r}")
        return self._record(rows[0][0])

    def by_sha256(self, sha: str) -> list[Reference]:
        """References whose original file has this sha256."""
        return [self._record(r) for (r,) in
                self._query("SELECT record FROM refs WHERE sha256 = ? ORDER BY name", sha)]

    def by_tensor_keys(self, keys: Iterable[str]) -> dict[str, int]:
        """name -> how many of ``keys`` (weight-multiset hashes) each reference shares."""
        keys = list(set(keys))
        out: dict[str, int] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = ",".join("?" * len(chunk))
            for name, n in self._query(
                    f"SELECT name, count(DISTINCT key) FROM tensor_keys WHERE key IN ({q}) "
                    "GROUP BY name", *chunk):
                out[name] = out.get(name, 0) + n
        return out

    def file(self, relative: str) -> Path:
        """Absolute path of a file stored in the zoo."""
        return self.path / relative

    def probe_file(self, probe_id: str) -> Path:
        """The pairs file of a probe set."""
        rows = self._query("SELECT file FROM probes WHERE probe_id = ?", probe_id)
        row = rows[0] if rows else None
        if row is None:
            raise CorpusError(f"{self.path}: no probe set {probe_id}")
        return self.path / row[0]

    def probe_for_spec(self, spec_key: str) -> str | None:
        """An existing probe set for references with this input, if any."""
        rows = self._query("SELECT probe_id FROM probes WHERE spec_key = ? ORDER BY rowid",
                           spec_key)
        row = rows[0] if rows else None
        return row[0] if row else None

    # -- writing --------------------------------------------------------------------------

    def unique_name(self, wanted: str) -> str:
        """``wanted`` made safe and not yet taken."""
        base = safe_ref_name(wanted)
        name, i = base, 2
        while self._db.execute("SELECT 1 FROM refs WHERE name = ?", (name,)).fetchone():
            name, i = f"{base}-{i}", i + 1
        return name

    def store_files(self, name: str, found: FoundModel) -> tuple[str, ...]:
        """Write a reference's original bytes (and companions) under refs/<name>/."""
        folder = self.path / "refs" / name
        folder.mkdir(parents=True, exist_ok=True)
        ext = {ModelFormat.TFLITE: ".tflite", ModelFormat.ONNX: ".onnx",
               ModelFormat.CAFFE: ".caffemodel", ModelFormat.TF_GRAPHDEF: ".pb"}.get(
            found.entry.format, ".bin")
        files = [f"refs/{name}/model{ext}"]
        (self.path / files[0]).write_bytes(found.data)
        for i, (entry, data) in enumerate(sorted(found.companions.items())):
            suffix = ".prototxt" if found.entry.format is ModelFormat.CAFFE else ".companion"
            rel = f"refs/{name}/companion{i}{suffix}"
            (self.path / rel).write_bytes(data)
            files.append(rel)
        return tuple(files)

    def store_onnx(self, name: str, onnx: bytes) -> str:
        """Write the reference's runnable ONNX form."""
        rel = f"refs/{name}/model.onnx" if not (self.path / f"refs/{name}/model.onnx").exists() \
            else f"refs/{name}/runnable.onnx"
        (self.path / rel).write_bytes(onnx)
        return rel

    def store_probe(self, probe_id: str, spec_key: str, generated_on: str, pairs: Any) -> None:
        """Record a probe set (pairs written as probes/<id>.npz)."""
        from modelhound.fingerprint.profile import save_pairs

        rel = f"probes/{probe_id}.npz"
        (self.path / "probes").mkdir(exist_ok=True)
        save_pairs(self.path / rel, pairs)
        self._db.execute("INSERT OR REPLACE INTO probes VALUES (?,?,?,?)",
                         (probe_id, spec_key, generated_on, rel))

    def store_profile(self, name: str, profile: Any) -> None:
        """Write the reference's profile next to its files."""
        from modelhound.fingerprint.profile import save_profile

        save_profile(self.path / "refs" / name / "profile.json", profile)

    def store_behaviour(self, name: str, probes: Any) -> None:
        """Write the reference's behaviour probes (outputs on its pair set's probe inputs)."""
        from modelhound.npz import save_npz

        with open(self.path / "refs" / name / "behaviour.npz", "wb") as fh:
            save_npz(fh, **probes.to_npz())

    def insert(self, ref: Reference, tensor_keys: Iterable[tuple[str, int]] = ()) -> None:
        """Add (or replace) a reference in the index, with the hashes of its files."""
        from dataclasses import replace

        ref = replace(ref, hashes=self._hashes(ref))
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM refs WHERE name = ?", (ref.name,))
        self._db.execute("INSERT INTO refs VALUES (?,?,?)", (ref.name, ref.sha256, ref.to_json()))
        self._db.executemany("INSERT INTO tensor_keys VALUES (?,?,?)",
                             [(ref.name, k, n) for k, n in tensor_keys])
        self._db.execute("COMMIT")

    def remove(self, name: str) -> None:
        """Delete a reference and its files (probe sets it generated stay for the others)."""
        self.get(name)
        self._db.execute("DELETE FROM refs WHERE name = ?", (name,))
        shutil.rmtree(self.path / "refs" / safe_ref_name(name), ignore_errors=True)

    # -- loading for matching -------------------------------------------------------------

    def profile(self, ref: Reference) -> Any:
        """The stored profile of a reference (None when it has none)."""
        from modelhound.fingerprint.profile import load_profile

        path = self.path / "refs" / ref.name / "profile.json"
        return load_profile(path) if ref.probe_id and path.exists() else None

    def behaviour(self, ref: Reference) -> Any:
        """The reference's stored behaviour probes (None when it has none, or from an older
        layout: matching then goes on without the behavioural agreement signal)."""
        path = self.path / "refs" / ref.name / "behaviour.npz"
        if not ref.probe_id or not path.exists():
            return None
        return _load_behaviour(str(path))

    def owner(self, ref: Reference) -> Any:
        """The reference's owner evidence (None without)."""
        if not ref.owner_evidence:
            return None
        from modelhound.corpus.owner import load_evidence

        return load_evidence(self.path, ref.name)

    def pairs(self, probe_id: str) -> Any:
        """A probe set's pairs (cached per zoo)."""
        return _load_pairs(str(self.probe_file(probe_id)))

    def tensors(self, ref: Reference) -> list[Any]:
        """The reference's weight tensors, read from its original file (cached)."""
        return _load_tensors(str(self.path), ref.name, ref.format, ref.subformat, ref.files)


@lru_cache(maxsize=64)
def _load_pairs(path: str) -> Any:
    from modelhound.fingerprint.profile import load_pairs

    return load_pairs(path)


@lru_cache(maxsize=256)
def _load_behaviour(path: str) -> Any:
    import numpy as np

    from modelhound.fingerprint.detector import PairProbes

    try:
        with np.load(path, allow_pickle=False) as z:
            return PairProbes.from_npz(z, path)
    except (OSError, ValueError, KeyError):
        return None


@lru_cache(maxsize=256)
def _load_tensors(root: str, name: str, fmt: str, subformat: str, files: tuple[str, ...]) -> list[Any]:
    from modelhound.errors import ExtractError
    from modelhound.extractor.tensors import read_tensors

    try:  # verified when the zoo was opened; a file gone since means no weights, not a crash
        data = (Path(root) / files[0]).read_bytes()
        companions = {f: (Path(root) / f).read_bytes() for f in files[1:]}
        return read_tensors(ModelFormat(fmt), subformat, data, companions)
    except (ExtractError, OSError, ValueError):
        return []


def now() -> str:
    """UTC timestamp for records."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
