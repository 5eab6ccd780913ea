"""Keras HDF5 (``.h5``) and Keras v3 (``.keras``) models, loaded by TensorFlow's Keras.

Keras' loader stays in ``safe_mode`` (it refuses Lambda layers, which hold marshalled
bytecode). It needs a file, so the bytes go to a private temporary file in the worker.
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any, Sequence

import numpy as np

from modelhound.converters.runtimes import _dims, _split_batch
from modelhound.errors import ConversionError
from modelhound.records import TensorSpec
from modelhound.runtimes.interface import WEIGHTS_ONLY, NativeModel

name = "keras"


def graph_only(model: NativeModel) -> str:
    """A weights-only HDF5 (``save_weights``) has no model config."""
    if model.subformat == "hdf5" and b"model_config" not in model.data[:1 << 20]:
        return f"{WEIGHTS_ONLY}: Keras weights file without a model config (save_weights output)"
    return ""


def version() -> str:
    """keras' version."""
    import keras

    return str(keras.__version__)


class KerasRunnable:
    """A Keras model called on numpy batches."""

    runtime = name

    def __init__(self, model: NativeModel, threads: int = 1) -> None:
        import keras

        suffix = ".keras" if model.subformat == "keras-v3" else ".h5"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model" + suffix)
            with io.open(path, "wb") as f:  # the module-level open() is the runtime verb
                f.write(model.data)
            try:
                self._model: Any = keras.models.load_model(path, compile=False, safe_mode=True)
            except Exception as exc:  # noqa: BLE001 - Keras raises many types
                raise ConversionError(f"{model.name}: Keras cannot load it: "
                                      f"{str(exc).splitlines()[0][:200]}") from exc
        self._describe()

    @classmethod
    def of(cls, loaded: Any) -> "KerasRunnable":
        """A runnable around a Keras model built elsewhere (a tfjs layers model)."""
        self = cls.__new__(cls)
        self._model = loaded
        self._describe()
        return self

    def _describe(self) -> None:
        self.inputs = tuple(
            TensorSpec(str(getattr(t, "name", f"input{i}")), _dims(tuple(t.shape)), "float32",
                       layout="NHWC" if len(t.shape) == 4 else None)
            for i, t in enumerate(self._model.inputs))
        self.inputs = tuple(s if not s.shape or s.shape[0] != -1 else
                            TensorSpec(s.name, (1, *s.shape[1:]), s.dtype, layout=s.layout)
                            for s in self.inputs)
        outs = self._model.outputs
        self.outputs = tuple(TensorSpec(str(getattr(t, "name", f"output{i}")), (), "float32")
                             for i, t in enumerate(outs))

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The model on the batch, outputs as float32 numpy."""
        _split_batch(inputs, self.inputs)
        xs = [np.asarray(x, dtype=np.float32) for x in inputs]
        out = self._model(xs[0] if len(xs) == 1 else xs, training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o, dtype=np.float32) for o in outs]


def open(model: NativeModel, threads: int = 1) -> KerasRunnable:  # noqa: A001 - interface verb
    """The model loaded by Keras."""
    reason = graph_only(model)
    if reason:
        raise ConversionError(f"{model.name}: {reason}")
    return KerasRunnable(model, threads)
