"""Runnable forms: ONNX through onnxruntime (the common form) and TFLite through LiteRT.

Both take one array per input in the declared dtype with any batch size on axis 0 and
return float32, dequantized outputs with the same batch size. A model fixed to batch 1
is run sample by sample; a model with a dynamic batch dimension is run in one call.
Heavy runtimes are imported inside the constructors, never at module import.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from modelhound.errors import ConversionError
from modelhound.records import Quantization, TensorSpec

#: Size used for a dynamic non-batch dimension when inputs must be invented.
DYNAMIC_DIM = 16

_ONNX_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
    "tensor(string)": "str",
}


def _dims(shape: Sequence[Any]) -> tuple[int, ...]:
    """Shape with every unknown or symbolic dimension as -1."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and int(d) >= 0 else -1 for d in shape)


def _split_batch(inputs: Sequence[np.ndarray], specs: Sequence[TensorSpec]) -> int:
    """Check the inputs against the specs and return the common batch size."""
    if len(inputs) != len(specs):
        raise ValueError(f"expected {len(specs)} inputs, got {len(inputs)}")
    # scalars have no batch; nor has an input whose first axis is fixed above 1 (a recurrent
    # state [layers, batch, hidden])
    batches = {int(np.asarray(x).shape[0]) for x, s in zip(inputs, specs)
               if np.ndim(x) and not (s.shape and s.shape[0] > 1)}
    if not batches:  # every input fixed above 1 on axis 0: that axis is the batch
        batches = {int(np.asarray(x).shape[0]) for x in inputs if np.ndim(x)}
    if not batches:
        return 1
    if len(batches) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(batches)}")
    return batches.pop()


def _fixed_batch_one(specs: Sequence[TensorSpec]) -> bool:
    """Whether every input is declared with batch 1 (so batches are run sample by sample)."""
    return all(s.shape and s.shape[0] == 1 for s in specs)


