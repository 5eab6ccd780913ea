"""Free image sizes: the documented candidate that runs is used for a reference's probe set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelhound.converters.runtimes import OnnxRunnable
from modelhound.fingerprint.shapes import resolve_image_size
from modelhound.records import TensorSpec


def line_model() -> bytes:
    """[?, 3, ?, ?] -> Reshape [0, 144, -1] -> mean -> MatMul: runs only when 3*H*W is a
    multiple of 144 (a 48-pixel-high text line, not 224x224), like PP-OCRv4's recogniser."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["r"]),
         helper.make_node("ReduceMean", ["r"], ["m"], axes=[2], keepdims=0),
         helper.make_node("MatMul", ["m", "W"], ["y"])],
        "line",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])],
        initializer=[numpy_helper.from_array(np.array([0, 144, -1], np.int64), "shape"),
                     numpy_helper.from_array(rng.standard_normal((144, 5)).astype(np.float32),
                                             "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_free_height_and_width_take_the_first_size_that_runs() -> None:
    runnable = OnnxRunnable(line_model())
    spec, note = resolve_image_size(runnable, runnable.inputs[0])
    assert spec.shape == (-1, 3, 48, 320)
    assert note == "free image size resolved to 48x320 (224x224 failed)"
    fixed = TensorSpec("x", (-1, 3, 224, 224), "float32")
    assert resolve_image_size(runnable, fixed) == (fixed, "")  # nothing free: unchanged


def test_a_reference_with_a_free_size_is_profiled_at_the_resolved_size(tmp_path: Path) -> None:
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_file
    from modelhound.corpus.zoo import Zoo

    (tmp_path / "line.onnx").write_bytes(line_model())
    zoo = Zoo.open(tmp_path / "zoo", create=True)
    with ConverterPool(1) as pool:
        (ref,) = add_file(zoo, str(tmp_path / "line.onnx"), pool=pool,
                          settings=ProfileSettings(n_pairs=8, pgd_steps=2))
    assert ref.probe_id, ref.profile_note
    assert "free image size resolved to 48x320" in ref.profile_note
    assert zoo.pairs(ref.probe_id).x.shape == (8, 48, 320, 3)
