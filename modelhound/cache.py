"""A persistent, content-addressed cache of per-model scan results, shared between scans.

What a scan computes for a model depends only on the model's bytes, its companions (a
Caffe prototxt), the toolchain that computed it and, for behaviour, the probe set it ran
on. So those are the key, and each result is stored once:

* ``conversion``: the :class:`~modelhound.converters.interface.Conversion` (runnable
  form, runtime, fidelity to the native runtime, or why not runnable); ``native``: the
  same for a TFLite model that LiteRT runs as it is (no ONNX form built);
* ``tensors``: the model's weight tensors (what weight matching compares);
* ``probe``: the model's DDV and behaviour outputs on one probe set (keyed by the probe
  set's content id), or the runtime's error on it;
* ``signals``: the evidence about the model and one zoo reference (weights, ModelDiff,
  agreement, structure), keyed by the reference's full record;
* ``analysis``: the model's finished analysis (conversion summary, verdict, evidence
  detail) against one whole zoo, keyed by every reference's full record: a rescan against
  an unchanged zoo reads one entry per model and loads no weights, probe runs or profiles.

A rescan of an unchanged corpus therefore converts nothing, runs nothing and compares
nothing; a zoo that gains a reference costs, per model, the comparison with that reference
and, when it brings a new probe set, one run on that probe set only; a zoo that loses a
reference costs nothing.

Layout (``<root>/results-v<schema>/<kind>/<ab>/<digest>.json`` plus data files named by
their own sha256 beside it): every entry is a JSON record holding its full key, its
metadata, the sha256 of each data file and a checksum of the record. Arrays are ``.npz``
files read with ``allow_pickle=False``; nothing in the cache is ever unpickled. Writers
write data files first and the record last, each to a temporary name and then renamed
into place, so concurrent scans (``--jobs``, Ray workers on one node, two scans at once)
never see half an entry; two writers of one key write equivalent entries and either wins.
A reader trusts an entry only when its schema, kind and key equal what was asked, its
checksum holds and every data file has the recorded sha256; anything else (corrupt,
truncated, foreign, from another toolchain) is a miss: recomputed and overwritten.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

#: Version of the entry layout; entries of another version are never read.
CACHE_SCHEMA_VERSION = 1

#: Distributions whose versions change what a cached result holds (a conversion by another
#: tf2onnx, outputs from another onnxruntime). Read from package metadata, never imported.
TOOLCHAIN = ("onnx", "onnxruntime", "tf2onnx", "ai-edge-litert", "tensorflow", "tensorflow-cpu",
             "numpy")

#: Conversion failures that say nothing about the model (the worker was slow, killed or
#: not started): never cached, so a later scan tries again.
TRANSIENT = ("timed out after", "worker died", "worker pipe broken", "cannot start", "worker start")

_DATA_NAME = re.compile(r"^[0-9a-f]{64}\.(npz|bin)$")


def default_cache_dir() -> Path:
    """The result cache under modelhound's cache folder ($MODELHOUND_CACHE, XDG, ~/.cache)."""
    from modelhound.corpus.default import cache_dir

    return cache_dir() / "results"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 (16 hex digits) of modelhound's own Python sources, so that results computed
    by other code are misses even while the version number stays the same (a git checkout,
    an editable install, a fix between releases). About 240 small files, read once per
    process."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def toolchain() -> str:
    """modelhound's version and sources, and the versions of the runtimes and converters it
    uses."""
    from importlib import metadata

    from modelhound import __version__

    parts = [f"modelhound={__version__}", f"source={source_digest()}"]
    for dist in TOOLCHAIN:
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return ";".join(parts)


def model_key(sha256: str, companions: Mapping[str, bytes] | None = None) -> dict[str, Any]:
    """The identity of a model: its sha256 and its companions' names and sha256."""
    comps = sorted((name, hashlib.sha256(data).hexdigest()) for name, data in (companions or {}).items())
    return {"model": sha256, "companions": [list(c) for c in comps]}


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass
class CacheStats:
    """What a cache did during one scan (per process)."""

    hits: int = 0
    misses: int = 0
    rejected: int = 0
    """Entries found but not trusted (corrupt, truncated, foreign): recomputed."""
    writes: int = 0
    problems: list[str] = field(default_factory=list)


