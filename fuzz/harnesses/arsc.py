"""resources.arsc: modelhound's own string-resource walker, then androguard's ARSC parser
(the fallback the manifest reader uses). Input: 4 bytes of resource id (little-endian),
then the table."""

from __future__ import annotations

import struct

from fuzz import seeds as S

MAX_LEN = 64 * 1024
_APKS = ("no-models/androguard-com.politedroid_4.apk", "no-models/androguard-hello-world.apk")


def _label_id(apk: str) -> int:
    from androguard.core.axml import AXMLPrinter

    from modelhound.extractor.manifest import ANDROID_NS, _quiet_androguard

    _quiet_androguard()
    root = AXMLPrinter(S.apk_member(apk, "AndroidManifest.xml")).get_xml_obj()
    app = root.find("application")
    ref = app.get(ANDROID_NS + "label", "@7f040000") if app is not None else "@7f040000"
    return int(ref.lstrip("@"), 16) if ref.startswith("@") else 0x7F040000


def seeds() -> list[bytes]:
    """Real resource tables with their apps' label ids."""
    return [struct.pack("<I", _label_id(a)) + S.apk_member(a, "resources.arsc")
            for a in _APKS]


def test_one(data: bytes) -> None:
    """Resolve the id as the manifest reader does (own walker, androguard as fallback)."""
    from modelhound.extractor.arsc import resolve_string
    from modelhound.extractor.manifest import _resolve

    if len(data) < 4:
        return
    (res_id,) = struct.unpack_from("<I", data)
    table = data[4:]
    resolve_string(table, res_id)
    problems: list[str] = []
    _resolve(f"@{res_id:08x}", "com.example", lambda: table, problems)
