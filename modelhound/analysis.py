"""The later stages of a scan, per extracted model: conversion now, matching next.

Models are analysed once per content (sha256) per scan: the same SDK model in 30 apps is
converted once. Conversions run in isolated worker processes (see converters.pool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelhound.extractor import Extraction
from modelhound.records import FoundModel, ModelAnalysis, ModelFormat, Status


def _describe_failure(fmt: ModelFormat, subformat: str) -> str:
    if fmt is ModelFormat.CAFFE and subformat == "caffemodel":
        return "Caffe weights without a matching prototxt in the app"
    return f"{fmt.value} models cannot be run yet (recognised and reported only)"


@dataclass
class Analyzer:
    """Converts every runnable model of an extraction; use as a context manager."""

    convert: bool = True
    workers: int = 1
    _pool: Any = None
    _cache: dict[str, ModelAnalysis] = field(default_factory=dict)

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the conversion workers."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _conversion(self, found: FoundModel) -> ModelAnalysis:
        e = found.entry
        if not e.format.runnable or (e.format is ModelFormat.CAFFE and e.subformat == "caffemodel"):
            return ModelAnalysis(runnable=False, not_runnable_reason=_describe_failure(e.format, e.subformat))
        if e.format is ModelFormat.CAFFE and e.subformat == "prototxt":
            return ModelAnalysis(runnable=False,
                                 not_runnable_reason="Caffe definition without weights")
        if self._pool is None:
            from modelhound.converters import ConverterPool

            self._pool = ConverterPool(self.workers)
        c = self._pool.convert(found)
        return ModelAnalysis(
            runnable=c.runnable, runtime=c.runtime, conversion_rel_error=c.rel_error,
            not_runnable_reason="" if c.runnable else c.reason,
            conversion_note=c.reason if c.runnable else "",
        )

    def analyse(self, extraction: Extraction) -> tuple[tuple[str, ModelAnalysis], ...]:
        """(entry, analysis) for every recognised model of one input."""
        if not self.convert:
            return ()
        out = []
        for found in extraction.models:
            if found.entry.status is not Status.OK:
                continue
            key = found.entry.sha256 + "|" + ",".join(sorted(found.companions))
            if key not in self._cache:
                self._cache[key] = self._conversion(found)
            out.append((found.entry.entry, self._cache[key]))
        return tuple(out)
