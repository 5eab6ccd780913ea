"""The real APKs in ../shared/fixtures: every model found with the right format, no
model reported where there is none, app metadata read."""

from __future__ import annotations

import hashlib

import pytest

from modelhound.extractor import extract
from modelhound.records import ModelFormat, Status
from tests.conftest import fixture_path

# apk file -> (package, [(entry, ground-truth model file under models/tflite)], runtimes)
WITH_MODELS = {
    "Ashmit3264-digitclassifierapp-app-debug.apk": (
        "org.tensorflow.lite.codelabs.digitclassifier",
        [("assets/mnist.tflite", "Ashmit3264-codelab-mnist-in-apk.tflite")], ("tflite",)),
    "leschiera-Stress-Detector-app-debug.apk": (
        "polar.com.androidblesdk",
        [("assets/model.tflite", "leschiera-stress-model-v1.tflite")], ("tflite",)),
    "nex3z-tflite-mnist-1.0.0.apk": (
        "com.nex3z.tflitemnist",
        [("assets/mnist.tflite", "nex3z-tflite-mnist-from-apk.tflite")], ("tflite",)),
    "qiulongquan-hand_written_digits_recognize-app-debug.apk": (
        "org.tensorflow.lite.codelabs.digitclassifier",
        [("assets/mnist.tflite", "qiulongquan-codelab-mnist.tflite")], ("tflite",)),
}


@pytest.mark.parametrize("apk", sorted(WITH_MODELS))
def test_models_in_real_apks_are_found_byte_exact(apk):
    package, models, runtimes = WITH_MODELS[apk]
    x = extract(str(fixture_path("apks", "with-models", apk)))
    assert not x.error
    assert x.app.package == package
    assert x.app.kind == "apk"
    assert x.app.runtimes == runtimes
    assert all("libtensorflowlite_jni.so" in e for e in x.app.runtime_evidence)
    found = [(m.entry.entry, m.entry.format, m.entry.status) for m in x.models]
    assert found == [(entry, ModelFormat.TFLITE, Status.OK) for entry, _ in models]
    assert not x.others
    for m, (_, truth) in zip(x.models, models):
        expected = fixture_path("models", "tflite", truth).read_bytes()
        assert m.data == expected
        assert m.entry.sha256 == hashlib.sha256(expected).hexdigest()
        assert m.entry.info is not None and m.entry.info.inputs


NO_MODELS = [
    "Tracer1337-mnist-service-appinventor.apk", "androguard-TestActivity.apk",
    "androguard-a2dp.Vol_137.apk", "androguard-app-prod-debug.apk",
    "androguard-com.politedroid_4.apk", "androguard-com.teleca.jamendo_35.apk",
    "androguard-com.test.intent_filter.apk", "androguard-hello-world.apk",
]


@pytest.mark.parametrize("apk", NO_MODELS)
def test_apps_without_models_report_none(apk):
    x = extract(str(fixture_path("apks", "no-models", apk)))
    assert not x.error
    assert x.app.package
    scan = x.to_scan()
    assert scan.models == () and scan.status is Status.NO_MODEL


def test_app_metadata_matches_the_manifest():
    x = extract(str(fixture_path("apks", "no-models", "androguard-a2dp.Vol_137.apk")))
    a = x.app
    assert (a.package, a.version_name, a.version_code, a.label) == (
        "a2dp.Vol", "2.12.9.2", "137", "A2DP Volume")
    assert (a.min_sdk, a.target_sdk) == ("15", "25")


def test_apk_without_manifest_is_still_scanned_with_the_problem_noted():
    x = extract(str(fixture_path("apks", "edge-cases", "androguard-multidex.apk")))
    assert not x.error
    assert x.app.package == ""
    assert any("no AndroidManifest.xml" in p for p in x.app.problems)
    assert x.to_scan().status is Status.NO_MODEL


def test_oddly_named_real_apk_parses():
    x = extract(str(fixture_path("apks", "edge-cases", "androguard-Invalid.apk")))
    assert not x.error and x.app.package == "re.androguard.android.invalid"
