"""``modelhound compare``: bytes, weights and ModelDiff behaviour of two model files."""

from __future__ import annotations

import json

import pytest

from modelhound.cli import main
from modelhound.comparison import compare_files
from tests.conftest import fixture_path

M = ("models",)


def test_cross_format_copy_is_found_from_the_weights(capsys):
    a = fixture_path("models", "pytorch", "facenet-pytorch-mtcnn-onet.pt")
    b = fixture_path("models", "ncnn", "mtcnn-det3.param")  # its .bin lies beside it
    assert main(["compare", str(a), str(b), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["verdict"], r["reuse_type"], r["weight_kind"]) == ("reused", "re-packaged", "identical-weights")
    assert "not runnable" in " ".join(r["evidence"])  # PyTorch cannot run here: said, not hidden


def test_same_architecture_other_weights_is_not_reuse():
    r = compare_files(str(fixture_path("models", "caffe", "mtcnn-det3.caffemodel")),
                      str(fixture_path("models", "pytorch", "facenet-pytorch-mtcnn-onet.pt")))
    assert not r.reused and r.weight_kind == "none"
    assert r.structure is not None and r.structure >= 0.9  # the same O-Net architecture ...
    assert "same architecture" in " ".join(r.evidence)  # ... is said, and is not a verdict


@pytest.mark.slow
def test_behaviour_of_a_converted_copy_and_of_an_unrelated_model(tmp_path):
    from modelhound.converters.registry import convert_here
    from tests.corpus.helpers import found_model

    a = fixture_path("models", "tflite", "mediapipe-0.10.14", "hand_recrop.tflite")
    onnx = convert_here(found_model(a.read_bytes())).onnx
    b = tmp_path / "copy.onnx"
    b.write_bytes(onnx)
    same = compare_files(str(a), str(b), n_pairs=16, pgd_steps=3)
    assert same.reused and same.similarity is not None and same.similarity > 0.99
    assert same.modeldiff["generated_on"] == "a" and same.modeldiff["n_pairs"] == 16
    assert same.agreement is not None and same.agreement > 0.99
    other = fixture_path("models", "tflite", "mediapipe-0.10.14", "selfie_segmentation.tflite")
    diff = compare_files(str(a), str(other), n_pairs=16, pgd_steps=3)
    assert not diff.reused
    assert diff.similarity is not None and diff.similarity < same.similarity
    assert diff.agreement is not None and diff.agreement < same.agreement


def test_archive_with_several_models_asks_for_an_entry(capsys):
    apk = fixture_path("apks", "with-models", "nex3z-tflite-mnist-1.0.0.apk")
    assert main(["compare", str(apk), f"{apk}!/assets/mnist.tflite", "--no-behaviour"]) == 0
    assert "identical copy" in capsys.readouterr().out
    assert main(["compare", f"{apk}!/assets/none.tflite", str(apk)]) == 1
    assert "no model at that entry" in capsys.readouterr().err
