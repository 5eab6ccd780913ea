"""modelhound.npz: deflated .npz archives that np.load reads exactly."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from modelhound.npz import LEVEL, save_npz


def test_arrays_round_trip_exactly_and_are_deflated() -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "x": rng.random((4, 8, 8, 3), dtype=np.float32),
        "ids": np.arange(12, dtype=np.int64).reshape(3, 4),
        "meta": np.array('{"pairs_id": "abc"}'),
        "empty": np.zeros((0, 5), dtype=np.float32),
    }
    buf = io.BytesIO()
    save_npz(buf, **arrays)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(arrays)
        for name, value in arrays.items():
            assert z[name].dtype == value.dtype and z[name].shape == value.shape
            assert np.array_equal(z[name], value)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}


def test_repetitive_data_shrinks() -> None:
    x = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (256, 1))
    buf = io.BytesIO()
    save_npz(buf, x=x)
    assert LEVEL == 1
    assert len(buf.getvalue()) < x.nbytes // 4
