"""Free image sizes resolved before a reference's probe set is made.

Many detectors and recognisers declare a free height and width (PaddleOCR's ``x`` is
``[?, 3, ?, ?]``). Their probe set needs one size, and not every size runs: PP-OCRv4's text
recogniser fails at 224x224 (its neck concatenates along an axis that only a 48-pixel-high
line gives) and works at 48x320. Documented rule:

1. fixed dimensions are kept as declared;
2. a model its maker documents a smaller input size for (:data:`DOCUMENTED_SIZES`, by
   file name) takes that size when it runs there: PaddleOCR's text-direction classifiers
   are run on 48x192 crops (``cls_image_shape`` in PaddleOCR's and rapidocr's configs),
   so that is the input an app feeds them, and it costs a fifth of 224x224;
3. otherwise the free ones take the first of :data:`CANDIDATE_SIZES` (filtered by any
   fixed height or width) on which the model runs one mid-grey sample to finite outputs:

   * 224x224: ImageNet-style classifiers and most models (the size used so far, so their
     probe sets do not change);
   * 48x320: PaddleOCR v3/v4 text-line recognisers (rapidocr's ``rec_img_shape``);
   * 32x320: PaddleOCR v2 and CRNN recognisers;
   * 48x192: PaddleOCR's text-direction classifier (``cls_image_shape``);
   * 640x640: detectors (YOLO-style strides of 32);

4. when none runs, the input stays free and profiling reports the model's own error.

A suspect with a free size is fed each probe set at that probe set's own size, so it is
compared with a reference on the size the reference resolved to.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from modelhound.records import TensorSpec

CANDIDATE_SIZES: tuple[tuple[int, int], ...] = ((224, 224), (48, 320), (32, 320), (48, 192),
                                                (640, 640))

#: (file-name pattern, height, width, where the size is documented): sizes tried before
#: :data:`CANDIDATE_SIZES`. Only sizes smaller than the first candidate that runs belong
#: here (a larger documented size, e.g. SLANet's 488x488 or a detector's 736-pixel side,
#: would multiply the cost of its probe set; 224x224 stays for those).
DOCUMENTED_SIZES: tuple[tuple[str, int, int, str], ...] = (
    (r"(^|[/_.-])(ppocr|PP-OCR)[^/]*_cls([_./]|$)", 48, 192,
     "PaddleOCR text-direction classifier: cls_image_shape 3,48,192"),
)


def documented_size(file_name: str) -> tuple[int, int, str] | None:
    """(height, width, source) documented for a model file by its path (in its app, wheel
    or zoo folder), or None."""
    for pattern, h, w, why in DOCUMENTED_SIZES:
        if re.search(pattern, file_name):
            return h, w, why
    return None


def with_size(spec: TensorSpec, height: int, width: int) -> TensorSpec:
    """``spec`` with its free image height and width set (layout from its geometry)."""
    from modelhound.fingerprint.inputs import InputAdapter

    geo = InputAdapter(spec).geometry
    if geo is None:
        return spec
    shape = list(spec.shape)
    layout = geo[0]
    h_axis, w_axis = {"NHWC": (1, 2), "NCHW": (2, 3), "NHW": (1, 2)}[layout]
    if shape[h_axis] <= 0:
        shape[h_axis] = height
    if shape[w_axis] <= 0:
        shape[w_axis] = width
    return dataclasses.replace(spec, shape=tuple(shape), layout=spec.layout or
                               (layout if layout != "NHW" else None))


def resolve_image_size(runnable: Any, spec: TensorSpec, normalization: Any = None,
                       file_name: str = "") -> tuple[TensorSpec, str]:
    """(spec with free height/width resolved, how); the spec unchanged when nothing is free
    or no candidate runs (see module docstring). ``file_name``: the model's file, for its
    documented size."""
    from modelhound.fingerprint.inputs import InputAdapter

    geo = InputAdapter(spec).geometry
    if geo is None or (geo[1] > 0 and geo[2] > 0):
        return spec, ""
    _, h, w, c = geo
    tried = []
    documented = documented_size(file_name) if file_name else None
    candidates = [(documented[0], documented[1])] if documented else []
    for ch, cw in [*candidates, *CANDIDATE_SIZES]:
        if (h > 0 and h != ch) or (w > 0 and w != cw):
            continue
        fixed = with_size(spec, ch, cw)
        adapter = InputAdapter(fixed, normalization)
        grey = np.full((1, ch, cw, 1 if c == 1 else 3), 0.5, np.float32)
        try:
            outs = runnable.run([adapter.to_model(grey)])
            if all(np.all(np.isfinite(np.asarray(o, np.float64))) for o in outs):
                note = f"free image size resolved to {ch}x{cw}"
                if documented and (ch, cw) == candidates[0]:
                    note += f" (documented: {documented[2]})"
                return fixed, note + (f" ({', '.join(tried)} failed)" if tried else "")
        except Exception:  # noqa: BLE001 - the runtime's refusal of this size: try the next
            pass
        tried.append(f"{ch}x{cw}")
    return spec, ""
