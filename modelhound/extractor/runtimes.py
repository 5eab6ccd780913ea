"""ML runtimes evidenced by the native libraries an app bundles."""

from __future__ import annotations

import re

#: (runtime, pattern over the library file name), first match wins
RUNTIME_LIBS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("tflite", r"^lib(tensorflowlite|tflite|tensorflow-lite|litert)[\w.-]*\.so$"),
        ("tensorflow", r"^libtensorflow(_inference|_jni|_cc|_framework)?\.so$"),
        ("pytorch", r"^lib(pytorch_jni|pytorch_jni_lite|torch|torch_cpu|c10|executorch)[\w.-]*\.so$"),
        ("onnxruntime", r"^libonnxruntime[\w.-]*\.so$"),
        ("ncnn", r"^libncnn[\w.-]*\.so$"),
        ("mnn", r"^libMNN[\w.-]*\.so$"),
        ("paddle-lite", r"^libpaddle_(lite|light)[\w.-]*\.so$"),
        ("snpe", r"^lib(SNPE|snpe)[\w.-]*\.so$"),
        ("qnn", r"^libQnn[\w.-]*\.so$"),
        ("mindspore-lite", r"^libmindspore-lite[\w.-]*\.so$"),
        ("tnn", r"^libTNN[\w.-]*\.so$"),
        ("mace", r"^libmace[\w.-]*\.so$"),
        ("caffe", r"^libcaffe[\w.-]*\.so$"),
        ("opencv-dnn", r"^libopencv_(dnn|java\d*)[\w.-]*\.so$"),
        ("huawei-hiai", r"^libhiai[\w.-]*\.so$"),
        ("mediapipe", r"^libmediapipe[\w.-]*\.so$"),
        ("mlkit", r"^lib(mlkit|barhopper|face_detector|xeno_native)[\w.-]*\.so$"),
        ("tengine", r"^libtengine[\w.-]*\.so$"),
        ("dlib", r"^libdlib[\w.-]*\.so$"),
        ("sensetime", r"^libst_mobile[\w.-]*\.so$"),
    )
)


def runtime_of(entry: str) -> str | None:
    """The ML runtime a native library entry belongs to, if any."""
    name = entry.rsplit("/", 1)[-1]
    if not name.endswith(".so") and ".so." not in name:
        return None
    for runtime, pattern in RUNTIME_LIBS:
        if pattern.match(name):
            return runtime
    return None
