"""TensorFlow graphs from apps are untrusted programs: never run one that can write files.

Running a TF graph runs its ops, and TensorFlow has ops that write wherever a string tensor
says (``WriteFile``, the checkpoint savers, summary and TFRecord writers) or call back into
Python. A scan must never destroy what a user owns, so a graph that would execute such an
op is refused before TensorFlow loads it, with the op named.

A SavedModel always carries its saver (``SaveV2`` + ``MergeV2Checkpoints``, in the graph or
in a ``__inference__traced_save`` function) that loading and calling it never run: the
ops reached only from ``saver_def.save_tensor_name`` are left out; everything else (the
signatures, the init and restore ops, every other function of the library, which the
loader may call to restore objects) counts as executed.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

#: ops that write files, or run arbitrary Python (reading a checkpoint is allowed)
_WRITES = re.compile(
    r"^(WriteFile|Save|SaveV2|SaveSlices|MergeV2Checkpoints|SaveDataset(V2)?|"
    r"(Experimental)?DatasetToTFRecord|TFRecordWriter|.*SummaryWriter.*|Write\w*Summary|"
    r"CreateSummary\w*|EagerPyFunc|PyFunc(Stateless)?|DebugIdentity(V[23])?|"
    r"DebugNumericSummary(V2)?)$")


def writes(op_types: Iterable[str]) -> list[str]:
    """The op types among ``op_types`` that write files or call Python, sorted."""
    return sorted({op for op in op_types if _WRITES.match(op)})


def _functions(attr_values: Iterable[Any]) -> set[str]:
    """Function names an op's attributes refer to (``f``, ``then_branch``, ``body``...)."""
    out: set[str] = set()
    for v in attr_values:
        if v.HasField("func"):
            out.add(v.func.name)
        elif v.HasField("list"):
            out.update(f.name for f in v.list.func)
    return out


def _node(ref: str) -> str:
    return ref.lstrip("^").split(":")[0]


def graphdef_writes(graph_def: Any) -> list[str]:
    """Write ops anywhere in a (frozen) GraphDef and its function library."""
    ops = [n.op for n in graph_def.node]
    for fn in graph_def.library.function:
        ops += [n.op for n in fn.node_def]
    return writes(ops)


def savedmodel_writes(data: bytes) -> list[str]:
    """Write ops that loading a SavedModel and calling its signatures could execute."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    model.ParseFromString(data)
    found: list[str] = []
    for mg in model.meta_graphs:
        graph = mg.graph_def
        nodes = {n.name: n for n in graph.node}
        library = {f.signature.name: f for f in graph.library.function}

        def ancestors(roots: Iterable[str]) -> set[str]:
            seen: set[str] = set()
            stack = [_node(r) for r in roots]
            while stack:
                name = stack.pop()
                if name in seen or name not in nodes:
                    continue
                seen.add(name)
                stack.extend(_node(i) for i in nodes[name].input)
            return seen

        def called(names: Iterable[str], start: Iterable[str] = ()) -> set[str]:
            todo = set(start)
            for name in names:
                todo |= _functions(nodes[name].attr.values())
            done: set[str] = set()
            while todo:
                fn = todo.pop()
                if fn in done or fn not in library:
                    continue
                done.add(fn)
                for nd in library[fn].node_def:
                    todo |= _functions(nd.attr.values())
            return done

        save_only = ancestors([mg.saver_def.save_tensor_name]) if mg.saver_def.save_tensor_name \
            else set()
        executed = ancestors(n for n in nodes if n not in save_only)
        save_functions = called(save_only - executed)
        run_functions = called(executed, start=[f for f in library if f not in save_functions])
        ops = [nodes[n].op for n in executed]
        for fn in run_functions:
            ops += [nd.op for nd in library[fn].node_def]
        found += writes(ops)
    return sorted(set(found))
