"""Shared fixtures of the converters tests: real models read in place, one worker pool.

Every fixture model is converted once per session through one :class:`ConverterPool`
(the expensive part); tests then inspect the conversions and re-run them in-process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from modelhound.converters import Conversion, ConverterPool
from modelhound.records import FoundModel, ModelEntry, ModelFormat, Status
from tests.conftest import FIXTURES

MODELS = FIXTURES / "models"


def found_model(
    name: str, data: bytes, fmt: ModelFormat, subformat: str = "",
    companions: Mapping[str, bytes] | None = None,
) -> FoundModel:
    """A FoundModel record for bytes, as the extractor would hand it over."""
    entry = ModelEntry(
        entry=name, format=fmt, subformat=subformat, sha256=hashlib.sha256(data).hexdigest(),
        size=len(data), status=Status.OK, companions=tuple(companions or ()),
    )
    return FoundModel(entry, data, dict(companions or {}))


def from_file(path: Path, fmt: ModelFormat, subformat: str = "") -> FoundModel:
    """A FoundModel for a fixture file, named by its path under models/."""
    return found_model(str(path.relative_to(MODELS)), path.read_bytes(), fmt, subformat)


def caffe_pairs() -> list[tuple[Path, Path]]:
    """(prototxt, caffemodel) pairs of the Caffe fixtures, matched by content.

    A caffemodel's NetParameter name must equal its prototxt's (upstream MTCNN swapped
    det2/det3 file names: det2.prototxt is oNet, det2.caffemodel is rNet).
    """
    from modelhound.protos import caffe

    caffe_dir = MODELS / "caffe"
    protos = {caffe.parse_prototxt(p.read_text()).name: p for p in caffe_dir.glob("*.prototxt")}
    pairs = []
    for model in sorted(caffe_dir.glob("*.caffemodel")):
        name = caffe.parse_caffemodel(model.read_bytes()).name
        if name in protos:
            pairs.append((protos[name], model))
    return pairs


def caffe_found(prototxt: Path, caffemodel: Path) -> FoundModel:
    """A caffemodel entry with its prototxt as companion."""
    return found_model(
        str(caffemodel.relative_to(MODELS)), caffemodel.read_bytes(), ModelFormat.CAFFE,
        "caffemodel", {str(prototxt.relative_to(MODELS)): prototxt.read_bytes()},
    )


TFLITE_FILES = sorted((MODELS / "tflite").rglob("*.tflite"))
ONNX_FILES = sorted((MODELS / "onnx").rglob("*.onnx"))
PB_FILES = sorted((MODELS / "tf-pb").glob("*.pb"))


def all_fixture_models() -> list[FoundModel]:
    """Every TFLite, ONNX, Caffe and TF GraphDef fixture as a FoundModel."""
    models = [from_file(p, ModelFormat.TFLITE) for p in TFLITE_FILES]
    models += [from_file(p, ModelFormat.ONNX) for p in ONNX_FILES]
    models += [caffe_found(p, m) for p, m in caffe_pairs()]
    models += [from_file(p, ModelFormat.TF_GRAPHDEF) for p in PB_FILES]
    return models


@pytest.fixture(scope="session")
def pool() -> Iterator[ConverterPool]:
    """Two conversion workers shared by the whole session."""
    with ConverterPool(2, timeout_s=400) as p:
        yield p


@pytest.fixture(scope="session")
def conversions(pool: ConverterPool) -> dict[str, Conversion]:
    """Every fixture model converted once: entry name -> Conversion."""
    models = all_fixture_models()
    return {m.entry.entry: c for m, c in zip(models, pool.convert_all(models))}
