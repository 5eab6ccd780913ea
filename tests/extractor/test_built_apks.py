"""APKs the tests build: real models placed as is, renamed, nested, bundled, scrambled."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from modelhound.extractor import extract
from modelhound.records import ModelFormat, Status
from tests import builders
from tests.conftest import fixture_path


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _entries(x):
    return {(e.entry, e.format, e.status) for e in x.to_scan().models}


def test_placed_renamed_and_hidden_models_are_found_by_content(tmp_path):
    tfl = builders.tflite_model()
    onnx = builders.onnx_model()
    apk = builders.apk([
        ("assets/mnist.tflite", tfl),
        ("res/raw/data.bin", onnx),                 # renamed
        ("assets/a/b/c/weights", tfl),              # no extension, deep
        ("lib/arm64-v8a/libmodel.so", onnx),        # disguised as a native library
        ("assets/readme.txt", b"this is not a model\n" * 10),
    ], package="com.example.hide", label="Hider", version_code="42", version_name="4.2")
    x = extract(_write(tmp_path, "hide.apk", apk))
    assert not x.error
    assert (x.app.package, x.app.label, x.app.version_code, x.app.version_name) == (
        "com.example.hide", "Hider", "42", "4.2")
    assert _entries(x) == {
        ("assets/mnist.tflite", ModelFormat.TFLITE, Status.OK),
        ("res/raw/data.bin", ModelFormat.ONNX, Status.OK),
        ("assets/a/b/c/weights", ModelFormat.TFLITE, Status.OK),
        ("lib/arm64-v8a/libmodel.so", ModelFormat.ONNX, Status.OK),
    }
    by_entry = {m.entry.entry: m for m in x.models}
    assert by_entry["res/raw/data.bin"].data == onnx
    assert by_entry["assets/mnist.tflite"].entry.sha256 == hashlib.sha256(tfl).hexdigest()


def test_nested_archives_are_opened_and_paths_joined(tmp_path):
    tfl = builders.tflite_model(seed=3)
    inner = builders.zip_bytes([("models/deep.tflite", tfl)])
    obb = builders.zip_bytes([("pack/inner.zip", inner)])
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        info = tarfile.TarInfo("net/model.onnx")
        data = builders.onnx_model(seed=4)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    apk = builders.apk([
        ("assets/main.obb", obb),
        ("assets/models.tar.gz", tgz.getvalue()),
        ("assets/graph.pb.gz", gzip.compress(builders.tf_graphdef())),
    ])
    x = extract(_write(tmp_path, "nested.apk", apk))
    assert _entries(x) == {
        ("assets/main.obb!/pack/inner.zip!/models/deep.tflite", ModelFormat.TFLITE, Status.OK),
        ("assets/models.tar.gz!/net/model.onnx", ModelFormat.ONNX, Status.OK),
        ("assets/graph.pb.gz!/graph.pb", ModelFormat.TF_GRAPHDEF, Status.OK),
    }


def test_nesting_beyond_the_depth_limit_is_reported_not_followed(tmp_path):
    blob = builders.zip_bytes([("m.tflite", builders.tflite_model())])
    for i in range(5):
        blob = builders.zip_bytes([(f"level{i}.zip", blob)])
    x = extract(_write(tmp_path, "deep.apk", builders.apk([("assets/n.zip", blob)])))
    rows = x.to_scan().models
    assert len(rows) == 1 and rows[0].status is Status.UNREADABLE
    assert "nested deeper than 3 levels" in rows[0].reason


def test_split_bundle_reads_base_metadata_and_runtime_from_a_split(tmp_path):
    base = builders.apk([("assets/detector.tflite", builders.tflite_model())],
                        package="com.example.bundle", label="Bundle App")
    split = builders.apk([("lib/arm64-v8a/libtensorflowlite_jni.so", builders.ELF_STUB),
                          ("lib/arm64-v8a/libncnn.so", builders.ELF_STUB)],
                         package="com.example.bundle", split="config.arm64_v8a")
    xapk = builders.zip_bytes([
        ("manifest.json", b'{"package_name": "com.example.bundle", "version_code": "9",'
                          b' "name": "Bundle App"}'),
        ("com.example.bundle.apk", base),
        ("config.arm64_v8a.apk", split),
        ("icon.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
    ])
    x = extract(_write(tmp_path, "bundle.xapk", xapk))
    assert x.app.kind == "xapk"
    assert x.app.package == "com.example.bundle" and x.app.label == "Bundle App"
    assert x.app.runtimes == ("ncnn", "tflite")
    assert "config.arm64_v8a.apk!/lib/arm64-v8a/libtensorflowlite_jni.so" in x.app.runtime_evidence
    assert set(x.app.splits) == {"com.example.bundle.apk", "config.arm64_v8a.apk"}
    assert _entries(x) == {("com.example.bundle.apk!/assets/detector.tflite", ModelFormat.TFLITE,
                            Status.OK)}


def test_caffe_pairs_follow_layers_not_swapped_file_names(tmp_path):
    # the real MTCNN repo ships det2.prototxt = O-Net and det2.caffemodel = R-Net
    names = ["mtcnn-det1", "mtcnn-det2", "mtcnn-det3"]
    entries = []
    for n in names:
        entries.append((f"assets/{n}.prototxt", fixture_path("models", "caffe", f"{n}.prototxt").read_bytes()))
        entries.append((f"assets/{n}.caffemodel", fixture_path("models", "caffe", f"{n}.caffemodel").read_bytes()))
    x = extract(_write(tmp_path, "mtcnn.apk", builders.apk(entries)))
    pairs = {m.entry.entry: m.entry.companions for m in x.models}
    assert pairs == {
        "assets/mtcnn-det1.caffemodel": ("assets/mtcnn-det1.prototxt",),
        "assets/mtcnn-det2.caffemodel": ("assets/mtcnn-det3.prototxt",),
        "assets/mtcnn-det3.caffemodel": ("assets/mtcnn-det2.prototxt",),
    }
    det3 = next(m for m in x.models if m.entry.entry == "assets/mtcnn-det3.caffemodel")
    assert det3.entry.subformat == "caffemodel+prototxt"
    assert [t.shape for t in det3.entry.info.inputs] == [(1, 3, 48, 48)]  # O-Net input
    assert det3.companions["assets/mtcnn-det2.prototxt"].startswith(b"name")


def test_built_caffe_pair_with_renamed_files(tmp_path):
    apk = builders.apk([("assets/x1", builders.CAFFE_PROTOTXT.encode()),
                        ("res/raw/y2", builders.caffe_model())])
    x = extract(_write(tmp_path, "caffe.apk", apk))
    [m] = x.models
    assert (m.entry.entry, m.entry.companions) == ("res/raw/y2", ("assets/x1",))
    assert m.entry.info.param_count == 2 * 9 + 2 + 3 * 8 + 3


def test_ncnn_weights_found_by_exact_size_even_when_renamed(tmp_path):
    apk = builders.apk([
        ("assets/net.param", builders.NCNN_PARAM.encode()),
        ("assets/blob.dat", builders.ncnn_weights()),
        ("assets/det1.param", fixture_path("models", "ncnn", "mtcnn-det1.param").read_bytes()),
        ("assets/det1.bin", fixture_path("models", "ncnn", "mtcnn-det1.bin").read_bytes()),
    ])
    x = extract(_write(tmp_path, "ncnn.apk", apk))
    assert {m.entry.entry: m.entry.companions for m in x.models} == {
        "assets/net.param": ("assets/blob.dat",),
        "assets/det1.param": ("assets/det1.bin",),
    }
    assert not x.others  # the weight blobs are not also reported as encrypted


def test_scrambled_model_is_reported_as_suspected_encrypted_with_evidence(tmp_path):
    secret = builders.scrambled(builders.tflite_model(n_in=64, n_out=64))
    apk = builders.apk([("assets/face.model", secret),
                        ("assets/salted.bin", b"Salted__" + secret[8:]),
                        ("res/drawable/noise.xyz", secret)])  # not where models live
    x = extract(_write(tmp_path, "enc.apk", apk))
    rows = {e.entry: e for e in x.others}
    assert set(rows) == {"assets/face.model", "assets/salted.bin"}
    face = rows["assets/face.model"]
    assert face.status is Status.SUSPECTED_ENCRYPTED
    assert "entropy" in face.evidence and face.sha256 == hashlib.sha256(secret).hexdigest()
    assert "Salted__" in rows["assets/salted.bin"].reason
    assert not x.models


def test_bare_model_file_is_scanned_as_an_input(tmp_path):
    path = fixture_path("models", "onnx", "mnist-8.onnx")
    x = extract(str(path))
    assert x.app.kind == "file"
    [m] = x.models
    assert (m.entry.entry, m.entry.format) == ("mnist-8.onnx", ModelFormat.ONNX)


REAL_PLACED = [
    # (fixture under models/, where the test hides it, expected format)
    ("tflite/mediapipe-0.10.14/palm_detection_lite.tflite", "assets/a.bin", ModelFormat.TFLITE),
    ("onnx/rapidocr-ch_ppocr_mobile_v2.0_cls_mobile.onnx", "res/raw/cls", ModelFormat.ONNX),
    ("tf-pb/PanJinquan-mnist.pb", "assets/deep/x/graph.dat", ModelFormat.TF_GRAPHDEF),
    ("mnn/mobilenetV3.mnn", "assets/m.bin", ModelFormat.MNN),
    ("pytorch/facenet-pytorch-mtcnn-rnet.pt", "assets/r.dat", ModelFormat.PYTORCH),
    ("pytorch/silero_vad.jit", "assets/vad.bin", ModelFormat.PYTORCH),
    ("keras-h5/Tracer1337-mnist_model.h5", "assets/k", ModelFormat.KERAS_H5),
    ("ncnn/squeezenet_v1.1.param.bin", "assets/sq.p", ModelFormat.NCNN),
]


def test_real_models_renamed_and_nested_inside_a_built_bundle(tmp_path):
    entries = [(where, fixture_path("models", path).read_bytes()) for path, where, _ in REAL_PLACED]
    inner_apk = builders.apk(entries[:4], package="com.example.real")
    obb = builders.zip_bytes(entries[4:])
    bundle = builders.zip_bytes([("base.apk", inner_apk), ("main.obb", obb)])
    x = extract(_write(tmp_path, "real.apks", bundle))
    got = {m.entry.entry: m.entry.format for m in x.models}
    expected = {("base.apk!/" if i < 4 else "main.obb!/") + where: fmt
                for i, (_, where, fmt) in enumerate(REAL_PLACED)}
    assert got == expected
    assert x.app.package == "com.example.real" and x.app.kind == "apks"
    torchscript = next(m for m in x.models if m.entry.entry.endswith("vad.bin"))
    assert torchscript.entry.subformat == "torchscript"
    assert torchscript.data == fixture_path("models", "pytorch/silero_vad.jit").read_bytes()


def _proto_manifest(package: str, version_code: str, label: str) -> bytes:
    from modelhound.extractor.manifest import _aapt_node

    node = _aapt_node()()
    root = node.element
    root.name = "manifest"
    root.attribute.add(name="package", value=package)
    root.attribute.add(name="versionCode", value=version_code)
    sdk = root.child.add().element
    sdk.name = "uses-sdk"
    sdk.attribute.add(name="minSdkVersion", value="24")
    app = root.child.add().element
    app.name = "application"
    app.attribute.add(name="label", value=label)
    return bytes(node.SerializeToString())


def test_app_bundle_manifest_in_protobuf_xml_is_read(tmp_path):
    aab = builders.zip_bytes([
        ("BundleConfig.pb", b"\x0a\x04\x0a\x02\x31\x30"),
        ("base/manifest/AndroidManifest.xml", _proto_manifest("com.example.aab", "12", "Bundle")),
        ("base/assets/model.tflite", builders.tflite_model()),
        ("base/lib/arm64-v8a/libtensorflowlite_jni.so", builders.ELF_STUB),
        ("base/dex/classes.dex", b"dex\n035\x00" + b"\x00" * 104),
    ])
    x = extract(_write(tmp_path, "app.aab", aab))
    a = x.app
    assert (a.kind, a.package, a.version_code, a.label, a.min_sdk) == (
        "aab", "com.example.aab", "12", "Bundle", "24")
    assert a.runtimes == ("tflite",) and not a.problems
    assert [m.entry.entry for m in x.models] == ["base/assets/model.tflite"]


def test_bare_model_file_finds_its_companion_beside_it_by_content(tmp_path):
    # names swapped as in the real MTCNN repository: content decides
    for src, dst in (("mtcnn-det2.prototxt", "b.prototxt"), ("mtcnn-det3.caffemodel", "a.caffemodel"),
                     ("mtcnn-det2.caffemodel", "b.caffemodel"), ("mtcnn-det1.param", "x.param")):
        (tmp_path / dst).write_bytes(fixture_path("models", "caffe" if "param" not in src else "ncnn", src).read_bytes())
    (tmp_path / "weights.dat").write_bytes(fixture_path("models", "ncnn", "mtcnn-det1.bin").read_bytes())
    x = extract(str(tmp_path / "b.prototxt"))
    [m] = x.models
    assert (m.entry.entry, m.entry.companions) == ("a.caffemodel", ("b.prototxt",))
    y = extract(str(tmp_path / "x.param"))
    [n] = y.models
    assert n.entry.companions == ("weights.dat",) and not y.others
