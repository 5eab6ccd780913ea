"""Format sniffers: an explicit, ordered registry (no import side effects).

Sniffers look only at the first bytes of a blob (``HEAD_BYTES``), the blob's name (as a
hint, never alone) and its size. The first match wins, so formats with a true magic
number come before the structural protobuf and FlatBuffer checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from modelhound.errors import ExtractError
from modelhound.extractor.formats import (
    caffe,
    misc,
    mnn,
    ncnn,
    onnx,
    pytorch,
    savedmodel,
    tf_graphdef,
    tfjs,
    tflite,
)
from modelhound.records import ModelFormat, ModelInfo, Sniffed

#: how much of each blob the sniffers see
HEAD_BYTES = 64 * 1024

Matcher = Callable[[bytes, str, int], "Sniffed | None"]


@dataclass(frozen=True)
class Sniffer:
    """One named content check."""

    name: str
    match: Matcher


SNIFFERS: tuple[Sniffer, ...] = (
    Sniffer("tflite", tflite.match),
    Sniffer("flatbuffer-identifier", misc.flatbuffer_id),
    Sniffer("pytorch", pytorch.match),
    Sniffer("ncnn", ncnn.match),
    Sniffer("keras-h5", misc.keras_h5),
    Sniffer("tnn", misc.tnn),
    Sniffer("vendor-headers", misc.vendor_headers),
    Sniffer("paddle-lite", misc.paddle_lite),
    Sniffer("tf-savedmodel", savedmodel.match),  # before ONNX: field 2 is ONNX's producer
    Sniffer("onnx", onnx.match),
    Sniffer("tf-graphdef", tf_graphdef.match),
    Sniffer("caffe", caffe.match),
    Sniffer("paddle", misc.paddle),
    Sniffer("coreml", misc.coreml),
    Sniffer("mnn", misc.mnn),
    Sniffer("tfjs", tfjs.match),
)

#: zip members that make an archive a model container rather than a folder of files
CONTAINER_MATCHERS: tuple[Callable[[list[str]], "Sniffed | None"], ...] = (
    pytorch.match_container,
    misc.match_container,
)


def sniff(head: bytes, name: str, size: int) -> Sniffed | None:
    """The first sniffer that recognises ``head``; None for anything else."""
    for sniffer in SNIFFERS:
        try:
            found = sniffer.match(head, name, size)
        except (ValueError, IndexError, KeyError) as e:  # a sniffer must never crash a scan
            raise ExtractError(f"sniffer {sniffer.name} failed: {e}") from e
        if found is not None:
            return found
    return None


def sniff_container(names: list[str]) -> Sniffed | None:
    """Model container recognised from a zip's member names."""
    for matcher in CONTAINER_MATCHERS:
        found = matcher(names)
        if found is not None:
            return found
    return None


def describe(sniffed: Sniffed, data: bytes) -> ModelInfo | None:
    """Read a model's description; None for formats only recognised, not parsed.

    Raises :class:`ExtractError` when the bytes are malformed for the format.
    """
    fmt = sniffed.format
    if fmt is ModelFormat.TFLITE and sniffed.subformat == "flatbuffer":
        return tflite.describe(data)
    if fmt is ModelFormat.ONNX:
        return onnx.describe(data)
    if fmt is ModelFormat.TF_GRAPHDEF:
        return tf_graphdef.describe(data)
    if fmt is ModelFormat.CAFFE:
        return caffe.describe(data, sniffed.subformat)
    if fmt is ModelFormat.NCNN:
        return ncnn.describe(data, sniffed.subformat)
    if fmt is ModelFormat.TFJS:
        return tfjs.describe(data)
    if fmt is ModelFormat.MNN:
        return mnn.describe(data)
    if fmt is ModelFormat.TF_SAVED_MODEL:
        return savedmodel.describe(data)
    return None
