"""Comparing against stored pairs and profiles: numpy-only path, refusals, seeds."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from modelhound.errors import ProfileError
from modelhound.fingerprint.compare import compare_on_pairs, compare_with_profile
from modelhound.fingerprint.interface import Generator, PairSet, Verdict
from modelhound.fingerprint.profile import profile_runnable
from modelhound.fingerprint.seeds import default_seeds, synthetic_image_seeds
from modelhound.records import TensorSpec

REPO = Path(__file__).resolve().parents[2]


class LinearModel:
    """A real (tiny) model in numpy: flatten, affine map, ReLU, affine map."""

    runtime = "numpy"

    def __init__(self, seed: int, shape: tuple[int, ...] = (-1, 8, 8, 1), classes: int = 5) -> None:
        rng = np.random.default_rng(seed)
        size = int(np.prod([d for d in shape[1:]]))
        self.w1, self.w2 = rng.normal(size=(size, 16)), rng.normal(size=(16, classes))
        self.inputs = (TensorSpec("x", shape, "float32"),)
        self.outputs = (TensorSpec("y", (-1, classes), "float32"),)

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        x = inputs[0].reshape(len(inputs[0]), -1)
        return [(np.maximum(x @ self.w1, 0) @ self.w2).astype(np.float32)]


def _pairs() -> PairSet:
    x = synthetic_image_seeds(30, 8, 8, 1).data
    rng = np.random.default_rng(5)
    x_adv = np.clip(x + rng.uniform(-0.06, 0.06, size=x.shape), 0, 1).astype(np.float32)
    return PairSet("synthetic", x, x_adv, True, Generator.PGD, "ref", "x:?x8x8x1:float32", "test")


def test_same_model_is_reused_other_model_is_not() -> None:
    pairs = _pairs()
    same = compare_on_pairs(LinearModel(0), LinearModel(0), pairs)
    assert same.similarity == pytest.approx(1.0)
    assert same.verdict is Verdict.REUSED
    other = compare_on_pairs(LinearModel(0), LinearModel(1), pairs)
    assert other.similarity < same.similarity
    # Different input size and output size: the pairs are resized, the DDVs still compare.
    resized = compare_on_pairs(LinearModel(0), LinearModel(0, (-1, 16, 16, 3), classes=3), pairs)
    assert 0.0 <= resized.similarity <= 1.0
    assert "16x16x3" in resized.inputs_b


def test_profile_from_other_pairs_is_refused() -> None:
    pairs = _pairs()
    ref = profile_runnable(LinearModel(0), pairs, subject="ref")
    assert compare_with_profile(LinearModel(0), pairs, ref).similarity == pytest.approx(1.0)
    other = PairSet("synthetic", pairs.x, pairs.x, True, Generator.PGD, "ref", "", "")
    with pytest.raises(ProfileError, match="computed on pairs"):
        compare_with_profile(LinearModel(0), other, ref)


def test_default_seeds_fit_the_input() -> None:
    img = default_seeds(TensorSpec("x", (1, 3, 32, 48), "float32", layout="NCHW"), n=4)
    assert img.is_image and img.data.shape == (4, 32, 48, 3)
    assert 0.0 <= img.data.min() and img.data.max() <= 1.0
    vec = default_seeds(TensorSpec("x", (1, 124), "float32"), n=4)
    assert not vec.is_image and vec.data.shape == (4, 124)
    again = default_seeds(TensorSpec("x", (1, 3, 32, 48), "float32", layout="NCHW"), n=4)
    np.testing.assert_array_equal(img.data, again.data)


def test_comparing_on_stored_pairs_never_imports_torch(tmp_path: Path) -> None:
    """The scan path (stored pairs + profile) must work without the gradient extra."""
    from modelhound.fingerprint.profile import save_pairs, save_profile

    pairs = _pairs()
    save_pairs(tmp_path / "p.npz", pairs)
    save_profile(tmp_path / "r.json", profile_runnable(LinearModel(0), pairs, subject="ref"))
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_compare import LinearModel
        from modelhound.fingerprint import compare_with_profile, load_pairs, load_profile
        c = compare_with_profile(LinearModel(0), load_pairs({str(tmp_path / 'p.npz')!r}),
                                 load_profile({str(tmp_path / 'r.json')!r}))
        assert c.similarity > 0.999, c.similarity
        heavy = [m for m in ("torch", "tensorflow", "onnx2torch") if m in sys.modules]
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
