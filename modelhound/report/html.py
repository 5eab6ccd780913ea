"""HTML: one self-contained file an analyst can open offline and attach to a ticket.

The page is a Jinja2 template (``templates/report.html.j2``, package data); chart.js and
cytoscape.js are inlined from ``assets/`` (see ``assets/SOURCES.md``), so the report loads
nothing from anywhere. This module only shapes the rows and app records into what the
template shows: the overview, the findings, the graph of references -> models -> apps,
the models x references heatmap, per flagged model its DDVs and per-layer weight matches,
every app, and the rows that could not be read.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import IO, Any, Mapping, Sequence

from modelhound import __version__
from modelhound.report.rows import DETAIL
from modelhound.report.shared import shared_models
from modelhound.report.table import closest, evidence_line, human_size, signal_score, weight_kind

#: most models shown as heatmap rows (the highest-scoring first)
HEATMAP_ROWS = 60
_PROBLEMS = ("error", "unreadable", "suspected-encrypted")


def _asset(name: str) -> str:
    return resources.files("modelhound.report").joinpath("assets", name).read_text("utf-8")


def _model_id(r: Mapping[str, Any]) -> str:
    return str(r.get("model_sha256") or "")[:12]


def _signals(r: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per-signal evidence of a flagged row, as (signal, value, detail) cells."""
    out = []
    if r.get("reuse_type") == "identical copy":
        out.append({"signal": "bytes", "value": "identical", "detail": "same sha256"})
    ws = r.get("weight_similarity")
    if isinstance(ws, (int, float)):
        out.append({"signal": "weights", "value": f"{ws:.3f}", "detail": weight_kind(r)})
    if isinstance(r.get("similarity"), (int, float)):
        out.append({"signal": "ModelDiff", "value": f"{r['similarity']:.3f}",
                    "detail": "DDV cosine on the reference's probe pairs"})
    if isinstance(r.get("agreement"), (int, float)):
        out.append({"signal": "agreement", "value": f"{r['agreement']:.3f}",
                    "detail": "SAC-m, label and output agreement"})
    if isinstance(r.get("structure"), (int, float)):
        out.append({"signal": "structure", "value": f"{r['structure']:.3f}",
                    "detail": "weight-shape similarity (evidence only)"})
    return out


def _closest(r: dict[str, Any]) -> dict[str, Any] | None:
    """For a model that was not flagged: the closest reference and its scores (None when
    no signal links it to any reference)."""
    ref = closest(r)
    if ref is None:
        return None
    return {"reference": ref["reference"], "score": signal_score(ref),
            "signals": ", ".join(f"{k} {ref[k]:.2f}" for k in
                                 ("weights", "modeldiff", "agreement", "structure")
                                 if isinstance(ref.get(k), (int, float)))}


