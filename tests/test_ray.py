"""--ray: a Ray worker process that dies while scanning an app costs only that app."""

from __future__ import annotations

import csv

from modelhound import ray_runner
from modelhound.cli import main
from modelhound.ray_runner import scan_bytes as real_scan_bytes
from modelhound.store import ResultStore
from tests import builders


def _rows(path):
    with open(path) as f:
        return [(r["apk"], r["entry"], r["status"], r["model_sha256"], r["reason"])
                for r in csv.DictReader(f)]


def _crashing_scan(setup, path, data, digest):
    """Per-app work for the test (runs in a Ray worker): kills its own worker process on the
    first attempt at die-once*, on every attempt at die-always*; the input is on this machine,
    so a marker file beside it counts the attempts."""
    builders.die_if_named(path)
    return real_scan_bytes(setup, path, data, digest)


def test_a_killed_ray_worker_costs_only_its_app(tmp_path, monkeypatch):
    import ray

    apps = tmp_path / "apps"
    apps.mkdir()
    names = ["a.apk", "die-always.apk", "die-once-sigkill.apk", "d.apk", "e.apk"]
    for i, name in enumerate(names):
        model = builders.tflite_model(seed=i)
        (apps / name).write_bytes(builders.apk([("assets/m.tflite", model)]))
    local, dist = tmp_path / "local.csv", tmp_path / "ray.csv"
    common = ["--no-table", "--no-convert"]
    assert main(["scan", str(apps), "--csv", str(local), "--db", str(tmp_path / "l.db"),
                 "--jobs", "1", *common]) == 0
    monkeypatch.setattr(ray_runner, "scan_bytes", _crashing_scan)
    db = tmp_path / "r.db"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main(["scan", str(apps), "--csv", str(dist), "--db", str(db), "--ray", "local",
                     *common]) == 0
    finally:
        ray.shutdown()
    always = str(apps / "die-always.apk")
    lrows, rrows = _rows(local), _rows(dist)
    [dead] = [r for r in rrows if r[0] == always]
    assert dead[2] == "error"
    assert dead[4].startswith(f"{always}: Ray worker died twice (WorkerCrashedError")
    assert [r for r in rrows if r[0] != always] == [r for r in lrows if r[0] != always]
    assert (apps / "die-once-sigkill.apk.attempted").exists()  # it did die once
    store = ResultStore(str(db), resume=True)
    try:
        assert sorted(store.done()) == sorted(str(apps / n) for n in names)
    finally:
        store.close()
