"""Read a model's weight tensors as numpy arrays, whatever its format, without running it.

An extracted model is white-box: its weights are evidence of where it came from even when
nothing can run it (ncnn, PyTorch, Keras) or when it was re-packaged in another format.
Quantized weights are also returned dequantized, so an int8 copy can be set against its
float parent. PyTorch files are pickles, i.e. code: they are read with an unpickler that
only builds tensors, containers and plain objects and refuses every other global.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import numpy as np
from google.protobuf.message import DecodeError

from modelhound.errors import ExtractError
from modelhound.extractor.formats import savedmodel
from modelhound.records import ModelFormat

#: tensors smaller than this are shape bookkeeping, not learned weights
MIN_WEIGHT_ELEMENTS = 16


@dataclass(frozen=True, eq=False)
class NamedTensor:
    """One weight tensor of a model."""

    name: str
    values: np.ndarray = field(repr=False)
    """The stored values as float32 (dequantized / widened)."""
    stored_dtype: str
    """How the file stores it: float32, float16, int8, uint8 ..."""

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape."""
        return tuple(int(d) for d in self.values.shape)


def read_tensors(fmt: ModelFormat, subformat: str, data: bytes,
                 companions: Mapping[str, bytes] | None = None) -> list[NamedTensor]:
    """Weight tensors (at least ``MIN_WEIGHT_ELEMENTS`` values) of a model, in file order.

    Raises :class:`ExtractError` when the format's weights cannot be read.
    """
    companions = companions or {}
    readers = {
        ModelFormat.TFLITE: _tflite,
        ModelFormat.ONNX: _onnx,
        ModelFormat.CAFFE: _caffe,
        ModelFormat.TF_GRAPHDEF: _graphdef,
        ModelFormat.NCNN: _ncnn,
        ModelFormat.PYTORCH: _pytorch,
        ModelFormat.KERAS_H5: _keras,
        ModelFormat.TFJS: _tfjs,
        ModelFormat.MNN: _mnn,
        ModelFormat.ORT: _ort,
        ModelFormat.PADDLE: _paddle,
        ModelFormat.TF_SAVED_MODEL: lambda d, s, c: [NamedTensor(*t)
                                                     for t in savedmodel.read_weights(c)],
    }
    reader = readers.get(fmt)
    if reader is None:
        raise ExtractError(f"weights of {fmt.value} models cannot be read yet")
    try:
        tensors = reader(data, subformat, companions)
    except ExtractError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, struct.error, EOFError,
            pickle.UnpicklingError, zipfile.BadZipFile, UnicodeDecodeError, DecodeError) as e:
        raise ExtractError(f"cannot read {fmt.value} weights ({type(e).__name__}: {e})") from e
    return [t for t in tensors if t.values.size >= MIN_WEIGHT_ELEMENTS]


def _f32(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)


# --- TFLite -------------------------------------------------------------------------------

_TFL_NP = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16,
           9: np.int8, 10: np.float64}


