"""The command line end to end: real APKs in, table, CSV and JSON out."""

from __future__ import annotations

import csv
import json

import pytest

from modelhound.cli import main
from modelhound.report import COLUMNS
from tests import builders
from tests.conftest import fixture_path


def test_scan_of_the_fixture_apks_writes_every_input_to_csv_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    apks = fixture_path("apks")
    out_csv, out_json = tmp_path / "f.csv", tmp_path / "f.json"
    # matching has its own tests (tests/corpus); this one is about inventory and conversion
    assert main(["scan", str(apks), "--csv", str(out_csv), "--json", str(out_json),
                 "--no-match"]) == 0
    with out_csv.open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    n_inputs = len(list(apks.rglob("*.apk")))
    assert len({r["apk"] for r in rows}) == n_inputs
    models = [r for r in rows if r["status"] == "ok"]
    assert sorted((r["package"], r["entry"], r["format"]) for r in models) == sorted([
        ("org.tensorflow.lite.codelabs.digitclassifier", "assets/mnist.tflite", "tflite"),
        ("org.tensorflow.lite.codelabs.digitclassifier", "assets/mnist.tflite", "tflite"),
        ("polar.com.androidblesdk", "assets/model.tflite", "tflite"),
        ("com.nex3z.tflitemnist", "assets/mnist.tflite", "tflite"),
    ])
    assert {r["status"] for r in rows} == {"ok", "no-model"}
    # every model found was converted and checked against LiteRT
    assert all(r["runnable"] == "yes" and r["runtime"] for r in models)
    # (the dynamic-range int8 codelab model differs from LiteRT by its activation quantization)
    assert all(float(r["conversion_rel_error"]) < 1e-2 for r in models if r["runtime"] == "onnxruntime")
    doc = json.loads(out_json.read_text())
    assert doc["schema_version"] == 2 and len(doc["apps"]) == n_inputs
    assert [r["entry"] for r in doc["rows"]] == [r["entry"] for r in rows]
    nex3z = next(r for r in doc["rows"] if r["package"] == "com.nex3z.tflitemnist")
    assert nex3z["inputs"] == ["x:1x28x28x1:float32"] and nex3z["size_bytes"] == 978368
    out = capsys.readouterr().out
    assert "assets/mnist.tflite" in out and "com.nex3z.tflitemnist" in out
    assert f"{n_inputs} inputs; 4 with models" in out


def test_scan_reports_errors_and_continues(tmp_path, capsys):
    bad = tmp_path / "broken.apk"
    bad.write_bytes(b"not a zip at all")
    good = tmp_path / "good.apk"
    good.write_bytes(builders.apk([("assets/m.tflite", builders.tflite_model())]))
    out_csv = tmp_path / "f.csv"
    assert main(["scan", str(tmp_path), "--csv", str(out_csv), "--no-table", "--no-match"]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["apk"].rsplit("/", 1)[-1], r["status"]) for r in rows] == [
        ("broken.apk", "error"), ("good.apk", "ok")]
    assert "not a zip archive" in rows[0]["reason"]


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["scan"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["scan", "x.apk", "--max-depth", "-1"])
    assert e.value.code == 2


def test_unwritable_report_is_a_clear_failure(tmp_path, capsys):
    good = tmp_path / "good.apk"
    good.write_bytes(builders.apk([("assets/m.tflite", builders.tflite_model())]))
    target = tmp_path / "no" / "such" / "dir" / "f.csv"
    assert main(["scan", str(good), "--csv", str(target), "--db", str(tmp_path / "r.db"),
                 "--no-match"]) == 1
    assert "cannot write report" in capsys.readouterr().err
    # the default database goes beside the report: refused before anything is scanned
    assert main(["scan", str(good), "--csv", str(target), "--no-match"]) == 1
    assert "cannot open or create the results database" in capsys.readouterr().err


def test_models_shared_between_apps_are_grouped(tmp_path, capsys):
    sdk = builders.tflite_model(seed=11)
    apps = tmp_path / "apps"
    apps.mkdir()
    for i in range(3):
        (apps / f"app{i}.apk").write_bytes(builders.apk(
            [(f"assets/vendor{i}.bin", sdk), ("assets/own.tflite", builders.tflite_model(seed=20 + i))],
            package=f"com.x.app{i}"))
    out_json = tmp_path / "f.json"
    assert main(["scan", str(apps), "--json", str(out_json), "--no-convert"]) == 0
    doc = json.loads(out_json.read_text())
    [group] = doc["shared_models"]
    assert group["app_count"] == 3 and group["format"] == "tflite"
    assert group["entries"] == ["assets/vendor0.bin", "assets/vendor1.bin", "assets/vendor2.bin"]
    counts = {(r["apk"].rsplit("/", 1)[-1], r["entry"]): r["apps_with_same_model"] for r in doc["rows"]}
    assert counts[("app1.apk", "assets/vendor1.bin")] == 3
    assert counts[("app1.apk", "assets/own.tflite")] == 1
    assert "Same model in several apps (1)" in capsys.readouterr().out
