"""A Caffe model written by the tests through the declarative schema (no Caffe needed).

It exercises the layer lowerings the fixtures do not: BatchNorm+Scale, leaky ReLU,
average pooling with padding and ceil rounding, grouped convolution, PReLU, Slice,
Eltwise PROD and weighted SUM, Deconvolution, Concat, LRN, TanH, Flatten, Dropout.
"""

from __future__ import annotations

import numpy as np

PROTOTXT = """
name: "BuiltNet"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 10 dim: 10 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { eps: 0.001 } }
layer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "pool2" type: "Pooling" bottom: "pool1" top: "pool2"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 4 kernel_size: 1 group: 2 } }
layer { name: "prelu2" type: "PReLU" bottom: "conv2" top: "conv2" }
layer { name: "slice" type: "Slice" bottom: "pool1" top: "sa" top: "sb"
        slice_param { axis: 1 slice_point: 2 } }
layer { name: "prod" type: "Eltwise" bottom: "sa" bottom: "sb" top: "prod" eltwise_param { operation: PROD } }
layer { name: "wsum" type: "Eltwise" bottom: "conv2" bottom: "pool1" top: "wsum"
        eltwise_param { operation: SUM coeff: 1 coeff: -0.5 } }
layer { name: "up" type: "Deconvolution" bottom: "pool2" top: "up"
        convolution_param { num_output: 2 kernel_size: 2 stride: 2 } }
layer { name: "cat" type: "Concat" bottom: "wsum" bottom: "prod" bottom: "up" top: "cat" }
layer { name: "lrn" type: "LRN" bottom: "cat" top: "lrn" lrn_param { local_size: 3 alpha: 0.01 beta: 0.75 } }
layer { name: "tanh" type: "TanH" bottom: "lrn" top: "tanh" }
layer { name: "flat" type: "Flatten" bottom: "tanh" top: "flat" }
layer { name: "drop" type: "Dropout" bottom: "flat" top: "flat" dropout_param { dropout_ratio: 0.3 } }
layer { name: "fc" type: "InnerProduct" bottom: "flat" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
layer { name: "side" type: "Sigmoid" bottom: "pool2" top: "side" }
"""

#: Weight blob shapes per layer.
BLOBS = {
    "conv1": [(4, 3, 3, 3), (4,)],
    "bn1": [(4,), (4,), (1,)],
    "sc1": [(4,), (4,)],
    "conv2": [(4, 2, 1, 1), (4,)],
    "prelu2": [(4,)],
    "up": [(4, 2, 2, 2), (2,)],
    "fc": [(5, 8 * 6 * 6), (5,)],
}


def caffemodel(seed: int = 0) -> bytes:
    """The trained weights, seeded; BatchNorm statistics are positive with a scale factor."""
    from modelhound.protos import caffe

    rng = np.random.default_rng(seed)
    net = caffe.net_parameter()
    net.name = "BuiltNet"
    for name, shapes in BLOBS.items():
        layer = net.layer.add(name=name)
        for i, shape in enumerate(shapes):
            values = rng.standard_normal(int(np.prod(shape))).astype(np.float32)
            if name == "bn1":
                values = [np.abs(values) * 3, np.abs(values) + 0.5, np.array([2.0])][i]
            blob = layer.blobs.add()
            blob.shape.dim.extend(shape)
            blob.data.extend(np.asarray(values, np.float32).tolist())
    return bytes(net.SerializeToString())
