"""TensorFlow SavedModel: a folder holding ``saved_model.pb`` (the graph, its functions and
signatures) and ``variables/variables.index`` + ``variables/variables.data-NNNNN-of-NNNNN``
(the trained values, a TensorFlow tensor bundle).

Everything here is read without TensorFlow, because it runs in the scan process on
untrusted input: the graph with the declarative protobuf table of
:mod:`modelhound.protos.tensorflow`, the variables' index as the LevelDB-style table
TensorFlow writes (``tensorflow/core/lib/io/table_format.txt``: blocks of prefix-compressed
entries, an index block and a 48-byte footer; tensor bundles are written uncompressed),
whose values are ``BundleEntryProto`` records pointing into the data shards. Running and
converting the model happen in the isolated worker (:mod:`modelhound.converters.savedmodel`).
"""

from __future__ import annotations

import posixpath
import re
import struct
from collections import Counter
from typing import Mapping

import numpy as np

from modelhound.errors import ExtractError
from modelhound.extractor import protowire as pw
from modelhound.extractor.protowire import text
from modelhound.records import ModelFormat, ModelInfo, Sniffed, TensorSpec

FILE_NAME = "saved_model.pb"
INDEX = "variables/variables.index"
DATA_PREFIX = "variables/variables.data-"
_OP = re.compile(rb"^[A-Z][A-Za-z0-9_]{0,80}$")
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
#: at most this many entries in one variables index (a hostile index must not loop forever)
MAX_ENTRIES = 1_000_000
#: checkpoint bookkeeping that is not a weight of the network
_NOT_WEIGHTS = ("_CHECKPOINTABLE_OBJECT_GRAPH", ".OPTIMIZER_SLOT", "save_counter",
                "optimizer/", "_optimizer/")


def match(head: bytes, name: str, size: int) -> Sniffed | None:
    """SavedModel protobuf: schema version 1, then a MetaGraphDef whose MetaInfoDef opens
    with the stripped op list (a TF-style op name) or a meta-graph version string."""
    top = pw.head_fields(head, limit=2)
    if not top or len(top) < 2:
        return None
    if (top[0].number, top[0].wire_type, top[0].value) != (1, pw.VARINT, 1):
        return None
    if (top[1].number, top[1].wire_type) != (2, pw.LEN):
        return None
    meta = pw.head_fields(head[top[1].offset:top[1].offset + min(top[1].value, 1 << 16)], 2)
    if not meta or (meta[0].number, meta[0].wire_type) not in ((1, pw.LEN), (2, pw.LEN)):
        return None
    start = top[1].offset + meta[0].offset
    inner = pw.head_fields(head[start:start + min(meta[0].value, 1 << 16)], 4) or []
    evidence = "protobuf SavedModel (schema version 1) with a MetaGraphDef"
    for f in inner:
        if (f.number, f.wire_type) != (2, pw.LEN):
            continue
        ops = pw.head_fields(head[start + f.offset:start + f.offset + min(f.value, 4096)], 1)
        if ops and (ops[0].number, ops[0].wire_type) == (1, pw.LEN):
            p = start + f.offset + ops[0].offset
            opdef = pw.head_fields(head[p:p + min(ops[0].value, 512)], 1)
            if opdef and (opdef[0].number, opdef[0].wire_type) == (1, pw.LEN):
                op = head[p + opdef[0].offset:p + opdef[0].offset + opdef[0].value]
                if _OP.match(op):
                    return Sniffed(ModelFormat.TF_SAVED_MODEL, "saved-model",
                                   f"{evidence}, first op {op.decode()!r}")
    if posixpath.basename(name) == FILE_NAME:
        return Sniffed(ModelFormat.TF_SAVED_MODEL, "saved-model", f"{evidence} and its name")
    return None


def companion_paths(entry: str, available: list[str]) -> list[str]:
    """The variables files of the SavedModel at ``entry``, among ``available`` paths: the
    index (always wanted) and every data shard beside it, sorted."""
    folder = posixpath.dirname(entry)
    prefix = f"{folder}/" if folder else ""
    shards = sorted(p for p in available if p.startswith(prefix + DATA_PREFIX))
    return [prefix + INDEX, *shards]


