"""Models shared between apps: the same model content in several apps is a finding of its
own (an SDK vendor's model, a white-label template), whether or not a reference matches."""

from __future__ import annotations

from typing import Any, Sequence


def shared_models(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups of rows with the same model sha256 in two or more distinct apps.

    Sorted by number of apps (most first), then sha256, so the order is stable.
    """
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        sha = r.get("model_sha256")
        if not sha or r.get("status") != "ok":
            continue
        g = groups.setdefault(sha, {"model_sha256": sha, "format": r["format"],
                                     "size_bytes": r["size_bytes"], "apps": [], "entries": []})
        if r["apk"] not in g["apps"]:
            g["apps"].append(r["apk"])
            g["entries"].append(r["entry"])
    out = [g | {"app_count": len(g["apps"])} for g in groups.values() if len(g["apps"]) > 1]
    return sorted(out, key=lambda g: (-g["app_count"], g["model_sha256"]))


def with_shared_counts(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with ``apps_with_same_model``: how many apps carry this exact model."""
    counts: dict[str, set[str]] = {}
    for r in rows:
        if r.get("model_sha256") and r.get("status") == "ok":
            counts.setdefault(r["model_sha256"], set()).add(r["apk"])
    return [{**r, "apps_with_same_model": len(counts.get(r.get("model_sha256") or "", ())) or None}
            for r in rows]
