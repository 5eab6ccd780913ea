"""The zoo index (zoo.sqlite) as ``--zoo DIR`` opens a folder a user hands over, with a real
reference's files beside it. Contract: a refused index is left byte for byte as it was and
the refusal (CorpusError) names the zoo; an accepted one is read, its references verified
and their weights loaded, with no other error."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil

from fuzz import seeds as S
from fuzz.driver import check_refusal, scratch_dir

MAX_LEN = 64 * 1024
_DIR = scratch_dir("fuzz-zoo-")
atexit.register(shutil.rmtree, _DIR, True)
_INDEX = os.path.join(_DIR, "zoo.sqlite")


def _build() -> bytes:
    """A zoo of two real references (stored as ``zoo add --no-profile`` stores them)."""
    import sqlite3

    from modelhound.corpus.zoo import Reference, Zoo, now
    from modelhound.errors import ExtractError
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.weights import multiset_key
    from modelhound.records import ModelFormat

    shutil.rmtree(_DIR, ignore_errors=True)
    os.makedirs(_DIR)
    zoo = Zoo.open(_DIR, create=True)
    for name, fmt, ext, data in (
            ("stress", ModelFormat.TFLITE, "tflite",
             S.fixture("models", "tflite", "leschiera-stress-model-v1.tflite")),
            ("mnist", ModelFormat.ONNX, "onnx",
             S.fixture("models", "onnx", "mnist-8.onnx"))):
        os.makedirs(os.path.join(_DIR, "refs", name))
        rel = f"refs/{name}/model.{ext}"
        with open(os.path.join(_DIR, rel), "wb") as f:
            f.write(data)
        try:
            tensors = read_tensors(fmt, "flatbuffer" if ext == "tflite" else "", data)
        except ExtractError:  # the light alexnet is graph-only: no weights to index
            tensors = []
        keys = [(multiset_key(t.values), int(t.values.size)) for t in tensors]
        zoo.insert(Reference(name=name, format=fmt.value,
                             subformat="flatbuffer" if ext == "tflite" else "",
                             sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                             files=(rel,), added=now()), keys)
    zoo.close()
    with sqlite3.connect(_INDEX) as db:
        db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    with open(_INDEX, "rb") as f:
        return f.read()


_SEED: bytes | None = None


def seeds() -> list[bytes]:
    """The real index, and text where an index should be."""
    global _SEED
    _SEED = _build()
    return [_SEED, b"not a zoo\n"]


def test_one(data: bytes) -> None:
    """Open the zoo, list and verify its references, load their weights."""
    from modelhound.corpus.match import Matcher
    from modelhound.corpus.zoo import Zoo, _load_tensors
    from modelhound.errors import CorpusError

    if _SEED is None:
        seeds()
    for suffix in ("-wal", "-shm", "-journal"):
        if os.path.exists(_INDEX + suffix):
            os.remove(_INDEX + suffix)
    with open(_INDEX, "wb") as f:
        f.write(data)
    before = hashlib.sha256(data).hexdigest()
    _load_tensors.cache_clear()
    try:
        zoo = Zoo.open(_DIR)
    except CorpusError as e:
        check_refusal(e, _DIR, _INDEX, before, "zoo index")
        return
    try:
        matcher = Matcher(zoo)
        for ref in matcher.refs:
            zoo.tensors(ref)
            zoo.by_sha256(ref.sha256)
        zoo.by_tensor_keys(["x"])
    except CorpusError:
        pass
    finally:
        zoo.close()