class ResultCache:
    """Per-model results on disk, shared by every scan that opens the same folder."""

    def __init__(self, root: str | os.PathLike[str], tool: str | None = None) -> None:
        """Open (and create) the cache folder ``root``."""
        self.root = Path(root)
        self.base = self.root / f"results-v{CACHE_SCHEMA_VERSION}"
        self.tool = tool if tool is not None else toolchain()
        self.stats = CacheStats()

    def __getstate__(self) -> dict[str, Any]:
        """Sent to worker processes without its counters."""
        return {"root": str(self.root), "tool": self.tool}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuilt in a worker process."""
        self.__init__(state["root"], state["tool"])  # type: ignore[misc]

    # -- generic entries -------------------------------------------------------------

    def _key(self, kind: str, key: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        full = {"schema": CACHE_SCHEMA_VERSION, "kind": kind, "tool": self.tool, **key}
        return full, hashlib.sha256(_canonical(full)).hexdigest()

    def _record_path(self, kind: str, digest: str) -> Path:
        return self.base / kind / digest[:2] / f"{digest}.json"

    def get(self, kind: str, key: Mapping[str, Any]
            ) -> tuple[dict[str, Any], dict[str, np.ndarray], bytes | None] | None:
        """(metadata, arrays, blob) of a trusted entry, or None (a miss or a rejected entry)."""
        full, digest = self._key(kind, key)
        path = self._record_path(kind, digest)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except OSError as exc:
            return self._reject(path, f"unreadable ({exc})")
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                return self._reject(path, "not a record")
            checksum = record.pop("checksum", None)
            if checksum != hashlib.sha256(_canonical(record)).hexdigest():
                return self._reject(path, "checksum mismatch")
            if record.get("key") != full:
                return self._reject(path, "entry of another key")
            arrays: dict[str, np.ndarray] = {}
            blob = None
            for ext, sha in (record.get("files") or {}).items():
                name = f"{sha}.{ext}"
                if not _DATA_NAME.match(name):
                    return self._reject(path, f"bad data file name {name!r}")
                data = (path.parent / name).read_bytes()
                if hashlib.sha256(data).hexdigest() != sha:
                    return self._reject(path, f"{name}: content does not match its sha256")
                if ext == "npz":
                    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                        arrays = {k: npz[k] for k in npz.files}
                else:
                    blob = data
            meta = record.get("meta")
            if not isinstance(meta, dict):
                return self._reject(path, "no metadata")
        except (OSError, ValueError, TypeError, KeyError) as exc:
            return self._reject(path, f"{type(exc).__name__}: {exc}")
        self.stats.hits += 1
        return meta, arrays, blob

    def _reject(self, path: Path, why: str) -> None:
        self.stats.rejected += 1
        self.stats.misses += 1
        self.stats.problems.append(f"{path}: {why}")
        return None

    def put(self, kind: str, key: Mapping[str, Any], meta: Mapping[str, Any],
            arrays: Mapping[str, np.ndarray] | None = None, blob: bytes | None = None) -> None:
        """Store an entry (atomically; a failure to write is recorded, never raised)."""
        full, digest = self._key(kind, key)
        path = self._record_path(kind, digest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            files: dict[str, str] = {}
            if arrays:
                buf = io.BytesIO()
                np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
                files["npz"] = self._write_data(path.parent, buf.getvalue(), "npz")
            if blob is not None:
                files["bin"] = self._write_data(path.parent, blob, "bin")
            record: dict[str, Any] = {"key": full, "meta": dict(meta), "files": files}
            record["checksum"] = hashlib.sha256(_canonical(record)).hexdigest()
            _atomic_write(path, _canonical(record))
            self.stats.writes += 1
        except (OSError, ValueError, TypeError) as exc:
            self.stats.problems.append(f"{path}: not written ({type(exc).__name__}: {exc})")

    @staticmethod
    def _write_data(folder: Path, data: bytes, ext: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = folder / f"{sha}.{ext}"
        try:
            intact = hashlib.sha256(target.read_bytes()).hexdigest() == sha
        except OSError:
            intact = False
        if not intact:  # absent, or damaged since: (re)written
            _atomic_write(target, data)
        return sha

    # -- typed entries ---------------------------------------------------------------

    def conversion(self, found: Any, kind: str = "conversion") -> Any:
        """The cached Conversion of ``found`` (a FoundModel), or None. ``kind``:
        ``conversion`` (the runnable form, ONNX when faithful) or ``native`` (TFLite as
        LiteRT runs it, no ONNX form)."""
        from modelhound.converters.interface import Conversion

        hit = self.get(kind, model_key(found.entry.sha256, found.companions))
        if hit is None:
            return None
        meta, _, blob = hit
        try:
            return Conversion(
                model_sha256=found.entry.sha256, runnable=bool(meta["runnable"]),
                runtime=str(meta["runtime"]), converter=str(meta["converter"]), onnx=blob,
                inputs=tuple(_spec(s) for s in meta["inputs"]),
                outputs=tuple(_spec(s) for s in meta["outputs"]),
                rel_error=None if meta["rel_error"] is None else float(meta["rel_error"]),
                reason=str(meta["reason"]), unsupported_ops=tuple(map(str, meta["unsupported_ops"])),
                native=found.data if meta["native"] else None,
                seconds=None if meta["seconds"] is None else float(meta["seconds"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            self.stats.hits -= 1
            self._reject(self.base / kind, f"malformed conversion ({exc})")
            return None

    def store_conversion(self, found: Any, conv: Any, kind: str = "conversion") -> None:
        """Remember a conversion (not when it failed for a reason that says nothing about
        the model: a timeout, a killed worker)."""
        if not conv.runnable and any(t in conv.reason for t in TRANSIENT):
            return
        meta = {
            "runnable": conv.runnable, "runtime": conv.runtime, "converter": conv.converter,
            "inputs": [_spec_json(s) for s in conv.inputs],
            "outputs": [_spec_json(s) for s in conv.outputs],
            "rel_error": conv.rel_error, "reason": conv.reason,
            "unsupported_ops": list(conv.unsupported_ops), "native": conv.native is not None,
            "seconds": conv.seconds,
        }
        self.put(kind, model_key(found.entry.sha256, found.companions), meta, blob=conv.onnx)

    def tensors(self, found: Any) -> list[Any] | None:
        """The cached weight tensors of ``found``, or None."""
        from modelhound.extractor.tensors import NamedTensor

        hit = self.get("tensors", model_key(found.entry.sha256, found.companions))
        if hit is None:
            return None
        meta, arrays, _ = hit
        try:
            return [NamedTensor(str(name), arrays[f"t{i}"], str(dtype))
                    for i, (name, dtype) in enumerate(meta["tensors"])]
        except (KeyError, TypeError, ValueError) as exc:
            self.stats.hits -= 1
            self._reject(self.base / "tensors", f"malformed tensors ({exc})")
            return None

    def store_tensors(self, found: Any, tensors: list[Any]) -> None:
        """Remember a model's weight tensors."""
        meta = {"tensors": [[t.name, t.stored_dtype] for t in tensors]}
        arrays = {f"t{i}": np.asarray(t.values) for i, t in enumerate(tensors)}
        self.put("tensors", model_key(found.entry.sha256, found.companions), meta, arrays)

    def probe_key(self, found: Any, probe_id: str, normalization: Any) -> dict[str, Any]:
        """Key of a model's run on one probe set (with the input normalisation it used)."""
        return {**model_key(found.entry.sha256, found.companions), "probe": probe_id,
                "normalization": repr(normalization)}

    def probe_run(self, found: Any, probe_id: str, normalization: Any
                  ) -> tuple[tuple[float, ...] | None, np.ndarray | None, str] | None:
        """(DDV, behaviour outputs, error note) of a model on a probe set, or None."""
        hit = self.get("probe", self.probe_key(found, probe_id, normalization))
        if hit is None:
            return None
        meta, arrays, _ = hit
        ddv = arrays.get("ddv")
        out = arrays.get("outputs")
        if (ddv is not None and (ddv.ndim != 1 or ddv.dtype != np.float64)) or \
                (out is not None and out.ndim != 2) or not isinstance(meta.get("note", ""), str):
            self.stats.hits -= 1
            self._reject(self.base / "probe", "malformed probe run")
            return None
        return (None if ddv is None else tuple(float(v) for v in ddv), out, meta.get("note", ""))

    def store_probe_run(self, found: Any, probe_id: str, normalization: Any,
                        ddv: tuple[float, ...] | None, outputs: np.ndarray | None, note: str) -> None:
        """Remember a model's DDV and outputs on a probe set (or the error it gave)."""
        arrays: dict[str, np.ndarray] = {}
        if ddv is not None:
            arrays["ddv"] = np.asarray(ddv, dtype=np.float64)
        if outputs is not None:
            arrays["outputs"] = np.asarray(outputs)
        self.put("probe", self.probe_key(found, probe_id, normalization), {"note": note}, arrays)


    def signals_key(self, found: Any, kind: str, ref: Any) -> dict[str, Any]:
        """Key of the evidence about a model and one zoo reference: the model, how it ran
        (``kind`` of its conversion) and the reference's full record."""
        from modelhound.corpus.zoo import ZOO_SCHEMA_VERSION

        record = hashlib.sha256(ref.to_json().encode()).hexdigest()
        return {**model_key(found.entry.sha256, found.companions), "ran": kind,
                "reference": ref.name, "record": record, "zoo_schema": ZOO_SCHEMA_VERSION}

    def signals(self, found: Any, kind: str, ref: Any) -> Any:
        """The cached :class:`~modelhound.corpus.match.Signals` of a model against one
        reference, or None."""
        from modelhound.corpus.match import Signals

        hit = self.get("signals", self.signals_key(found, kind, ref))
        if hit is None:
            return None
        meta = hit[0]
        try:
            fields = {f: meta[f] for f in Signals.__dataclass_fields__}
            if fields["reference"] != ref.name:
                raise ValueError("another reference")
            return Signals(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            self.stats.hits -= 1
            self._reject(self.base / "signals", f"malformed signals ({exc})")
            return None

    def store_signals(self, found: Any, kind: str, ref: Any, signals: Any) -> None:
        """Remember the evidence about a model and one reference."""
        meta = {f: _plain(getattr(signals, f)) for f in signals.__dataclass_fields__}
        self.put("signals", self.signals_key(found, kind, ref), meta)


    def analysis_key(self, found: Any, kind: str, refs: Any) -> dict[str, Any]:
        """Key of a model's finished analysis: the model, how it ran and the full record of
        every reference it was matched against (in the zoo's order)."""
        from modelhound.corpus.zoo import ZOO_SCHEMA_VERSION

        zoo = [[r.name, hashlib.sha256(r.to_json().encode()).hexdigest()] for r in refs]
        return {**model_key(found.entry.sha256, found.companions), "ran": kind, "zoo": zoo,
                "zoo_schema": ZOO_SCHEMA_VERSION}

    def analysis(self, found: Any, kind: str, refs: Any) -> Any:
        """The cached :class:`~modelhound.records.ModelAnalysis` of a model against these
        references, or None."""
        from modelhound.records import ModelAnalysis

        hit = self.get("analysis", self.analysis_key(found, kind, refs))
        if hit is None:
            return None
        try:
            # the blob keeps the detail's key order (the record itself is canonical JSON)
            fields = json.loads(hit[2] or b"")
            if not isinstance(fields, dict) or set(fields) != set(ModelAnalysis.__dataclass_fields__):
                raise ValueError("fields differ from this version's ModelAnalysis")
            return ModelAnalysis(**fields)
        except (TypeError, ValueError) as exc:
            self.stats.hits -= 1
            self._reject(self.base / "analysis", f"malformed analysis ({exc})")
            return None

    def store_analysis(self, found: Any, kind: str, refs: Any, analysis: Any) -> None:
        """Remember a model's finished analysis against these references."""
        from dataclasses import asdict

        try:
            blob = json.dumps(asdict(analysis), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:  # a value JSON cannot hold: not cached
            self.stats.problems.append(f"analysis of {found.entry.sha256}: not cached ({exc})")
            return
        self.put("analysis", self.analysis_key(found, kind, refs), {}, blob=blob)


def _plain(v: Any) -> Any:
    """JSON-ready scalar (numpy floats and bools become Python ones)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return v


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _spec_json(spec: Any) -> dict[str, Any]:
    q = spec.quantization
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype, "layout": spec.layout,
            "quantization": None if q is None else
            {"scale": list(q.scale), "zero_point": list(q.zero_point), "axis": q.axis}}


def _spec(d: Mapping[str, Any]) -> Any:
    from modelhound.records import Quantization, TensorSpec

    q = d["quantization"]
    return TensorSpec(
        name=str(d["name"]), shape=tuple(int(v) for v in d["shape"]), dtype=str(d["dtype"]),
        quantization=None if q is None else Quantization(
            tuple(float(v) for v in q["scale"]), tuple(int(v) for v in q["zero_point"]), int(q["axis"])),
        layout=None if d["layout"] is None else str(d["layout"]),
    )
