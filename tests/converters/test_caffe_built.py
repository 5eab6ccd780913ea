"""The Caffe converter on a model the tests write through the schema, against OpenCV."""

from __future__ import annotations

import numpy as np

from modelhound.converters import ConverterPool, fidelity, load_runnable
from modelhound.converters.caffe import OpenCVCaffeRunnable, to_onnx
from modelhound.records import ModelFormat
from tests.converters import caffe_built
from tests.converters.conftest import found_model


def test_built_caffe_model_matches_opencv(pool: ConverterPool) -> None:
    """Every lowering in the built net agrees with OpenCV's Caffe importer."""
    data = caffe_built.caffemodel()
    found = found_model("assets/built.caffemodel", data, ModelFormat.CAFFE, "caffemodel",
                        {"assets/built.prototxt": caffe_built.PROTOTXT.encode()})
    conv = pool.convert(found)
    assert conv.runnable, conv.reason
    assert conv.converter == "modelhound-caffe"
    assert [s.name for s in conv.outputs] == ["prob", "side"]
    assert conv.rel_error is not None and conv.rel_error <= 1e-5
    # independently, in this process, on another seed and batch size
    result = to_onnx(caffe_built.PROTOTXT, data)
    native = OpenCVCaffeRunnable(caffe_built.PROTOTXT, data, result.inputs, result.outputs,
                                 result.output_layers)
    sample = fidelity.seeded_inputs(result.inputs, batch=3, seed=4)
    ref, got = native.run(sample), load_runnable(conv).run(sample)
    assert [g.shape for g in got] == [(3, 5), (3, 4, 3, 3)]
    assert fidelity.relative_error(got, ref) <= 1e-5
    assert np.ptp(ref[0]) > 0


def test_wrong_weights_are_caught() -> None:
    """Weights whose shapes do not fit the prototxt fail conversion with the layer named."""
    from modelhound.errors import ConversionError
    from modelhound.protos import caffe

    net = caffe.parse_caffemodel(caffe_built.caffemodel())
    del net.layer[0].blobs[0].data[-1]
    try:
        to_onnx(caffe_built.PROTOTXT, net.SerializeToString())
    except ConversionError as exc:
        assert "4" in str(exc) and "blob" in str(exc)
    else:
        raise AssertionError("a truncated weight blob was accepted")


def test_unsupported_layer_is_named(pool: ConverterPool) -> None:
    """A layer type without a lowering makes the model unrunnable, naming the type."""
    proto = caffe_built.PROTOTXT.replace('type: "TanH"', 'type: "Python"')
    found = found_model("x.caffemodel", caffe_built.caffemodel(), ModelFormat.CAFFE, "caffemodel",
                        {"x.prototxt": proto.encode()})
    conv = pool.convert(found)
    assert not conv.runnable and conv.unsupported_ops == ("Python",)


def test_caffemodel_without_prototxt(pool: ConverterPool) -> None:
    """Weights alone: not runnable, and the reason says the deploy graph is missing."""
    conv = pool.convert(found_model("w.caffemodel", caffe_built.caffemodel(), ModelFormat.CAFFE,
                                    "caffemodel"))
    assert not conv.runnable and "without its prototxt" in conv.reason
