"""TensorFlow frozen GraphDef (.pb) -> ONNX with tf2onnx, checked against TensorFlow itself.

Inputs and outputs are found automatically:
* outputs: the ops nothing consumes (not Const/NoOp/Placeholder/Assert/Save*); an integer
  ``ArgMax``/``ArgMin`` sink also exposes its float input (the scores) as an output,
  since later stages compare score vectors;
* inputs: the Placeholders those outputs depend on. A placeholder of unknown rank or
  with unknown non-batch dimensions gets a shape found by trial: rank from its first
  consumer (Transpose perm, Reshape), dimensions from the integer constants of the graph,
  accepting the first shape TensorFlow runs. The reason then says the shape was guessed.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any, Sequence

import numpy as np

from modelhound.converters import fidelity
from modelhound.converters.interface import Conversion
from modelhound.converters.verify import verified
from modelhound.errors import ConversionError
from modelhound.records import FoundModel, TensorSpec

OPSET = 17
_NOT_OUTPUTS = {"Const", "NoOp", "Placeholder", "PlaceholderWithDefault", "Assert", "SaveV2",
                "RestoreV2", "Save", "Restore", "VarHandleOp", "VariableV2", "Variable"}
_INDEX_OPS = {"ArgMax", "ArgMin"}
#: Most shapes tried for one placeholder with unknown dimensions.
MAX_TRIALS = 400


def _node_name(ref: str) -> str:
    """``^a``, ``a:1`` -> ``a``."""
    return ref.lstrip("^").split(":")[0]


class TensorFlowRunnable:
    """A frozen GraphDef run by TensorFlow (the native reference for .pb models)."""

    runtime = "tensorflow"

    def __init__(self, graph_def: Any, inputs: Sequence[TensorSpec], outputs: Sequence[str]):
        """Import the graph; ``outputs`` are tensor names (``op:0``)."""
        import tensorflow as tf

        self._graph = tf.Graph()
        with self._graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self._session = tf.compat.v1.Session(graph=self._graph)
        self.inputs = tuple(inputs)
        self.outputs = tuple(TensorSpec(n, (-1,), "float32") for n in outputs)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Execute the graph on a batch; returns float32 outputs."""
        feed = {self._graph.get_tensor_by_name(s.name): x for s, x in zip(self.inputs, inputs)}
        fetch = [self._graph.get_tensor_by_name(s.name) for s in self.outputs]
        return [np.asarray(r, dtype=np.float32) for r in self._session.run(fetch, feed)]


def find_io(graph_def: Any) -> tuple[list[Any], list[str]]:
    """(placeholder NodeDefs the outputs depend on, output tensor names)."""
    nodes = {n.name: n for n in graph_def.node}
    consumers: collections.Counter[str] = collections.Counter()
    for n in graph_def.node:
        for ref in n.input:
            consumers[_node_name(ref)] += 1
    sinks = [n for n in graph_def.node if consumers[n.name] == 0 and n.op not in _NOT_OUTPUTS]
    outputs = []
    for n in sinks:
        if n.op in _INDEX_OPS and n.input:
            outputs.append(n.input[0] if ":" in n.input[0] else f"{n.input[0]}:0")
        outputs.append(f"{n.name}:0")
    seen, stack, placeholders = set(), [n.name for n in sinks], []
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        node = nodes[name]
        if node.op == "Placeholder":
            placeholders.append(node)
        stack.extend(_node_name(r) for r in node.input)
    placeholders.sort(key=lambda n: [m.name for m in graph_def.node].index(n.name))
    return placeholders, list(dict.fromkeys(outputs))


def _declared_shape(node: Any) -> tuple[int, ...] | None:
    """A placeholder's declared shape (-1 unknown), or None when its rank is unknown."""
    shape = node.attr["shape"].shape
    if shape.unknown_rank or (not shape.dim and "_output_shapes" not in node.attr):
        return None
    return tuple(int(d.size) for d in shape.dim)


def _rank_from_consumers(graph_def: Any, name: str) -> int | None:
    """Rank of tensor ``name`` as its consumers imply (Transpose perm length)."""
    consts = {n.name: n for n in graph_def.node if n.op == "Const"}
    for n in graph_def.node:
        if n.op == "Transpose" and n.input and _node_name(n.input[0]) == name:
            perm = consts.get(_node_name(n.input[1]))
            if perm is not None:
                return int(np.prod([d.size for d in perm.attr["value"].tensor.tensor_shape.dim]) or
                           len(perm.attr["value"].tensor.int_val))
    return None


def _candidate_dims(graph_def: Any) -> list[int]:
    """Positive integers the graph mentions (split counts, reshape targets), small first."""
    from tensorflow.python.framework import tensor_util

    values: set[int] = set()
    for n in graph_def.node:
        if n.op in ("Split", "Unpack", "Unstack") and "num_split" in n.attr:
            values.add(int(n.attr["num_split"].i))
        if n.op == "Unpack" and "num" in n.attr:
            values.add(int(n.attr["num"].i))
        if n.op == "Const" and n.attr["dtype"].type in (3, 9):  # int32, int64
            t = n.attr["value"].tensor
            if sum(1 for _ in t.tensor_shape.dim) <= 1:
                try:
                    arr = tensor_util.MakeNdarray(t)
                except Exception:  # noqa: BLE001 - malformed constants are skipped
                    continue
                values.update(int(v) for v in np.ravel(arr)[:16] if 1 < v <= 4096)
    return sorted(values)


