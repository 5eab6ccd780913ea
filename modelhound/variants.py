"""Derived copies of a real model, made the way apps make them, for the demo and the tests.

- ``strip_tflite_metadata``: the same graph and weights re-packaged without metadata;
- ``prune_tflite``: global magnitude pruning of the weight buffers (the smallest go to 0);
- ``perturb_tflite``: the last weight tensors moved by seeded noise, standing in for a
  retrained head (no training data ships with the public models; say so where it is used);
- ``quantize_onnx``: onnxruntime's dynamic int8 quantization of an ONNX form;
- ``half_onnx``: every float32 weight stored as float16 and cast back at run time, in the
  main graph and in every If/Loop/Scan body (what float16 ONNX exports ship);
- ``fold_onnx``: onnxruntime's basic graph optimisation written out (constant folding
  removes If nodes whose condition is known: an If-free re-export);
- ``to_mnn``: MNN's own converter (the MNN wheel's ``_tools.mnnconvert``; never its
  ``mnnconvert`` script, which pip-installs packages and sends telemetry);
- ``to_ncnn``: pnnx (the pnnx wheel's executable), ONNX or TorchScript to ncnn fp32.

The two converters run in a child process with their output captured: both print from C.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

_FLOAT = {0: np.float32, 1: np.float16}


def _unpack(data: bytes):  # type: ignore[no-untyped-def]
    from ai_edge_litert import schema_py_generated as s

    return s, s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0))


def _pack(model) -> bytes:  # type: ignore[no-untyped-def]
    import flatbuffers

    b = flatbuffers.Builder(1 << 20)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def strip_tflite_metadata(data: bytes) -> bytes:
    """The model without its metadata, description and signature names."""
    _, model = _unpack(data)
    model.metadata = None
    model.metadataBuffer = None
    model.description = None
    model.signatureDefs = None
    return _pack(model)


def _weight_buffers(model) -> list[tuple[int, type]]:  # type: ignore[no-untyped-def]
    seen: dict[int, type] = {}
    for sub in model.subgraphs or []:
        for t in sub.tensors or []:
            buf = model.buffers[t.buffer] if t.buffer < len(model.buffers or []) else None
            if (buf is not None and buf.data is not None and t.type in _FLOAT
                    and t.sparsity is None and len(buf.data) >= 64 * np.dtype(_FLOAT[t.type]).itemsize):
                seen.setdefault(t.buffer, _FLOAT[t.type])
    return sorted(seen.items())


def prune_tflite(data: bytes, fraction: float = 0.5) -> bytes:
    """Zero the ``fraction`` smallest-magnitude weights over all weight buffers."""
    _, model = _unpack(data)
    bufs = _weight_buffers(model)
    values = {i: np.frombuffer(bytes(bytearray(model.buffers[i].data)), dtype=dt).astype(np.float32)
              for i, dt in bufs}
    cut = np.quantile(np.abs(np.concatenate(list(values.values()))), fraction)
    for i, dt in bufs:
        v = values[i]
        pruned = np.where(np.abs(v) <= cut, 0, v).astype(dt)
        model.buffers[i].data = np.frombuffer(pruned.tobytes(), dtype=np.uint8)
    return _pack(model)


def perturb_tflite(data: bytes, share: float = 0.3, noise: float = 0.3, seed: int = 0) -> bytes:
    """Move the last ``share`` of the weight tensors by ``noise`` times their spread."""
    _, model = _unpack(data)
    bufs = _weight_buffers(model)
    rng = np.random.default_rng(seed)
    for i, dt in bufs[int(len(bufs) * (1 - share)):]:
        v = np.frombuffer(bytes(bytearray(model.buffers[i].data)), dtype=dt).astype(np.float32)
        moved = (v + noise * v.std() * rng.standard_normal(v.shape)).astype(dt)
        model.buffers[i].data = np.frombuffer(moved.tobytes(), dtype=np.uint8)
    return _pack(model)


def quantize_onnx(onnx_bytes: bytes) -> bytes:
    """onnxruntime's dynamic quantization: int8 weights, float activations."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.onnx"), os.path.join(tmp, "out.onnx")
        with open(src, "wb") as f:
            f.write(onnx_bytes)
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        with open(dst, "rb") as f:
            return f.read()


