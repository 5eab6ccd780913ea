"""Fuzzing campaign: each harness under atheris (libFuzzer) for a stated time budget, one
after the other, at the lowest priority; executions, coverage and findings per harness.

    python bench/fuzz/run.py [--seconds S] [--runs N] [--harness NAME ...] [--work DIR]

``--runs N`` stops each harness after N executions (libFuzzer ``-runs``), ``--seconds`` caps
its time either way. Several campaigns may run at once (e.g. one per core, each over some
harnesses): the results file is updated under a lock.

Per harness: ``python -m fuzz.driver NAME -max_total_time=S -seed=1 ...`` under ``nice -n 19``
with the contract's bounds (5 s per input, 3 GiB RSS). The growing corpus is kept in
``--work`` (default ~/.cache/modelhound-fuzz/<harness>) so a later run continues it; crash,
timeout and out-of-memory inputs land in ``--work``/<harness>-artifacts, libFuzzer's output
in ``--work``/<harness>.log (watch a run with ``tail -f``). Each run's numbers
are merged by harness into ``bench/fuzz/results.json`` and ``bench/fuzz/results.md`` is
written from all of them, with the machine's load before and after each run.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))

from fuzz.driver import HARNESSES, RSS_LIMIT_MB, TIME_BOUND  # noqa: E402

STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")


def run_one(name: str, seconds: int, work: Path, runs: int = 0, seed: int = 1) -> dict:
    """Fuzz one harness; returns its numbers."""
    corpus = work / name
    artifacts = work / f"{name}-artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    before_findings = set(os.listdir(artifacts))
    load_before = os.getloadavg()
    cmd = ["nice", "-n", "19", sys.executable, "-m", "fuzz.driver", name,
           f"-max_total_time={seconds}", f"-seed={seed}", "-print_final_stats=1",
           *([f"-runs={runs}"] if runs else []),
           f"-timeout={TIME_BOUND}", f"-rss_limit_mb={RSS_LIMIT_MB}",
           f"-artifact_prefix={artifacts}/", str(corpus)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.time()
    # libFuzzer's output goes to a log beside the corpus, so a long run can be watched
    log = work / (f"{name}.log" if seed == 1 else f"{name}-seed{seed}.log")
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT,
                              text=True, timeout=seconds + 600)
    proc.stderr = log.read_text(errors="replace")
    wall = time.time() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    load_after = os.getloadavg()
    last = None
    for line in proc.stderr.splitlines():
        m = STATUS.match(line)
        if m:
            last = m
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", proc.stderr, re.M))
    # the artifacts this run wrote (its log names them): a campaign on the same harness at the
    # same time writes into the same folder
    written = set(re.findall(r"Test unit written to \S*/([^/\s]+)$", proc.stderr, re.M))
    findings = sorted((set(os.listdir(artifacts)) - before_findings) & written)
    summary = [ln for ln in proc.stderr.splitlines()
               if "ERROR:" in ln or "Uncaught Python exception" in ln or ln.startswith(
                   ("AssertionError", "Traceback"))][:3]
    executions = int(stats.get("number_of_executed_units", last.group(1) if last else 0))
    return {
        "harness": name,
        "budget_s": seconds,
        "budget_runs": runs,
        "seed": seed,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "executions": executions,
        "exec_per_s": int(stats.get("average_exec_per_sec", 0)) or round(executions / wall),
        "edges": int(last.group(3)) if last else 0,
        "features": int(last.group(4)) if last else 0,
        "corpus": int(last.group(5)) if last else 0,
        "peak_rss_mb": int(stats.get("peak_rss_mb", 0)),
        "exit": proc.returncode,
        "findings": findings,
        "finding_summary": summary,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
    }


def budget(r: dict) -> str:
    """A run's budget: its time cap, and its execution cap when it had one."""
    runs = r.get("budget_runs", 0)
    return f"{r['budget_s']} s" + (f" or {runs:,} runs" if runs else "")


#: the fuzzer's exit status when it was stopped by hand (Ctrl-C / SIGINT to the fuzzer): 130 when
#: atheris stops (no final stats: the executions are those of libFuzzer's last status line), 72
#: when libFuzzer's own handler does, -2 before fuzzing began
INTERRUPTED = (130, 72, -2)


def outcome(exit_status: int) -> str:
    """A run's end when it left no finding."""
    if exit_status == 0:
        return "none"
    if exit_status in INTERRUPTED:
        return "none (stopped by hand: SIGINT)"
    return f"exit {exit_status}"


