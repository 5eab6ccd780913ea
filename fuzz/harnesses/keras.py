"""Keras HDF5: sniffer and the tensor reader (h5py on the bytes)."""

from fuzz.harnesses._model import blob

MAX_LEN = 64 * 1024


def _h5(layers: int) -> bytes:
    import io

    import h5py
    import numpy as np

    f = io.BytesIO()
    with h5py.File(f, "w") as h:
        h.attrs["keras_version"] = "2.13.1"
        h.attrs["model_config"] = '{"class_name": "Sequential"}'
        g = h.create_group("model_weights")
        for i in range(layers):
            d = g.create_group(f"dense_{i}").create_group(f"dense_{i}")
            d["kernel:0"] = np.arange(48, dtype=np.float32).reshape(8, 6) / 7
            d["bias:0"] = np.ones(6, np.float16)
    return f.getvalue()


def seeds() -> list[bytes]:
    """Small Keras HDF5 files written with h5py (the real fixture is too large to seed)."""
    return [_h5(1), _h5(3)]


def test_one(data: bytes) -> None:
    """Sniff and read the weights of a Keras HDF5 file."""
    blob(data, "model.h5")
