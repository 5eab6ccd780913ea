"""--jobs N gives the same findings as a sequential scan, in the same order."""

from __future__ import annotations

import csv

from modelhound.cli import main
from tests import builders
from tests.conftest import fixture_path


def _rows(path):
    with open(path) as f:
        return [(r["apk"], r["entry"], r["status"], r["model_sha256"], r["runnable"], r["reason"])
                for r in csv.DictReader(f)]


def test_parallel_scan_equals_sequential_scan(tmp_path):
    apps = tmp_path / "apps"
    apps.mkdir()
    for i in range(5):
        (apps / f"app{i}.apk").write_bytes(builders.apk(
            [("assets/m.tflite", builders.tflite_model(seed=i)), ("assets/v.bin", builders.onnx_model(seed=1))]))
    (apps / "copy.apk").write_bytes((apps / "app1.apk").read_bytes())
    (apps / "broken.apk").write_bytes(b"not a zip")
    inputs = [str(apps), str(fixture_path("apks", "with-models", "nex3z-tflite-mnist-1.0.0.apk"))]
    seq, par = tmp_path / "seq.csv", tmp_path / "par.csv"
    assert main(["scan", *inputs, "--csv", str(seq), "--db", str(tmp_path / "s.db"), "--no-table",
                 "--no-match"]) == 0
    assert main(["scan", *inputs, "--csv", str(par), "--db", str(tmp_path / "p.db"), "--no-table",
                 "--no-match", "--jobs", "2"]) == 0
    s, p = _rows(seq), _rows(par)
    assert s == p
    assert [r[2] for r in s].count("duplicate") == 1 and [r[2] for r in s].count("error") == 1
    assert all(r[4] == "yes" for r in s if r[2] == "ok")


def test_ray_scan_equals_local_scan(tmp_path):
    import ray

    apps = tmp_path / "apps"
    apps.mkdir()
    for i in range(3):
        (apps / f"app{i}.apk").write_bytes(builders.apk([("assets/m.tflite", builders.tflite_model(seed=i))]))
    (apps / "copy.apk").write_bytes((apps / "app2.apk").read_bytes())
    (apps / "broken.apk").write_bytes(b"not a zip")
    inputs = [str(apps), str(fixture_path("apks", "with-models", "qiulongquan-hand_written_digits_recognize-app-debug.apk"))]
    local, dist = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert main(["scan", *inputs, "--csv", str(local), "--db", str(tmp_path / "l.db"),
                 "--no-table", "--no-match"]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["scan", *inputs, "--csv", str(dist), "--db", str(tmp_path / "r.db"),
                     "--no-table", "--no-match", "--ray", "local"]) == 0
        # --resume on the Ray path skips what is done and keeps the same rows
        assert main(["scan", *inputs, "--csv", str(dist), "--db", str(tmp_path / "r.db"),
                     "--no-table", "--no-match", "--ray", "local", "--resume"]) == 0
    finally:
        ray.shutdown()
    assert _rows(local) == _rows(dist)
