"""A conversion worker that runs out of memory: that model becomes a row saying so, the
worker starts afresh, and the scan goes on with the next model and the next app.

The worker's address-space limit (RLIMIT_AS) is lowered for the test through
MODELHOUND_WORKER_MEMORY_MB to 1700 MiB: the runtimes load (1.5 GiB mapped after warm-up)
and the real MNIST model converts; a Gemm with 256 MiB of weights does not fit."""

from __future__ import annotations

import csv

import pytest

from modelhound import samples
from modelhound.cli import main
from modelhound.converters.pool import MEMORY_ENV, ConverterPool, default_memory_mb
from tests.conftest import fixture_path

MNIST = ("models", "onnx", "mnist-8.onnx")


def test_the_worker_memory_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "2048")
    assert default_memory_mb() == 2048 and ConverterPool(1).memory_mb == 2048
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(ValueError, match=MEMORY_ENV):
        default_memory_mb()


@pytest.mark.slow
def test_a_model_that_exhausts_the_worker_memory_is_a_row_and_the_scan_goes_on(
        tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "1700")
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "a-big.apk").write_bytes(samples.apk(
        [("assets/big.onnx", samples.onnx_model(n_in=4096, n_out=16384)),
         ("assets/mnist.onnx", fixture_path(*MNIST).read_bytes())], package="com.t.big"))
    (apps / "b-small.apk").write_bytes(samples.apk(
        [("assets/m.onnx", fixture_path(*MNIST).read_bytes())], package="com.t.small"))
    out = tmp_path / "f.csv"
    assert main(["scan", str(apps), "--no-match", "--no-cache", "--csv", str(out), "--db",
                 str(tmp_path / "r.db"), "--no-table", "--jobs", "1"]) == 0
    rows = {(r["package"], r["entry"]): r for r in csv.DictReader(out.open())}
    big = rows[("com.t.big", "assets/big.onnx")]
    assert big["status"] == "ok" and big["runnable"] == "no"
    assert "out of memory (worker memory limit 1700 MiB)" in big["not_runnable_reason"]
    # the next model in the same app, and the next app, are converted by a fresh worker
    assert rows[("com.t.big", "assets/mnist.onnx")]["runnable"] == "yes", \
        rows[("com.t.big", "assets/mnist.onnx")]["not_runnable_reason"]
    assert rows[("com.t.small", "assets/m.onnx")]["runnable"] == "yes"
