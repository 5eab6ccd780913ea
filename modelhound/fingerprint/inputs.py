"""Feeding the same pairs to models with different inputs: shape, layout, dtype and range.

A :class:`PairSet` holds images in canonical space (float32 NHWC in [0, 1]). An
:class:`InputAdapter` maps them onto one model input:

1. **shape**: bilinear resize (half-pixel centres) to the model's height and width, and
   grey <-> RGB (replicate / average) to its channel count;
2. **layout**: NHWC, NCHW, or rank-3 ``[N, H, W]`` grey images;
3. **value range** (model float space):

   * TFLite metadata ``NormalizationOptions`` when present: ``(255 * p - mean) / std``;
   * quantized integer inputs: the raw pixel bytes apps feed (``uint8 = 255 p``,
     ``int8 = 255 p - 128``); the float space is then the dequantised value
     ``scale * (q - zero_point)``;
   * unquantized ``uint8``: ``255 p``;
   * otherwise (float inputs without metadata): **``p`` in [0, 1]**, the documented default;
4. **dtype**: quantize with the input's scale / zero point, or cast.

Non-image inputs (rank 2, or shapes that do not look like images) take the stored values
as they are, in model float space; their sizes must match.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from modelhound.errors import ProfileError
from modelhound.records import TensorSpec

_INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767)}


@dataclass(frozen=True)
class Normalization:
    """TFLite metadata normalisation: ``float = (raw - mean) / std``, per channel or global."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


