"""The CI slice of the fuzzing campaign: every harness's contract over its seeds (built from
the real fixtures), the stored regression inputs of past findings, and fixed-seed
mutations, without libFuzzer; and one short atheris run to show the driver works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fuzz.driver import HARNESSES, Chatter, _silent, regressions, replay
from tests.conftest import REPO

#: fixed-seed mutations per harness: a few seconds each here
MUTATIONS = 400


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_contract_holds_on_seeds_regressions_and_mutations(name):
    ran = replay(name, MUTATIONS, seed=0)
    assert ran >= MUTATIONS + len(regressions(name)) + 1


def test_every_finding_has_its_regression_input():
    for name in ("archive", "onnx", "graphdef", "pytorch", "keras", "arsc", "store"):
        assert regressions(name), name


def test_printing_to_stdout_breaks_the_contract():
    def chatty(data: bytes) -> None:
        print("odd entry", len(data))

    with pytest.raises(Chatter, match="odd entry 3"):
        _silent("x", chatty)(b"abc")
    _silent("x", lambda data: None)(b"abc")


def test_an_input_breaking_the_contract_is_kept_before_the_fuzzer_reports_it(tmp_path, capsys):
    from fuzz.driver import keep_failing

    def broken(data: bytes) -> None:
        raise TypeError("bytes < str")

    with pytest.raises(TypeError):
        keep_failing(broken, f"{tmp_path}/")(b"\xffinput")
    [kept] = tmp_path.iterdir()
    assert kept.name.startswith("crash-") and kept.read_bytes() == b"\xffinput"
    assert f"Test unit written to {kept}" in capsys.readouterr().err
    keep_failing(lambda data: None, f"{tmp_path}/")(b"fine")
    assert len(list(tmp_path.iterdir())) == 1


def test_atheris_driver_fuzzes_a_harness(tmp_path):
    pytest.importorskip("atheris")
    (tmp_path / "corpus").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "fuzz.driver", "ncnn", "-runs=300", "-seed=1",
         f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus")],
        cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Done 300 runs" in proc.stderr
    cov = [line for line in proc.stderr.splitlines() if " cov: " in line]
    assert cov and int(cov[-1].split(" cov: ")[1].split()[0]) > 50  # modelhound is instrumented