def with_history(results: dict) -> dict:
    """``results`` with every harness's latest run also in ``_history`` (all instrumented runs
    of that harness's persistent corpus, oldest first), so a campaign spread over several
    sittings counts every execution once."""
    history = results.setdefault("_history", {})
    for name in HARNESSES:
        r = results.get(name)
        if r is None:
            continue
        runs = history.setdefault(name, [])
        key = (r["date"], r["executions"])
        if all((h["date"], h["executions"]) != key for h in runs):
            runs.append({k: r[k] for k in ("date", "executions", "exit", "findings")})
    return results


def write_md(results: dict[str, dict]) -> str:
    """The results table, in registry order."""
    lines = [
        "# Fuzzing campaign (atheris 3.0 / libFuzzer)",
        "",
        "`python bench/fuzz/run.py --seconds S` runs each harness in `fuzz/harnesses` for S "
        "seconds, one at a time, under `nice -n 19`, each input bounded to "
        f"{TIME_BOUND} s and the process to {RSS_LIMIT_MB} MiB RSS. Executions and coverage "
        "(libFuzzer's `cov` = instrumented Python edges reached, `ft` = features) are "
        "libFuzzer's final numbers. The machine: 2 cores shared with four other engineers' "
        "jobs; the load average (1/5/15 min) before and after each run is given, so "
        "executions per second are this machine's under that load, not a speed claim. "
        "Executions per CPU second divide by the fuzzer's own user+system time (start-up, "
        "instrumentation and loading the corpus included): what an input costs, whatever "
        "share of the cores the run got.",
        "",
        "| harness | budget | executions | exec/s | exec per CPU s | edges (cov) | features (ft) "
        "| corpus | peak RSS MiB | findings | load before → after | run | all runs: executions |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    total = 0
    history = with_history(results)["_history"]
    for name in HARNESSES:
        r = results.get(name)
        if r is None:
            lines.append(f"| {name} | - | not run | | | | | | | | | | |")
            continue
        total += r["executions"]
        found = ", ".join(r["findings"]) or outcome(r["exit"])
        lines.append(
            f"| {name} | {budget(r)} | {r['executions']:,} | {r['exec_per_s']} | "
            f"{round(r['executions'] / r['cpu_s']) if r.get('cpu_s') else '-'} | "
            f"{r['edges']} | {r['features']} | {r['corpus']} | {r['peak_rss_mb']} | {found} | "
            f"{'/'.join(map(str, r['load_before']))} → {'/'.join(map(str, r['load_after']))} | "
            f"{r['date']} | {sum(h['executions'] for h in history.get(name, [])):,} "
            f"({len(history.get(name, []))}) |")
    lines += ["", f"Total executions: {total:,}.", ""]
    findings = HERE / "findings.md"
    if findings.exists():
        lines += [findings.read_text(), ""]
    notes = [results[n] for n in HARNESSES if n in results and results[n]["finding_summary"]]
    if notes:
        lines += ["## libFuzzer's report of the findings in the runs above", ""]
        for r in notes:
            lines.append(f"- {r['harness']}: " + " / ".join(r["finding_summary"]))
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Run the campaign and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=360, help="budget per harness")
    ap.add_argument("--runs", type=int, default=0, help="stop a harness after N executions")
    ap.add_argument("--until", type=float, default=0,
                    help="a deadline (Unix time): each harness gets an equal share of the time "
                         "left (time a harness leaves unused goes to the ones after it), at "
                         "most --seconds")
    ap.add_argument("--seed", type=int, default=1,
                    help="libFuzzer's seed; a second campaign on the same harness at the same "
                         "time (one per core, sharing its corpus folder, which libFuzzer "
                         "reloads) needs another")
    ap.add_argument("--harness", nargs="*", default=list(HARNESSES))
    ap.add_argument("--work", type=Path,
                    default=Path(os.path.expanduser("~/.cache/modelhound-fuzz")))
    args = ap.parse_args()
    store = HERE / "results.json"
    print(f"{'harness':10} {'execs':>10} {'exec/s':>7} {'cov':>6} {'ft':>6} findings")
    for i, name in enumerate(args.harness):
        seconds = args.seconds
        if args.until:
            share = int((args.until - time.time()) / (len(args.harness) - i))
            seconds = max(min(seconds, share), 10)
        r = run_one(name, seconds, args.work, args.runs, args.seed)
        with open(HERE / ".results.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            results = json.loads(store.read_text()) if store.exists() else {}
            results[name] = r
            with_history(results)
            store.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
            (HERE / "results.md").write_text(write_md(results))
        print(f"{name:10} {r['executions']:>10,} {r['exec_per_s']:>7} {r['edges']:>6} "
              f"{r['features']:>6} {', '.join(r['findings']) or 'none'}", flush=True)


if __name__ == "__main__":
    main()