def _image_geometry(spec: TensorSpec) -> tuple[str, int, int, int] | None:
    """(layout, H, W, C) when ``spec`` looks like an image batch, else None (also for
    speech features named so, e.g. ``Mfcc`` [1, 25, 10]: see :mod:`.domain`)."""
    from modelhound.fingerprint.domain import is_feature_input

    shape = spec.shape
    if is_feature_input(spec):
        return None
    if len(shape) == 4:
        layout = spec.layout
        if layout is None:
            if shape[-1] in (1, 3, 4):
                layout = "NHWC"
            elif shape[1] in (1, 3, 4):
                layout = "NCHW"
            else:
                return None
        if layout == "NHWC":
            return "NHWC", shape[1], shape[2], shape[3]
        if layout == "NCHW":
            return "NCHW", shape[2], shape[3], shape[1]
        return None
    if len(shape) == 3 and shape[1] >= 8 and shape[2] >= 8 and shape[2] not in (1, 3, 4):
        return "NHW", shape[1], shape[2], 1
    return None


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an NHWC float batch with bilinear interpolation (half-pixel centres, edges
    clamped, no antialiasing), in float32.

    OpenCV's ``INTER_LINEAR`` computes this formula with float32 weights; it stays within
    2.5e-7 (two float32 ulp at 1.0) of the float64 arithmetic modelhound used before
    (tests/corpus/test_suspect_runs.py) and is ~10x faster, which is what a scan's resize of
    every probe set to a suspect's input size costs.
    """
    import cv2

    n, h, w, c = images.shape
    if (h, w) == (height, width):
        return images.astype(np.float32, copy=False)
    src = np.ascontiguousarray(images, dtype=np.float32)
    out = np.empty((n, height, width, c), dtype=np.float32)
    # 1, 3 and 4 channels in one call; others one channel at a time: OpenCV's 2-channel
    # path was off by up to 8.5e-6 here, and 6 channels at once rounded otherwise than 3 + 3
    step = c if c in (1, 3, 4) else 1
    for i in range(n):
        for k in range(0, c, step):
            part = np.ascontiguousarray(src[i, :, :, k : k + step])
            got = cv2.resize(part, (width, height), interpolation=cv2.INTER_LINEAR)
            out[i, :, :, k : k + step] = got.reshape(height, width, step)
    return out


def _match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    c = images.shape[-1]
    if c == channels:
        return images
    if c == 1:
        return np.repeat(images, channels, axis=-1)
    grey = images[..., :3].mean(axis=-1, keepdims=True)
    return grey if channels == 1 else np.repeat(grey, channels, axis=-1)


@dataclass(frozen=True)
class InputAdapter:
    """Maps canonical-space inputs onto one model input (see module docstring)."""

    spec: TensorSpec
    normalization: Normalization | None = None

    @property
    def geometry(self) -> tuple[str, int, int, int] | None:
        """(layout, H, W, C) for image inputs, None otherwise."""
        return _image_geometry(self.spec)

    @property
    def is_image(self) -> bool:
        """Whether the input is treated as an image."""
        return self.geometry is not None

    @property
    def _quant(self) -> tuple[float, int] | None:
        q = self.spec.quantization
        if self.spec.dtype in _INT_RANGES and q is not None and q.scale:
            return float(q.scale[0]), int(q.zero_point[0])
        return None

    def _pixel_to_float(self, p: np.ndarray) -> np.ndarray:
        """Pixels in [0, 1] (model layout already) to model float space."""
        dtype = self.spec.dtype
        if dtype in _INT_RANGES:
            lo = _INT_RANGES[dtype][0] if dtype == "int8" else 0
            raw = 255.0 * p + (lo if dtype == "int8" else 0)
            quant = self._quant
            return raw if quant is None else quant[0] * (raw - quant[1])
        if self.normalization is not None:
            mean, std = self._norm_arrays()
            return (255.0 * p - mean) / std
        return p

    def _float_to_pixel(self, x: np.ndarray) -> np.ndarray:
        dtype = self.spec.dtype
        if dtype in _INT_RANGES:
            quant = self._quant
            raw = x if quant is None else x / quant[0] + quant[1]
            return (raw - (-128 if dtype == "int8" else 0)) / 255.0
        if self.normalization is not None:
            mean, std = self._norm_arrays()
            return (x * std + mean) / 255.0
        return x

    def _norm_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.normalization is not None
        geo = self.geometry
        channels = geo[3] if geo else 1
        mean = np.asarray(self.normalization.mean, dtype=np.float32)
        std = np.asarray(self.normalization.std, dtype=np.float32)
        if geo is not None and geo[0] == "NCHW" and mean.size == channels:
            return mean.reshape(1, -1, 1, 1), std.reshape(1, -1, 1, 1)
        return mean, std

    def to_float(self, canonical: np.ndarray) -> np.ndarray:
        """Canonical inputs to this model's float space, in its layout and size."""
        geo = self.geometry
        x = np.asarray(canonical, dtype=np.float32)
        if geo is None:
            want = tuple(d for d in self.spec.shape[1:])
            if any(d > 0 for d in want) and x.shape[1:] != want:
                raise ProfileError(
                    f"{self.spec.describe()}: stored inputs of shape {x.shape[1:]} do not fit"
                )
            return x.astype(np.float32)
        if x.ndim != 4:
            raise ProfileError(f"{self.spec.describe()}: expected image pairs, got {x.shape}")
        layout, h, w, c = geo
        h = h if h > 0 else x.shape[1]
        w = w if w > 0 else x.shape[2]
        img = _match_channels(resize_bilinear(x, h, w), c)
        if layout == "NCHW":
            img = img.transpose(0, 3, 1, 2)
        elif layout == "NHW":
            img = img[..., 0]
        return np.asarray(self._pixel_to_float(img), dtype=np.float32)

    def float_to_canonical(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_float` at this model's size (for the generator model)."""
        geo = self.geometry
        x = np.asarray(x, dtype=np.float32)
        if geo is None:
            return x
        p = self._float_to_pixel(x)
        if geo[0] == "NCHW":
            p = p.transpose(0, 2, 3, 1)
        elif geo[0] == "NHW":
            p = p[..., None]
        return np.asarray(p, dtype=np.float32)

    def float_to_model(self, x: np.ndarray) -> np.ndarray:
        """Model float space to the declared dtype (quantize or cast)."""
        dtype = self.spec.dtype
        if dtype in _INT_RANGES:
            lo, hi = _INT_RANGES[dtype]
            quant = self._quant
            raw = x if quant is None else x / quant[0] + quant[1]
            return np.clip(np.round(raw), lo, hi).astype(dtype)
        return np.asarray(x).astype(dtype)

    def to_model(self, canonical: np.ndarray) -> np.ndarray:
        """Canonical inputs to what ``Runnable.run`` takes for this input."""
        return self.float_to_model(self.to_float(canonical))

    def describe(self) -> str:
        """How the inputs are fed: spec plus value mapping."""
        if not self.is_image:
            how = "values as stored"
        elif self.spec.dtype in _INT_RANGES:
            how = "raw pixel bytes" + (" (quantized input)" if self._quant else "")
        elif self.normalization is not None:
            how = f"(255p - {list(self.normalization.mean)}) / {list(self.normalization.std)} (metadata)"
        else:
            how = "pixels in [0, 1] (default, no metadata)"
        return f"{self.spec.describe()} <- {how}"


# --- TFLite metadata (NormalizationOptions) -------------------------------------------------
# A tiny read-only FlatBuffers walker: enough of schema.fbs (Model.metadata, Model.buffers)
# and metadata_schema.fbs (ModelMetadata -> SubGraphMetadata -> TensorMetadata ->
# ProcessUnit -> NormalizationOptions) to read input normalisation without tflite-support.


class _Fb:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf

    def u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I", self.buf, pos)[0])

    def root(self, base: int = 0) -> int:
        return base + self.u32(base)

    def field(self, table: int, index: int) -> int | None:
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        vsize = struct.unpack_from("<H", self.buf, vtable)[0]
        slot = 4 + 2 * index
        if slot >= vsize:
            return None
        off = struct.unpack_from("<H", self.buf, vtable + slot)[0]
        return table + off if off else None

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, table: int, index: int) -> tuple[int, int] | None:
        pos = self.field(table, index)
        if pos is None:
            return None
        vec = self.deref(pos)
        return vec + 4, self.u32(vec)

    def tables(self, table: int, index: int) -> list[int]:
        vec = self.vector(table, index)
        if vec is None:
            return []
        start, n = vec
        return [self.deref(start + 4 * i) for i in range(n)]

    def string(self, table: int, index: int) -> str:
        vec = self.vector(table, index)
        if vec is None:
            return ""
        start, n = vec
        return self.buf[start : start + n].decode("utf-8", "replace")

    def floats(self, table: int, index: int) -> tuple[float, ...]:
        vec = self.vector(table, index)
        if vec is None:
            return ()
        start, n = vec
        return tuple(float(v) for v in struct.unpack_from(f"<{n}f", self.buf, start))


def tflite_input_normalization(model: bytes) -> tuple[Normalization | None, ...]:
    """Per model input, the NormalizationOptions of the TFLite metadata (None when absent).

    Returns an empty tuple when the file carries no ``TFLITE_METADATA``. Never raises on a
    malformed metadata buffer: it is advisory, so it is then treated as absent.
    """
    try:
        fb = _Fb(model)
        root = fb.root()
        meta_buf = None
        for meta in fb.tables(root, 6):
            if fb.string(meta, 0) == "TFLITE_METADATA":
                pos = fb.field(meta, 1)
                if pos is not None:
                    meta_buf = fb.u32(pos)
        if meta_buf is None:
            return ()
        buffer = fb.tables(root, 4)[meta_buf]
        offset_pos = fb.field(buffer, 1)
        offset = struct.unpack_from("<Q", model, offset_pos)[0] if offset_pos else 0
        if offset > 1:
            size_pos = fb.field(buffer, 2)
            size = struct.unpack_from("<Q", model, size_pos)[0] if size_pos else 0
            data = model[offset : offset + size]
        else:
            vec = fb.vector(buffer, 0)
            if vec is None:
                return ()
            data = model[vec[0] : vec[0] + vec[1]]
        md = _Fb(bytes(data))
        subgraphs = md.tables(md.root(), 3)
        if not subgraphs:
            return ()
        result: list[Normalization | None] = []
        for tensor in md.tables(subgraphs[0], 2):
            norm = None
            for unit in md.tables(tensor, 4):
                kind_pos = md.field(unit, 0)
                if kind_pos is None or md.buf[kind_pos] != 1:  # 1 = NormalizationOptions
                    continue
                opt_pos = md.field(unit, 1)
                if opt_pos is None:
                    continue
                opts = md.deref(opt_pos)
                mean, std = md.floats(opts, 0), md.floats(opts, 1)
                if mean and std and all(s != 0 for s in std):
                    norm = Normalization(mean=mean, std=std)
            result.append(norm)
        return tuple(result)
    except (struct.error, IndexError, ValueError):
        return ()