def _tflite(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    from modelhound.extractor.formats.tflite import _schema

    schema, _ = _schema()
    model = schema.Model.GetRootAs(data, 0)
    out = []
    seen_buffers: set[int] = set()
    for s in range(model.SubgraphsLength()):
        sub = model.Subgraphs(s)
        for t in range(sub.TensorsLength()):
            tensor = sub.Tensors(t)
            b = tensor.Buffer()
            if b <= 0 or b >= model.BuffersLength() or b in seen_buffers:
                continue
            buf = model.Buffers(b)
            if buf.DataLength() == 0 or tensor.Type() not in _TFL_NP or tensor.Sparsity() is not None:
                continue
            seen_buffers.add(b)
            raw = buf.DataAsNumpy().tobytes()
            arr = np.frombuffer(raw, dtype=_TFL_NP[tensor.Type()])
            shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else (arr.size,)
            if int(np.prod(shape)) != arr.size:
                continue
            arr = arr.reshape(shape)
            stored = np.dtype(_TFL_NP[tensor.Type()]).name
            if stored in ("int32", "int64") and (tensor.Quantization() is None or
                                                 not tensor.Quantization().ScaleLength()):
                continue  # shapes, indices and biases of quantized ops are not weights here
            values = _dequantize_tflite(arr, tensor.Quantization())
            name = (tensor.Name() or b"").decode("utf-8", "replace")
            out.append(NamedTensor(name, values, stored))
    return out


def _dequantize_tflite(arr: np.ndarray, q: Any) -> np.ndarray:
    if q is None or not q.ScaleLength() or arr.dtype.kind == "f":
        return _f32(arr)
    scale = q.ScaleAsNumpy().astype(np.float32)
    zero = q.ZeroPointAsNumpy().astype(np.float32) if q.ZeroPointLength() else np.zeros_like(scale)
    if scale.size > 1 and arr.ndim:
        axis = int(q.QuantizedDimension())
        shape = [1] * arr.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return _f32((arr.astype(np.float32) - zero) * scale)


# --- ONNX ---------------------------------------------------------------------------------


def _onnx_graphs(graph: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """The graph and every subgraph of its control-flow nodes (If, Loop, Scan), depth first."""
    import onnx

    yield prefix, graph
    if depth >= 16:
        return
    for node in graph.node:
        for a in node.attribute:
            subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for i, sub in enumerate(subs):
                tag = a.name if len(subs) == 1 else f"{a.name}{i}"
                yield from _onnx_graphs(sub, f"{prefix}{node.name or node.op_type}/{tag}/",
                                        depth + 1)


def _onnx(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    """Initializers and Constant nodes of the main graph and of every If/Loop/Scan body."""
    import onnx
    from onnx import numpy_helper

    from modelhound.extractor.formats.onnx import graph_only

    model = onnx.load_model_from_string(data)
    reason = graph_only(model)
    if reason:
        raise ExtractError(f"ONNX {reason}")
    out = []
    for prefix, graph in _onnx_graphs(model.graph):
        for init in graph.initializer:
            if init.data_location == onnx.TensorProto.EXTERNAL:
                continue
            arr = numpy_helper.to_array(init)
            if arr.dtype.kind in "fiu" and arr.dtype not in (np.int64, np.int32) or arr.dtype == np.int8:
                out.append(NamedTensor(prefix + init.name, _f32(arr), arr.dtype.name))
        for node in graph.node:
            if node.op_type != "Constant":
                continue
            for a in node.attribute:
                if a.name == "value" and a.t.dims and a.t.data_location != onnx.TensorProto.EXTERNAL:
                    arr = numpy_helper.to_array(a.t)
                    if arr.dtype.kind == "f":
                        out.append(NamedTensor(prefix + node.output[0], _f32(arr), arr.dtype.name))
    return out


# --- Caffe --------------------------------------------------------------------------------


def _caffe(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    from modelhound.extractor.formats import caffe

    if subformat == "prototxt":
        raise ExtractError("a Caffe prototxt holds no weights")
    net = caffe.parse(data, "caffemodel")
    out = []
    for layer in list(net.layer) + list(net.layers):
        for i, blob in enumerate(layer.blobs):
            values = np.asarray(blob.data if len(blob.data) else blob.double_data, dtype=np.float32)
            shape = caffe.blob_shape(blob)
            if int(np.prod(shape)) == values.size:
                values = values.reshape(shape)
            out.append(NamedTensor(f"{layer.name}/{i}", values, "float32"))
    return out


# --- TensorFlow GraphDef ------------------------------------------------------------------

_TF_NP = {1: np.float32, 2: np.float64, 19: np.float16, 6: np.int8, 4: np.uint8}


def _graphdef(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    from modelhound.protos import tensorflow as tfp

    graph = tfp.parse_graphdef(data)
    out = []
    for node in graph.node:
        if node.op != "Const":
            continue
        value = tfp.attrs(node).get("value")
        if value is None or value.tensor.dtype not in _TF_NP or not value.tensor.tensor_content:
            continue
        t = value.tensor
        arr = np.frombuffer(t.tensor_content, dtype=_TF_NP[t.dtype])
        shape = tuple(max(int(d.size), 0) for d in t.tensor_shape.dim)
        if int(np.prod(shape)) == arr.size:
            arr = arr.reshape(shape)
        out.append(NamedTensor(node.name, _f32(arr), np.dtype(_TF_NP[t.dtype]).name))
    return out


# --- ncnn ---------------------------------------------------------------------------------

_NCNN_FP32, _NCNN_FP16 = 0x00000000, 0x01306B47


def _ncnn(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    from modelhound.extractor.formats import ncnn

    if subformat != "param" or not companions:
        raise ExtractError("ncnn weights need a text param and its weight blob")
    layers = ncnn.parse_param(data.decode("utf-8"))
    blob = next(iter(companions.values()))
    pos = 0
    out: list[NamedTensor] = []

    def take(n: int, tagged: bool, name: str, shape: tuple[int, ...]) -> None:
        nonlocal pos
        dtype, stored = np.float32, "float32"
        if tagged:
            tag = struct.unpack_from("<I", blob, pos)[0]
            pos += 4
            if tag == _NCNN_FP16:
                dtype, stored = np.float16, "float16"
            elif tag != _NCNN_FP32:
                raise ExtractError(f"ncnn weights: unsupported storage tag {tag:#x} at {name}")
        size = n * np.dtype(dtype).itemsize
        if pos + size > len(blob):
            raise ExtractError(f"ncnn weights end before layer {name}")
        arr = np.frombuffer(blob, dtype=dtype, count=n, offset=pos)
        pos += size + (-size % 4)
        if int(np.prod(shape)) == n:
            arr = arr.reshape(shape)
        out.append(NamedTensor(name, _f32(arr), stored))

    def num(p: dict[int, str], k: int) -> int:
        return int(float(p.get(k, 0)))

    for ltype, lname, _, _, p in layers:
        if ltype in ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise"):
            n_out, wsize, bias = num(p, 0), num(p, 6), num(p, 5)
            k_w = num(p, 1) or 1
            k_h = num(p, 11) or k_w
            n_in = wsize // max(n_out * k_w * k_h, 1)
            take(wsize, True, f"{lname}/weight", (n_out, n_in, k_h, k_w))
            if bias:
                take(n_out, False, f"{lname}/bias", (n_out,))
        elif ltype == "InnerProduct":
            n_out, bias, wsize = num(p, 0), num(p, 1), num(p, 2)
            take(wsize, True, f"{lname}/weight", (n_out, wsize // max(n_out, 1)))
            if bias:
                take(n_out, False, f"{lname}/bias", (n_out,))
        elif ltype == "PReLU":
            take(num(p, 0), False, f"{lname}/slope", (num(p, 0),))
        elif ltype == "BatchNorm":
            c = num(p, 0)
            for part in ("slope", "mean", "var", "bias"):
                take(c, False, f"{lname}/{part}", (c,))
        elif ltype == "MemoryData":  # a constant blob (pnnx: an ONNX initializer)
            dims = [d for d in (num(p, 0), num(p, 1), num(p, 11), num(p, 2)) if d > 0]
            n = int(np.prod(dims)) if dims else 0
            if n:
                take(n, False, f"{lname}/data", tuple(reversed(dims)))
        elif ltype == "Scale" and num(p, 0) > 0:
            take(num(p, 0), False, f"{lname}/scale", (num(p, 0),))
            if num(p, 1):
                take(num(p, 0), False, f"{lname}/bias", (num(p, 0),))
    return out


# --- PyTorch (restricted unpickling) ------------------------------------------------------

_TORCH_STORAGES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "BFloat16Storage": np.uint16,
}
_TORCH_DTYPES = {"float32": np.float32, "float": np.float32, "float16": np.float16,
                 "half": np.float16, "float64": np.float64, "double": np.float64,
                 "int64": np.int64, "long": np.int64, "int32": np.int32, "int8": np.int8,
                 "uint8": np.uint8, "bool": np.bool_, "bfloat16": np.uint16}


@dataclass
class _StorageRef:
    key: str
    dtype: Any
    numel: int


@dataclass
class _LazyTensor:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _Plain:
    """Any scripted-module or plain object: keeps its state, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> _LazyTensor:
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("tensor without a storage")
    return _LazyTensor(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
    return data


class _Dtype:
    def __init__(self, name: str) -> None:
        self.name = name


#: memo slots a pickle may address: the C unpickler grows its memo table to the largest
#: index a PUT names, so one hostile LONG_BINPUT would ask for gigabytes
MAX_PICKLE_MEMO = 1 << 20


def _check_pickle(f: io.BytesIO) -> None:
    """Walk the next pickle's opcodes (without running them) and refuse memo indices past
    MAX_PICKLE_MEMO; leaves the stream where it was."""
    import pickletools

    import warnings

    start = f.tell()
    try:
        with warnings.catch_warnings():  # hostile string escapes make pickletools warn
            warnings.simplefilter("ignore")
            for op, arg, _ in pickletools.genops(f):
                if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET",
                               "LONG_BINGET") and (
                        not isinstance(arg, int) or not 0 <= arg < MAX_PICKLE_MEMO):
                    raise pickle.UnpicklingError(f"pickle memo index {arg!r:.20} out of bounds")
    finally:
        f.seek(start)


class _SafeUnpickler(pickle.Unpickler):
    """Builds tensors, dicts and inert objects; refuses any other global."""

    def __init__(self, f: io.BytesIO, storage_dtypes: dict[str, Any]) -> None:
        _check_pickle(f)
        super().__init__(f)
        self._dtypes = storage_dtypes

    def load(self) -> Any:
        """Unpickle; what a hostile pickle makes the opcodes do (BUILD on an int, REDUCE
        with the wrong arguments ...) is an UnpicklingError."""
        try:
            return super().load()
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError,
                OverflowError) as e:
            raise pickle.UnpicklingError(f"malformed pickle ({type(e).__name__}: {e})") from e

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _TORCH_STORAGES:
            return _TORCH_STORAGES[name]
        if module == "torch" and name in _TORCH_DTYPES:
            return _Dtype(name)
        if module == "torch" and name == "UntypedStorage":
            return np.uint8
        if module.startswith("__torch__") or module == "torch.jit._pickle":
            return type(name, (_Plain,), {})
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from an untrusted pickle")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key = pid[1], str(pid[2])
        numel = int(pid[4]) if len(pid) > 4 and isinstance(pid[4], int) else -1
        dtype = storage_type.name if isinstance(storage_type, _Dtype) else storage_type
        if isinstance(dtype, str):
            dtype = _TORCH_DTYPES.get(dtype, np.float32)
        self._dtypes[key] = dtype
        return _StorageRef(key, dtype, numel)


def _walk(obj: Any, prefix: str, depth: int = 0) -> Iterator[tuple[str, _LazyTensor]]:
    if depth > 50:
        return
    if isinstance(obj, _LazyTensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{prefix}.{k}" if prefix else str(k), depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{prefix}.{i}" if prefix else str(i), depth + 1)
    elif isinstance(obj, _Plain):
        yield from _walk(getattr(obj, "state", None), prefix, depth + 1)


def _materialize(name: str, t: _LazyTensor, raw: bytes) -> NamedTensor | None:
    dtype = np.dtype(t.storage.dtype)
    if dtype.kind not in "fiu" or dtype == np.uint16 or dtype.kind in "iu" and dtype.itemsize > 1:
        return None
    storage = np.frombuffer(raw, dtype=dtype)
    if not t.size:
        return None
    # as_strided reads wherever the numbers say: every one must be a sane, non-negative int
    # (a negative stride or offset would read memory before the buffer, a huge one overflow)
    numbers = (t.offset, *t.size, *t.stride)
    if len(t.size) != len(t.stride) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 1 << 40 for n in numbers):
        raise ExtractError(f"tensor {name} has an invalid offset, size or stride")
    if 0 in t.size:
        return None
    needed = t.offset + sum((s - 1) * st for s, st in zip(t.size, t.stride)) + 1
    if needed > storage.size:
        raise ExtractError(f"tensor {name} reaches past its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[t.offset:], shape=t.size, strides=tuple(st * dtype.itemsize for st in t.stride))
    return NamedTensor(name, _f32(view), dtype.name)


def _pytorch(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    if subformat == "legacy-pickle":
        return _pytorch_legacy(data)
    if subformat in ("zip", "torchscript", "torchscript-lite"):
        return _pytorch_zip(data)
    raise ExtractError(f"PyTorch {subformat} weights cannot be read yet")


def _pytorch_legacy(data: bytes) -> list[NamedTensor]:
    f = io.BytesIO(data)
    dtypes: dict[str, Any] = {}
    for _ in range(3):  # magic number, protocol version, sys info: plain pickles
        _SafeUnpickler(f, dtypes).load()
    obj = _SafeUnpickler(f, dtypes).load()
    keys = _SafeUnpickler(f, dtypes).load()
    raws: dict[str, bytes] = {}
    if not isinstance(keys, list):
        raise ExtractError("legacy PyTorch file without a storage key list")
    for key in keys:
        (numel,) = struct.unpack("<q", f.read(8))
        itemsize = np.dtype(dtypes.get(str(key), np.float32)).itemsize
        if numel < 0 or numel * itemsize > len(data) - f.tell():
            raise ExtractError(f"storage {key} is truncated (claims {numel} elements)")
        raw = f.read(numel * itemsize)
        raws[str(key)] = raw
    out = []
    for name, t in _walk(obj, ""):
        nt = _materialize(name, t, raws[t.storage.key])
        if nt is not None:
            out.append(nt)
    return out


def _pytorch_zip(data: bytes) -> list[NamedTensor]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = zf.namelist()
    pkls = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pkls:
        raise ExtractError("PyTorch archive has no data.pkl")
    root = pkls[0][: -len("data.pkl")]
    out = []
    for pkl in (f"{root}data.pkl", f"{root}constants.pkl"):
        if pkl not in names:
            continue
        dtypes: dict[str, Any] = {}
        obj = _SafeUnpickler(io.BytesIO(zf.read(pkl)), dtypes).load()
        for name, t in _walk(obj, ""):
            member = f"{root}data/{t.storage.key}"
            if member not in names:
                member = f"{root}constants/{t.storage.key}"
            nt = _materialize(name, t, zf.read(member))
            if nt is not None:
                out.append(nt)
    return out


# --- Keras HDF5 ---------------------------------------------------------------------------


def _keras(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    import h5py

    if subformat != "hdf5":
        raise ExtractError(f"Keras {subformat} weights cannot be read yet")
    out: list[NamedTensor] = []
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            root = f["model_weights"] if "model_weights" in f else f

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and obj.size:
                    out.append(NamedTensor(name, _f32(obj[()]), obj.dtype.name))

            root.visititems(visit)
    except (OSError, RuntimeError, OverflowError) as e:  # how h5py reports a malformed file
        raise ExtractError(f"not a readable HDF5 file ({e})") from e
    return out


# --- TensorFlow.js ------------------------------------------------------------------------


def _tfjs(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    from modelhound.extractor.formats import tfjs

    return [NamedTensor(name, values, stored)
            for name, values, stored in tfjs.read_weights(data, companions)
            if stored not in ("int32", "bool")]


# --- Paddle -------------------------------------------------------------------------------

#: Paddle VarType data types (framework.proto) -> numpy
_PADDLE_NP = {0: np.bool_, 1: np.int16, 2: np.int32, 3: np.int64, 4: np.float16, 5: np.float32,
              6: np.float64, 20: np.uint8, 21: np.int8}


def _paddle(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    """The parameters file of a Paddle inference model (``save_combine``): per variable, in
    sorted name order, uint32 version, uint64 LoD level and its levels, uint32 tensor version,
    int32 size of a TensorDesc protobuf (1: data type, 2: dims), then the raw values. Names
    are not stored (the program holds them): tensors are named ``param_<i>``."""
    from modelhound.extractor.protowire import LEN, VARINT, fields, read_varint

    if not companions:
        raise ExtractError("Paddle weights are in the parameters file beside the program "
                           "(.pdiparams), which was not found")
    buf = next(iter(v for _, v in sorted(companions.items())))
    out: list[NamedTensor] = []
    pos = 0
    while pos < len(buf):
        if struct.unpack_from("<I", buf, pos)[0] != 0:
            raise ExtractError(f"Paddle parameters: unknown LoDTensor version at byte {pos}")
        (levels,) = struct.unpack_from("<Q", buf, pos + 4)
        pos += 12
        for _ in range(min(levels, 16)):
            pos += 8 + struct.unpack_from("<Q", buf, pos)[0]
        (desc_size,) = struct.unpack_from("<i", buf, pos + 4)
        pos += 8
        if desc_size < 0 or pos + desc_size > len(buf):
            raise ExtractError(f"Paddle parameters: tensor description past the end at {pos}")
        desc = buf[pos:pos + desc_size]
        pos += desc_size
        code, dims = -1, []
        for f in fields(desc, limit=256):
            if f.number == 1 and f.wire_type == VARINT:
                code = f.value
            elif f.number == 2 and f.wire_type == VARINT:
                dims.append(f.value)
            elif f.number == 2 and f.wire_type == LEN:
                p = f.offset
                while p < f.offset + f.value:
                    v, p = read_varint(desc, p)
                    dims.append(v)
        if code not in _PADDLE_NP:
            raise ExtractError(f"Paddle parameters: unknown data type {code}")
        dtype = np.dtype(_PADDLE_NP[code]).newbyteorder("<")
        count = int(np.prod(dims)) if dims else 1
        if count < 0 or pos + count * dtype.itemsize > len(buf):
            raise ExtractError(f"Paddle parameters: tensor {len(out)} runs past the end")
        values = np.frombuffer(buf, dtype, count, pos).reshape(dims)
        pos += count * dtype.itemsize
        if dtype.kind == "f":
            out.append(NamedTensor(f"param_{len(out)}", _f32(values), dtype.name))
        else:
            out.append(NamedTensor(f"param_{len(out)}", values.astype(np.float32), dtype.name))
    return out


# --- MNN ----------------------------------------------------------------------------------


def _mnn(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    from modelhound.extractor.formats import mnn

    found = mnn.read(data)
    if found.graph_only:
        raise ExtractError(f"graph-only MNN file: none of its {found.weighted_ops} convolution "
                           "and dense ops carries weights (a benchmark model, not a trained one)")
    return [NamedTensor(name, _f32(values), stored) for name, values, stored in found.tensors]


# --- onnxruntime ORT format ---------------------------------------------------------------

#: ORT TensorDataType (the ONNX TensorProto numbering) -> numpy
_ORT_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 10: np.float16, 11: np.float64}


def _ort(data: bytes, subformat: str, companions: Mapping[str, bytes]) -> list[NamedTensor]:
    """Initializers of the ORT flatbuffer (main graph), with onnxruntime's own bindings."""
    from onnxruntime.tools.ort_format_model.ort_flatbuffers_py import fbs

    session = fbs.InferenceSession.InferenceSession.GetRootAsInferenceSession(data, 0)
    model = session.Model()
    graph = model.Graph() if model is not None else None
    if graph is None:
        raise ExtractError("ORT file holds no graph")
    out = []
    for i in range(graph.InitializersLength()):
        t = graph.Initializers(i)
        dtype = _ORT_NP.get(t.DataType())
        if dtype is None or not t.RawDataLength():
            continue
        arr = np.frombuffer(t.RawDataAsNumpy().tobytes(), dtype=dtype)
        shape = tuple(int(d) for d in t.DimsAsNumpy()) if t.DimsLength() else (arr.size,)
        if int(np.prod(shape)) == arr.size:
            arr = arr.reshape(shape)
        out.append(NamedTensor((t.Name() or b"").decode("utf-8", "replace"), _f32(arr),
                               np.dtype(dtype).name))
    return out
