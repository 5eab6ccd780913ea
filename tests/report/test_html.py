"""The HTML report of a real demo scan: self-contained, complete, and working in a browser.

The scan is the demo set (``modelhound.demo``) matched against a small zoo the test builds
from real MediaPipe models (one with a behavioural profile, so DDVs are drawn); the page is
checked structurally, then opened in the distribution's headless Chromium over the
DevTools protocol.
"""

from __future__ import annotations

import hashlib
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from modelhound.cli import main
from modelhound.report.html import render_html
from tests.conftest import fixture_path
from tests.report.cdp import Browser, chromium_binary

MP14 = ("models", "tflite", "mediapipe-0.10.14")
MP21 = ("models", "tflite", "mediapipe-0.10.21")
ASSETS = Path(__file__).resolve().parents[2] / "modelhound" / "report" / "assets"


@pytest.fixture(scope="module")
def demo_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo apps scanned against a three-reference zoo; the HTML, JSON and database."""
    from modelhound.corpus.zoo import Zoo
    from modelhound.demo import build_demo

    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_file

    root = tmp_path_factory.mktemp("html-demo")
    zoo_dir = root / "zoo"
    zoo = Zoo.open(zoo_dir, create=True)
    try:
        with ConverterPool(1) as pool:  # one worker for the three references
            add_file(zoo, str(fixture_path(*MP14, "hand_recrop.tflite")), pool=pool,
                     source="mediapipe 0.10.14", license="Apache-2.0",
                     settings=ProfileSettings(n_pairs=8, pgd_steps=1))  # DDVs to draw
            for parts in ((*MP14, "palm_detection_lite.tflite"), (*MP21, "hand_landmark_lite.tflite")):
                add_file(zoo, str(fixture_path(*parts)), pool=pool, source="mediapipe",
                         license="Apache-2.0", settings=ProfileSettings(profile=False))
        build_demo(str(root / "apps"), zoo)
    finally:
        zoo.close()
    out = root / "out"
    out.mkdir()
    assert main(["scan", str(root / "apps"), "--zoo", str(zoo_dir), "--db", str(out / "r.db"),
                 "--json", str(out / "findings.json"), "--html", str(out / "findings.html"),
                 "--no-table", "--jobs", "1"]) == 0
    doc = json.loads((out / "findings.json").read_text())
    return {"out": out, "html": out / "findings.html", "rows": doc["rows"], "apps": doc["apps"]}


class _Page(HTMLParser):
    """Every element's tag and attributes, the text of table cells by table id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.text.append(data)


def _flagged(rows: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(os.path.basename(r["apk"]), r["entry"], r["match"]) for r in rows
            if r.get("verdict") == "reused"}


