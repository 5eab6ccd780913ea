"""Hostile and broken inputs: the caller's process survives and the pool goes on."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from modelhound.converters import ConverterPool, convert
from modelhound.converters.pool import WorkerCallError
from modelhound.records import ModelFormat
from tests.converters.conftest import MODELS, found_model, from_file

HAND = MODELS / "tflite" / "mediapipe-0.10.14" / "hand_recrop.tflite"


def _broken() -> list:
    hand = HAND.read_bytes()
    mnist = (MODELS / "onnx" / "mnist-8.onnx").read_bytes()
    lenet = (MODELS / "caffe" / "lenet_iter_10000.caffemodel").read_bytes()
    return [
        found_model("truncated.tflite", hand[: len(hand) // 2], ModelFormat.TFLITE),
        found_model("garbage.tflite", b"\x18\x00\x00\x00TFL3" + os.urandom(4000), ModelFormat.TFLITE),
        found_model("truncated.onnx", mnist[:3000], ModelFormat.ONNX),
        found_model("truncated.caffemodel", lenet[:5000], ModelFormat.CAFFE, "caffemodel",
                    {"lenet.prototxt": (MODELS / "caffe" / "lenet.prototxt").read_bytes()}),
        found_model("garbage.pb", os.urandom(3000), ModelFormat.TF_GRAPHDEF),
        found_model("ncnn.param", b"7767517\n", ModelFormat.NCNN),
    ]


def test_broken_models_become_error_rows(pool: ConverterPool) -> None:
    """Truncated and garbage models of every format: non-runnable rows with a reason."""
    broken = _broken()
    results = list(pool.convert_all(broken))
    for found, conv in zip(broken, results):
        assert not conv.runnable, found.entry.entry
        assert conv.reason.startswith(found.entry.entry), conv.reason
        assert conv.model_sha256 == found.entry.sha256
    # the workers are still usable afterwards
    assert pool.convert(from_file(HAND, ModelFormat.TFLITE)).runnable


def test_crashed_worker_is_reported_and_replaced() -> None:
    """A worker killed mid-conversion (as by a segfault) gives an error row; the next works."""
    found = from_file(MODELS / "tflite" / "mediapipe-0.10.21" / "pose_landmark_full.tflite",
                      ModelFormat.TFLITE)
    with ConverterPool(1, timeout_s=120) as pool:
        assert pool.convert(from_file(HAND, ModelFormat.TFLITE)).runnable  # worker warm
        (pid,) = pool.pids()

        def kill_soon() -> None:
            time.sleep(0.5)
            os.kill(pid, signal.SIGSEGV)

        threading.Thread(target=kill_soon).start()
        conv = pool.convert(found)
        assert not conv.runnable and "worker died (SIGSEGV)" in conv.reason
        assert pool.convert(from_file(HAND, ModelFormat.TFLITE)).runnable
        assert pool.pids() != (pid,)


def test_timeout_kills_the_worker() -> None:
    """A conversion over the time limit is cut off and reported; the pool recovers."""
    found = from_file(MODELS / "tflite" / "mediapipe-0.10.21" / "pose_landmark_full.tflite",
                      ModelFormat.TFLITE)
    with ConverterPool(1, timeout_s=0.5) as pool:
        pool.warm()
        conv = pool.convert(found)
        assert not conv.runnable and "timed out after 0.5 s" in conv.reason
        pool.timeout_s = 120
        assert pool.convert(from_file(HAND, ModelFormat.TFLITE)).runnable


def test_a_call_can_have_its_own_time_limit() -> None:
    """A profiling group gets hours in a pool whose conversions get seconds: the limit
    given to the call wins over the pool's."""
    found = from_file(MODELS / "onnx" / "mnist-8.onnx", ModelFormat.ONNX)
    conv = convert(found, timeout_s=120)
    with ConverterPool(1, timeout_s=0.5) as pool:
        pool.warm()  # planning in a fresh worker imports sympy: longer than 0.5 s
        with pytest.raises(WorkerCallError, match="timed out after 0.5 s"):
            pool.call("modelhound.corpus.schedule:plan_here", found, conv)
        plan = pool.call("modelhound.corpus.schedule:plan_here", found, conv, timeout_s=120)
        assert plan.key.startswith("image:28x28x1") and plan.pgd and plan.macs > 0


@pytest.mark.slow
def test_memory_limit_is_enforced() -> None:
    """Under a tight address-space limit the worker fails cleanly, not the caller."""
    conv = convert(from_file(HAND, ModelFormat.TFLITE), memory_mb=300, timeout_s=60)
    assert not conv.runnable
    assert conv.reason.startswith("tflite/mediapipe-0.10.14/hand_recrop.tflite: ")
    assert "memory limit 300 MiB" in conv.reason


def test_a_profiling_worker_preloads_every_runtime_a_zoo_build_uses() -> None:
    """The default zoo's build preloads tf2onnx, LiteRT, onnxruntime, torch and onnx2torch
    in each worker while the wheels download: the call is allowed, and everything imports
    within a profiling worker's address-space limit."""
    import sys

    from modelhound.corpus.schedule import PRELOAD, preload_here, profiling_pool

    assert "tf2onnx" in PRELOAD and "torch" in PRELOAD
    with profiling_pool(1) as pool:
        assert pool.call("modelhound.corpus.schedule:preload_here", timeout_s=300) == ()
    # what a worker without an extra reports: the modules that failed, not an error
    saved = sys.modules.get("onnx2torch")
    sys.modules["onnx2torch"] = None  # type: ignore[assignment] - import now raises
    try:
        assert preload_here() == ("onnx2torch",)
    finally:
        if saved is None:
            del sys.modules["onnx2torch"]
        else:
            sys.modules["onnx2torch"] = saved
