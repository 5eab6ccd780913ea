"""Profile and pair-set storage: round trip and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelhound.errors import ProfileError
from modelhound.fingerprint.interface import PROFILE_SCHEMA_VERSION, Generator, PairSet, Profile
from modelhound.fingerprint.profile import load_pairs, load_profile, save_pairs, save_profile


def _pairs(seed: int = 0) -> PairSet:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(10, 8, 8, 1)).astype(np.float32)
    return PairSet("test seeds", x, np.clip(x + 0.05, 0, 1), True, Generator.PGD, "m", "x:1x8x8x1:float32", "PgdConfig()")


def test_profile_round_trip(tmp_path: Path) -> None:
    p = Profile(subject="abc", pairs_id="0123", ddv=(0.6, 0.8), inputs="x:1x28x28x1:float32")
    save_profile(tmp_path / "p.json", p)
    assert load_profile(tmp_path / "p.json") == p


def test_profile_with_other_schema_is_refused(tmp_path: Path) -> None:
    p = Profile(subject="abc", pairs_id="0123", ddv=(1.0,))
    save_profile(tmp_path / "p.json", p)
    data = json.loads((tmp_path / "p.json").read_text())
    data["schema_version"] = PROFILE_SCHEMA_VERSION + 1
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="schema_version"):
        load_profile(tmp_path / "p.json")
    del data["schema_version"]
    (tmp_path / "p.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError, match="schema_version"):
        load_profile(tmp_path / "p.json")


def test_pairs_round_trip_and_id(tmp_path: Path) -> None:
    pairs = _pairs()
    save_pairs(tmp_path / "p.npz", pairs)
    loaded = load_pairs(tmp_path / "p.npz")
    assert loaded.pairs_id == pairs.pairs_id
    np.testing.assert_array_equal(loaded.x_adv, pairs.x_adv)
    assert (loaded.generator, loaded.generated_on, loaded.n) == (Generator.PGD, "m", 10)
    assert _pairs(1).pairs_id != pairs.pairs_id


def test_tampered_or_foreign_pairs_are_refused(tmp_path: Path) -> None:
    pairs = _pairs()
    save_pairs(tmp_path / "p.npz", pairs)
    with np.load(tmp_path / "p.npz") as z:
        meta = json.loads(str(z["meta"]))
        x, x_adv = z["x"], z["x_adv"]
    with open(tmp_path / "t.npz", "wb") as fh:
        np.savez(fh, x=x, x_adv=x_adv + 0.01, meta=np.array(json.dumps(meta)))
    with pytest.raises(ProfileError, match="pairs_id"):
        load_pairs(tmp_path / "t.npz")
    meta["schema_version"] = 0
    with open(tmp_path / "s.npz", "wb") as fh:
        np.savez(fh, x=x, x_adv=x_adv, meta=np.array(json.dumps(meta)))
    with pytest.raises(ProfileError, match="schema_version"):
        load_pairs(tmp_path / "s.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ProfileError):
        load_pairs(tmp_path / "junk.npz")


def test_one_pass_profile_and_probes_equal_the_two_separate_passes() -> None:
    """The zoo runs x and x' once for both the DDV and the behaviour probes; a reference
    stores exactly what the two separate functions give (MediaPipe's iris_landmark in
    LiteRT: two outputs, so the DDV's flattened outputs and the probes' first output
    differ)."""
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.profile import (
        behaviour_probes, profile_and_probes, profile_runnable)
    from tests.conftest import fixture_path

    runnable = LiteRTRunnable(fixture_path("models", "tflite", "mediapipe-0.10.14",
                                           "iris_landmark.tflite").read_bytes())
    assert len(runnable.outputs) == 2
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(12, 64, 64, 3)).astype(np.float32)
    pairs = PairSet("seeds", x, np.clip(x + rng.uniform(-0.06, 0.06, x.shape), 0, 1)
                    .astype(np.float32), True, Generator.PGD, "m", "", "")
    profile, probes = profile_and_probes(runnable, pairs, subject="iris", probe_id="p1")
    assert profile == profile_runnable(runnable, pairs, subject="iris")
    alone = behaviour_probes(runnable, pairs, probe_id="p1")
    assert probes.hard == alone.hard and probes.n_pairs == alone.n_pairs == 12
    assert np.array_equal(probes.outputs, alone.outputs)
    assert len(probes.outputs) == 4 * 12  # seeds, twins and 2n CutMix rows
