"""App metadata from AndroidManifest.xml (and resources.arsc for the label), via androguard.

Only the two files involved are parsed, from bytes the archive walker already holds, so
reading metadata costs a fraction of androguard's full ``APK()`` parse.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"


@dataclass(frozen=True)
class Manifest:
    """What the manifest says about the app."""

    package: str = ""
    version_name: str = ""
    version_code: str = ""
    label: str = ""
    min_sdk: str = ""
    target_sdk: str = ""
    split: str = ""
    """Name of the split for a split APK; empty for a base APK."""
    problems: tuple[str, ...] = field(default=())


@lru_cache(maxsize=1)
def _quiet_androguard() -> None:
    # androguard 4 logs DEBUG through loguru to stderr by default: dozens of lines per APK.
    # Disabling its loggers (rather than androguard.util.set_log, which removes loguru's
    # handler 0 and fails when called twice) leaves other loguru users alone.
    from loguru import logger

    logger.disable("androguard")


def parse_manifest(axml: bytes, arsc: Callable[[], bytes | None]) -> Manifest:
    """Parse a binary AndroidManifest.xml; ``arsc`` supplies resources.arsc on demand.

    A plainly laid out manifest is read directly (:mod:`modelhound.extractor.axml`);
    anything else goes through androguard, which gives the same values for plain files.
    """
    from modelhound.extractor.axml import attribute, read_manifest

    fast = read_manifest(axml)
    if fast is not None:
        top, sdk, app = fast["manifest"], fast.get("uses-sdk", {}), fast.get("application", {})
        problems: list[str] = []
        label = attribute(app, "label")
        if label.startswith("@"):
            label = _resolve(label, top.get("package", ""), arsc, problems) or label
        return Manifest(
            package=top.get("package", ""), version_name=attribute(top, "versionName"),
            version_code=attribute(top, "versionCode"), label=label,
            min_sdk=attribute(sdk, "minSdkVersion"), target_sdk=attribute(sdk, "targetSdkVersion"),
            split=top.get("split", ""), problems=tuple(problems))
    return parse_manifest_androguard(axml, arsc)


def parse_manifest_androguard(axml: bytes, arsc: Callable[[], bytes | None]) -> Manifest:
    """:func:`parse_manifest` by androguard's full binary XML parser."""
    _quiet_androguard()
    from androguard.core.axml import AXMLPrinter

    problems: list[str] = []
    try:
        printer = AXMLPrinter(axml)
        root = printer.get_xml_obj()
    except Exception as e:  # androguard raises many types on broken XML  # noqa: BLE001
        return Manifest(problems=(f"AndroidManifest.xml unreadable: {type(e).__name__}: {e}",))
    if root is None or not printer.is_valid():
        return Manifest(problems=("AndroidManifest.xml is not valid binary XML",))

    def attr(el: object, name: str) -> str:
        if el is None:
            return ""
        value = el.get(ANDROID_NS + name)  # type: ignore[attr-defined]
        if value is None:
            value = el.get(name)  # type: ignore[attr-defined]
        return "" if value is None else str(value)

    sdk = root.find("uses-sdk")
    app = root.find("application")
    label = attr(app, "label")
    if label.startswith("@"):
        label = _resolve(label, root.get("package", ""), arsc, problems) or label
    return Manifest(
        package=root.get("package", "") or "",
        version_name=attr(root, "versionName"),
        version_code=attr(root, "versionCode"),
        label=label,
        min_sdk=attr(sdk, "minSdkVersion"),
        target_sdk=attr(sdk, "targetSdkVersion"),
        split=root.get("split", "") or "",
        problems=tuple(problems),
    )


