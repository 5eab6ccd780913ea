"""Multi-input and stateful models get a ModelDiff fingerprint through their data input."""

from __future__ import annotations

import numpy as np
import pytest

from modelhound import variants
from modelhound.converters.runtimes import OnnxRunnable
from modelhound.corpus.match import BEHAVIOUR_THRESHOLD
from modelhound.fingerprint.binding import AUDIO_WINDOW, bind, single_input
from modelhound.fingerprint.generate import generate_pairs
from modelhound.fingerprint.interface import Generator, SearchConfig
from modelhound.fingerprint.modeldiff import ddv_similarity
from modelhound.fingerprint.profile import profile_runnable
from modelhound.fingerprint.seeds import default_seeds
from modelhound.records import TensorSpec
from tests.conftest import fixture_path

SILERO = ("models", "onnx", "silero_vad_16k_op15.onnx")


def text_model(seed: int = 0) -> bytes:
    """ids [1, L] int64 + attention_mask [1, L] -> masked mean of embeddings -> 3 logits."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((100, 8)).astype(np.float32)
    head = rng.standard_normal((8, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["e"]),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "ax"], ["m3"]),
        helper.make_node("Mul", ["e", "m3"], ["em"]),
        helper.make_node("ReduceSum", ["em", "ax1"], ["s"], keepdims=0),
        helper.make_node("MatMul", ["s", "H"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 12]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, 12])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        initializer=[numpy_helper.from_array(emb, "E"), numpy_helper.from_array(head, "H"),
                     numpy_helper.from_array(np.array([2], np.int64), "ax"),
                     numpy_helper.from_array(np.array([1], np.int64), "ax1")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_the_documented_rule_picks_the_data_input() -> None:
    silero = OnnxRunnable(fixture_path(*SILERO).read_bytes())
    b = bind(silero.inputs)
    assert b is not None and silero.inputs[b.data].name == "input"
    assert b.data_spec.shape == (1, AUDIO_WINDOW)
    assert "state = zeros (initial state)" in b.describe() and "sr = 16000" in b.describe()
    text = bind(OnnxRunnable(text_model()).inputs)
    assert text is not None and text.data_spec.name == "input_ids"
    assert "attention_mask = ones (full length)" in text.describe()
    assert bind((TensorSpec("state", (2, -1, 128), "float32"),)) is None


def _ddv(runnable: object, pairs: object) -> np.ndarray:
    return np.asarray(profile_runnable(single_input(runnable), pairs).ddv)


@pytest.fixture(scope="module")
def silero_pairs() -> object:
    bound = single_input(OnnxRunnable(fixture_path(*SILERO).read_bytes()))
    seeds = default_seeds(bound.inputs[0], n=12)
    seeds = type(seeds)(seeds.name, seeds.data * 0.1, seeds.is_image)  # audio-scale values
    return generate_pairs(bound, seeds, method=Generator.SCORE_SEARCH,
                          search=SearchConfig(iterations=40, eps=0.05))


def test_stateful_model_ddv_is_stable_and_tells_copies_from_unrelated(silero_pairs: object) -> None:
    data = fixture_path(*SILERO).read_bytes()
    first = _ddv(OnnxRunnable(data), silero_pairs)
    again = _ddv(OnnxRunnable(data), silero_pairs)
    np.testing.assert_array_equal(first, again)
    assert np.all(np.isfinite(first)) and np.any(first != 0)
    half = _ddv(OnnxRunnable(variants.half_onnx(data)), silero_pairs)
    assert ddv_similarity(first, half) >= BEHAVIOUR_THRESHOLD
    # the same architecture with other weights (every tensor's values shuffled)
    import onnx
    from onnx import numpy_helper

    model = onnx.load_model_from_string(data)
    rng = np.random.default_rng(1)
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size > 16:
            init.CopyFrom(numpy_helper.from_array(rng.permutation(arr.ravel()).reshape(arr.shape),
                                                  init.name))
    other = _ddv(OnnxRunnable(model.SerializeToString()), silero_pairs)
    assert ddv_similarity(first, other) < 0.9


def test_text_model_with_ids_and_mask_gets_a_ddv() -> None:
    bound = single_input(OnnxRunnable(text_model()))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 100, (10, 12)).astype(np.float32)
    x_adv = x.copy()
    x_adv[:, 3] = rng.integers(0, 100, 10)  # one token changed per pair
    from modelhound.fingerprint.interface import PairSet

    pairs = PairSet("token ids", x, x_adv, False, Generator.SCORE_SEARCH, "test", "", "")
    a = np.asarray(profile_runnable(bound, pairs).ddv)
    b = np.asarray(profile_runnable(single_input(OnnxRunnable(text_model())), pairs).ddv)
    c = np.asarray(profile_runnable(single_input(OnnxRunnable(text_model(seed=5))), pairs).ddv)
    np.testing.assert_array_equal(a, b)
    assert ddv_similarity(a, c) < BEHAVIOUR_THRESHOLD  # below the verdict's threshold


def test_a_single_output_value_still_gives_a_ddv() -> None:
    from modelhound.fingerprint.modeldiff import compute_ddv

    y = [np.array([[0.2], [0.5], [0.9]])]
    y_adv = [np.array([[0.3], [0.5], [0.1]])]
    ddv = compute_ddv(y, y_adv)
    assert ddv[0] > 0 and ddv[1] < 1e-12 and ddv[2] > ddv[0]