def _concat(parts: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Concatenate per-sample outputs along axis 0."""
    return [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]


class OnnxRunnable:
    """An ONNX model executed by onnxruntime on the CPU."""

    runtime = "onnxruntime"

    def __init__(
        self, onnx_bytes: bytes, *, threads: int = 1, optimize: bool = True,
        outputs: Sequence[TensorSpec] | None = None, inputs: Sequence[TensorSpec] | None = None,
    ) -> None:
        """Open an ONNX model; raises :class:`ConversionError` when onnxruntime refuses it.

        ``outputs`` (e.g. ``Conversion.outputs``) supplies the quantization of integer
        outputs, which ONNX itself does not record, so they are returned dequantized;
        ``inputs`` (same names) supplies the inputs' quantization and layout.
        """
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        graph = onnx_bytes
        if optimize:
            # Paddle's spelt-out hard-swish in two passes instead of four (onnx_rewrites):
            # PaddleOCR's recogniser 42-48 -> 17-18 ms an input, SLANet 108 -> 75
            from modelhound.converters.onnx_rewrites import hard_swish_for_onnxruntime

            graph = hard_swish_for_onnxruntime(onnx_bytes)
        else:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        error: Exception | None = None
        for attempt in (graph,) if graph is onnx_bytes else (graph, onnx_bytes):  # rewrite, else as given
            try:
                self._session = ort.InferenceSession(
                    attempt, sess_options=opts, providers=["CPUExecutionProvider"]
                )
                #: whether the session runs :mod:`.onnx_rewrites`' form of the model
                self.rewritten = attempt is not onnx_bytes
                break
            except Exception as exc:  # onnxruntime raises its own untyped errors
                error = exc
        else:
            raise ConversionError(f"onnxruntime rejects the model: {error}") from error
        self.inputs = tuple(
            TensorSpec(i.name, _dims(i.shape), _ONNX_DTYPES.get(i.type, i.type))
            for i in self._session.get_inputs()
        )
        given = {s.name: s for s in inputs or ()}
        if given and set(given) == {s.name for s in self.inputs}:
            self.inputs = tuple(
                dataclasses.replace(given[s.name], shape=s.shape, dtype=s.dtype) for s in self.inputs
            )
        known = {s.name: s for s in outputs or ()}
        self.outputs = tuple(
            TensorSpec(
                o.name, _dims(o.shape), "float32",
                quantization=known[o.name].quantization if o.name in known else None,
                layout=known[o.name].layout if o.name in known else None,
            )
            for o in self._session.get_outputs()
        )
        # per-tensor dynamic quantization must see one sample at a time (LiteRT: per batch row)
        self._per_sample = _fixed_batch_one(self.inputs) or b"DynamicQuantizeLinear" in onnx_bytes
        # a model exported with a fixed batch N > 1 (inputs and outputs N rows): batches are
        # padded to N rows and the rows given are read back
        firsts = {s.shape[0] if s.shape else 0 for s in (*self.inputs, *self.outputs)}
        self._fixed_n = firsts.pop() if len(firsts) == 1 and min(firsts) > 1 else 0

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Execute the model on a batch; returns float32 outputs."""
        batch = _split_batch(inputs, self.inputs)
        names = [s.name for s in self.inputs]
        out_names = [s.name for s in self.outputs]
        n = self._fixed_n
        if n and batch != n:
            parts = []
            for start in range(0, batch, n):
                chunk = [np.asarray(x[start:start + n]) for x in inputs]
                rows = len(chunk[0])
                padded = [np.concatenate([c, np.zeros((n - rows, *c.shape[1:]), c.dtype)])
                          if rows < n else c for c in chunk]
                out = self._session.run(out_names, dict(zip(names, padded)))
                parts.append([np.asarray(o)[:rows] for o in out])
            results = _concat(parts)
        elif self._per_sample and batch != 1:
            parts = [
                self._session.run(out_names, {n: x[b : b + 1] for n, x in zip(names, inputs)})
                for b in range(batch)
            ]
            results = _concat(parts)
        else:
            results = self._session.run(out_names, dict(zip(names, inputs)))
        return [dequantize(np.asarray(r), s.quantization) for r, s in zip(results, self.outputs)]


def _litert_quant(detail: dict[str, Any]) -> Quantization | None:
    """The quantization of a LiteRT tensor detail, or None when it is not quantized."""
    q = detail.get("quantization_parameters") or {}
    scales = q.get("scales")
    if scales is None or len(scales) == 0:
        return None
    return Quantization(
        scale=tuple(float(s) for s in scales),
        zero_point=tuple(int(z) for z in q.get("zero_points", [0] * len(scales))),
        axis=int(q.get("quantized_dimension", 0)),
    )


def _litert_spec(detail: dict[str, Any], *, output: bool) -> TensorSpec:
    """A TensorSpec from a LiteRT tensor detail (outputs are reported as float32)."""
    shape = detail.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = detail["shape"]
    dtype = np.dtype(detail["dtype"]).name
    quant = _litert_quant(detail)
    layout = "NHWC" if len(shape) == 4 and not output else None
    return TensorSpec(
        detail["name"], _dims(shape), "float32" if output else dtype, quantization=quant,
        layout=layout,
    )


def dequantize(values: np.ndarray, quant: Quantization | None) -> np.ndarray:
    """Float32 values of a (possibly) quantized tensor: scale * (q - zero_point)."""
    if quant is None or not np.issubdtype(values.dtype, np.integer):
        return np.asarray(values, dtype=np.float32)
    scale = np.asarray(quant.scale, dtype=np.float32)
    zero = np.asarray(quant.zero_point, dtype=np.float32)
    if scale.size > 1 and values.ndim:
        shape = [1] * values.ndim
        shape[quant.axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((values.astype(np.float32) - zero) * scale).astype(np.float32)


class LiteRTRunnable:
    """A TFLite model executed natively by LiteRT (ai-edge-litert)."""

    runtime = "litert"

    def __init__(
        self, tflite_bytes: bytes, *, threads: int = 1, default_delegates: bool = True,
        preserve_all_tensors: bool = False,
    ) -> None:
        """Open a TFLite model; raises :class:`ConversionError` when LiteRT refuses it.

        ``default_delegates`` keeps XNNPACK on (needed for MediaPipe's
        Convolution2DTransposeBias); turn it off with ``preserve_all_tensors`` to read
        intermediate tensors, which XNNPACK would leave as garbage.
        """
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = (
            OpResolverType.AUTO if default_delegates
            else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        try:
            self._interp = Interpreter(
                model_content=bytes(tflite_bytes), num_threads=threads,
                experimental_op_resolver_type=resolver,
                experimental_preserve_all_tensors=preserve_all_tensors,
            )
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError with its log text
            raise ConversionError(f"LiteRT cannot open the model: {_first_line(exc)}") from exc
        in_details = self._interp.get_input_details()
        out_details = self._interp.get_output_details()
        self.inputs = tuple(_litert_spec(d, output=False) for d in in_details)
        self.outputs = tuple(_litert_spec(d, output=True) for d in out_details)
        self._in_index = [d["index"] for d in in_details]
        self._out_index = [d["index"] for d in out_details]
        self._out_quant = [_litert_quant(d) for d in out_details]
        self._shape: list[tuple[int, ...]] | None = None
        self._dynamic = any(-1 in s.shape for s in self.inputs)
        self._per_sample = _fixed_batch_one(self.inputs)
        if not self._dynamic:
            self._allocate([tuple(d["shape"]) for d in in_details])

    def _allocate(self, shapes: list[tuple[int, ...]]) -> None:
        """Resize the inputs (when needed) and allocate tensors."""
        if self._shape == shapes:
            return
        try:
            if self._shape is not None or self._dynamic:
                for idx, shape in zip(self._in_index, shapes):
                    self._interp.resize_tensor_input(idx, list(shape), strict=False)
            self._interp.allocate_tensors()
        except Exception as exc:
            raise ConversionError(f"LiteRT cannot allocate tensors: {_first_line(exc)}") from exc
        self._shape = shapes

    def _invoke(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One interpreter call on inputs whose shapes the interpreter accepts."""
        self._allocate([tuple(np.shape(x)) for x in inputs])
        for idx, x, spec in zip(self._in_index, inputs, self.inputs):
            self._interp.set_tensor(idx, np.ascontiguousarray(x, dtype=spec.dtype))
        try:
            self._interp.invoke()
        except Exception as exc:
            raise ConversionError(f"LiteRT failed to run the model: {_first_line(exc)}") from exc
        return [
            dequantize(np.array(self._interp.get_tensor(i)), q)
            for i, q in zip(self._out_index, self._out_quant)
        ]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Execute the model on a batch; returns float32, dequantized outputs."""
        batch = _split_batch(inputs, self.inputs)
        if self._per_sample and batch != 1 and not self._dynamic:
            return _concat([self._invoke([x[b : b + 1] for x in inputs]) for b in range(batch)])
        return self._invoke(inputs)

    def tensor(self, index: int) -> np.ndarray:
        """A copy of any tensor after ``run`` (needs ``preserve_all_tensors``)."""
        return np.array(self._interp.get_tensor(index))

    def tensor_details(self) -> list[dict[str, Any]]:
        """LiteRT's description of every tensor."""
        return list(self._interp.get_tensor_details())


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's text (LiteRT appends long logs)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