def half_onnx(onnx_bytes: bytes) -> bytes:
    """The model with float32 initializers and Constant tensors stored as float16, each
    followed by a Cast back to float32, in every graph and subgraph (it still runs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_model_from_string(onnx_bytes)

    def cast(src: str, dst: str) -> onnx.NodeProto:
        return helper.make_node("Cast", [src], [dst], to=TensorProto.FLOAT, name=f"{dst}_cast")

    def visit(graph: onnx.GraphProto) -> None:
        nodes: list[onnx.NodeProto] = []
        for init in graph.initializer:
            if init.data_type == TensorProto.FLOAT and len(init.dims):
                arr = numpy_helper.to_array(init)
                name = init.name
                init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
                nodes.append(cast(name + "_fp16", name))
        for node in graph.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    visit(a.g)
                for g in a.graphs:
                    visit(g)
            nodes.append(node)
            if node.op_type == "Constant":
                for a in node.attribute:
                    if a.name == "value" and a.t.data_type == TensorProto.FLOAT and len(a.t.dims):
                        arr = numpy_helper.to_array(a.t)
                        a.t.CopyFrom(numpy_helper.from_array(arr.astype(np.float16)))
                        out = node.output[0]
                        node.output[0] = out + "_fp16"
                        nodes.append(cast(out + "_fp16", out))
        del graph.node[:]
        graph.node.extend(nodes)

    visit(model.graph)
    return bytes(model.SerializeToString())


def fold_onnx(onnx_bytes: bytes) -> bytes:
    """onnxruntime's basic optimisations (constant folding, If with a known condition
    inlined), written out as a new ONNX file."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "folded.onnx")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = dst
        ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
        with open(dst, "rb") as f:
            return f.read()


class VariantError(RuntimeError):
    """An external converter failed; the message carries its last output lines."""


def _tail(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stdout or b"").decode("utf-8", "replace") + (proc.stderr or b"").decode(
        "utf-8", "replace")
    return " | ".join(text.strip().splitlines()[-3:])


def to_mnn(data: bytes, source_format: str, timeout_s: float = 300.0) -> bytes:
    """The model converted by MNN's converter; ``source_format`` is TFLITE, ONNX, CAFFE or TF."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.model"), os.path.join(tmp, "out.mnn")
        with open(src, "wb") as f:
            f.write(data)
        code = ("import sys, _tools; sys.exit(0 if _tools.mnnconvert(['mnnconvert', '-f', "
                f"{source_format!r}, '--modelFile', {src!r}, '--MNNModel', {dst!r}, "
                "'--bizCode', 'modelhound']) else 1)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp,
                              timeout=timeout_s, check=False)
        if proc.returncode != 0 or not os.path.exists(dst):
            raise VariantError(f"MNN converter failed (exit {proc.returncode}): {_tail(proc)}")
        with open(dst, "rb") as f:
            return f.read()


def to_ncnn(data: bytes, input_shape: tuple[int, ...], suffix: str = ".onnx",
            timeout_s: float = 300.0) -> tuple[bytes, bytes]:
    """(param, bin) of the model converted by pnnx with fp32 weights; ``suffix`` is
    ``.onnx`` or ``.pt`` (TorchScript)."""
    import pnnx

    exe = os.path.join(os.path.dirname(pnnx.__file__), "pnnx")
    if not os.path.exists(exe):
        raise VariantError(f"{exe}: pnnx executable missing from the pnnx wheel")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "model" + suffix)
        with open(src, "wb") as f:
            f.write(data)
        param, binary = os.path.join(tmp, "out.param"), os.path.join(tmp, "out.bin")
        shape = "[" + ",".join(str(d) for d in input_shape) + "]"
        proc = subprocess.run([exe, src, f"inputshape={shape}", "fp16=0", f"ncnnparam={param}",
                               f"ncnnbin={binary}"], capture_output=True, cwd=tmp,
                              timeout=timeout_s, check=False)
        if proc.returncode != 0 or not os.path.exists(param):
            raise VariantError(f"pnnx failed (exit {proc.returncode}): {_tail(proc)}")
        with open(param, "rb") as f, open(binary, "rb") as g:
            return f.read(), g.read()