def _parse(data: bytes):  # type: ignore[no-untyped-def]
    from google.protobuf.message import DecodeError

    from modelhound.protos import tensorflow as tfp

    model = tfp.classes()["SavedModel"]()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ExtractError(f"malformed SavedModel ({e})") from e
    if not model.meta_graphs:
        raise ExtractError("SavedModel has no MetaGraphDef")
    return model


def serving_meta_graph(model):  # type: ignore[no-untyped-def]
    """The MetaGraphDef tagged ``serve`` (else the first)."""
    for mg in model.meta_graphs:
        if "serve" in [text(t) for t in mg.meta_info_def.tags]:
            return mg
    return model.meta_graphs[0]


def signature_inputs(data: bytes) -> tuple[str, tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """(signature key, inputs, outputs) of the serving signature (``serving_default``, else
    the first by name), as the SavedModel declares them."""
    from modelhound.protos import tensorflow as tfp

    mg = serving_meta_graph(_parse(data))
    sigs = {text(s.key): s.value for s in mg.signature_def}
    if not sigs:
        return "", (), ()
    key = "serving_default" if "serving_default" in sigs else sorted(sigs)[0]

    def specs(entries) -> tuple[TensorSpec, ...]:  # type: ignore[no-untyped-def]
        out = []
        for e in sorted(entries, key=lambda e: text(e.key)):
            shape = e.value.tensor_shape
            dims = () if shape.unknown_rank else tuple(int(d.size) for d in shape.dim)
            out.append(TensorSpec(text(e.key), dims, tfp.DTYPES.get(e.value.dtype, "unknown"),
                                  layout="NHWC" if len(dims) == 4 else None))
        return tuple(out)

    return key, specs(sigs[key].inputs), specs(sigs[key].outputs)


def describe(data: bytes, companions: Mapping[str, bytes] | None = None) -> ModelInfo:
    """The serving signature's inputs and outputs, the ops of the graph and its functions,
    and (with the variables index among ``companions``) the number of variable values."""
    model = _parse(data)
    mg = serving_meta_graph(model)
    ops: Counter[str] = Counter(text(n.op) for n in mg.graph_def.node)
    for fn in mg.graph_def.library.function:
        ops.update(text(n.op) for n in fn.node_def)
    key, inputs, outputs = signature_inputs(data)
    params, dtypes = None, set()
    index = _index(companions or {})
    if index is not None:
        params = 0
        for name, entry in bundle_entries(index):
            if _is_weight(name):
                params += int(np.prod([d.size for d in entry.shape.dim])) if entry.shape.dim else 1
                dtypes.add(_dtype_name(entry.dtype))
    notes = (f"signature {key}",) if key else ("no signature: nothing to call",)
    return ModelInfo(inputs=inputs, outputs=outputs, op_count=sum(ops.values()) or None,
                     op_types=tuple(sorted(ops.items())), param_count=params,
                     weight_dtypes=tuple(sorted(dtypes)),
                     producer=f"TensorFlow {text(mg.meta_info_def.tensorflow_version)}".strip(),
                     version="1", notes=notes)


def _index(companions: Mapping[str, bytes]) -> bytes | None:
    return next((v for k, v in sorted(companions.items()) if k.endswith("variables.index")), None)


def _is_weight(name: str) -> bool:
    return not any(m in name for m in _NOT_WEIGHTS)


def _dtype_name(code: int) -> str:
    from modelhound.protos import tensorflow as tfp

    return tfp.DTYPES.get(code, f"dtype{code}")


# --- the variables' index: a table of (tensor name, BundleEntryProto) ----------------------


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value, p = pw.read_varint(buf, pos)
    if p > end:
        raise ExtractError("variables index: entry runs past its block")
    return value, p


def _block(buf: bytes, handle: bytes) -> bytes:
    """The contents of the block a BlockHandle (two varints) points to."""
    offset, p = pw.read_varint(handle, 0)
    size, _ = pw.read_varint(handle, p)
    if offset + size + 5 > len(buf):
        raise ExtractError(f"variables index: block at {offset} (+{size}) is past the end")
    if buf[offset + size] != 0:
        raise ExtractError("variables index: compressed block (TensorFlow writes bundles "
                           "uncompressed)")
    return buf[offset:offset + size]


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one block, keys un-prefixed."""
    if len(block) < 4:
        raise ExtractError("variables index: block shorter than its restart count")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    if restarts < 1 or end < 0:
        raise ExtractError(f"variables index: block claims {restarts} restart points")
    out: list[tuple[bytes, bytes]] = []
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos, end)
        unshared, pos = _varint(block, pos, end)
        size, pos = _varint(block, pos, end)
        if shared > len(key) or pos + unshared + size > end:
            raise ExtractError("variables index: malformed entry")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        out.append((key, block[pos:pos + size]))
        pos += size
        if len(out) > MAX_ENTRIES:
            raise ExtractError(f"variables index holds more than {MAX_ENTRIES} entries")
    return out


def bundle_entries(index: bytes):  # type: ignore[no-untyped-def]
    """(tensor name, BundleEntryProto) for every tensor of a variables index, in key order;
    the header entry (empty key) is checked, not returned."""
    from google.protobuf.message import DecodeError

    from modelhound.protos import tensorflow as tfp

    if len(index) < _FOOTER or struct.unpack_from("<Q", index, len(index) - 8)[0] != _TABLE_MAGIC:
        raise ExtractError("variables index: no table footer (magic) at its end")
    footer = index[len(index) - _FOOTER:]
    try:
        _, p = pw.read_varint(footer, 0)   # metaindex handle: offset, size
        _, p = pw.read_varint(footer, p)
        blocks = [value for _, value in _entries(_block(index, footer[p:]))]
        out = []
        for handle in blocks:
            for key, value in _entries(_block(index, handle)):
                if not key:
                    header = tfp.classes()["BundleHeaderProto"].FromString(value)
                    if header.endianness not in (0,):
                        raise ExtractError("variables index: big-endian bundle")
                    continue
                out.append((key.decode("utf-8", "replace"),
                            tfp.classes()["BundleEntryProto"].FromString(value)))
    except pw.WireError as e:
        raise ExtractError(f"variables index: {e}") from e
    except DecodeError as e:
        raise ExtractError(f"variables index: malformed entry ({e})") from e
    return out


_NP = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
       9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16}


def read_weights(companions: Mapping[str, bytes]) -> list[tuple[str, np.ndarray, str]]:
    """(name, values as float32, stored dtype) of every numeric variable, in index order.

    Checkpoint bookkeeping (the object graph, optimizer slots, the save counter) is left
    out; string and partitioned (sliced) variables are skipped.
    """
    index = _index(companions)
    if index is None:
        raise ExtractError(f"SavedModel variables missing: no {INDEX} beside it")
    shards: dict[int, bytes] = {}
    for path, blob in companions.items():
        m = re.search(r"variables\.data-(\d+)-of-(\d+)$", path)
        if m:
            shards[int(m.group(1))] = blob
    out = []
    for name, e in bundle_entries(index):
        if not _is_weight(name) or e.dtype not in _NP or e.slices:
            continue
        if e.shard_id not in shards:
            raise ExtractError(f"SavedModel variable {name}: data shard {e.shard_id} missing")
        shard = shards[e.shard_id]
        dtype = np.dtype(_NP[e.dtype]).newbyteorder("<")
        shape = tuple(int(d.size) for d in e.shape.dim)
        if any(d < 0 for d in shape):
            raise ExtractError(f"SavedModel variable {name}: negative dimension {shape}")
        n = int(np.prod(shape)) if shape else 1
        if e.size != n * dtype.itemsize or e.offset < 0 or e.offset + e.size > len(shard):
            raise ExtractError(f"SavedModel variable {name}: {e.size} bytes at {e.offset} do "
                               f"not fit shape {shape} in a {len(shard)}-byte shard")
        values = np.frombuffer(shard, dtype=dtype, count=n, offset=e.offset).reshape(shape)
        out.append((name, values.astype(np.float32), dtype.name))
    return out
