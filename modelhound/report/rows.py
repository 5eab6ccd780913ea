"""One flat row per (app, model entry): the shape every report format shares.

An app without models gets one ``no-model`` row, an unreadable input one ``error`` row and
a repeated input one ``duplicate`` row, so nothing scanned disappears from a report.
Column names and order are part of modelhound's interface: later stages append columns,
they never rename or reorder these.
"""

from __future__ import annotations

from typing import Any, Mapping

from modelhound.records import AppScan, ModelAnalysis, ModelEntry, Status

#: columns in report order
COLUMNS: tuple[str, ...] = (
    "apk", "apk_sha256", "package", "version", "version_code", "app_label", "min_sdk",
    "target_sdk", "runtimes", "entry", "format", "subformat", "model_sha256", "size_bytes",
    "inputs", "outputs", "ops", "params", "quantization", "status", "reason", "evidence",
    "companions", "runnable", "runtime", "conversion_rel_error", "fidelity_reference",
    "not_runnable_reason",
    "apps_with_same_model", "match", "verdict", "reuse_type", "confidence", "similarity",
    "weight_similarity", "agreement", "structure", "match_evidence",
)

Row = dict[str, Any]

#: key of a row's nested evidence (data for drawing, not a column: JSON, the database and
#: the HTML report carry it; CSV and the terminal do not)
DETAIL = "evidence_detail"


def _app_cells(scan: AppScan) -> Row:
    a = scan.app
    return {
        "apk": a.path, "apk_sha256": a.sha256, "package": a.package, "version": a.version_name,
        "version_code": a.version_code, "app_label": a.label, "min_sdk": a.min_sdk,
        "target_sdk": a.target_sdk, "runtimes": list(a.runtimes),
    }


def _model_cells(e: ModelEntry) -> Row:
    info = e.info
    return {
        "entry": e.entry, "format": e.format.value, "subformat": e.subformat,
        "model_sha256": e.sha256, "size_bytes": e.size,
        "inputs": [t.describe() for t in info.inputs] if info else [],
        "outputs": [t.describe() for t in info.outputs] if info else [],
        "ops": info.op_count if info else None,
        "params": info.param_count if info else None,
        "quantization": info.quantization if info else "",
        "status": e.status.value, "reason": e.reason, "evidence": e.evidence,
        "companions": list(e.companions),
    }


_EMPTY_MODEL: Row = {
    "entry": "", "format": "", "subformat": "", "model_sha256": "", "size_bytes": None,
    "inputs": [], "outputs": [], "ops": None, "params": None, "quantization": "",
    "evidence": "", "companions": [],
}


def _analysis_cells(a: ModelAnalysis | None) -> Row:
    row: Row = {"runnable": "", "runtime": "", "conversion_rel_error": None, "fidelity_reference": "",
                "not_runnable_reason": "", "match": "", "verdict": "", "reuse_type": "",
                "confidence": None, "similarity": None, "weight_similarity": None,
                "agreement": None, "structure": None, "match_evidence": ""}
    if a is None:
        return row
    if a.runnable is not None:
        row.update(runnable="yes" if a.runnable else "no", runtime=a.runtime,
                   conversion_rel_error=a.conversion_rel_error,
                   fidelity_reference=a.fidelity_reference,
                   not_runnable_reason=a.not_runnable_reason)
    if a.matched:
        row.update(match=a.match, verdict=a.verdict, reuse_type=a.reuse_type,
                   confidence=a.confidence, similarity=a.similarity,
                   weight_similarity=a.weight_similarity, agreement=a.agreement,
                   structure=a.structure, match_evidence=a.match_evidence)
        if a.detail:
            row[DETAIL] = dict(a.detail)
    return row


def rows(scan: AppScan, extra: Mapping[str, Mapping[str, Any]] | None = None) -> list[Row]:
    """The report rows of one scanned input.

    ``extra`` maps a model entry path to additional columns (conversion, match) that
    later stages contribute.
    """
    app = _app_cells(scan)
    out: list[Row] = []
    if scan.status in (Status.ERROR, Status.DUPLICATE) or not scan.models:
        row = {**app, **_EMPTY_MODEL, **_analysis_cells(None), "status": scan.status.value}
        if scan.error:
            row["reason"] = scan.error
        elif scan.duplicate_of:
            row["reason"] = f"same sha256 as {scan.duplicate_of}"
        else:
            row["reason"] = "; ".join(scan.app.problems)
        out.append(row)
        return out
    analysis = dict(scan.analysis)
    for e in scan.models:
        row = {**app, **_model_cells(e), **_analysis_cells(analysis.get(e.entry))}
        row.update((extra or {}).get(e.entry, {}))
        out.append(row)
    return out


def cell_text(value: Any) -> str:
    """A cell as text (CSV and terminal): lists joined with ``; ``, None empty."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
