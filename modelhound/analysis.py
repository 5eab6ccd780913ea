"""The later stages of a scan, per extracted model: conversion, then matching.

Models are analysed once per content (sha256) per scan: the same SDK model in 30 apps is
converted and matched once. Conversions run in isolated worker processes (see
converters.pool); matching compares weights and replays the zoo's probe pairs. With a
:class:`modelhound.cache.ResultCache`, conversions, weight tensors and runs on each probe
set are also remembered across scans: a model seen before is neither converted nor run
again, and the conversion worker is not even started.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from modelhound.cache import TRANSIENT
from modelhound.converters.second_path import CHECKED
from modelhound.extractor import Extraction
from modelhound.records import FoundModel, ModelAnalysis, ModelFormat, Status


def _not_runnable(fmt: ModelFormat, subformat: str) -> str:
    if fmt is ModelFormat.CAFFE and subformat == "caffemodel":
        return "Caffe weights without a matching prototxt in the app"
    if fmt is ModelFormat.CAFFE and subformat == "prototxt":
        return "Caffe definition without weights"
    return f"{fmt.value} models cannot be run yet (recognised and reported only)"


@dataclass
class Analyzer:
    """Converts and matches every model of an extraction; use as a context manager."""

    convert: bool = True
    matcher: Any = None
    """A :class:`modelhound.corpus.match.Matcher`, or None for no matching."""
    workers: int = 1
    cache: Any = None
    """A :class:`modelhound.cache.ResultCache` shared across scans, or None."""
    onnx: bool = False
    """Build and check the ONNX form of TFLite models too; by default LiteRT runs them
    natively (the scan needs their outputs, not another form of them)."""
    _pool: Any = None
    _cache: dict[str, ModelAnalysis] = field(default_factory=dict)
    _transient: bool = False
    """Set while analysing a model when a failure said nothing about the model (a worker
    timed out or died): that analysis is not remembered across scans."""

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(kill=exc_type is not None)

    def close(self, kill: bool = False) -> None:
        """Stop the conversion workers (``kill``: at once, not after their model)."""
        if self._pool is not None:
            self._pool.close(kill=kill)
            self._pool = None

    def pool(self) -> Any:
        """The conversion workers, started on first use."""
        if self._pool is None:
            from modelhound.converters import ConverterPool

            self._pool = ConverterPool(self.workers)
        return self._pool

    def _native(self, found: FoundModel) -> Any:
        """A TFLite model opened and run by LiteRT in a worker (no ONNX form built)."""
        from modelhound.converters.interface import Conversion
        from modelhound.converters.pool import WorkerCallError

        try:
            return self.pool().call("modelhound.converters.tflite:native_here", found)
        except WorkerCallError as exc:
            return Conversion(found.entry.sha256, False, reason=f"{found.entry.entry}: {exc}")

    def _convert(self, found: FoundModel) -> tuple[ModelAnalysis, Any]:
        e = found.entry
        if not e.format.runnable or (e.format is ModelFormat.CAFFE and e.subformat != "caffemodel+prototxt"):
            return ModelAnalysis(runnable=False, not_runnable_reason=_not_runnable(e.format, e.subformat)), None
        native = e.format is ModelFormat.TFLITE and not self.onnx
        kind = "native" if native else "conversion"
        c = self.cache.conversion(found, kind) if self.cache is not None else None
        if c is None:
            c = self._native(found) if native else self.pool().convert(found)
            if self.cache is not None:
                self.cache.store_conversion(found, c, kind)
        if not c.runnable and any(t in c.reason for t in TRANSIENT):
            self._transient = True  # a slow or killed worker says nothing about the model
        return ModelAnalysis(
            runnable=c.runnable, runtime=c.runtime, conversion_rel_error=c.rel_error,
            not_runnable_reason="" if c.runnable else c.reason,
            conversion_note=c.reason if c.runnable else "",
        ), c

    def _match(self, found: FoundModel, analysis: ModelAnalysis, conversion: Any) -> ModelAnalysis:
        from modelhound.corpus.suspect import run_suspect
        from modelhound.errors import ExtractError
        from modelhound.extractor.tensors import read_tensors

        from modelhound.corpus.match import decide

        e = found.entry
        ran = "native" if e.format is ModelFormat.TFLITE and not self.onnx else "conversion"
        known = {}
        if self.cache is not None:
            for ref in self.matcher.refs:
                sig = self.cache.signals(found, ran, ref)
                if sig is not None:
                    known[ref.name] = sig
        # the suspect's weights and probe runs (served by the cache on a rescan: no conversion,
        # no inference); the report's evidence detail needs them even when every signal is known
        tensors = self.cache.tensors(found) if self.cache is not None else None
        if tensors is None:
            try:
                tensors = read_tensors(e.format, e.subformat, found.data, found.companions)
            except ExtractError:
                tensors = []
            if self.cache is not None:
                self.cache.store_tensors(found, tensors)
        run = run_suspect(self.matcher, found, conversion, self.pool, self.cache)
        if "running the model failed" in run.note:
            self._transient = True
        if known and len(known) == len(self.matcher.refs):  # seen against this very zoo
            m = decide([known[ref.name] for ref in self.matcher.refs])
        else:
            m = self.matcher.match(e.sha256, tensors, run.ddvs, run.note, run.outputs, known)
            if self.cache is not None and m is not None and "running the model failed" not in run.note:
                refs = {ref.name: ref for ref in self.matcher.refs}
                for sig in m.signals:
                    if sig.reference not in known:
                        self.cache.store_signals(found, ran, refs[sig.reference], sig)
        if m is None:
            return replace(analysis, matched=True, verdict="not-reused",
                           match_evidence="the zoo is empty")
        return replace(analysis, matched=True, match=m.reference, verdict=m.verdict,
                       reuse_type=m.reuse_type, confidence=m.confidence, similarity=m.similarity,
                       weight_similarity=m.weight_similarity, agreement=m.agreement,
                       structure=m.structure, match_evidence=m.evidence,
                       detail=self.matcher.detail(m, tensors, run.ddvs))

    def _analyse(self, found: FoundModel) -> ModelAnalysis:
        # a model seen before against this very zoo: one cache read, no weights, no runs
        whole = self.cache is not None and self.matcher is not None and self.convert
        ran = "native" if found.entry.format is ModelFormat.TFLITE and not self.onnx else "conversion"
        if whole:
            known = self.cache.analysis(found, ran, self.matcher.refs)
            if known is not None:
                return known
        self._transient = False
        analysis, conversion = self._convert(found) if self.convert else (ModelAnalysis(), None)
        if self.matcher is not None:
            analysis = self._match(found, analysis, conversion)
        if whole and not self._transient:
            self.cache.store_analysis(found, ran, self.matcher.refs, analysis)
        return analysis

    def analyse(self, extraction: Extraction) -> tuple[tuple[str, ModelAnalysis], ...]:
        """(entry, analysis) for every recognised model of one input."""
        if not self.convert and self.matcher is None:
            return ()
        out = []
        for found in extraction.models:
            if found.entry.status is not Status.OK:
                continue
            key = found.entry.sha256 + "|" + ",".join(sorted(found.companions))
            if key not in self._cache:
                self._cache[key] = self._analyse(found)
            analysis = self._cache[key]
            if self.convert and found.entry.format in CHECKED and analysis.runnable \
                    and analysis.conversion_rel_error is None:
                analysis = self._second_path(found, analysis, extraction.models)
            out.append((found.entry.entry, analysis))
        return tuple(out)

    def _second_path(self, found: FoundModel, analysis: ModelAnalysis,
                     models: tuple[FoundModel, ...]) -> ModelAnalysis:
        """An ncnn / MNN model's fidelity error against the network it was converted from,
        when the same app ships that too (see :mod:`modelhound.converters.second_path`).
        Remembered across scans under the model and the app's other models."""
        from modelhound.cache import model_key
        from modelhound.converters.pool import WorkerCallError
        from modelhound.converters.second_path import check_here, originals

        others = [m for m in models if m is not found and m.entry.status is Status.OK]
        key = {**model_key(found.entry.sha256, found.companions),
               "others": sorted([m.entry.sha256, m.entry.format.value, m.entry.entry]
                                for m in others)}
        hit = self.cache.get("second-path", key) if self.cache is not None else None
        if hit is not None:
            meta = hit[0]
        else:
            meta = {"reference": "", "error": None}
            failed = ""
            for original, kind in originals(found, others):  # the first that runs decides
                reference = f"{original.entry.entry} ({original.entry.format.value}, {kind})"
                try:
                    error = self.pool().call(f"{check_here.__module__}:check_here", found,
                                             original)
                except WorkerCallError as exc:
                    failed = failed or f"{reference}: not checked ({exc})"
                    continue
                meta["reference"] = reference
                meta["error"] = error if error == error and error != float("inf") else None
                if meta["error"] is None:
                    meta["reference"] += ": outputs do not line up"
                break
            meta["reference"] = meta["reference"] or failed
            if self.cache is not None and not any(t in meta["reference"] for t in TRANSIENT):
                self.cache.put("second-path", key, meta)
        if not meta["reference"]:
            return analysis
        return replace(analysis, conversion_rel_error=meta["error"],
                       fidelity_reference=meta["reference"])
