"""The demo set: a folder of apps made by modelhound that show what a scan finds and why.

Every app is a real zip with a real binary manifest; every model is a valid file of its
format. They show models placed as is, renamed, hidden in native-library paths, nested in
archives, split across a bundle, paired by content (Caffe, ncnn), scrambled, and apps
with no model or no readable archive at all.
"""

from __future__ import annotations

import gzip
import os

from modelhound import samples


#: (app file, reference used, how it is derived) for the apps made from real public models
REAL_APPS: tuple[tuple[str, str, str], ...] = (
    ("hand-tracker.apk", "hand_recrop", "as published, renamed to res/raw/tracker.bin"),
    ("fitness-coach.xapk", "pose_detection", "nested in a split APK of a bundle"),
    ("beauty-cam.apk", "face_landmark", "re-packaged without its TFLite metadata"),
    ("sign-reader.apk", "palm_detection_lite", "converted to ONNX and int8-quantized (onnxruntime)"),
    ("gesture-lite.apk", "hand_landmark_lite", "50 % of its weights pruned by magnitude"),
    ("selfie-studio.apk", "selfie_segmentation",
     "last 30 % of weight tensors moved by noise (a stand-in for a retrained head)"),
)


def _onnx_form(data: bytes) -> bytes | None:
    """The ONNX form of a TFLite reference the zoo keeps without one (the default zoo runs
    TFLite references with LiteRT), built in a conversion worker; None when it has none."""
    import hashlib

    from modelhound.converters import ConverterPool
    from modelhound.extractor.formats import HEAD_BYTES, describe, sniff
    from modelhound.records import FoundModel, ModelEntry, Status

    s = sniff(data[:HEAD_BYTES], "model.tflite", len(data))
    if s is None:
        return None
    entry = ModelEntry("model.tflite", s.format, s.subformat, hashlib.sha256(data).hexdigest(),
                       len(data), Status.OK, info=describe(s, data))
    with ConverterPool(1) as pool:
        conv = pool.convert(FoundModel(entry, data))
    return conv.onnx if conv.runnable else None


def build_real_apps(out_dir: str, zoo: object) -> list[str]:
    """Apps carrying real public models from ``zoo`` (a :class:`Zoo`) and their derivatives."""
    from modelhound import variants

    paths = []
    for app, ref_name, _ in REAL_APPS:
        try:
            ref = zoo.get(ref_name)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a zoo without this reference: skip the app
            continue
        data = zoo.file(ref.files[0]).read_bytes()  # type: ignore[attr-defined]
        pkg = "com.demo." + app.split(".")[0].replace("-", "")
        if app == "hand-tracker.apk":
            blob = samples.apk([("res/raw/tracker.bin", data)], package=pkg, label="Hand Tracker")
        elif app == "fitness-coach.xapk":
            blob = samples.zip_bytes([
                ("manifest.json", b'{"package_name": "' + pkg.encode() + b'", "name": "Fitness Coach"}'),
                (f"{pkg}.apk", samples.apk([], package=pkg, label="Fitness Coach")),
                ("split_ml.apk", samples.apk([("assets/models/pose.bin", data)], package=pkg,
                                             split="ml")),
            ])
        elif app == "beauty-cam.apk":
            blob = samples.apk([("assets/fl.tflite", variants.strip_tflite_metadata(data))],
                               package=pkg, label="Beauty Cam")
        elif app == "sign-reader.apk":
            onnx = zoo.file(ref.onnx_file).read_bytes() if ref.onnx_file else _onnx_form(data)  # type: ignore[attr-defined]
            if onnx is None:
                continue
            q = variants.quantize_onnx(onnx)
            blob = samples.apk([("assets/palm_int8.onnx", q),
                                ("lib/arm64-v8a/libonnxruntime.so", samples.ELF_STUB)],
                               package=pkg, label="Sign Reader")
        elif app == "gesture-lite.apk":
            blob = samples.apk([("assets/hand.tflite", variants.prune_tflite(data, 0.5))],
                               package=pkg, label="Gesture Lite")
        else:
            blob = samples.apk([("assets/seg.tflite", variants.perturb_tflite(data))],
                               package=pkg, label="Selfie Studio")
        path = os.path.join(out_dir, app)
        with open(path, "wb") as f:
            f.write(blob)
        paths.append(path)
    return paths


def build_demo(out_dir: str, zoo: object | None = None) -> list[str]:
    """Write the demo apps into ``out_dir`` (created if needed); return their paths.

    With a ``zoo`` holding the default references, apps carrying real public models and
    their derivatives are added to the synthetic and hostile ones.
    """
    os.makedirs(out_dir, exist_ok=True)
    tfl = samples.tflite_model(n_in=16, n_out=4, seed=1, description="camera filter")
    onnx = samples.onnx_model(n_in=8, n_out=2, seed=2)
    so = samples.ELF_STUB
    apps: dict[str, bytes] = {
        "camera-filters.apk": samples.apk(
            [("assets/filter.tflite", tfl), ("lib/arm64-v8a/libtensorflowlite_jni.so", so)],
            package="com.demo.camera", label="Camera Filters"),
        "notes-ocr.apk": samples.apk(
            [("res/raw/data.bin", onnx), ("lib/arm64-v8a/libonnxruntime.so", so)],
            package="com.demo.notes", label="Notes OCR"),
        "face-unlock.xapk": samples.zip_bytes([
            ("manifest.json", b'{"package_name": "com.demo.face", "version_code": "3",'
                              b' "name": "Face Unlock"}'),
            ("com.demo.face.apk", samples.apk(
                [("assets/det_a.prototxt", samples.CAFFE_PROTOTXT.encode()),
                 ("assets/det_b.weights", samples.caffe_model(seed=3))],
                package="com.demo.face", label="Face Unlock")),
            ("config.arm64_v8a.apk", samples.apk(
                [("lib/arm64-v8a/libcaffe.so", so), ("lib/arm64-v8a/libncnn.so", so)],
                package="com.demo.face", split="config.arm64_v8a")),
        ]),
        "game-assets.apk": samples.apk(
            [("assets/main.obb", samples.zip_bytes([("levels/ai/opponent.tflite",
                                                     samples.tflite_model(seed=4))])),
             ("assets/graph.pb.gz", gzip.compress(samples.tf_graphdef(), mtime=0)),
             ("assets/net.param", samples.NCNN_PARAM.encode()),
             ("assets/blob.dat", samples.ncnn_weights(seed=5))],
            package="com.demo.game", label="Game"),
        "secure-id.apk": samples.apk(
            [("assets/liveness.model", samples.scrambled(samples.tflite_model(64, 64, seed=6)))],
            package="com.demo.secure", label="Secure ID"),
        "calculator.apk": samples.apk([("assets/help.html", b"<html>help</html>")],
                                      package="com.demo.calc", label="Calculator"),
        "not-an-apk.apk": b"this file only has an .apk name\n",
    }
    apps["photo-editor.apk"] = apps["camera-filters.apk"]  # same bytes: a white-label clone
    apps["truncated.apk"] = apps["game-assets.apk"][: len(apps["game-assets.apk"]) * 2 // 3]
    paths = []
    for name, data in sorted(apps.items()):
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
    if zoo is not None:
        paths.extend(build_real_apps(out_dir, zoo))
    return sorted(paths)
