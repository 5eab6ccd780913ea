"""Hostile and broken input: each yields a clear row, and the scan goes on."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from modelhound.cli import main
from modelhound.extractor import Limits, extract
from modelhound.extractor.archive import MiB
from modelhound.pipeline import scan
from modelhound.records import ModelFormat, Status
from tests import builders
from tests.conftest import fixture_path


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_non_zip_named_apk_is_an_error_row_naming_the_input(tmp_path):
    path = _write(tmp_path, "fake.apk", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    x = extract(path)
    assert x.error.startswith(path) and "not a zip archive (png image)" in x.error
    text = extract(_write(tmp_path, "text.apk", b"hello, I am not an app\n"))
    assert "not a zip archive (text)" in text.error
    assert x.to_scan().status is Status.ERROR


def test_empty_and_missing_inputs_do_not_stop_a_batch(tmp_path):
    empty = _write(tmp_path, "empty.apk", b"")
    good = _write(tmp_path, "good.apk", builders.apk([("assets/m.tflite", builders.tflite_model())]))
    results = list(scan([empty, str(tmp_path / "missing.apk"), good]))
    assert [r.status for r in results] == [Status.ERROR, Status.ERROR, Status.OK]
    assert "no such file" in results[1].error
    assert results[2].models[0].format is ModelFormat.TFLITE


def test_identical_inputs_are_scanned_once(tmp_path):
    data = builders.apk([("assets/m.tflite", builders.tflite_model())])
    a, b = _write(tmp_path, "a.apk", data), _write(tmp_path, "b.apk", data)
    first, second = scan([a, b])
    assert first.status is Status.OK
    assert second.status is Status.DUPLICATE and second.duplicate_of == a and not second.models


def test_truncated_apk_is_recovered_from_local_headers(tmp_path):
    real = fixture_path("apks", "with-models", "nex3z-tflite-mnist-1.0.0.apk").read_bytes()
    x = extract(_write(tmp_path, "cut.apk", real[: len(real) * 3 // 4]))
    assert not x.error
    assert any("recovered from local headers" in p for p in x.app.problems)
    truth = fixture_path("models", "tflite", "nex3z-tflite-mnist-from-apk.tflite").read_bytes()
    assert [m.data == truth for m in x.models if m.entry.entry == "assets/mnist.tflite"] == [True]


def test_truncated_apk_ending_in_a_stored_zip_is_not_read_as_that_zip(tmp_path):
    # Python's zipfile takes the inner zip's end record for the whole file's
    inner = builders.zip_bytes([("ai/opponent.tflite", builders.tflite_model(seed=4))])
    full = builders.apk([("assets/main.obb", inner), ("assets/tail.bin", os.urandom(3000))])
    cut = full.index(inner) + len(inner) + 100
    x = extract(_write(tmp_path, "cut.apk", full[:cut]))
    assert x.app.package == "com.example.app"
    assert [m.entry.entry for m in x.models] == ["assets/main.obb!/ai/opponent.tflite"]
    assert any("end-of-central-directory" in p for p in x.app.problems)


def test_archive_cut_inside_a_model_reports_it_unreadable(tmp_path):
    tfl = builders.tflite_model(n_in=300, n_out=300)
    data = builders.apk([("assets/big.tflite", tfl)])
    cut = data.index(tfl[:64]) + len(tfl) // 2
    x = extract(_write(tmp_path, "cut.apk", data[:cut]))
    [row] = x.to_scan().models
    assert row.entry == "assets/big.tflite" and row.format is ModelFormat.TFLITE
    assert row.status is Status.UNREADABLE and "truncated" in row.reason


def test_garbage_zip_is_an_error_row(tmp_path):
    x = extract(_write(tmp_path, "junk.apk", b"PK\x03\x04" + os.urandom(200)))
    assert x.error and "junk.apk" in x.error


def _zip_with_flags(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A stored zip whose general-purpose flags are patched in after writing
    (zipfile itself refuses to write the encryption bit)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, _ in entries:
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
        offsets = {i.filename: i.header_offset for i in zf.infolist()}
    raw = bytearray(buf.getvalue())
    for name, _, flags in entries:
        local = offsets[name]
        raw[local + 6] |= flags
        central = raw.index(b"PK\x01\x02")
        while raw[central + 46 : central + 46 + len(name)] != name.encode():
            central = raw.index(b"PK\x01\x02", central + 4)
        raw[central + 8] |= flags
    return bytes(raw)


def test_encrypted_and_fake_encrypted_entries(tmp_path):
    tfl = builders.tflite_model()
    data = _zip_with_flags([
        ("AndroidManifest.xml", builders.manifest_xml(), 0),
        ("assets/real.tflite", tfl, 0x1),                        # flag set, data in the clear
        ("assets/secret.bin", os.urandom(4096), 0x1),             # really encrypted
    ])
    x = extract(_write(tmp_path, "enc.apk", data))
    rows = {e.entry: e for e in x.to_scan().models}
    assert rows["assets/real.tflite"].status is Status.OK
    assert "anti-analysis" in rows["assets/real.tflite"].reason
    assert rows["assets/secret.bin"].status is Status.UNREADABLE
    assert "encrypted zip entry" in rows["assets/secret.bin"].reason


def test_duplicate_entry_names_keep_both_models(tmp_path):
    a, b = builders.tflite_model(seed=1), builders.tflite_model(seed=2)
    buf = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("AndroidManifest.xml", builders.manifest_xml())
            zf.writestr("assets/m.tflite", a)
            zf.writestr("assets/m.tflite", b)
    x = extract(_write(tmp_path, "dup.apk", buf.getvalue()))
    assert sorted(m.data for m in x.models) == sorted([a, b])
    assert any("duplicate entry names" in p for p in x.app.problems)
    assert any("duplicate entry name (#2)" in m.entry.reason for m in x.models)


def test_zip_bomb_entry_is_refused_not_inflated(tmp_path):
    # a model header followed by 32 MiB of zeros: 1000:1 once deflated
    zeros = builders.tflite_model() + b"\x00" * (32 * MiB)
    data = builders.zip_bytes([("AndroidManifest.xml", builders.manifest_xml()),
                               ("assets/model.tflite", zeros),
                               ("assets/ok.tflite", builders.tflite_model())])
    x = extract(_write(tmp_path, "bomb.apk", data), Limits(bomb_min_bytes=1 * MiB))
    rows = {e.entry: e for e in x.to_scan().models}
    assert rows["assets/ok.tflite"].status is Status.OK
    bomb = rows["assets/model.tflite"]
    assert bomb.status is Status.UNREADABLE and "zip bomb" in bomb.reason


def test_per_entry_and_per_input_byte_limits(tmp_path):
    blob = os.urandom(3 * MiB)
    data = builders.apk([(f"assets/m{i}.model", blob) for i in range(4)]
                        + [("assets/small.tflite", builders.tflite_model())])
    x = extract(_write(tmp_path, "big.apk", data), Limits(max_entry_bytes=2 * MiB))
    reasons = [e.reason for e in x.to_scan().models if e.status is Status.UNREADABLE]
    assert len(reasons) == 4 and all("over the limit" in r for r in reasons)
    y = extract(_write(tmp_path, "big2.apk", data), Limits(max_input_bytes=5 * MiB))
    assert any("per-input limit" in e.reason for e in y.to_scan().models)


def test_corrupt_deflate_data_yields_a_row_and_the_rest_is_read(tmp_path):
    tfl = builders.tflite_model(n_in=64, n_out=64)
    data = bytearray(builders.zip_bytes([("AndroidManifest.xml", builders.manifest_xml()),
                                         ("assets/a.model", tfl * 4),
                                         ("assets/b.tflite", builders.tflite_model())],
                                        stored=["assets/b.tflite"]))
    start = data.index(b"assets/a.model") + 40
    data[start : start + 200] = os.urandom(200)
    x = extract(_write(tmp_path, "crc.apk", bytes(data)))
    rows = {e.entry: e for e in x.to_scan().models}
    assert rows["assets/b.tflite"].status is Status.OK
    assert rows["assets/a.model"].status is Status.UNREADABLE


def test_extract_never_writes_outside_its_folder(tmp_path, capsys):
    tfl = builders.tflite_model()
    evil = builders.zip_bytes([
        ("AndroidManifest.xml", builders.manifest_xml()),
        ("../../../../evil.tflite", tfl),
        ("/etc/abs.tflite", builders.tflite_model(seed=5)),
        ("assets/..\\..\\win.tflite", builders.tflite_model(seed=6)),
        ("assets/.hidden.tflite", builders.tflite_model(seed=7)),
        ("assets/net.prototxt", builders.CAFFE_PROTOTXT.encode()),
        ("assets/net.caffemodel", builders.caffe_model()),
    ])
    src = _write(tmp_path, "evil.apk", evil)
    out = tmp_path / "out"
    before = set(tmp_path.parent.rglob("*"))
    assert main(["extract", src, "--out", str(out)]) == 0
    after = set(tmp_path.parent.rglob("*"))
    assert {p for p in after - before if out not in p.parents and p != out} == set()
    manifest = json.loads((out / "manifest.json").read_text())
    entries = sorted(m["entry"] for m in manifest["models"])
    assert entries == sorted(["../../../../evil.tflite", "/etc/abs.tflite",
                              "assets/..\\..\\win.tflite", "assets/.hidden.tflite",
                              "assets/net.caffemodel"])
    caffe = next(m for m in manifest["models"] if m["format"] == "caffe")
    assert [f["entry"] for f in caffe["files"]] == ["assets/net.caffemodel", "assets/net.prototxt"]
    for m in manifest["models"]:
        for f in m["files"]:
            written = (out / f["file"]).resolve()
            assert out.resolve() in written.parents and not written.name.startswith(".")
    evil_file = next(m for m in manifest["models"] if m["entry"].startswith("../"))
    assert (out / evil_file["files"][0]["file"]).read_bytes() == tfl
