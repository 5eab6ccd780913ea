"""Small helpers for the corpus tests."""

from __future__ import annotations

import hashlib

from modelhound.extractor.formats import HEAD_BYTES, describe, sniff
from modelhound.records import FoundModel, ModelEntry, Status


def found_model(data: bytes, name: str = "model.bin") -> FoundModel:
    """A FoundModel for bytes, as the extractor would hand it over."""
    s = sniff(data[:HEAD_BYTES], name, len(data))
    assert s is not None, name
    entry = ModelEntry(name, s.format, s.subformat, hashlib.sha256(data).hexdigest(), len(data),
                       Status.OK, info=describe(s, data))
    return FoundModel(entry, data)
