"""``zoo add --owner-data PATH``: read the owner's data and store owner evidence with a reference.

Accepted data (samples are images, or arrays where the model's input is not an image):

* a folder of ``<label>/<sample>`` subfolders, as torchvision's ImageFolder lays them out;
  the label of a subfolder is its name when every name is an integer (``0``..``9``), else
  its index among the sorted names (ImageFolder's own rule);
* a flat folder of samples without labels;
* an ``.npz`` file with ``x`` (N samples) and optional ``y`` (N integer labels).

Images (png, jpg, bmp, webp) are read as RGB and resized to the model's input; ``.npy``
samples and ``.npz`` arrays are used as they are (uint8 images are scaled to [0, 1]);
``.wav`` samples (PCM) become float arrays in [-1, 1], cut or zero-padded to the input size.

The evidence (:mod:`modelhound.fingerprint.owner`) is stored as ``refs/<name>/owner.npz``:
the conferrable probes derived from the owner's samples (at most a few hundred, most of
them perturbed), the reference's labels on them and the calibration null. The owner's
data itself is stored only with ``keep`` (``--keep-owner-data``), as ``owner-data.npz``.
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from modelhound.errors import CorpusError
from modelhound.npz import save_npz

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SAMPLE_SUFFIXES = IMAGE_SUFFIXES + (".npy", ".wav")
OWNER_FILE = "owner.npz"
NO_OWNER_NOTE = ("theft through outputs (distillation, stealing) is only detectable with owner "
                 "evidence (`zoo add --owner-data`)")


@dataclass(frozen=True)
class OwnerData:
    """The owner's samples in the model's canonical input space."""

    x: np.ndarray
    y: np.ndarray | None
    is_image: bool
    source: str


def load_owner_data(path: str | os.PathLike[str], spec: Any) -> OwnerData:
    """Read owner data for a model whose (single) input is ``spec``; CorpusError names the
    input and what is wrong."""
    from modelhound.fingerprint.inputs import InputAdapter

    p = Path(path)
    geo = InputAdapter(spec).geometry
    if not p.exists():
        raise CorpusError(f"{p}: owner data not found")
    if p.is_file():
        if p.suffix.lower() != ".npz":
            raise CorpusError(f"{p}: owner data must be a folder or an .npz file with x (and y)")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z:
                    raise CorpusError(f"{p}: no array 'x' in the .npz (found {', '.join(z.files) or 'nothing'})")
                x = np.asarray(z["x"])
                y = np.asarray(z["y"]) if "y" in z else None
        except (OSError, ValueError) as e:
            raise CorpusError(f"{p}: not a readable .npz ({e})") from e
        samples = list(x)
        labels = None if y is None else [int(v) for v in np.asarray(y).reshape(-1)]
        if labels is not None and len(labels) != len(samples):
            raise CorpusError(f"{p}: {len(samples)} samples in x but {len(labels)} labels in y")
    else:
        samples, labels = _read_folder(p)
    if not samples:
        raise CorpusError(f"{p}: no samples ({', '.join(SAMPLE_SUFFIXES)})")
    if geo is not None:
        x = np.stack([_image(s, geo[1], geo[2], geo[3], p) for s in samples])
    else:
        shape = tuple(int(d) for d in spec.shape[1:])
        x = np.stack([_array(s, shape, p) for s in samples])
    y_arr = None if labels is None else np.asarray(labels, dtype=np.int64)
    return OwnerData(x.astype(np.float32), y_arr, geo is not None, str(p))


def _read_folder(p: Path) -> tuple[list[Any], list[int] | None]:
    subdirs = sorted(d for d in p.iterdir() if d.is_dir())
    if subdirs:
        names = [d.name for d in subdirs]
        ints = all(n.lstrip("-").isdigit() for n in names)
        samples, labels = [], []
        for i, d in enumerate(subdirs):
            for f in sorted(d.iterdir()):
                s = _read_sample(f)
                if s is not None:
                    samples.append(s)
                    labels.append(int(d.name) if ints else i)
        return samples, labels
    return [s for f in sorted(p.iterdir()) if (s := _read_sample(f)) is not None], None


def _read_sample(f: Path) -> Any:
    low = f.name.lower()
    if not f.is_file() or not low.endswith(SAMPLE_SUFFIXES):
        return None
    try:
        if low.endswith(IMAGE_SUFFIXES):
            import cv2

            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise CorpusError(f"{f}: not a readable image")
            return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if low.endswith(".npy"):
            return np.load(f, allow_pickle=False)
        with wave.open(str(f), "rb") as w:
            width, ch = w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
        if width != 2:
            raise CorpusError(f"{f}: only 16-bit PCM .wav is read ({8 * width}-bit found)")
        a = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return a.reshape(-1, ch).mean(axis=1)
    except (OSError, ValueError, EOFError, wave.Error) as e:
        raise CorpusError(f"{f}: not a readable sample ({e})") from e


def _image(s: Any, h: int, w: int, c: int, where: Path) -> np.ndarray:
    import cv2

    a = np.asarray(s)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise CorpusError(f"{where}: an image sample has shape {a.shape}; expected H x W (x C)")
    if a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):  # CHW
        a = np.moveaxis(a, 0, -1)
    a = a.astype(np.float32)
    if a.max() > 1.0 + 1e-6:
        a = a / 255.0
    h, w = (h if h > 0 else a.shape[0]), (w if w > 0 else a.shape[1])
    if a.shape[:2] != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
        a = a[..., None] if a.ndim == 2 else a
    if a.shape[-1] != c:
        a = a.mean(axis=-1, keepdims=True) if c == 1 else np.repeat(a[..., :1], c, axis=-1) \
            if a.shape[-1] == 1 else a[..., :c]
    return np.clip(a, 0.0, 1.0)


def _array(s: Any, shape: tuple[int, ...], where: Path) -> np.ndarray:
    a = np.asarray(s, dtype=np.float32)
    size = int(np.prod([d if d > 0 else 1 for d in shape]))
    if a.size == size:
        return a.reshape([d if d > 0 else 1 for d in shape])
    if a.ndim == 1 and len(shape) in (1, 2):  # audio: cut or pad to the input length
        out = np.zeros(size, dtype=np.float32)
        out[: min(size, a.size)] = a[:size]
        return out.reshape([d if d > 0 else 1 for d in shape])
    raise CorpusError(f"{where}: a sample has {a.size} values, the model's input {shape} needs {size}")


def read_base(path: str | os.PathLike[str]) -> bytes:
    """The owner's base model (``--owner-base``): an ONNX file, read whole (CorpusError
    names the file when it is not one)."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"{p}: owner base model not found")
    data = p.read_bytes()
    try:
        import onnx

        onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure: not an ONNX model
        raise CorpusError(f"{p}: the owner base model must be an ONNX file ({type(exc).__name__})") from exc
    return data


