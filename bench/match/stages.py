"""bench/match/stages.py: what a scan spends per unique model against a zoo, stage by stage,
next to the runtime's bare forward passes on the same inputs.

Usage:  .venv/bin/python bench/match/stages.py [--zoo DIR] [--rounds 3] [--cold]
Default zoo: the default zoo in modelhound's cache folder ($MODELHOUND_CACHE), which must
be built. For each suspect (real MediaPipe models from ../shared/fixtures, some altered),
the stages run as a scan runs them with no result cache (analysis.Analyzer): the native
check in a converters worker ('conversion'), the weight tensors read in the scan process,
the runs on every probe set in the worker (model load, pair loading, the DDV rows and the
CutMix rows, as the worker times them; 'IPC' is the worker call's wall time minus the
worker's own), then the matching against every reference with the report's evidence.

'Bare' is the runtime alone on exactly those inputs, in this process: one LiteRT
interpreter opened beforehand (not timed), inputs prepared beforehand (not timed), and only
set_tensor / invoke / get_tensor timed, one call per input row as the graphs take batch 1.
Goal (issue 12): scan total <= 2 x (bare + conversion). Median of --rounds rounds.
Writes bench/match/results-stages.md. Run by hand; tests never time anything.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIX = Path(os.environ.get("MODELHOUND_FIXTURES", REPO.parent / "shared" / "fixtures"))
MP = FIX / "models" / "tflite" / "mediapipe-0.10.14"
sys.path.insert(0, str(REPO))


def found(data: bytes, name: str):  # type: ignore[no-untyped-def]
    from modelhound.extractor.formats import HEAD_BYTES, describe, sniff
    from modelhound.records import FoundModel, ModelEntry, Status

    s = sniff(data[:HEAD_BYTES], name, len(data))
    e = ModelEntry(name, s.format, s.subformat, hashlib.sha256(data).hexdigest(), len(data),
                   Status.OK, info=describe(s, data))
    return FoundModel(e, data)


def suspects() -> list[tuple[str, bytes]]:
    from modelhound import variants

    palm = (MP / "palm_detection_lite.tflite").read_bytes()
    face = (MP / "face_detection_short_range.tflite").read_bytes()
    return [
        ("face_detection_short_range, weights moved",
         variants.perturb_tflite(face, share=1.0, noise=0.5, seed=1)),
        ("hand_recrop", (MP / "hand_recrop.tflite").read_bytes()),
        ("palm_detection_lite, 30 % pruned", variants.prune_tflite(palm, 0.3)),
    ]


def bare(data: bytes, probes: list[tuple[str, str]], norm: object) -> tuple[float, int]:
    """Seconds of LiteRT's own set_tensor/invoke/get_tensor on the inputs a scan runs."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from modelhound.converters.runtimes import LiteRTRunnable
    from modelhound.fingerprint.detector import probe_inputs
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.profile import load_pairs

    spec = LiteRTRunnable(data).inputs[0]
    interp = Interpreter(model_content=data, num_threads=1,
                         experimental_op_resolver_type=OpResolverType.AUTO)
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    outs = [d["index"] for d in interp.get_output_details()]
    rows = []
    for _, path in probes:
        pairs = load_pairs(path)
        adapter = InputAdapter(spec, norm)  # type: ignore[arg-type]
        # the rows a scan runs: x, x' (whose outputs give the DDV) and the CutMix images
        m = np.ascontiguousarray(adapter.to_model(probe_inputs(pairs.x, pairs.x_adv)),
                                 dtype=spec.dtype)
        rows.extend(m[i:i + 1] for i in range(len(m)))
    clock = time.perf_counter
    t = clock()
    for r in rows:
        interp.set_tensor(i_in, r)
        interp.invoke()
        for o in outs:
            interp.get_tensor(o)
    return clock() - t, len(rows)


def one_round(pool, matcher, f) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from modelhound.corpus.suspect import normalization_of
    from modelhound.extractor.tensors import read_tensors
    from modelhound.fingerprint.inputs import InputAdapter

    clock = time.perf_counter
    st: dict[str, float] = {}
    t = clock()
    conv = pool.call("modelhound.converters.tflite:native_here", f)
    st["conversion"] = clock() - t
    t = clock()
    tensors = read_tensors(f.entry.format, f.entry.subformat, f.data, f.companions)
    st["weights"] = clock() - t
    is_image = InputAdapter(conv.inputs[0]).geometry is not None
    probes = [(p, str(matcher.zoo.probe_file(p))) for p in matcher.probes_for(is_image)]
    norm = normalization_of(f)
    t = clock()
    ddvs, outputs, notes, secs = pool.call("modelhound.corpus.suspect:ddvs_here", conv, probes,
                                           norm, True)
    wall = clock() - t
    st["load"] = secs.pop("load")
    for k in ("inputs", "ddv", "agreement"):
        st[f"forward: {k}"] = sum(v for key, v in secs.items() if key.endswith(":" + k))
    st["IPC"] = wall - st["load"] - sum(secs.values())
    note = "" if ddvs else "behaviour not compared: " + "; ".join(notes.values())
    t = clock()
    m = matcher.match(f.entry.sha256, tensors, ddvs, note, outputs)
    if m is not None:
        matcher.detail(m, tensors, ddvs)
    st["matching"] = clock() - t
    st["_probes"] = len(probes)
    st["_match"] = m.reference if m is not None else ""  # type: ignore[assignment]
    st["_bare_probes"] = probes  # type: ignore[assignment]
    st["_norm"] = norm  # type: ignore[assignment]
    return st


