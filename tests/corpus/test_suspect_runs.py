"""A suspect's runs on a probe set: x and x' run once, their outputs serve both the DDV and
the behaviour rows, and the results equal running each of them on its own (the DDV, then
every behaviour row), on a real batch-1 TFLite model fed images of another size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelhound.converters.tflite import native_here
from modelhound.corpus.suspect import ddvs_here
from modelhound.extractor.formats import HEAD_BYTES, describe, sniff
from modelhound.fingerprint.detector import probe_inputs, sketch
from modelhound.fingerprint.inputs import resize_bilinear
from modelhound.fingerprint.interface import Generator, PairSet
from modelhound.fingerprint.profile import profile_runnable, run_canonical, save_pairs
from modelhound.records import FoundModel, ModelEntry, Status
from tests.conftest import FIXTURES


def _found(data: bytes) -> FoundModel:
    s = sniff(data[:HEAD_BYTES], "m.tflite", len(data))
    return FoundModel(ModelEntry("m.tflite", s.format, s.subformat, "0" * 64, len(data),
                                 Status.OK, info=describe(s, data)), data)


def test_suspect_runs_equal_separate_ddv_and_behaviour_runs(tmp_path: Path) -> None:
    from modelhound.converters import load_runnable

    data = (FIXTURES / "models" / "tflite" / "mediapipe-0.10.14" / "hand_recrop.tflite").read_bytes()
    conv = native_here(_found(data))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(6, 40, 48, 3)).astype(np.float32)  # resized to the model's 256x256
    pairs = PairSet("test", x, np.clip(x + 0.03, 0, 1), True, Generator.PGD, "g",
                    "x:1x40x48x3:float32", "PgdConfig()")
    save_pairs(tmp_path / "p.npz", pairs)
    ddvs, outputs, notes, seconds = ddvs_here(conv, [("p", str(tmp_path / "p.npz"))], None, True)
    assert not notes and set(seconds) >= {"load", "p:ddv", "p:agreement"}
    runnable = load_runnable(conv, threads=1)
    assert ddvs["p"] == profile_runnable(runnable, pairs).ddv
    expected = sketch(run_canonical(runnable, probe_inputs(pairs.x, pairs.x_adv), None, batch=6))
    assert outputs["p"].shape == (24, expected.shape[1])
    np.testing.assert_array_equal(outputs["p"], expected)


def test_resize_is_the_bilinear_formula_to_a_float32_ulp() -> None:
    """Half-pixel centres, clamped edges, no antialiasing: up, down, 1, 2, 3 and 6 channels."""
    def axis(src: int, dst: int):  # type: ignore[no-untyped-def]
        pos = np.clip((np.arange(dst, dtype=np.float64) + 0.5) * src / dst - 0.5, 0, src - 1)
        lo = np.floor(pos).astype(np.int64)
        return lo, np.minimum(lo + 1, src - 1), pos - lo

    rng = np.random.default_rng(1)
    for (n, h, w, c), (height, width) in (((37, 50, 70, 3), (256, 192)),
                                          ((4, 256, 256, 1), (48, 320)),
                                          ((3, 19, 23, 6), (40, 31)),
                                          ((2, 30, 30, 2), (17, 45))):
        images = rng.uniform(size=(n, h, w, c)).astype(np.float32)
        got = resize_bilinear(images, height, width)
        y0, y1, wy = axis(h, height)
        x0, x1, wx = axis(w, width)
        rows = images[:, y0] * (1 - wy)[None, :, None, None] + images[:, y1] * wy[None, :, None, None]
        want = rows[:, :, x0] * (1 - wx)[None, None, :, None] + rows[:, :, x1] * wx[None, None, :, None]
        assert got.shape == (n, height, width, c) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=2.5e-7)


def test_resized_probe_inputs_are_cached_per_size_and_give_identical_rows(tmp_path: Path) -> None:
    """A worker resizes a probe set once per input size: a second suspect of the same size
    reads the cached rows, and its DDV and behaviour rows equal a run with no cache."""
    from modelhound.corpus import suspect

    data = (FIXTURES / "models" / "tflite" / "mediapipe-0.10.14" / "hand_recrop.tflite").read_bytes()
    conv = native_here(_found(data))
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(5, 40, 48, 3)).astype(np.float32)
    pairs = PairSet("test", x, np.clip(x - 0.03, 0, 1), True, Generator.PGD, "g",
                    "x:1x40x48x3:float32", "PgdConfig()")
    save_pairs(tmp_path / "q.npz", pairs)
    probes = [("q", str(tmp_path / "q.npz"))]
    suspect._RESIZED.clear()
    cold = ddvs_here(conv, probes, None)
    cached = {k: v for k, v in suspect._RESIZED.items() if k[0] == "q"}
    assert sorted(k[1:] for k in cached) == [(p, 256, 256, 3) for p in ("rest", "x", "x_adv")]
    assert cached[("q", "x", 256, 256, 3)].shape == (5, 256, 256, 3)
    warm = ddvs_here(conv, probes, None)  # served from the cache
    assert warm[0] == cold[0] and not warm[2]
    np.testing.assert_array_equal(warm[1]["q"], cold[1]["q"])
    suspect._RESIZED.clear()
    suspect.RESIZED_CACHE_BYTES, budget = 0, suspect.RESIZED_CACHE_BYTES
    try:  # no room: every call resizes again, same rows
        uncached = ddvs_here(conv, probes, None)
        assert len(suspect._RESIZED) <= 1
    finally:
        suspect.RESIZED_CACHE_BYTES = budget
    assert uncached[0] == cold[0]
    np.testing.assert_array_equal(uncached[1]["q"], cold[1]["q"])