def build_for_reference(zoo: Any, name: str, runnable: Any, normalization: Any, data_path: str,
                        *, keep: bool = False, settings: Any = None, base: str | None = None,
                        queries: str | None = None, reference: bytes | None = None,
                        log: Callable[[str], None] = lambda _m: None) -> str:
    """Build and store a reference's owner evidence; returns its one-line summary.
    ``base``: the public ONNX model the reference was fine-tuned from (``--owner-base``), or
    ``"scratch"`` when the owner declares it was trained from scratch;
    ``queries``: public data of the domain a thief would query with (``--owner-queries``,
    read like the owner's data, labels ignored); ``reference``: the reference's ONNX form, when
    it has one (the tool then also trains independents of the reference's own architecture)."""
    from modelhound.fingerprint.owner import OwnerSettings, build_owner_evidence
    from modelhound.fingerprint.profile import run_canonical

    if len(runnable.inputs) != 1:
        raise CorpusError(f"{data_path}: owner evidence needs a single-input model "
                          f"({len(runnable.inputs)} inputs)")
    data = load_owner_data(data_path, runnable.inputs[0])
    base_bytes = read_base(base) if base and base != "scratch" else None
    xq = load_owner_data(queries, runnable.inputs[0]).x if queries else None
    ev = build_owner_evidence(lambda q: run_canonical(runnable, q, normalization, batch=256),
                              data.x, data.y, is_image=data.is_image,
                              settings=settings or OwnerSettings(), base=base_bytes,
                              scratch=base == "scratch", reference=reference, queries=xq, log=log)
    folder = Path(zoo.path) / "refs" / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / OWNER_FILE, "wb") as fh:
        save_npz(fh, **ev.to_npz())
    if keep:
        with open(folder / "owner-data.npz", "wb") as fh:
            save_npz(fh, x=data.x, **({} if data.y is None else {"y": data.y}))
    return ev.summary()


