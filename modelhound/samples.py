"""Small real sample files: models in each format, and APKs that carry them.

Every model here is a valid file of its format (written through the format's own schema),
small enough to build in milliseconds. The tests build their own fixtures with these, and
``modelhound demo`` builds its demo set of apps with them.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Iterable

import numpy as np


# --- models -------------------------------------------------------------------------------


def tflite_model(n_in: int = 4, n_out: int = 3, seed: int = 0, description: str = "test") -> bytes:
    """A one-op TFLite model (FULLY_CONNECTED, float32 weights) built from the schema."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((n_out, n_in)).astype(np.float32)
    bias = rng.standard_normal(n_out).astype(np.float32)

    def tensor(name: str, shape: list[int], buffer: int) -> object:
        t = s.TensorT()
        t.name = name
        t.shape = shape
        t.type = s.TensorType.FLOAT32
        t.buffer = buffer
        return t

    model = s.ModelT()
    model.version = 3
    model.description = description
    empty = s.BufferT()
    wbuf = s.BufferT()
    wbuf.data = list(weights.tobytes())
    bbuf = s.BufferT()
    bbuf.data = list(bias.tobytes())
    model.buffers = [empty, wbuf, bbuf]
    code = s.OperatorCodeT()
    code.builtinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    model.operatorCodes = [code]
    sub = s.SubGraphT()
    sub.tensors = [tensor("input", [1, n_in], 0), tensor("weights", [n_out, n_in], 1),
                   tensor("bias", [n_out], 2), tensor("output", [1, n_out], 0)]
    op = s.OperatorT()
    op.opcodeIndex = 0
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    op.inputs = [0, 1, 2]
    op.outputs = [3]
    sub.operators = [op]
    sub.inputs = [0]
    sub.outputs = [3]
    model.subgraphs = [sub]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def onnx_model(n_in: int = 4, n_out: int = 3, seed: int = 0) -> bytes:
    """A Gemm model with one initializer, written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((n_in, n_out)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
        initializer=[w],
    )
    model = helper.make_model(graph, producer_name="modelhound-tests",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


CAFFE_PROTOTXT = """name: "TinyNet"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 }
}
layer {
  name: "fc1"
  type: "InnerProduct"
  bottom: "conv1"
  top: "fc1"
  inner_product_param { num_output: 3 }
}
layer {
  name: "prob"
  type: "Softmax"
  bottom: "fc1"
  top: "prob"
}
"""


def caffe_model(seed: int = 0, layer_names: tuple[str, str] = ("conv1", "fc1"),
                net_name: str = "TinyNet") -> bytes:
    """A binary caffemodel with weights for the layers of :data:`CAFFE_PROTOTXT`."""
    from modelhound.protos import caffe

    rng = np.random.default_rng(seed)
    net = caffe.net_parameter()
    net.name = net_name
    for name, ltype, shapes in ((layer_names[0], "Convolution", [(2, 1, 3, 3), (2,)]),
                                (layer_names[1], "InnerProduct", [(3, 8), (3,)])):
        layer = net.layer.add(name=name, type=ltype)
        for shape in shapes:
            blob = layer.blobs.add()
            blob.shape.dim.extend(shape)
            blob.data.extend(rng.standard_normal(int(np.prod(shape))).astype(np.float32).tolist())
    return bytes(net.SerializeToString())


def tf_graphdef(n_in: int = 4, n_out: int = 3, seed: int = 0) -> bytes:
    """A frozen GraphDef: Placeholder -> MatMul(Const) -> Softmax."""
    from modelhound.protos import tensorflow as tfp

    c = tfp.classes()
    g = c["GraphDef"]()
    x = g.node.add(name="input", op="Placeholder")
    a = x.attr.add(key="dtype")
    a.value.type = 1
    a = x.attr.add(key="shape")
    a.value.shape.dim.add(size=-1)
    a.value.shape.dim.add(size=n_in)
    w = g.node.add(name="weights", op="Const")
    w.attr.add(key="dtype").value.type = 1
    a = w.attr.add(key="value")
    a.value.tensor.dtype = 1
    a.value.tensor.tensor_shape.dim.add(size=n_in)
    a.value.tensor.tensor_shape.dim.add(size=n_out)
    rng = np.random.default_rng(seed)
    a.value.tensor.tensor_content = rng.standard_normal((n_in, n_out)).astype(np.float32).tobytes()
    m = g.node.add(name="logits", op="MatMul", input=["input", "weights"])
    m.attr.add(key="T").value.type = 1
    s = g.node.add(name="output", op="Softmax", input=["logits"])
    s.attr.add(key="T").value.type = 1
    g.versions.producer = 1000
    return bytes(g.SerializeToString())


NCNN_PARAM = """7767517
3 3
Input            data             0 1 data 0=4 1=4 2=1
Convolution      conv1            1 1 data conv1 0=2 1=3 5=1 6=18
InnerProduct     fc1              1 1 conv1 fc1 0=3 1=1 2=24
"""


def ncnn_weights(seed: int = 0) -> bytes:
    """The fp32 weight blob :data:`NCNN_PARAM` loads (tag, weights, bias per layer)."""
    rng = np.random.default_rng(seed)
    parts = []
    for wsize, bias in ((18, 2), (24, 3)):
        parts.append(struct.pack("<I", 0))
        parts.append(rng.standard_normal(wsize).astype(np.float32).tobytes())
        parts.append(rng.standard_normal(bias).astype(np.float32).tobytes())
    return b"".join(parts)


def scrambled(data: bytes, key: int = 0x5A) -> bytes:
    """A model 'encrypted' the way apps do it: a keyed stream XOR, no header left."""
    rng = np.random.default_rng(key)
    pad = rng.integers(0, 256, len(data), dtype=np.uint8)
    return (np.frombuffer(data, np.uint8) ^ pad).tobytes()


# --- archives -----------------------------------------------------------------------------


def manifest_xml(package: str = "com.example.app", version_code: str = "7",
                 version_name: str = "1.2", label: str = "Demo App", split: str = "") -> bytes:
    """A binary AndroidManifest.xml written with pyaxml."""
    import pyaxml
    from lxml import etree

    split_attr = f' split="{split}"' if split else ""
    xml = (
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android" '
        f'package="{package}" android:versionCode="{version_code}" '
        f'android:versionName="{version_name}"{split_attr}>'
        '<uses-sdk android:minSdkVersion="21" android:targetSdkVersion="33"/>'
        f'<application android:label="{label}"/></manifest>'
    )
    axml = pyaxml.AXML()
    axml.from_xml(etree.fromstring(xml.encode()))
    return bytes(axml.pack())


ELF_STUB = b"\x7fELF\x02\x01\x01" + b"\x00" * 57


def zip_bytes(entries: Iterable[tuple[str, bytes]], stored: Iterable[str] = ()) -> bytes:
    """A zip of (name, data) entries; names in ``stored`` are not compressed."""
    stored = set(stored)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def apk(entries: Iterable[tuple[str, bytes]], package: str = "com.example.app",
        label: str = "Demo App", split: str = "", **manifest: str) -> bytes:
    """An APK: binary manifest, a dex stub and the given entries (models stored)."""
    items = [("AndroidManifest.xml", manifest_xml(package, label=label, split=split, **manifest)),
             ("classes.dex", b"dex\n035\x00" + b"\x00" * 104)]
    items.extend(entries)
    return zip_bytes(items, stored=[n for n, _ in items if n.startswith("assets/")])