def _guess_shapes(
    graph_def: Any, placeholders: list[Any], outputs: list[str]
) -> tuple[dict[str, tuple[int, ...]], bool]:
    """Concrete shapes (batch 1) for every placeholder; second value: whether guessed."""
    shapes: dict[str, tuple[int, ...] | None] = {}
    unknown = []
    for node in placeholders:
        shape = _declared_shape(node)
        if shape is None:
            rank = _rank_from_consumers(graph_def, node.name)
            if rank is None:
                raise ConversionError(f"input {node.name} has unknown rank")
            shape = (-1,) * rank
        shapes[node.name] = shape
        if any(d < 0 for d in shape[1:]):
            unknown.append(node.name)
    if not unknown:
        return {k: tuple(1 if d < 0 else d for d in v) for k, v in shapes.items()}, False
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph)
    fetch = [graph.get_tensor_by_name(o) for o in outputs]
    dtypes = {n.name: tf.as_dtype(n.attr["dtype"].type).as_numpy_dtype for n in placeholders}
    holes = [(name, i) for name in unknown for i, d in enumerate(shapes[name]) if i and d < 0]
    candidates = _candidate_dims(graph_def)
    trials = sorted(
        itertools.product(candidates, repeat=len(holes)),
        # non-increasing first (time before features, height before channels), then small
        key=lambda t: (any(a < b for a, b in zip(t, t[1:])), int(np.prod(t))),
    )
    for dims in trials[:MAX_TRIALS]:
        concrete = {k: [1 if d < 0 else d for d in v] for k, v in shapes.items()}
        for (name, i), d in zip(holes, dims):
            concrete[name][i] = d
        feed = {graph.get_tensor_by_name(f"{k}:0"): np.zeros(v, dtypes[k]) for k, v in concrete.items()}
        try:
            session.run(fetch, feed)
        except Exception:  # noqa: BLE001 - a wrong guess raises InvalidArgumentError & co.
            continue
        return {k: tuple(v) for k, v in concrete.items()}, True
    raise ConversionError(f"no input shape found for {', '.join(unknown)}")


def convert(found: FoundModel) -> Conversion:
    """Convert a frozen GraphDef with tf2onnx and measure it against TensorFlow."""
    import tensorflow as tf

    sha, entry = found.entry.sha256, found.entry.entry
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(found.data)
    except Exception as exc:  # DecodeError
        return Conversion(sha, False, reason=f"{entry}: not a TensorFlow GraphDef: {exc}")
    from modelhound.converters.tf_safety import graphdef_writes

    unsafe = graphdef_writes(graph_def)
    if unsafe:  # running it could overwrite a user's files
        return Conversion(sha, False, reason=f"{entry}: not run: the graph holds ops that write "
                                             f"files or run Python ({', '.join(unsafe)})")
    try:
        placeholders, outputs = find_io(graph_def)
        if not outputs:
            raise ConversionError("no output op found")
        shapes, guessed = _guess_shapes(graph_def, placeholders, outputs)
        specs = []
        for node in placeholders:
            declared = _declared_shape(node)
            shape = shapes[node.name]
            if declared is not None and declared and declared[0] < 0:
                shape = (-1, *shape[1:])
            dtype = np.dtype(tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype).name
            specs.append(TensorSpec(f"{node.name}:0", shape, dtype))
        native = TensorFlowRunnable(graph_def, specs, outputs)
        native.run(fidelity.seeded_inputs(specs))
    except ConversionError as exc:
        return Conversion(sha, False, reason=f"{entry}: {exc}")
    except Exception as exc:  # noqa: BLE001 - TensorFlow's own errors
        return Conversion(sha, False, reason=f"{entry}: TensorFlow cannot run it: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    from tf2onnx import convert as tf2onnx_convert
    import tf2onnx

    try:
        proto, _ = tf2onnx_convert.from_graph_def(
            graph_def, input_names=[s.name for s in specs], output_names=outputs, opset=OPSET,
            shape_override={s.name: [None if d < 0 else d for d in s.shape] for s in specs},
        )
    except Exception as exc:  # noqa: BLE001 - tf2onnx raises anything
        return Conversion(sha, False, converter="tf2onnx",
                          reason=f"{entry}: tf2onnx failed: {type(exc).__name__}: {exc}")
    notes = [f"inputs {', '.join(s.describe() for s in specs)}; outputs {', '.join(outputs)}"]
    if guessed:
        notes.append("input shape guessed by trial (declared shape unknown)")
    try:
        return verified(found, proto.SerializeToString(), native,
                        converter=f"tf2onnx {tf2onnx.__version__}", notes=notes)
    except ConversionError as exc:
        return Conversion(sha, False, converter="tf2onnx", reason=f"{entry}: {exc}")
