"""MNN (PyPI ``MNN``): the ``.mnn`` FlatBuffer run by MNN's Module API.

``import MNN`` prints the CPU's features from C to file descriptor 1, and MNN prints its
runtime errors instead of raising them: it is imported only here, inside a converters
worker, with fd 1 redirected around the import. Graph-only files (benchmark models whose
convolutions carry no weights) are refused before MNN ever sees them: MNN would print a
warning and return an empty output list. MNN has no loader from bytes: the model is
written to a memfd and opened by its /proc path.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator, Sequence

import numpy as np

from modelhound.converters.runtimes import _split_batch
from modelhound.errors import ConversionError, ExtractError
from modelhound.records import TensorSpec
from modelhound.runtimes.interface import NativeModel

name = "mnn"


def graph_only(model: NativeModel) -> str:
    """A Net whose convolution and dense ops all lack weights is a benchmark file."""
    from modelhound.extractor.formats import mnn as fmt

    try:
        found = fmt.read(model.data)
    except ExtractError:
        return ""
    if found.graph_only:
        return (f"MNN graph without weights: none of its {found.weighted_ops} convolution and "
                f"dense ops carries any (bizCode {found.biz_code!r}; a benchmark file)")
    return ""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """File descriptor 1 pointed at /dev/null: MNN prints from C at import, at load and on
    errors, wherever the runnable is used (a worker, or a zoo build)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _quiet_import() -> Any:
    """``import MNN`` without its banner."""
    if "MNN" in sys.modules:
        return sys.modules["MNN"]
    with _quiet():
        import MNN
    return MNN


def version() -> str:
    """The MNN wheel's version."""
    return str(getattr(_quiet_import(), "version", lambda: "")())


_FORMATS = {"NCHW": "NCHW", "NHWC": "NHWC", "NC4HW4": "NCHW"}


class MnnRunnable:
    """An MNN module, run on whole batches when its batch is free, else sample by sample."""

    runtime = name

    def __init__(self, model: NativeModel, threads: int = 1) -> None:
        reason = graph_only(model)
        if reason:
            raise ConversionError(f"{model.name}: {reason}")
        mnn = self._mnn = _quiet_import()
        self._fd = os.memfd_create("mnn")
        os.write(self._fd, model.data)
        path = f"/proc/self/fd/{self._fd}"
        try:
            with _quiet():
                rt = mnn.nn.create_runtime_manager(
                    ({"precision": "high", "backend": "CPU", "numThread": threads},))
                self._module = mnn.nn.load_module_from_file(path, [], [], runtime_manager=rt)
                info = self._module.get_info()
        except Exception as exc:  # MNN raises bare RuntimeErrors with its own text
            raise ConversionError(f"{model.name}: MNN cannot load the model: {exc}") from exc
        if self._module is None or not info:
            raise ConversionError(f"{model.name}: MNN cannot load the model")
        names = list(info.get("inputNames") or [])
        var_infos = list(info.get("inputs") or [])
        specs = []
        self._formats = []
        for i, n in enumerate(names):
            vi = var_infos[i] if i < len(var_infos) else None
            shape = tuple(int(d) for d in (getattr(vi, "shape", None) or []))
            fmt = str(getattr(vi, "data_format", "NCHW")).rsplit(".", 1)[-1]
            self._formats.append(fmt)
            layout = _FORMATS.get(fmt, "NCHW") if len(shape) == 4 else None
            shape = tuple(d if d > 0 else -1 for d in shape)
            if shape and shape[0] == -1:
                shape = (1, *shape[1:])
            specs.append(TensorSpec(str(n), shape, "float32", layout=layout))
        self.inputs = tuple(specs)
        self.outputs = tuple(TensorSpec(str(n), (), "float32")
                             for n in info.get("outputNames") or [])
        if not self.inputs or not self.outputs:
            raise ConversionError(f"{model.name}: MNN model declares no inputs or outputs")

    def _forward(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        mnn = self._mnn
        expr = mnn.expr
        xs = []
        for x, fmt, spec in zip(inputs, self._formats, self.inputs):
            arr = np.ascontiguousarray(x, dtype=np.float32)
            order = expr.NHWC if spec.layout == "NHWC" else expr.NCHW
            v = expr.const(arr.ravel(), list(arr.shape), order, expr.float)
            if fmt == "NC4HW4":
                v = expr.convert(v, expr.NC4HW4)
            xs.append(v)
        with _quiet():
            outs = self._module.forward(xs)
        if not outs:
            raise ConversionError("MNN returned no outputs (it prints why and does not raise)")
        result = []
        for y in outs:
            if str(y.data_format).endswith("NC4HW4"):
                y = expr.convert(y, expr.NCHW)
            result.append(np.array(y.read(), dtype=np.float32, copy=True))
        return result

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Execute on a batch (one sample at a time: MNN modules resize per call)."""
        batch = _split_batch(inputs, self.inputs)
        parts = [self._forward([x[b:b + 1] for x in inputs]) for b in range(batch)]
        return [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]


def open(model: NativeModel, threads: int = 1) -> MnnRunnable:  # noqa: A001 - the interface's verb
    """The .mnn loaded in MNN."""
    return MnnRunnable(model, threads)
