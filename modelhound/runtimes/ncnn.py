"""ncnn (PyPI ``ncnn``): a param file (text or binary) and its weight blob.

Pitfalls handled here (dependency-probe-2.md §1): ncnn computes in fp16 by default on x86,
so the three fp16 options are turned off (fp32 parity with onnxruntime); ``ncnn.Mat(array)``
does not copy, so every input array stays referenced until ``extract`` is done; an empty
Mat or float64 input segfaults, so inputs are float32 and ``rc``/``empty()`` are checked.
Input shapes: ncnn's Input layer lists ``0=w 1=h 2=c``, which converters fill
inconsistently; the channel count is taken from the first layer's weights, the two other
values are height and width (a missing one is free: the probe set's own size).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from modelhound.converters.runtimes import _split_batch
from modelhound.errors import ConversionError, ExtractError
from modelhound.records import TensorSpec
from modelhound.runtimes.interface import NativeModel

name = "ncnn"


def graph_only(model: NativeModel) -> str:
    """A param file without its weight blob holds no trained network."""
    if not model.companions:
        return "ncnn param without its weight blob (a graph-only benchmark file, or the " \
               "blob is missing from the app)"
    return ""


def version() -> str:
    """The ncnn wheel's version."""
    import ncnn

    return str(getattr(ncnn, "__version__", ""))


def _input_specs(text: str) -> list[TensorSpec]:
    from modelhound.extractor.formats import ncnn as fmt

    layers = fmt.parse_param(text)
    specs = []
    for ltype, lname, _, tops, p in layers:
        if ltype != "Input":
            continue
        blob = tops[0] if tops else lname
        channels = None
        for ctype, _, bottoms, _, cp in layers:
            if blob in bottoms and ctype == "Reshape" and not p:
                # pnnx writes no Input shape; a Reshape right after it gives the size
                w, h, c = (int(float(cp.get(k, -1))) for k in (0, 1, 2))
                if min(w, h, c) > 0:
                    specs.append(TensorSpec(blob, (1, c, h, w), "float32", layout="NCHW"))
                elif min(w, h) > 0:
                    specs.append(TensorSpec(blob, (1, h, w), "float32"))
                break
            if blob in bottoms and ctype in ("Convolution", "ConvolutionDepthWise"):
                n_out, k_w = int(float(cp.get(0, 0))), int(float(cp.get(1, 1)) or 1)
                k_h = int(float(cp.get(11, k_w)))
                wsize = int(float(cp.get(6, 0)))
                group = int(float(cp.get(7, 1))) if ctype == "ConvolutionDepthWise" else 1
                if n_out and wsize:
                    channels = wsize * group // max(n_out * k_w * k_h, 1)
                break
        if specs and specs[-1].name == blob:
            continue
        dims = [int(float(p[k])) for k in (0, 1, 2) if k in p]
        if channels is None:
            channels = dims[2] if len(dims) == 3 else 3
        rest = list(dims)
        if channels in rest:
            rest.remove(channels)
        h = rest[-2] if len(rest) >= 2 else -1
        w = rest[-1] if len(rest) >= 1 else -1
        if len(dims) == 3 and dims[2] == channels:  # the documented order: 0=w 1=h 2=c
            w, h = dims[0], dims[1]
        specs.append(TensorSpec(blob, (1, channels, h, w), "float32", layout="NCHW"))
    return specs


def _via_memfd(load: Any, data: bytes) -> int:
    """Call an ncnn path loader on bytes (ncnn's from-memory loaders report no errors)."""
    fd = os.memfd_create("ncnn")
    try:
        os.write(fd, data)
        return int(load(f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)


class NcnnRunnable:
    """An ncnn Net run sample by sample in fp32."""

    runtime = name

    def __init__(self, model: NativeModel, threads: int = 1) -> None:
        import ncnn

        if not model.companions:
            raise ConversionError(f"{model.name}: ncnn param without its weight blob")
        self._net = net = ncnn.Net()
        net.opt.use_fp16_storage = False
        net.opt.use_fp16_packed = False
        net.opt.use_fp16_arithmetic = False
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = threads
        self._binary = model.subformat == "param-bin"
        text = ""
        if not self._binary:
            try:
                text = model.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConversionError(f"{model.name}: ncnn param is not text") from exc
        load_param = net.load_param_bin if self._binary else net.load_param
        if _via_memfd(load_param, model.data) != 0:
            raise ConversionError(f"{model.name}: ncnn refuses the param file")
        if _via_memfd(net.load_model, next(iter(model.companions.values()))) != 0:
            raise ConversionError(f"{model.name}: ncnn refuses the weight blob (it does not "
                                  "hold what the param file loads)")
        if self._binary:
            self._in: list[Any] = list(net.input_indexes())
            self._out: list[Any] = list(net.output_indexes())
            self.inputs = tuple(TensorSpec(f"in{i}", (1, 3, -1, -1), "float32", layout="NCHW")
                                for i in self._in)
        else:
            try:
                specs = _input_specs(text)
            except ExtractError as exc:
                raise ConversionError(f"{model.name}: {exc}") from exc
            names = list(net.input_names())
            self.inputs = tuple(s for s in specs if s.name in names) or tuple(
                TensorSpec(n, (1, 3, -1, -1), "float32", layout="NCHW") for n in names)
            self._in = [s.name for s in self.inputs]
            self._out = list(net.output_names())
        if not self._in or not self._out:
            raise ConversionError(f"{model.name}: ncnn net has no input or no output")
        self.outputs = tuple(TensorSpec(str(o), (), "float32") for o in self._out)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Every sample through a fresh extractor; float32 outputs with a batch axis."""
        import ncnn

        batch = _split_batch(inputs, self.inputs)
        per_output: list[list[np.ndarray]] = [[] for _ in self._out]
        for b in range(batch):
            ex = self._net.create_extractor()
            keep = []  # ncnn.Mat does not copy: the arrays must outlive extract()
            for key, x, spec in zip(self._in, inputs, self.inputs):
                arr = np.ascontiguousarray(np.asarray(x[b], dtype=np.float32))
                if arr.ndim != 3:
                    raise ConversionError(f"ncnn input {spec.name} needs C,H,W, got {arr.shape}")
                keep.append(arr)
                ex.input(key, ncnn.Mat(arr))
            for i, key in enumerate(self._out):
                rc, mat = ex.extract(key)
                if rc != 0 or mat.empty():
                    raise ConversionError(f"ncnn failed to compute output {key} (rc {rc})")
                per_output[i].append(np.array(mat, dtype=np.float32, copy=True)[None])
            del keep
        return [np.concatenate(p, axis=0) for p in per_output]


def open(model: NativeModel, threads: int = 1) -> NcnnRunnable:  # noqa: A001 - the interface's verb
    """The param + bin loaded in ncnn."""
    return NcnnRunnable(model, threads)
