"""What the scan does with one blob that a sniffer claims: sniff, parse, describe, read the
weight tensors (the reader behind weight evidence). Only ExtractError may come out of each
step; the scan turns it into an `unreadable` row."""

from __future__ import annotations

from typing import Mapping

# the describers import these lazily; a scan pays that once, so must the fuzzer, not on
# whichever input first reaches them (4 s for onnx under load: a false "timeout" finding)
import h5py  # noqa: F401
import onnx  # noqa: F401
import onnx.helper  # noqa: F401
import onnx.numpy_helper  # noqa: F401

from modelhound.errors import ExtractError
from modelhound.extractor.formats import HEAD_BYTES, caffe, describe, sniff
from modelhound.extractor.tensors import read_tensors
from modelhound.records import ModelFormat


def blob(data: bytes, name: str, companions: Mapping[str, bytes] | None = None) -> None:
    """Every reader the scan and the weight evidence run on ``data`` named ``name``."""
    try:
        sniffed = sniff(data[:HEAD_BYTES], name, len(data))
    except ExtractError:
        return
    if sniffed is None:
        return
    if sniffed.format is ModelFormat.CAFFE:
        try:
            caffe.parse(data, sniffed.subformat)
        except ExtractError:
            pass
    try:
        describe(sniffed, data)
    except ExtractError:
        pass
    try:
        read_tensors(sniffed.format, sniffed.subformat, data, companions)
    except ExtractError:
        pass
