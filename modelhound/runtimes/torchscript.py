"""TorchScript and PyTorch Lite (CPU torch, the ``gradient`` extra) from their zip archives.

TorchScript declares argument types but no shapes. A ``forward(x, sr: int)`` is an audio
model: ``sr`` is held at 16000 and ``x`` is one 512-sample window (32 ms), and a module
with ``reset_states()`` (silero-vad) is reset before every sample. Documented rule for a
single tensor argument: the first weight tensor of the archive decides; a 4-D convolution weight
``[O, I, kh, kw]`` means NCHW images with ``I`` channels and free height and width (the
probe set's own size), a 3-D ``[O, I, k]`` means ``[N, I, L]`` sequences, a 2-D ``[O, I]``
means vectors of ``I`` values. A plain ``torch.save`` archive or a legacy pickle is a state
dict (weights without a graph): reported as such, never run. Loading runs the archive's
TorchScript code inside the torch interpreter, so it happens only in a worker.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np

from modelhound.converters.runtimes import _split_batch
from modelhound.errors import ConversionError, ExtractError
from modelhound.records import TensorSpec
from modelhound.fingerprint.binding import _RATE, AUDIO_WINDOW, DEFAULT_SAMPLE_RATE
from modelhound.runtimes.interface import WEIGHTS_ONLY, NativeModel

name = "torch"


def graph_only(model: NativeModel) -> str:
    """State dicts carry weights only (no code to run)."""
    if model.subformat in ("legacy-pickle", "zip"):
        return (f"{WEIGHTS_ONLY}: PyTorch state dict, weights without the network's code "
                "(nothing to run; its weights are still compared)")
    if model.subformat == "mobile-flatbuffer":
        return "PyTorch mobile FlatBuffer: no runtime in the CPU torch wheel"
    return ""


def version() -> str:
    """torch's version."""
    import torch

    return str(torch.__version__)


def _spec_from_weights(model: NativeModel, arg: str) -> TensorSpec:
    from modelhound.extractor.tensors import read_tensors
    from modelhound.records import ModelFormat

    try:
        tensors = read_tensors(ModelFormat.PYTORCH, model.subformat, model.data)
    except ExtractError as exc:
        raise ConversionError(f"{model.name}: cannot read its weights to infer the input "
                              f"shape ({exc})") from exc
    for t in tensors:
        if t.name.endswith("weight") or t.values.ndim >= 2:
            shape = t.values.shape
            if len(shape) == 4:
                return TensorSpec(arg, (1, shape[1], -1, -1), "float32", layout="NCHW")
            if len(shape) == 3:
                return TensorSpec(arg, (1, shape[1], 64), "float32")
            if len(shape) == 2:
                return TensorSpec(arg, (1, shape[1]), "float32")
    raise ConversionError(f"{model.name}: no weight tensor tells the input shape")


