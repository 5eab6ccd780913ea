"""--jobs N gives the same findings as a sequential scan, in the same order; its default;
a bounded window of inputs in flight; a scanning process that dies costs only its input."""

from __future__ import annotations

import csv
import os

import pytest

from modelhound import parallel
from modelhound.cli import main
from modelhound.parallel import _scan_one as real_scan_one
from modelhound.parallel import choose_jobs, dispatch, plan_jobs
from modelhound.records import AppInfo, AppScan
from modelhound.store import ResultStore
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


# --- the --jobs default -------------------------------------------------------------------

GiB = 2**30


@pytest.mark.parametrize("cores,available,expected", [
    (2, 24 * GiB, 2),        # this box: cores decide
    (64, 16 * GiB, 16),      # a many-core box: memory decides
    (8, 3 * GiB + 5, 3),     # partial budgets do not count
    (8, GiB // 2, 1),        # less than one budget: still one process
    (8, 0, 1),
    (1, 100 * GiB, 1),
    (4, None, 4),            # memory unknown: cores decide
])
def test_default_jobs_is_cores_capped_by_memory(cores, available, expected):
    jobs, why = choose_jobs(cores, available, budget=GiB)
    assert jobs == expected
    assert f"{cores} usable cores" in why
    if available is not None:
        assert f"= {available // GiB}" in why


def test_plan_jobs_uses_the_default_for_0_and_never_exceeds_the_inputs(monkeypatch):
    monkeypatch.setattr(parallel, "default_jobs", lambda: (6, "6 usable cores; plenty"))
    assert plan_jobs(0, 100) == (6, "default: 6 usable cores; plenty")
    assert plan_jobs(None, 100)[0] == 6
    assert plan_jobs(3, 100) == (3, "--jobs 3")
    assert plan_jobs(0, 2) == (2, "default: 6 usable cores; plenty; 2 inputs")
    assert plan_jobs(4, 1) == (1, "--jobs 4; 1 input")
    assert plan_jobs(0, 0)[0] == 1


def test_jobs_flag_accepts_auto_and_refuses_negatives(tmp_path, capsys):
    good = tmp_path / "good.apk"
    good.write_bytes(builders.apk([("assets/m.tflite", builders.tflite_model())]))
    assert main(["scan", str(good), "--db", str(tmp_path / "r.db"), "--no-table", "--no-convert",
                 "--jobs", "auto"]) == 0
    assert "scanning with 1 process (default: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["scan", str(good), "--jobs", "-1"])
    assert e.value.code == 2


def test_the_machine_default_is_at_least_one_and_at_most_the_cores():
    jobs, why = parallel.default_jobs()
    assert 1 <= jobs <= (os.cpu_count() or 1) and "usable cores" in why


# --- bounded memory -----------------------------------------------------------------------

def test_dispatcher_pulls_inputs_lazily_and_keeps_a_bounded_window(tmp_path):
    for i in range(50):
        (tmp_path / f"in{i:02d}.apk").write_bytes(b"distinct %d" % i)
    pulled, in_flight, peak = [], set(), [0]

    def inputs():
        for i in range(50):
            pulled.append(i)
            yield str(tmp_path / f"in{i:02d}.apk")

    def submit(path, digest):
        in_flight.add(path)
        peak[0] = max(peak[0], len(in_flight))
        return path

    def resolve(path, handle):
        in_flight.discard(handle)
        return AppScan(app=AppInfo(path=path, sha256="", size=0))

    results = dispatch(inputs(), submit, resolve, width=4)
    first = next(results)
    assert first.app.path.endswith("in00.apk")
    assert len(pulled) == 4  # the first result arrives with only the window pulled
    rest = list(results)
    assert len(rest) == 49 and len(pulled) == 50
    assert peak[0] == 4
    expected = [str(tmp_path / f"in{i:02d}.apk") for i in range(50)]
    assert [r.app.path for r in [first, *rest]] == expected


# --- a scanning process that dies ---------------------------------------------------------

def _crashing_scan(path, digest):
    """Per-app work for the killed-process test (runs in a scanning process): kills its own
    process on the first attempt at die-once*, on every attempt at die-always*."""
    builders.die_if_named(path)
    return real_scan_one(path, digest)


def test_a_killed_scanning_process_costs_only_its_input(tmp_path, monkeypatch):
    apps = tmp_path / "apps"
    apps.mkdir()
    names = ["a.apk", "die-always.apk", "die-once-sigkill.apk", "d.apk", "e.apk", "f.apk"]
    for i, name in enumerate(names):
        model = builders.tflite_model(seed=i)
        (apps / name).write_bytes(builders.apk([("assets/m.tflite", model)]))
    seq, par = tmp_path / "seq.csv", tmp_path / "par.csv"
    common = ["--no-table", "--no-convert"]
    assert main(["scan", str(apps), "--csv", str(seq), "--db", str(tmp_path / "s.db"), "--jobs",
                 "1", *common]) == 0
    monkeypatch.setattr(parallel, "_scan_one", _crashing_scan)
    db = tmp_path / "p.db"
    assert main(["scan", str(apps), "--csv", str(par), "--db", str(db), "--jobs", "2",
                 *common]) == 0
    s, p = _rows(seq), _rows(par)
    always = str(apps / "die-always.apk")
    [dead] = [r for r in p if r[0] == always]
    assert dead[2] == "error"
    assert dead[5] == f"{always}: scanning process died twice (exit code 1)"
    assert [r for r in p if r[0] != always] == [r for r in s if r[0] != always]
    assert (apps / "die-once-sigkill.apk.attempted").exists()  # it did die once
    store = ResultStore(str(db), resume=True)
    try:
        assert sorted(store.done()) == sorted(str(apps / n) for n in names)
    finally:
        store.close()
