"""The zoo and matching, end to end: real MediaPipe references, APKs the tests build with
copies of them as is, renamed, re-packaged, converted, quantized, pruned and retrained."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from modelhound import samples, variants
from modelhound.cli import main
from modelhound.corpus.zoo import Zoo
from modelhound.errors import CorpusError
from tests.conftest import fixture_path

MP14 = ("models", "tflite", "mediapipe-0.10.14")
REFS = ["hand_recrop.tflite", "palm_detection_lite.tflite", "selfie_segmentation.tflite"]


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    """A weights-only zoo of three MediaPipe models (profiles are tested elsewhere)."""
    path = tmp_path_factory.mktemp("zoo") / "zoo"
    files = [str(fixture_path(*MP14, f)) for f in REFS]
    assert main(["zoo", "add", *files, "--zoo", str(path), "--no-profile",
                 "--source", "mediapipe 0.10.14", "--license", "Apache-2.0"]) == 0
    return path


@pytest.fixture(scope="module")
def scanned(zoo_dir, tmp_path_factory) -> dict[str, dict[str, str]]:
    from modelhound.converters.registry import convert_here
    from tests.corpus.helpers import found_model

    hr = fixture_path(*MP14, "hand_recrop.tflite").read_bytes()
    palm = fixture_path(*MP14, "palm_detection_lite.tflite").read_bytes()
    onnx = convert_here(found_model(hr)).onnx
    assert onnx is not None
    apps = {
        "copy": [("res/raw/data.bin", hr)],
        "stripped": [("assets/m.tflite", variants.strip_tflite_metadata(hr))],
        "converted": [("assets/m.onnx", onnx)],
        "quantized": [("assets/q.onnx", variants.quantize_onnx(onnx))],
        "pruned": [("assets/p.tflite", variants.prune_tflite(palm, 0.5))],
        "retrained": [("assets/r.tflite", variants.perturb_tflite(palm))],
        "unrelated": [("assets/mnist.tflite", fixture_path(
            "models", "tflite", "qiulongquan-codelab-mnist.tflite").read_bytes())],
        "sibling": [("assets/h.tflite", fixture_path(
            "models", "tflite", "mediapipe-0.10.21", "hand_landmark_lite.tflite").read_bytes())],
    }
    folder = tmp_path_factory.mktemp("apps")
    for name, entries in apps.items():
        (folder / f"{name}.apk").write_bytes(samples.apk(entries, package=f"com.t.{name}"))
    out = folder / "findings.csv"
    assert main(["scan", str(folder), "--zoo", str(zoo_dir), "--csv", str(out),
                 "--db", str(folder / "r.db"), "--no-table"]) == 0
    return {r["package"].rsplit(".", 1)[-1]: r for r in csv.DictReader(out.open())}


@pytest.mark.parametrize("app,reference,reuse_type", [
    ("copy", "hand_recrop", "identical copy"),
    ("stripped", "hand_recrop", "re-packaged"),
    ("converted", "hand_recrop", "re-packaged"),
    ("quantized", "hand_recrop", "quantized"),
    ("pruned", "palm_detection_lite", "pruned"),
    ("retrained", "palm_detection_lite", "fine-tuned or transfer"),
])
def test_reused_models_are_flagged_with_the_right_reference(scanned, app, reference, reuse_type):
    row = scanned[app]
    assert (row["match"], row["verdict"], row["reuse_type"]) == (reference, "reused", reuse_type)
    assert float(row["confidence"]) >= 0.9
    assert row["match_evidence"]


@pytest.mark.parametrize("app", ["unrelated", "sibling"])
def test_unrelated_models_are_not_flagged(scanned, app):
    row = scanned[app]
    assert row["verdict"] == "not-reused" and row["reuse_type"] == ""


def test_exact_copy_needs_nothing_but_the_bytes(scanned):
    assert "same sha256" in scanned["copy"]["match_evidence"]


def test_zoo_list_show_remove(zoo_dir, tmp_path, capsys):
    assert main(["zoo", "list", "--zoo", str(zoo_dir)]) == 0
    out = capsys.readouterr().out
    assert "3 references" in out
    assert main(["zoo", "show", "hand_recrop", "--zoo", str(zoo_dir)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["license"] == "Apache-2.0" and shown["format"] == "tflite"
    assert shown["inputs"] == ["input_1:1x256x256x3:float32"]
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(zoo_dir, copy)
    assert main(["zoo", "remove", "selfie_segmentation", "--zoo", str(copy)]) == 0
    z = Zoo.open(copy)
    assert [r.name for r in z.references()] == ["hand_recrop", "palm_detection_lite"]
    assert not (copy / "refs" / "selfie_segmentation").exists()


def test_incompatible_or_missing_zoo_is_refused(tmp_path, zoo_dir):
    with pytest.raises(CorpusError, match="no zoo here"):
        Zoo.open(tmp_path / "nothing")
    import shutil
    import sqlite3

    copy = tmp_path / "old"
    shutil.copytree(zoo_dir, copy)
    with sqlite3.connect(copy / "zoo.sqlite") as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(CorpusError, match="schema version 99"):
        Zoo.open(copy)
    assert main(["scan", str(fixture_path("apks", "with-models")), "--zoo", str(copy),
                 "--db", str(tmp_path / "r.db"), "--no-table"]) == 1


def test_real_mnist_apps_are_not_flagged_against_mediapipe(zoo_dir, tmp_path):
    out = tmp_path / "f.csv"
    assert main(["scan", str(fixture_path("apks", "with-models")), "--zoo", str(zoo_dir),
                 "--csv", str(out), "--db", str(tmp_path / "r.db"), "--no-table"]) == 0
    rows = [r for r in csv.DictReader(out.open()) if r["entry"]]
    assert len(rows) == 4
    assert all(r["verdict"] == "not-reused" and r["reuse_type"] == "" for r in rows)