def load_evidence(zoo_path: str | os.PathLike[str], name: str) -> Any:
    """A reference's stored owner evidence (None when it has none or it cannot be read)."""
    from modelhound.fingerprint.owner import OwnerEvidence, OwnerEvidenceError

    path = Path(zoo_path) / "refs" / name / OWNER_FILE
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return OwnerEvidence.from_npz(z, str(path))
    except (OSError, ValueError, KeyError, OwnerEvidenceError):
        return None


def run_owner_probes(runnable: Any, owner: tuple[tuple[str, str], ...], normalization: Any,
                     notes: list[str]) -> dict[str, np.ndarray]:
    """A suspect's outputs on each reference's owner probes (``owner:<name>`` keys); runs in
    the worker with the suspect. Probes that do not fit the suspect's input are skipped."""
    from modelhound.fingerprint.profile import run_canonical

    out: dict[str, np.ndarray] = {}
    for name, zoo_path in owner:
        ev = load_evidence(zoo_path, name)
        if ev is None:
            continue
        try:
            out[f"owner:{name}"] = run_canonical(runnable, ev.probes, normalization, batch=100)
        except Exception as exc:  # noqa: BLE001 - the suspect's runtime on these probes
            notes.append(f"owner probes of {name}: {type(exc).__name__}: {str(exc)[:120]}")
    return out


def compare_here(ca: Any, cb: Any, data_path: str, norm_a: Any, norm_b: Any, base: str | None = None) -> Any:
    """Owner evidence for A from its owner's data, and B scored with it (a worker call);
    ``base`` as in :func:`build_for_reference` (without it the evidence never flags)."""
    from modelhound.converters import load_runnable
    from modelhound.fingerprint.owner import OwnerSettings, build_owner_evidence
    from modelhound.fingerprint.profile import run_canonical

    ra, rb = load_runnable(ca, threads=2), load_runnable(cb, threads=1)
    data = load_owner_data(data_path, ra.inputs[0])
    ev = build_owner_evidence(lambda q: run_canonical(ra, q, norm_a, batch=256), data.x, data.y,
                              is_image=data.is_image, settings=OwnerSettings(), reference=ca.onnx,
                              base=read_base(base) if base and base != "scratch" else None,
                              scratch=base == "scratch")
    return ev.score(run_canonical(rb, ev.probes, norm_b, batch=100))


def compare_with_owner_data(fa: Any, fb: Any, data_path: str, base: str | None = None) -> tuple[Any, str]:
    """(OwnerScore or None, note) for ``compare A B --owner-data PATH [--owner-base ONNX|scratch]``."""
    from modelhound.converters import ConverterPool
    from modelhound.converters.pool import WorkerCallError
    from modelhound.corpus.suspect import normalization_of

    with ConverterPool(1, timeout_s=3600.0) as pool:
        ca, cb = pool.convert(fa), pool.convert(fb)
        for name, c in (("A", ca), ("B", cb)):
            if not c.runnable:
                return None, f"owner evidence not used: {name} is not runnable ({c.reason})"
            if len(c.inputs) != 1:
                return None, f"owner evidence not used: {name} has {len(c.inputs)} inputs"
        try:
            return pool.call("modelhound.corpus.owner:compare_here", ca, cb, str(data_path),
                             normalization_of(fa), normalization_of(fb), base), ""
        except WorkerCallError as exc:
            return None, f"owner evidence not used: {exc}"


def owner_outputs_here(conversion: Any, owner: tuple[tuple[str, str], ...], normalization: Any
                       ) -> dict[str, np.ndarray]:
    """A suspect's outputs on owner-evidence probes, in a converters worker."""
    from modelhound.converters import load_runnable
    from modelhound.fingerprint.binding import single_input

    notes: list[str] = []
    return run_owner_probes(single_input(load_runnable(conversion, threads=1)), owner, normalization, notes)