def _resolve(ref: str, package: str, arsc: Callable[[], bytes | None], problems: list[str]) -> str:
    from modelhound.extractor.arsc import resolve_string

    data = arsc()
    if not data:
        return ""
    try:
        fast = resolve_string(data, int(ref[1:], 16))
    except ValueError:
        fast = None
    if fast is not None:
        return fast
    _quiet_androguard()
    from androguard.core.axml import ARSCParser, ARSCResTableConfig

    said = io.StringIO()
    try:
        # androguard print()s about some odd entries ("We are out of bound with this complex
        # entry"): in a scan sys.stdout is the user's terminal, so keep it as a problem
        with contextlib.redirect_stdout(said):
            parser = ARSCParser(data)
            res_id, pkg = parser.parse_id(ref)
            if pkg and pkg not in (package, ""):
                return ""
            configs = parser.get_resolved_res_configs(res_id,
                                                      ARSCResTableConfig.default_config())
        return str(configs[0][1]) if configs else ""
    except Exception as e:  # noqa: BLE001 - resource tables in the wild are often odd
        problems.append(f"app label {ref} not resolved: {type(e).__name__}: {e}")
        return ""
    finally:
        first = said.getvalue().strip().split("\n", 1)[0]
        if first:
            problems.append(f"resources.arsc is malformed (androguard: {first[:200]})")


def parse_xapk_manifest(data: bytes) -> Manifest:
    """The ``manifest.json`` of an XAPK bundle (package, versions, name)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return Manifest(problems=(f"XAPK manifest.json unreadable: {e}",))
    if not isinstance(doc, dict):
        return Manifest(problems=("XAPK manifest.json is not an object",))
    return Manifest(
        package=str(doc.get("package_name", "")),
        version_name=str(doc.get("version_name", "")),
        version_code=str(doc.get("version_code", "")),
        label=str(doc.get("name", "")),
        min_sdk=str(doc.get("min_sdk_version", "")),
        target_sdk=str(doc.get("target_sdk_version", "")),
    )


_AAPT_MESSAGES: dict[str, list[tuple[str, str, str, int]]] = {
    "XmlAttribute": [("optional", "string", "namespace_uri", 1), ("optional", "string", "name", 2),
                     ("optional", "string", "value", 3)],
    "XmlElement": [("optional", "string", "namespace_uri", 2), ("optional", "string", "name", 3),
                   ("repeated", "XmlAttribute", "attribute", 4), ("repeated", "XmlNode", "child", 5)],
    "XmlNode": [("optional", "XmlElement", "element", 1), ("optional", "string", "text", 2)],
}


@lru_cache(maxsize=1)
def _aapt_node() -> type:
    from modelhound.protos.builder import build

    return build("aapt.pb", _AAPT_MESSAGES, syntax="proto3")["XmlNode"]


def parse_proto_manifest(data: bytes) -> Manifest:
    """An app bundle's manifest: aapt2's protobuf XmlNode (field numbers of Resources.proto)."""
    from google.protobuf.message import DecodeError

    node = _aapt_node()()
    try:
        node.ParseFromString(data)
    except DecodeError as e:
        return Manifest(problems=(f"bundle AndroidManifest.xml unreadable: {e}",))
    root = node.element
    if root.name != "manifest":
        return Manifest(problems=("bundle AndroidManifest.xml has no <manifest> root",))

    def attrs(el: object) -> dict[str, str]:
        return {a.name: a.value for a in el.attribute}  # type: ignore[attr-defined]

    top = attrs(root)
    sdk: dict[str, str] = {}
    app: dict[str, str] = {}
    for child in root.child:
        if child.element.name == "uses-sdk":
            sdk = attrs(child.element)
        elif child.element.name == "application":
            app = attrs(child.element)
    label = app.get("label", "")
    return Manifest(
        package=top.get("package", ""),
        version_name=top.get("versionName", ""),
        version_code=top.get("versionCode", ""),
        label="" if label.startswith("@") else label,
        min_sdk=sdk.get("minSdkVersion", ""),
        target_sdk=sdk.get("targetSdkVersion", ""),
        split=top.get("split", ""),
    )