STAGES = ("conversion", "weights", "load", "forward: inputs", "forward: ddv", "forward: agreement",
          "IPC", "matching")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zoo", help="zoo folder (default: the built default zoo)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--suspects", type=int, default=3, help="how many of the suspects (in order)")
    ap.add_argument("--cold", action="store_true",
                    help="no warm-up model: the first suspect also pays the scan's one-time reads")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds per worker call (a scan's default is 300)")
    args = ap.parse_args()
    from modelhound.converters import ConverterPool
    from modelhound.corpus.default import default_zoo_dir, default_zoo_ready
    from modelhound.corpus.match import Matcher
    from modelhound.corpus.zoo import Zoo

    if not args.zoo and not default_zoo_ready():
        raise SystemExit(f"{default_zoo_dir()}: the default zoo is not built (modelhound zoo "
                         "build-default), or give --zoo")
    zoo_dir = args.zoo or str(default_zoo_dir())
    matcher = Matcher(Zoo.open(zoo_dir))
    load0 = os.getloadavg()[0]
    rows = []
    with ConverterPool(1, timeout_s=args.timeout) as pool:
        t = time.perf_counter()
        pool.call("modelhound.converters.tflite:native_here",
                  found((MP / "hand_recrop.tflite").read_bytes(), "warm.tflite"))
        start = time.perf_counter() - t
        # once per scan, not per model: the worker reads the zoo's probe sets, the matcher
        # the references' profiles. A model of another input size (64x64) pays for it here,
        # so the suspects below still resize every probe set to their own size.
        warm = {} if args.cold else one_round(
            pool, matcher, found((MP / "iris_landmark.tflite").read_bytes(), "warm-up.tflite"))
        for name, data in suspects()[: args.suspects]:
            f = found(data, name.split(",")[0] + ".tflite")
            rounds = [one_round(pool, matcher, f) for _ in range(args.rounds)]
            med = {k: statistics.median(r[k] for r in rounds) for k in STAGES}
            b = statistics.median(bare(data, rounds[0]["_bare_probes"], rounds[0]["_norm"])[0]
                                  for _ in range(args.rounds))
            n_rows = bare(data, rounds[0]["_bare_probes"], rounds[0]["_norm"])[1]
            rows.append((name, rounds[0]["_probes"], n_rows, med, b, rounds[0]["_match"]))
    load1 = os.getloadavg()[0]
    head = "| suspect | probe sets | inputs | " + " | ".join(STAGES) + \
        " | scan total | bare forward | total / (bare + conversion) | match |"
    lines = [
        "# bench/match/stages: scan cost per unique model, by stage, against bare forward passes",
        "",
        f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Command: `.venv/bin/python bench/match/stages.py --rounds {args.rounds}"
        f" --suspects {args.suspects}{' --zoo ' + args.zoo if args.zoo else ''}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, nice {os.nice(0)}); zoo "
        f"{zoo_dir} ({len(matcher.refs)} references, "
        f"{len({r.probe_id for r in matcher.refs if r.probe_id})} probe sets); 2-core machine "
        f"shared with other jobs at nice 15/19, 1-min load average {load0:.1f} at the start, "
        f"{load1:.1f} at the end. Seconds, median of {args.rounds} rounds. Once per scan, not "
        f"per model: converters worker start-up {start:.2f} s"
        + ("; no warm-up (--cold): the first suspect's 'forward: inputs' and 'matching' hold "
           "the reads of the zoo's probe sets and profiles." if args.cold else
           f"; the warm-up model (iris_landmark, 64x64), which reads the zoo's probe sets "
           f"in the worker and the profiles in the matcher: "
           f"{sum(warm[k] for k in STAGES):.2f} s in all, of which 'forward: inputs' "
           f"{warm['forward: inputs']:.2f} s and 'matching' {warm['matching']:.2f} s."),
        "",
        head,
        "|---|---:|---:|" + "---:|" * (len(STAGES) + 3) + "---|",
    ]
    for name, probes, n_rows, med, b, match in rows:
        total = sum(med.values())
        lines.append(f"| {name} | {probes} | {n_rows} | " +
                     " | ".join(f"{med[k]:.3f}" for k in STAGES) +
                     f" | {total:.3f} | {b:.3f} | {total / (b + med['conversion']):.2f}x | "
                     f"{match or 'none'} |")
    text = "\n".join(lines) + "\n"
    out = HERE / "results-stages.md"
    earlier = out.read_text().split("\n", 1)[1].lstrip("\n") if out.exists() else ""
    # the newest run on top, every earlier run (and its notes) kept below it
    out.write_text(text + ("\n" + earlier if earlier else ""))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