def build_context(rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
                  settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything the template shows, from report rows and app records."""
    settings = dict(settings or {})
    models = [r for r in rows if r.get("entry") and r.get("status") == "ok"]
    flagged = [r for r in models if r.get("verdict") == "reused"]
    problems = [r for r in rows if r.get("status") in _PROBLEMS]
    by_app: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_app.setdefault(str(r.get("apk")), []).append(r)

    # findings: one row per (app, flagged model); same model -> same id (one graph node)
    findings = []
    for i, r in enumerate(flagged):
        findings.append({
            "n": i, "app": os.path.basename(str(r["apk"])), "apk": r["apk"],
            "label": r.get("app_label") or "", "package": r.get("package") or "",
            "entry": r["entry"], "format": r.get("format"), "size": human_size(r.get("size_bytes")),
            "reference": r.get("match"), "reuse_type": r.get("reuse_type"),
            "confidence": r.get("confidence"), "evidence": evidence_line(r),
            "signals": _signals(r), "full_evidence": r.get("match_evidence") or "",
            "model_id": _model_id(r), "anchor": f"model-{_model_id(r)}",
        })

    # graph: references -> models (one node per sha256) -> apps
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for r in flagged:
        ref, mid, app = f"ref:{r['match']}", f"model:{_model_id(r)}", f"app:{r['apk']}"
        nodes.setdefault(ref, {"id": ref, "label": r["match"], "kind": "reference"})
        nodes.setdefault(mid, {"id": mid, "label": os.path.basename(str(r["entry"])),
                               "kind": "model", "title": f"{_model_id(r)} ({r.get('format')})"})
        nodes.setdefault(app, {"id": app, "label": os.path.basename(str(r["apk"])), "kind": "app"})
        edges[(ref, mid)] = {"source": ref, "target": mid, "label": r.get("reuse_type") or "",
                             "kind": "reuse"}
        edges[(mid, app)] = {"source": mid, "target": app, "label": "", "kind": "in"}
    for g in shared_models(rows):  # shared between apps, whether or not a reference matched
        mid = f"model:{g['model_sha256'][:12]}"
        nodes.setdefault(mid, {"id": mid, "label": os.path.basename(g["entries"][0]),
                               "kind": "model", "title": f"{g['model_sha256'][:12]} ({g['format']})"})
        for a in g["apps"]:
            app = f"app:{a}"
            nodes.setdefault(app, {"id": app, "label": os.path.basename(a), "kind": "app"})
            edges[(mid, app)] = {"source": mid, "target": app, "label": "", "kind": "in"}
    graph = {"nodes": list(nodes.values()), "edges": list(edges.values())}

    # heatmap: distinct matched models x references
    seen: dict[str, dict[str, Any]] = {}
    for r in models:
        detail = r.get(DETAIL) or {}
        if detail.get("references") and _model_id(r) not in seen:
            seen[_model_id(r)] = r
    ref_names = sorted({ref["reference"] for r in seen.values()
                        for ref in (r.get(DETAIL) or {}).get("references", ())})
    heat_rows = []
    for mid, r in seen.items():
        cells = {ref["reference"]: signal_score(ref) for ref in r[DETAIL]["references"]}
        heat_rows.append({"model_id": mid, "entry": r["entry"],
                          "app": os.path.basename(str(r["apk"])),
                          "flagged": r.get("verdict") == "reused", "match": r.get("match") or "",
                          "cells": [cells.get(n) for n in ref_names],
                          "best": max(cells.values(), default=0.0)})
    heat_rows.sort(key=lambda h: (not h["flagged"], -h["best"], h["entry"]))
    heatmap = {"references": ref_names, "rows": heat_rows[:HEATMAP_ROWS],
               "hidden": max(0, len(heat_rows) - HEATMAP_ROWS)}

    # per flagged model (once per content): DDVs and per-layer weight matches
    charts = []
    done: set[str] = set()
    for r in flagged:
        if _model_id(r) in done:
            continue
        done.add(_model_id(r))
        detail = r.get(DETAIL) or {}
        tensors = detail.get("tensors") or []
        charts.append({
            "model_id": _model_id(r), "entry": r["entry"], "reference": r.get("match"),
            "reuse_type": r.get("reuse_type"), "apps": sorted({os.path.basename(str(x["apk"]))
                                                               for x in flagged if _model_id(x) == _model_id(r)}),
            "ddv": detail.get("ddv"), "tensors": tensors,
            "identical": sum(1 for t in tensors if t.get("identical")),
        })

    # every app
    app_views = []
    for a in apps:
        app_rows = by_app.get(str(a["path"]), [])
        entries = []
        for r in app_rows:
            if not r.get("entry"):
                continue
            entries.append({**r, "size": human_size(r.get("size_bytes")),
                            "closest": _closest(r) if r.get("verdict") == "not-reused" else None,
                            "model_id": _model_id(r)})
        app_views.append({**a, "name": os.path.basename(str(a["path"])),
                          "size": human_size(a.get("size_bytes")), "entries": entries,
                          "flagged": sum(1 for e in entries if e.get("verdict") == "reused"),
                          "reason": next((r.get("reason") for r in app_rows
                                          if not r.get("entry") and r.get("reason")), "")})

    overview = {
        "inputs": len(apps),
        "with_models": sum(1 for a in apps if a.get("models")),
        "models": len(models),
        "flagged": len(flagged),
        "flagged_apps": len({r["apk"] for r in flagged}),
        "references_hit": len({r.get("match") for r in flagged}),
        "problems": len(problems),
        "app_status": sorted(Counter(a["status"] for a in apps).items()),
        "by_format": Counter(r.get("format") for r in models).most_common(),
        "by_runtime": Counter(r.get("runtime") or ("not runnable" if r.get("runnable") == "no"
                                                   else "not converted")
                              for r in models).most_common(),
        "app_runtimes": Counter(rt for a in apps for rt in a.get("runtimes") or ()).most_common(),
        "by_reuse": Counter(r.get("reuse_type") for r in flagged).most_common(),
    }
    data = {"graph": graph, "charts": charts}
    return {
        "generator": f"modelhound {__version__}", "settings": settings, "overview": overview,
        "findings": findings, "heatmap": heatmap, "charts": charts, "apps": app_views,
        "problems": problems, "data_json": json.dumps(data, default=str).replace("</", "<\\/"),
        "chart_js": _asset("chart.umd.min.js"), "cytoscape_js": _asset("cytoscape.min.js"),
    }


def _heat_colour(v: float | None) -> str:
    """White (0) to deep red (1); grey for no value."""
    if v is None:
        return "#f2f2f2"
    v = max(0.0, min(1.0, float(v)))
    r, g, b = 255, int(255 - 200 * v), int(255 - 215 * v)
    return f"rgb({r},{g},{b})"


def render_html(rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
                settings: Mapping[str, Any] | None = None) -> str:
    """The report page as one string."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("modelhound.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["heat"] = _heat_colour
    env.filters["basename"] = lambda p: os.path.basename(str(p or ""))
    env.filters["cell"] = lambda v: "" if v is None else ("; ".join(map(str, v))
                                                          if isinstance(v, (list, tuple)) else v)
    return env.get_template("report.html.j2").render(**build_context(rows, apps, settings))


@dataclass(frozen=True)
class HtmlFormat:
    """Self-contained HTML report."""

    name: str = "html"
    structured: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The scan's settings (zoo, references, thresholds) for the overview."""

    def write(self, rows: Sequence[dict[str, Any]], apps: Sequence[dict[str, Any]],
              stream: IO[str]) -> None:
        """Write the page to ``stream``."""
        stream.write(render_html(rows, apps, self.settings))
