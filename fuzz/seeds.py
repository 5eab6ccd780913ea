"""Seed inputs built at run time from the real fixtures (../shared/fixtures) and from
modelhound's own sample builders. Nothing here is stored in the repository."""

from __future__ import annotations

import os
import zipfile
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))


def fixture(*parts: str) -> bytes:
    """The bytes of one shared fixture file."""
    path = FIXTURES.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shared fixture missing (set MODELHOUND_FIXTURES)")
    return path.read_bytes()


def fixtures_under(folder: str, suffixes: tuple[str, ...] = (), max_size: int = 64 * 1024
                   ) -> list[bytes]:
    """Every fixture file under ``folder`` (sorted) no larger than ``max_size``."""
    root = FIXTURES / folder
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.stat().st_size <= max_size and (
                not suffixes or path.name.endswith(suffixes)):
            out.append(path.read_bytes())
    return out


@lru_cache(maxsize=None)
def apk_member(apk: str, member: str) -> bytes:
    """One member of a fixture APK (``apks/<group>/<name>.apk``)."""
    with zipfile.ZipFile(FIXTURES / "apks" / apk) as zf:
        return zf.read(member)
