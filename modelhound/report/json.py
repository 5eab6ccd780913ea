"""JSON: typed rows plus per-app records, with a schema version."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import IO, Any, Sequence

from modelhound import __version__
from modelhound.records import REPORT_SCHEMA_VERSION, AppScan


def app_record(scan: AppScan) -> dict[str, Any]:
    """The app-level facts that do not fit a row: problems, splits, runtime evidence."""
    a = scan.app
    return {
        "path": a.path, "sha256": a.sha256, "size_bytes": a.size, "kind": a.kind,
        "package": a.package, "version": a.version_name, "version_code": a.version_code,
        "app_label": a.label, "min_sdk": a.min_sdk, "target_sdk": a.target_sdk,
        "runtimes": list(a.runtimes), "runtime_evidence": list(a.runtime_evidence),
        "splits": list(a.splits), "problems": list(a.problems), "status": scan.status.value,
        "error": scan.error, "duplicate_of": scan.duplicate_of, "models": len(scan.models),
    }


@dataclass(frozen=True)
class JsonFormat:
    """JSON report."""

    name: str = "json"
    structured: bool = True

    def write(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
              stream: IO[str]) -> None:
        """``{"schema_version", "generator", "apps": [...], "rows": [...]}``."""
        from modelhound.report.shared import shared_models

        doc = {
            "schema_version": REPORT_SCHEMA_VERSION,
            "generator": f"modelhound {__version__}",
            "apps": list(apps),
            "rows": list(rows),
            "shared_models": shared_models(rows),
        }
        # One app, row or shared model per line: the same document as an indented dump,
        # written by json's C encoder (an indented dump runs its pure-Python one, which
        # took most of a warm rescan's report time on 1,000 rows).
        encode = _json.JSONEncoder(default=str).encode
        stream.write("{\n")
        for i, (key, value) in enumerate(doc.items()):
            stream.write(f"  {encode(key)}: ")
            if isinstance(value, list) and value:
                stream.write("[\n" + ",\n".join("    " + encode(v) for v in value) + "\n  ]")
            else:
                stream.write(encode(value))
            stream.write(",\n" if i < len(doc) - 1 else "\n")
        stream.write("}\n")
