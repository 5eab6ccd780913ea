"""The archive walker, as a scan runs it on one input file: zip (and recovery from local
headers), nested zip / gz / tar, split bundles, bare model files, and every reader behind
them. The first byte picks the file's name (extension); the rest is its content.

Contract here (the user-facing one): ``extract`` returns, never raises; an input error names
the input; no member ends as an "internal error" row (an exception the walker did not
expect, caught by its last-resort net)."""

from __future__ import annotations

import atexit
import gzip
import io
import os
import shutil
import tarfile
import zipfile

from fuzz import seeds as S
from fuzz.driver import scratch_dir

MAX_LEN = 128 * 1024
NAMES = ("app.apk", "bundle.xapk", "data.gz", "models.tar.gz", "main.obb", "model.bin",
         "app.apks", "x.zip")
_DIR = scratch_dir("fuzz-archive-")
atexit.register(shutil.rmtree, _DIR, True)


def _zip(entries: list[tuple[str, bytes]], stored: bool = False) -> bytes:
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return f.getvalue()


def _tgz(entries: list[tuple[str, bytes]]) -> bytes:
    f = io.BytesIO()
    with tarfile.open(fileobj=f, mode="w:gz") as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return f.getvalue()


def seeds() -> list[bytes]:
    """Small real APKs (their manifest, resources and a real small model), nested archives
    and the hostile shapes the tests know."""
    from modelhound import samples

    tfl = S.fixture("models", "tflite", "leschiera-stress-model-v2.tflite")
    manifest = S.apk_member("no-models/androguard-com.politedroid_4.apk", "AndroidManifest.xml")
    arsc = S.apk_member("no-models/androguard-com.politedroid_4.apk", "resources.arsc")
    apk = _zip([("AndroidManifest.xml", manifest), ("resources.arsc", arsc),
                ("assets/m.tflite", tfl), ("lib/arm64-v8a/libtensorflowlite_jni.so",
                                           samples.ELF_STUB)])
    ncnn = [("assets/det.param", S.fixture("models", "ncnn", "mtcnn-det1.param")),
            ("assets/det.bin", S.fixture("models", "ncnn", "mtcnn-det1.bin")[:8192])]
    caffe = [("assets/a.prototxt", samples.CAFFE_PROTOTXT.encode()),
             ("assets/b.dat", samples.caffe_model())]
    real = S.fixture("apks", "no-models", "androguard-com.politedroid_4.apk")
    out = [
        bytes([0]) + apk,
        bytes([0]) + real,
        bytes([0]) + _zip(ncnn + caffe, stored=True),
        bytes([1]) + _zip([("manifest.json", b'{"package_name": "com.x", "version_code": 3}'),
                           ("com.x.apk", apk)], stored=True),
        bytes([2]) + gzip.compress(tfl),
        bytes([3]) + _tgz([("m/model.tflite", tfl), ("m/x.onnx", samples.onnx_model())]),
        bytes([4]) + _zip([("inner.zip", _zip([("deep.gz", gzip.compress(tfl))]))]),
        bytes([5]) + tfl,
        bytes([6]) + _zip([("base.apk", apk), ("split_config.arm64_v8a.apk",
                                                 _zip([("AndroidManifest.xml", manifest)]))]),
        bytes([0]) + apk[: len(apk) * 2 // 3],  # truncated: recovery from local headers
        bytes([7]) + _zip([("assets/enc.bin", samples.scrambled(tfl))]),
    ]
    return out


def test_one(data: bytes) -> None:
    """Scan one input file the way ``modelhound scan`` does."""
    from modelhound.extractor import Limits, extract
    from modelhound.extractor.archive import MiB

    name = NAMES[data[0] % len(NAMES)] if data else NAMES[0]
    path = os.path.join(_DIR, name)
    with open(path, "wb") as f:
        f.write(data[1:])
    try:
        result = extract(path, Limits(max_entry_bytes=32 * MiB, max_input_bytes=128 * MiB))
    finally:
        os.remove(path)
    if result.error and not result.error.startswith(path):
        raise AssertionError(f"input error does not name the input: {result.error!r}")
    for row in (*result.others, *(m.entry for m in result.models)):
        if "internal error while reading" in (row.reason or ""):
            raise AssertionError(f"{row.entry}: {row.reason}")
