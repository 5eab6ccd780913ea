"""Progress lines: one per finished reference, cut to the width (never wrapped), counts."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.console import Console

from modelhound.progress import RichProgress, ZooProgress


@dataclass
class _Ref:
    name: str
    format: str = "tflite"
    probe_id: str = ""
    profile_note: str = ""


def test_zoo_progress_prints_one_uncut_line_per_reference_and_counts() -> None:
    out = io.StringIO()
    console = Console(file=out, width=60, color_system=None, soft_wrap=True)
    with ZooProgress(console, "default zoo") as p:
        p.stage("importing mediapipe==0.10.21")
        p.found(2)
        p.added(_Ref("face_landmark", probe_id="abc"))
        p.added(_Ref("face_detection_full_range_sparse", profile_note=(
            "no behavioural profile: onnx2torch cannot convert the model: DepthToSpace for "
            "mode other than CRD is not implemented")))
        p.found(1)
        p.added(_Ref("silero_vad", format="onnx", profile_note="2 inputs (ModelDiff needs one)"))
        p.stage("profiling references on probe sets that fit them")
        p.added(_Ref("face_detection_full_range_sparse", probe_id="def"))  # profiled later
        assert p.counts == (3, 3)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and all(len(line) <= 60 for line in lines)
    assert lines[0].startswith("  + face_landmark") and lines[0].endswith("profiled")
    assert lines[1].endswith("…")
    assert lines[3].startswith("  + face_detection_full_range_sparse") and lines[3].endswith("profiled")


def test_scan_progress_is_silent_when_piped() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    with RichProgress(console, enabled=console.is_terminal) as p:
        p.started(3)
        p.starting("/x/a.apk")
    assert out.getvalue() == ""
