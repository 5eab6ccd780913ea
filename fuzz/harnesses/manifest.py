"""App metadata readers: androguard's AXML parser behind AndroidManifest.xml (with the label
resolved through a real resources.arsc), the app-bundle protobuf manifest and the XAPK
manifest.json. The first byte picks the reader. They return a Manifest, problems noted."""

from __future__ import annotations

from fuzz import seeds as S

MAX_LEN = 32 * 1024
_APKS = ("no-models/androguard-com.politedroid_4.apk", "no-models/androguard-hello-world.apk",
         "no-models/androguard-TestActivity.apk")


def _arsc() -> bytes:
    return S.apk_member(_APKS[0], "resources.arsc")


def seeds() -> list[bytes]:
    """Real binary manifests, a built one, a bundle (protobuf) manifest and XAPK JSON."""
    from modelhound import samples
    from modelhound.extractor.manifest import _aapt_node

    out = [bytes([0]) + S.apk_member(a, "AndroidManifest.xml") for a in _APKS]
    out.append(bytes([0]) + samples.manifest_xml())
    node = _aapt_node()()
    node.element.name = "manifest"
    for k, v in (("package", "com.x"), ("versionCode", "3"), ("split", "")):
        a = node.element.attribute.add()
        a.name, a.value = k, v
    child = node.element.child.add()
    child.element.name = "application"
    a = child.element.attribute.add()
    a.name, a.value = "label", "App"
    out.append(bytes([1]) + node.SerializeToString())
    out.append(bytes([2]) + b'{"package_name": "com.x", "name": "X", "version_code": 3}')
    return out


def test_one(data: bytes) -> None:
    """Read one manifest; every reader returns a Manifest."""
    from modelhound.extractor.manifest import (
        Manifest, parse_manifest, parse_proto_manifest, parse_xapk_manifest)

    kind, body = (data[0] % 3, data[1:]) if data else (0, b"")
    if kind == 0:
        m = parse_manifest(body, _arsc)
    elif kind == 1:
        m = parse_proto_manifest(body)
    else:
        m = parse_xapk_manifest(body)
    assert isinstance(m, Manifest)