class TorchRunnable:
    """A TorchScript module's ``forward`` on CPU, under ``torch.no_grad``."""

    runtime = name

    def __init__(self, model: NativeModel, threads: int = 1) -> None:
        import torch

        torch.set_num_threads(threads)
        try:
            self._module = torch.jit.load(io.BytesIO(model.data), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - torch's errors are untyped RuntimeErrors
            try:
                from torch.jit.mobile import _load_for_lite_interpreter

                self._module = _load_for_lite_interpreter(io.BytesIO(model.data), "cpu")
            except Exception:  # noqa: BLE001
                raise ConversionError(f"{model.name}: torch cannot load it: "
                                      f"{str(exc).splitlines()[0][:200]}") from exc
        self._module.eval()
        args = self._arguments()
        tensors = [a for a, kind in args if kind == "Tensor"]
        others = [(a, kind) for a, kind in args if kind != "Tensor"]
        if not tensors:
            raise ConversionError(f"{model.name}: forward() takes no tensor")
        self._extra: list[Any] = []
        for a, kind in others:
            if kind == "int" and _RATE.match(a):
                self._extra.append(DEFAULT_SAMPLE_RATE)
                continue
            raise ConversionError(f"{model.name}: forward() also takes {a}: {kind} (only a "
                                  "sample-rate int is held at a documented value)")
        self._reset = getattr(self._module, "reset_states", None)
        if self._extra:  # audio with a sample rate: one window of samples per call
            self.inputs = (TensorSpec(tensors[0], (1, AUDIO_WINDOW - 64), "float32",
                                      layout="audio"),)  # the audio domain (fingerprint.domain)
        else:
            self.inputs = tuple(_spec_from_weights(model, a) for a in tensors[:1])
        if len(tensors) > 1:
            raise ConversionError(f"{model.name}: forward() takes {len(tensors)} tensors "
                                  "(multi-input TorchScript models are not run yet)")
        self.outputs = (TensorSpec("output", (), "float32"),)

    def _arguments(self) -> list[tuple[str, str]]:
        try:
            schema = self._module.forward.schema
            return [(a.name, str(a.type)) for a in schema.arguments if a.name != "self"
                    and a.default_value is None]
        except AttributeError:  # lite modules expose no schema: one tensor assumed
            return [("input", "Tensor")]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One forward on the whole batch; the first tensor of the result."""
        import torch

        batch = _split_batch(inputs, self.inputs)
        if self._reset is None and not self._extra:
            return [self._call([np.asarray(x) for x in inputs])]
        parts = []
        for b in range(batch):  # a stateful module starts every sample from its reset state
            if self._reset is not None:
                self._reset()
            parts.append(self._call([np.asarray(x[b:b + 1]) for x in inputs]))
        return [np.concatenate(parts, axis=0)]

    def differentiable(self) -> Any | None:
        """This model's own graph as a torch module for PGD: ``module(x)`` computes what
        :meth:`run` computes on a float batch ``x`` (the sample rate held, a stateful module
        reset first), with gradients to ``x``; its weights are frozen. None when a sample
        of the declared shape gets no gradient through it (the graph detaches its input).
        PGD still compares a batched pass with one-sample passes before trusting it
        (:func:`modelhound.fingerprint.gradient.batch_mode`)."""
        import torch

        wrapper = _differentiable_module(self._module, self._extra, self._reset)
        shape = self.inputs[0].shape
        if all(d > 0 for d in shape[1:]):
            x = torch.zeros((1, *shape[1:]), requires_grad=True)
            try:
                y = wrapper(x)
            except Exception:  # noqa: BLE001 - torch's errors are untyped RuntimeErrors
                return None
            if not getattr(y, "requires_grad", False):
                return None
        return wrapper

    def _call(self, inputs: list[np.ndarray]) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self._module(*[torch.from_numpy(np.ascontiguousarray(x, np.float32))
                                 for x in inputs], *self._extra)
        return np.asarray(_first_tensor(out).detach().numpy(), dtype=np.float32)


def _first_tensor(out: Any) -> Any:
    while isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return out


def _differentiable_module(module: Any, extra: list[Any], reset: Any) -> Any:
    """A ``torch.nn.Module`` around a TorchScript module (built here so that importing this
    file does not import torch)."""
    import torch

    class Differentiable(torch.nn.Module):  # type: ignore[misc]
        """``module(x, *extra)``'s first tensor, from the reset state."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = module
            for p in module.parameters():
                p.requires_grad_(False)

        def forward(self, x: Any) -> Any:
            """One batched pass with gradients to ``x``."""
            if reset is not None:
                reset()
            return _first_tensor(self.inner(x, *extra))

    return Differentiable()


def open(model: NativeModel, threads: int = 1) -> TorchRunnable:  # noqa: A001 - interface verb
    """The archive loaded by torch."""
    reason = graph_only(model)
    if reason:
        raise ConversionError(f"{model.name}: {reason}")
    return TorchRunnable(model, threads)
