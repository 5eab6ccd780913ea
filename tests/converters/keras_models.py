"""A small Keras CNN exported to TFLite in each quantization mode (built by the tests)."""

from __future__ import annotations

import numpy as np

MODES = ("float32", "dynamic-range", "float16", "int8")


def build_tflite(mode: str, seed: int = 0) -> bytes:
    """The test CNN (random weights, seeded) converted to TFLite in ``mode``."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = tf.keras.Sequential([
        tf.keras.Input((16, 16, 3)),
        tf.keras.layers.Conv2D(8, 3, activation="relu"),
        tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6"),
        tf.keras.layers.MaxPooling2D(),
        tf.keras.layers.Conv2D(8, 1),
        tf.keras.layers.BatchNormalization(),
        tf.keras.layers.Activation("tanh"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation="relu"),
        tf.keras.layers.Dense(10),  # logits: a softmax would hide errors
    ])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "dynamic-range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        rng = np.random.default_rng(seed)

        def representative():
            for _ in range(32):
                yield [rng.random((1, 16, 16, 3), dtype=np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif mode != "float32":
        raise ValueError(f"unknown mode {mode}")
    return bytes(converter.convert())
