"""Write extracted models to a folder, never outside it, with a manifest.

Entry names come from untrusted archives, so they never become paths: each file is named
from a sanitised last path component, prefixed with a counter, under a folder per input
named after the input's file name and hash.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from modelhound import __version__
from modelhound.errors import ExtractError
from modelhound.extractor.app import Extraction

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MANIFEST_SCHEMA_VERSION = 1


def safe_name(name: str, limit: int = 80) -> str:
    """A file name that cannot climb out of a folder or hide (no separators, no dots first)."""
    base = name.replace("\\", "/").rsplit("!/", 1)[-1].rsplit("/", 1)[-1]
    clean = _UNSAFE.sub("_", base).lstrip(".") or "entry"
    return clean[-limit:]


def _inside(root: str, path: str) -> str:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise ExtractError(f"{path}: refusing to write outside {root}")
    return real


@dataclass
class ModelDumper:
    """Collects extractions and writes their models under ``out_dir``."""

    out_dir: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        os.makedirs(self.out_dir, exist_ok=True)

    def add(self, extraction: Extraction) -> None:
        """Write one input's models (Caffe and ncnn companions beside their model)."""
        if not extraction.models:
            return
        app = extraction.app
        folder = f"{safe_name(os.path.basename(app.path), 60)}-{app.sha256[:12]}"
        target = _inside(self.out_dir, os.path.join(self.out_dir, folder))
        os.makedirs(target, exist_ok=True)
        for i, found in enumerate(extraction.models, 1):
            e = found.entry
            files = []
            for j, (entry, data) in enumerate([(e.entry, found.data), *found.companions.items()]):
                fname = f"{i:03d}{'abcdefgh'[j - 1] if j else ''}-{safe_name(entry)}"
                dest = _inside(self.out_dir, os.path.join(target, fname))
                with open(dest, "wb") as f:
                    f.write(data)
                files.append({"entry": entry, "file": os.path.relpath(dest, os.path.realpath(self.out_dir))})
            self.records.append({
                "apk": app.path, "apk_sha256": app.sha256, "package": app.package,
                "entry": e.entry, "format": e.format.value, "subformat": e.subformat,
                "model_sha256": e.sha256, "size_bytes": e.size, "files": files,
            })

    def write_manifest(self) -> str:
        """Write ``manifest.json`` and return its path."""
        path = _inside(self.out_dir, os.path.join(self.out_dir, "manifest.json"))
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"schema_version": MANIFEST_SCHEMA_VERSION,
                       "generator": f"modelhound {__version__}", "models": self.records},
                      f, indent=2)
            f.write("\n")
        return path
