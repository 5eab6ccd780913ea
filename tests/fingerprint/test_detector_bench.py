"""A slice of bench/reuse through the combined detector, on the cached zoo when it exists.

Runs real TFLite models under LiteRT (no training: skipped when bench/reuse/.cache holds no
built zoo; ``bench/reuse/run.py`` builds it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "reuse"
MODELS = BENCH / ".cache" / "models"
PARENT = "pretrain(cnn,mnist)-transfer(digits,0.5)"
NAMES = [
    PARENT,
    f"{PARENT}-quantize(int8)",
    f"{PARENT}-steal(cnn,probs)",
    f"{PARENT}-steal(cnn,labels)",
    "train(cnn,digits,s8)",
    "train(dwnet,digits,s8)",
]


def _fn(name: str) -> str:
    return name.replace("(", "_").replace(")", "").replace(",", "_").replace(".", "p")


@pytest.fixture(scope="module")
def runners() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    if not all((MODELS / f"{_fn(n)}.tflite").exists() for n in NAMES):
        pytest.skip("bench/reuse zoo not built (run bench/reuse/run.py)")
    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.inputs import InputAdapter

    out = {}
    for n in NAMES:
        r = LiteRTRunnable((MODELS / f"{_fn(n)}.tflite").read_bytes())
        out[n] = lambda x, r=r: r.run([InputAdapter(r.inputs[0]).to_model(x)])[0]
    return out


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    sys.path.insert(0, str(BENCH))
    from data import load_task  # type: ignore[import-not-found]

    return load_task("digits").x_train[:1000]


def test_bench_slice(runners: dict, pool: np.ndarray) -> None:
    from modelhound.corpus.match import Signals, verdict
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.detector import behaviour_scores, reference_probes
    from modelhound.fingerprint.weights import compare_weights
    from modelhound.records import ModelFormat

    probes = reference_probes(runners[PARENT], pool, seed=0, probe_id=PARENT)
    again = reference_probes(runners[PARENT], pool, seed=0, probe_id=PARENT)
    assert np.array_equal(probes.outputs, again.outputs)

    beh = {n: behaviour_scores(probes, runners[n](probes.inputs)).behaviour for n in NAMES}
    assert beh[PARENT] == pytest.approx(1.0)
    assert beh[f"{PARENT}-quantize(int8)"] > 0.95
    # Stolen from probabilities: closer to the teacher than both independent digits models.
    assert beh[f"{PARENT}-steal(cnn,probs)"] > max(beh["train(cnn,digits,s8)"], beh["train(dwnet,digits,s8)"])

    def tensors(n: str) -> list:
        return read_tensors(ModelFormat.TFLITE, "", (MODELS / f"{_fn(n)}.tflite").read_bytes())

    wm = compare_weights(tensors(f"{PARENT}-quantize(int8)"), tensors(PARENT))
    s = Signals(PARENT, weight_strength=wm.strength, weight_kind=wm.kind, agreement=beh[f"{PARENT}-quantize(int8)"])
    assert verdict(s)[:2] == (True, "quantized")
    for independent in ("train(cnn,digits,s8)", "train(dwnet,digits,s8)"):
        wm = compare_weights(tensors(independent), tensors(PARENT))
        assert not verdict(Signals(PARENT, weight_strength=wm.strength, weight_kind=wm.kind, agreement=beh[independent]))[0]
