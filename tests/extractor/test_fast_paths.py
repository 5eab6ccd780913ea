"""The extractor's shortcuts give what the slow, general readers give: the direct binary
XML reader against androguard, the in-memory zip reader against zipfile, and a model's
description parsed once per content against parsing it in every app."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

from modelhound import samples
from modelhound.extractor import extract
from modelhound.extractor.archive import Budget, Limits, open_zip, read_all, read_head
from modelhound.extractor.axml import read_manifest
from modelhound.extractor.manifest import parse_manifest, parse_manifest_androguard
from modelhound.records import Status
from tests.conftest import FIXTURES

APKS = sorted(p for p in (FIXTURES / "apks").rglob("*.apk") if "multidex" not in p.name)


def _manifests() -> list[tuple[str, bytes, bytes | None]]:
    out = []
    for p in APKS:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
            arsc = z.read("resources.arsc") if "resources.arsc" in names else None
            out.append((p.name, z.read("AndroidManifest.xml"), arsc))
    out.append(("built", samples.manifest_xml(), None))
    out.append(("built split", samples.manifest_xml("com.x.y", split="config.arm64_v8a",
                                                    label="Ünïcode ✓"), None))
    return out


def test_real_manifests_are_read_directly_with_androguards_values() -> None:
    manifests = _manifests()
    assert len(manifests) >= 12
    for name, axml, arsc in manifests:
        assert read_manifest(axml) is not None, f"{name}: plain manifest not read directly"
        fast = parse_manifest(axml, lambda arsc=arsc: arsc)
        assert fast == parse_manifest_androguard(axml, lambda arsc=arsc: arsc), name
        assert fast.package and fast.version_code, name
    built = parse_manifest(manifests[-1][1], lambda: None)
    assert (built.package, built.split, built.label, built.min_sdk) == (
        "com.x.y", "config.arm64_v8a", "Ünïcode ✓", "21")


def test_damaged_manifests_read_directly_agree_with_androguard() -> None:
    """Byte-flipped manifests: whatever the direct reader accepts, androguard reads the
    same; the rest goes to androguard (a packer trick or damage never changes a value)."""
    seeds = [m for _, m, _ in _manifests()]
    rng = random.Random(12)
    direct = 0
    for _ in range(600):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if read_manifest(bytes(data)) is None:
            continue
        direct += 1
        assert parse_manifest(bytes(data), lambda: None) == \
            parse_manifest_androguard(bytes(data), lambda: None)
    assert direct > 60  # the comparison covered many damaged files the shortcut reads


def test_zip_entries_read_from_memory_equal_zipfiles_reads() -> None:
    for p in APKS[:6]:
        budget = Budget(Limits())
        archive = open_zip(str(p), "", budget)
        try:
            with zipfile.ZipFile(p) as z:
                for m in archive.members:
                    assert m.reader is not None
                    data = z.read(m.name)
                    assert read_head(m, 512, budget) == data[:512], m.path
                    assert read_all(m, budget) == data, m.path
        finally:
            archive.closer()


def test_a_damaged_entry_fails_as_before(tmp_path: Path) -> None:
    """A stored model whose bytes no longer match the CRC: the shortcut declines and the
    entry is reported unreadable, exactly as zipfile's reader reports it."""
    model = samples.tflite_model(n_in=64, n_out=32)
    raw = bytearray(samples.apk([("assets/m.tflite", model)]))
    at = bytes(raw).find(model)
    raw[at + len(model) // 2] ^= 0xFF
    path = tmp_path / "damaged.apk"
    path.write_bytes(bytes(raw))
    rows = [e for e in extract(str(path)).to_scan().models if e.entry == "assets/m.tflite"]
    assert rows and rows[0].status is Status.UNREADABLE
    assert "CRC" in rows[0].reason


def test_one_model_in_many_apps_is_described_once_and_alike(tmp_path: Path) -> None:
    model = samples.tflite_model(n_in=16, n_out=8, seed=3)
    broken = model[: len(model) // 2]
    infos, reasons = [], []
    for i in range(3):
        p = tmp_path / f"app{i}.apk"
        p.write_bytes(samples.apk([("assets/m.tflite", model), ("assets/b.tflite", broken)],
                                  package=f"com.app{i}"))
        x = extract(str(p))
        (found,) = x.models
        infos.append(found.entry.info)
        reasons.extend(e.reason for e in x.others if e.entry == "assets/b.tflite")
    assert infos[0] is infos[1] is infos[2] and infos[0].op_count > 0
    assert len(reasons) == 3 and len(set(reasons)) == 1 and reasons[0]


def test_entries_flagged_encrypted_are_left_to_the_by_offset_reader(tmp_path: Path) -> None:
    """Android ignores the encryption flag; so does the by-offset reader. The shortcut is
    not offered for such an entry."""
    raw = bytearray(samples.apk([("assets/x.bin", b"hello" * 100)]))
    pos = bytes(raw).rfind(b"PK\x01\x02")  # the last central directory entry: assets/x.bin
    raw[pos + 8] |= 0x01
    p = tmp_path / "flagged.apk"
    p.write_bytes(bytes(raw))
    archive = open_zip(str(p), "", Budget(Limits()))
    try:
        m = next(m for m in archive.members if m.name == "assets/x.bin")
        assert m.encrypted and m.reader is None
        assert read_all(m, Budget(Limits())) == b"hello" * 100
    finally:
        archive.closer()


def test_tflite_description_agrees_with_litert_on_real_models() -> None:
    """The direct FlatBuffer reader gives every input and output as LiteRT itself sees it."""
    from ai_edge_litert.interpreter import Interpreter

    from modelhound.extractor.formats import tflite

    for name in ("hand_recrop", "face_detection_short_range", "selfie_segmentation"):
        data = (FIXTURES / "models" / "tflite" / "mediapipe-0.10.14" / f"{name}.tflite").read_bytes()
        info = tflite.describe(data)
        interp = Interpreter(model_content=data)
        for specs, details in ((info.inputs, interp.get_input_details()),
                               (info.outputs, interp.get_output_details())):
            assert [(s.name, s.shape, s.dtype) for s in specs] == [
                (d["name"], tuple(int(v) for v in d["shape_signature"]), d["dtype"].__name__)
                for d in details], name
        assert info.op_count > 10 and info.param_count > 10_000 and info.weight_dtypes
