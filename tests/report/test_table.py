"""Golden tests of the terminal report at 80, 100 and 200 columns (rich Console, no colour).

The rows are shaped like a real scan's (the demo set matched against the default zoo):
reused models of every kind, a model not flagged, an encrypted blob, an unreadable input,
an app without models and the same model in two apps. Regenerate a golden file after a
deliberate change with ``MODELHOUND_REGOLD=1`` and read the diff.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from modelhound.report.table import TableFormat, _fit, human_size

GOLDEN = Path(__file__).parent / "golden"
APPS = "/data/corpus/apps"


def _row(apk: str, entry: str = "", **kw: Any) -> dict[str, Any]:
    row = {"apk": f"{APPS}/{apk}", "package": "com.demo." + apk.split(".")[0].replace("-", ""),
           "app_label": "", "entry": entry, "format": "tflite" if entry else "",
           "model_sha256": kw.pop("sha", ("%064x" % abs(hash(apk + entry)))[:64]) if entry else "",
           "size_bytes": kw.pop("size", 1_234_567) if entry else None, "status": "ok",
           "reason": "", "runnable": "yes" if entry else "", "verdict": "", "match": "",
           "reuse_type": "", "confidence": None, "similarity": None, "weight_similarity": None,
           "agreement": None, "structure": None, "match_evidence": ""}
    row.update(kw)
    return row


def _reused(apk: str, entry: str, ref: str, rtype: str, conf: float, **kw: Any) -> dict[str, Any]:
    return _row(apk, entry, verdict="reused", match=ref, reuse_type=rtype, confidence=conf, **kw)


ROWS = [
    _reused("hand-tracker.apk", "res/raw/tracker.bin", "hand_recrop", "identical copy", 1.0,
            size=1_590_112),
    _reused("fitness-coach.xapk", "split_ml.apk!/assets/models/pose.bin", "pose_detection",
            "re-packaged", 1.0, weight_similarity=1.0, similarity=0.9999, agreement=1.0,
            structure=1.0, match_evidence="weights: identical-weights; 100% of 94 reference "
            "tensors identical", format="tflite"),
    _reused("sign-reader.apk", "assets/palm_int8.onnx", "palm_detection_lite", "quantized", 0.99,
            weight_similarity=0.9871, similarity=0.9912, agreement=0.97, format="onnx",
            match_evidence="weights: quantized; 0% of 68 reference tensors identical"),
    _reused("selfie-studio.apk", "assets/seg.tflite", "selfie_segmentation",
            "fine-tuned or transfer", 0.85, weight_similarity=0.7, similarity=0.95,
            match_evidence="weights: fine-tuned; 70% of 120 reference tensors identical"),
    _row("camera-filters.apk", "assets/filter.tflite", size=748, verdict="not-reused",
         sha="a1" * 32, match_evidence="closest reference hand_recrop (below the thresholds)"),
    _row("photo-editor.apk", "assets/filter.tflite", size=748, verdict="not-reused", sha="a1" * 32),
    _row("secure-id.apk", "assets/liveness.model", status="suspected-encrypted", format="unknown",
         runnable="", reason="high-entropy blob (7.99 bits/byte) where models live, no known "
         "model signature", size=16_512),
    _row("not-an-apk.apk", status="error",
         reason=f"{APPS}/not-an-apk.apk: not a zip archive (first bytes 74686973)"),
    _row("calculator.apk", status="no-model"),
]
APPS_RECORDS = [{"path": r["apk"], "status": r["status"] if not r["entry"] else "ok",
                 "models": 1 if r["entry"] else 0} for r in ROWS]


def _render(width: int, full: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, legacy_windows=False)
    TableFormat(full=full).render(ROWS, APPS_RECORDS, console)
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 100, 200])
def test_table_matches_golden(width: int) -> None:
    got = _render(width, full=True)
    path = GOLDEN / f"table-{width}.txt"
    if os.environ.get("MODELHOUND_REGOLD") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", [80, 100, 200])
def test_rows_fit_the_width_in_at_most_two_lines_without_box_art(width: int) -> None:
    text = _render(width, full=True)
    assert all(len(line.rstrip()) <= width for line in text.splitlines())
    assert not set(text) & set("┏┓┗┛┃━│─┌┐└┘╇╈┡┩")  # piped: plain columns only
    findings = text.split("Reused models (4)\n")[1].split("\nCould not be read")[0].splitlines()
    assert len(findings) - 2 <= 2 * 4  # header and rule, then at most two lines per finding


def test_findings_come_first_and_inventory_only_with_all() -> None:
    short = _render(100, full=False)
    assert short.splitlines()[0] == "4 of 6 models reuse 4 references, in 4 of 9 apps"
    assert short.index("Reused models") < short.index("Could not be read") < \
        short.index("Same model in several apps")
    assert "Inventory" not in short and "Inventory (8 rows)" in _render(100, full=True)


def test_cells() -> None:
    assert human_size(748) == "748 B" and human_size(1_234_567) == "1.2 MB"
    assert _fit("split_ml.apk!/assets/models/pose.bin", 24, 2, path=True) == \
        "split_ml.apk!/assets/\nmodels/pose.bin"
    assert _fit("split_ml.apk!/assets/models/pose.bin", 20, 2, path=True) == \
        "split_ml.apk!/\n…ets/models/pose.bin"
    assert _fit("a/very/long/path/to/somewhere/deep/inside/model.tflite", 16, 2, path=True) == \
        "a/very/long/\n…de/model.tflite"
    assert _fit("a/b/c/model.tflite", 10, 1, path=True) == "…el.tflite"