@pytest.mark.slow
def test_html_is_self_contained_and_shows_every_app_and_finding(demo_scan: dict[str, Any]) -> None:
    html = demo_scan["html"].read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    # nothing is loaded from anywhere: no src/href to another place, no external stylesheet
    for tag, attrs in page.elements:
        for key in ("src", "href", "data", "action", "poster"):
            value = attrs.get(key, "")
            assert not value.startswith(("http:", "https:", "//", "ftp:")), (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet"), attrs
        assert not (tag == "script" and attrs.get("src")), attrs
    assert len(html.encode()) < 1_500_000  # the inlined libraries are ~650 KB
    ids = {a.get("id") for _, a in page.elements if a.get("id")}
    assert {"overview", "findings", "findings-table", "graph", "heatmap-table", "evidence",
            "apps", "problems", "report-data"} <= ids
    # every app has its section
    sections = {a["data-app"] for t, a in page.elements if "data-app" in a}
    assert sections == {os.path.basename(a["path"]) for a in demo_scan["apps"]}
    # every flagged model is in the findings table with its reference
    flagged = _flagged(demo_scan["rows"])
    assert ("hand-tracker.apk", "res/raw/tracker.bin", "hand_recrop") in flagged
    finding_rows = [a for t, a in page.elements if t == "tr" and "finding" in a.get("class", "")]
    assert len(finding_rows) == len(flagged)
    text = " ".join(page.text)
    for app, entry, ref in flagged:
        assert app in text and entry in text and ref in text
    # unreadable, suspected-encrypted and error rows with their reasons
    problems = [r for r in demo_scan["rows"]
                if r["status"] in ("error", "unreadable", "suspected-encrypted")]
    assert {r["status"] for r in problems} >= {"error", "suspected-encrypted"}
    for r in problems:
        assert r["reason"].split(":")[0] in text or r["reason"][:40] in text
    # the vendored libraries are the recorded ones (assets/SOURCES.md)
    sources = (ASSETS / "SOURCES.md").read_text()
    for name in ("chart.umd.min.js", "cytoscape.min.js"):
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() in sources


@pytest.mark.slow
def test_report_command_writes_the_same_page_from_the_database(
        demo_scan: dict[str, Any], tmp_path: Path) -> None:
    """`modelhound report --db ... --html` (no re-scan) shows the same findings and settings."""
    out = tmp_path / "again.html"
    assert main(["report", "--db", str(demo_scan["out"] / "r.db"), "--html", str(out),
                 "--no-table"]) == 0
    again = out.read_text(encoding="utf-8")
    assert again == demo_scan["html"].read_text(encoding="utf-8")
    assert "thresholds" in again and "hand_recrop" in again


def test_html_of_an_empty_scan_renders() -> None:
    """No apps, no findings: the page still renders, saying so."""
    html = render_html([], [])
    assert "No model matches a reference" in html and "Every input and entry was read" in html


@pytest.mark.slow
def test_page_loads_in_chromium_without_errors_or_requests(
        demo_scan: dict[str, Any], tmp_path: Path) -> None:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing in CI: scripts/setup.sh installs it (apt-get)")
        pytest.skip("Chromium is not installed (scripts/setup.sh installs it as root under CI)")
    url = demo_scan["html"].resolve().as_uri()
    with Browser(binary, tmp_path) as browser:
        browser.open(url)
        assert browser.problems() == []
        requests = browser.requests()
        assert requests and all(u.startswith(("file:", "data:", "about:", "blob:"))
                                for u in requests), requests
        shown = browser.evaluate(
            "Array.from(document.querySelectorAll('#findings-table > tbody > tr')).map(r => "
            "[r.cells[0].querySelector('a').textContent, r.cells[1].firstChild.textContent.trim(), "
            "r.cells[2].textContent.trim()])")
        assert {tuple(s) for s in shown} == _flagged(demo_scan["rows"])
        # the graph is drawn: one node per reference, model content and app
        n_nodes = browser.evaluate("window.modelhoundGraph.nodes().length")
        flagged = [r for r in demo_scan["rows"] if r.get("verdict") == "reused"]
        assert n_nodes >= len({r["match"] for r in flagged}) + len({r["model_sha256"] for r in flagged})
        assert browser.evaluate("document.querySelectorAll('#graph canvas').length") > 0
        assert browser.evaluate("document.querySelectorAll('#heatmap-table > tbody > tr').length") > 0
        # charts: DDV of suspect and reference, per-layer weight matches
        assert browser.evaluate(
            "Array.from(document.querySelectorAll('canvas.ddv-chart')).filter(c => Chart.getChart(c)).length") >= 1
        assert browser.evaluate(
            "Array.from(document.querySelectorAll('canvas.weight-chart')).filter(c => Chart.getChart(c)).length") >= 1
        # filtering the findings hides the rows that do not match
        visible = browser.evaluate(
            "(() => { const i = document.getElementById('find-text'); i.value = 'hand-tracker';"
            " i.dispatchEvent(new Event('input')); return Array.from(document.querySelectorAll("
            "'#findings-table > tbody > tr')).filter(r => r.style.display !== 'none').length; })()")
        assert visible == sum(1 for r in flagged if r["apk"].endswith("hand-tracker.apk"))
        shot = tmp_path / "findings.png"
        browser.evaluate("(() => { const i = document.getElementById('find-text'); i.value = '';"
                         " i.dispatchEvent(new Event('input')); return 1; })()")
        browser.screenshot(shot)
        assert shot.stat().st_size > 10_000
        print(f"screenshot of the HTML report: {shot}")


def test_html_names_the_original_a_fidelity_error_was_measured_against() -> None:
    """An MNN copy checked against the ONNX network beside it in the app: the page says which."""
    from modelhound.records import AppInfo, AppScan
    from modelhound.report.json import app_record
    from modelhound.report.rows import COLUMNS
    app = app_record(AppScan(app=AppInfo(path="/apps/ocr.apk", sha256="0" * 64, size=1000)))
    row = {**dict.fromkeys(COLUMNS), "apk": "/apps/ocr.apk", "entry": "assets/det.mnn",
           "format": "mnn", "subformat": "", "status": "ok", "reason": "", "inputs": [],
           "outputs": [], "companions": [], "quantization": "", "runnable": "yes",
           "runtime": "mnn", "conversion_rel_error": 2.5e-6,
           "fidelity_reference": "assets/det.onnx", "verdict": ""}
    html = render_html([row], [app])
    assert "rel. error 2.5e-06 vs" in html
    assert '<span class="path">assets/det.onnx</span>' in html
    # a converted form checked against the file itself names nothing
    html = render_html([{**row, "fidelity_reference": ""}], [app])
    assert "rel. error 2.5e-06)" in html
