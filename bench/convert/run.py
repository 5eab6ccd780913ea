"""Benchmark of the converters stage on every model fixture.

For each TFLite, ONNX, Caffe and TF GraphDef fixture: conversion time (in the isolated
worker, fidelity check included), native and ONNX inference time (batch 1, median of
repeated runs, one thread, in this process) and the relative error of the runnable
form against the native runtime. Prints a table and writes it to results.md.

Usage (from the repository root):
    nice .venv/bin/python bench/convert/run.py [--fixtures ../shared/fixtures] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from modelhound.converters import Conversion, ConverterPool, fidelity, load_runnable  # noqa: E402
from modelhound.records import FoundModel, ModelFormat  # noqa: E402
from tests.converters.conftest import all_fixture_models  # noqa: E402

GOAL = 1e-4


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _native(found: FoundModel, conv: Conversion) -> Any:
    """The native reference runner for a converted fixture, or None (ONNX as found)."""
    fmt = found.entry.format
    if fmt is ModelFormat.TFLITE:
        return load_runnable(conv, native=True)
    if fmt is ModelFormat.CAFFE:
        from modelhound.converters.caffe import OpenCVCaffeRunnable, to_onnx

        prototxt = next(iter(found.companions.values())).decode()
        result = to_onnx(prototxt, found.data)
        return OpenCVCaffeRunnable(prototxt, found.data, result.inputs, result.outputs,
                                   result.output_layers)
    if fmt is ModelFormat.TF_GRAPHDEF:
        import tensorflow as tf

        from modelhound.converters.tf_graphdef import TensorFlowRunnable

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(found.data)
        return TensorFlowRunnable(graph_def, conv.inputs, [s.name for s in conv.outputs])
    return None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the number of runnable fixtures beyond the 1e-4 goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per model")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    models = all_fixture_models()
    started = time.perf_counter()
    with ConverterPool(1, timeout_s=600) as pool:
        pool.warm()
        conversions = [pool.convert(m) for m in models]
    wall = time.perf_counter() - started
    rows, beyond = [], 0
    for found, conv in zip(models, conversions):
        native_ms = onnx_ms = None
        if conv.runnable:
            runnable = load_runnable(conv)
            sample = fidelity.seeded_inputs(runnable.inputs, batch=1)
            try:
                onnx_ms = _median_ms(lambda: runnable.run(sample), args.repeat)
            except Exception as exc:  # noqa: BLE001 - e.g. models needing meaningful inputs
                onnx_ms = None
                conv_note = f"not timed: {type(exc).__name__}"
            else:
                conv_note = ""
            native = _native(found, conv)
            if native is not None:
                native_sample = fidelity.seeded_inputs(native.inputs, batch=1)
                native_ms = _median_ms(lambda: native.run(native_sample), args.repeat)
        else:
            conv_note = ""
        rel = conv.rel_error
        status = "ok" if conv.runnable and conv.runtime == "onnxruntime" else (
            conv.runtime if conv.runnable else "unrunnable")
        if conv.runnable and rel is not None and rel > GOAL:
            beyond += 1
        notes = "; ".join(n for n in (conv.reason.replace("|", "/"), conv_note) if n)
        rows.append((found.entry.entry, found.entry.format.value, status,
                     _fmt(conv.seconds, ".2f"), _fmt(native_ms, ".2f"), _fmt(onnx_ms, ".2f"),
                     _fmt(rel, ".2e"), notes[:160]))
    header = ("model", "format", "status", "convert s", "native ms", "onnx ms", "rel error",
              "notes")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    runnable = sum(1 for c in conversions if c.runnable)
    summary = (
        f"{len(models)} fixtures, {runnable} runnable, "
        f"{sum(1 for c in conversions if c.runnable and c.runtime == 'onnxruntime')} through ONNX; "
        f"{beyond} runnable beyond the {GOAL:g} goal; conversion wall time {wall:.0f} s "
        f"(1 worker, start-up excluded)."
    )
    exceptions = [f"- `{r[0]}` ({r[2]}, rel error {r[6]}): {r[7]}" for r, c in zip(rows, conversions)
                  if not c.runnable or c.rel_error is None or c.rel_error > GOAL]
    text = "\n".join([
        "# Converters benchmark",
        "",
        "Command (repository root): `nice .venv/bin/python bench/convert/run.py`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"inference at batch 1, one thread, median of {args.repeat} runs; conversion time is "
        "measured in the worker and includes the fidelity check against the native runtime "
        "(LiteRT / OpenCV 4 / TensorFlow; ONNX as found: normalised vs original).",
        "rel error = max |runnable - native| / max |native|, worst output, seeded U[0,1) inputs, "
        "batch 2 (sigmoid and softmax outputs compared on their logits).",
        "",
        summary,
        "",
        *lines,
        "",
        "## Not within the 1e-4 goal, or not measured",
        "",
        *exceptions,
        "",
    ])
    print(text)
    args.out.write_text(text)
    return beyond


if __name__ == "__main__":
    main()
