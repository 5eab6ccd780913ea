"""bench/profile/first_build.py: the default zoo's full first build, timed end to end.

Usage:  MODELHOUND_CACHE=<an empty folder> python bench/profile/first_build.py [--jobs N]
        [--out FILE]

Builds the default zoo exactly as `modelhound zoo build-default` does on first use (seed
image wheels, model wheels, conversions, weight indexing, probe sets, profiles) into the
empty cache folder, and prints, with wall-clock offsets from the start:

* each stage (downloads, conversions, profiling);
* each input group: its members (the first generates the probe set), its wall and CPU
  time in its worker process;
* on every line, CPU seconds so far of this process and of its finished worker
  processes (a conversion worker's CPU counts once its pool has closed);
* the load average before and after, and the references with and without a profile;
* a calibration before and after (:func:`calibrate`, in a fresh process): the CPU ms of
  one fixed forward+backward pass of a small depthwise-separable network on one torch
  thread (median of 15; back-to-back runs on an idle machine still spread by ~20 %).
  This machine's speed drifts by a third over tens of minutes (the same code's PGD groups
  took 30 % longer in one run than in the run before), so builds from different windows
  compare only next to their calibrations.

The result is appended to ``--out`` (default bench/profile/first_build.log) as a markdown
section; the summary goes into results.md by hand. A timed run: start it at nice 0 (the
scheduler then gives it most of the CPU against nice-15 jobs) and note what else ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    ap.add_argument("--out", default=str(HERE / "first_build.log"))
    ap.add_argument("--calibrate", action="store_true", help="print the calibration only")
    args = ap.parse_args()
    if args.calibrate:
        print(f"{calibrate():.1f}")
        return 0

    from modelhound.corpus.default import default_zoo_dir, default_zoo_ready, ensure_default_zoo
    from modelhound.corpus.zoo import Zoo

    cache = os.environ.get("MODELHOUND_CACHE", "")
    if not cache or (Path(cache).exists() and any(Path(cache).iterdir())):
        print("set MODELHOUND_CACHE to an empty (or new) folder: this measures a cold build")
        return 2
    lines: list[str] = []

    def cpu_now() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system - sum(cpu0[:4])

    def log(text: str) -> None:
        line = f"[{time.perf_counter() - start:7.1f} s, CPU {cpu_now():7.1f} s] {text}"
        print(line, flush=True)
        lines.append(line)

    load0 = os.getloadavg()
    before = calibration()  # not on the build's clock
    start = time.perf_counter()
    cpu0 = os.times()
    log(f"calibration: {before} CPU ms a pass")
    log(f"start; load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; pid {os.getpid()}, "
        f"nice {os.nice(0)}")
    ensure_default_zoo(
        on_stage=lambda s: log(f"stage: {s}"),
        on_added=lambda r: log(f"  + {r.name}: {r.format}, "
                               + ("profiled" if r.probe_id else
                                  (r.profile_note or r.not_runnable_reason or "weights only")[:110])),
        on_found=lambda n: log(f"{n} references to build"),
        on_group=lambda key, names, s, cpu: log(
            f"group {key}: {s:.1f} s wall, {cpu:.1f} s CPU in its worker; {len(names)} "
            f"members, cheapest first: {', '.join(names)}"),
        jobs=args.jobs,
    )
    total = time.perf_counter() - start
    cpu = os.times()
    load1 = os.getloadavg()
    assert default_zoo_ready()
    zoo = Zoo.open(default_zoo_dir())
    refs = zoo.references()
    zoo.close()
    profiled = sum(1 for r in refs if r.probe_id)
    packages = sorted({r.source.split("/", 1)[0].removeprefix("pypi:").split("==")[0] for r in refs})
    log(f"done: {total:.1f} s wall ({total / 60:.1f} min); CPU of this process and its "
        f"workers {cpu.user + cpu.system + cpu.children_user + cpu.children_system - sum(cpu0[:4]):.1f} s; "
        f"load average after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    log(f"calibration after: {calibration()} CPU ms a pass")
    log(f"{len(refs)} references from {len(packages)} packages ({', '.join(packages)}); "
        f"{profiled} with a behavioural profile")
    with open(args.out, "a") as fh:
        fh.write(f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n```\n")
        fh.write("\n".join(lines) + "\n```\n")
    return 0


def calibrate() -> float:
    """CPU ms of one forward+backward pass (input gradient, as PGD takes it) of a fixed
    depthwise-separable network with hard-swish on 25 samples of 3x224x224, one torch
    thread, channels-last: the median of 15 passes after 2 warm-ups."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.Hardswish()]
    for c in (16, 32, 64):
        layers += [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.Hardswish(),
                   nn.Conv2d(c, 2 * c, 1), nn.Hardswish(), nn.MaxPool2d(2)]
    net = nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.rand(25, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    times = []
    for i in range(17):
        d = torch.zeros_like(x).requires_grad_(True)
        c = time.process_time()
        torch.autograd.grad(net(x + d).square().sum(), d)
        if i >= 2:
            times.append(time.process_time() - c)
    return sorted(times)[len(times) // 2] * 1000


def calibration() -> str:
    """:func:`calibrate` in a fresh process (the build's own processes stay untouched)."""
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--calibrate"], capture_output=True,
                         text=True)
    return out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() \
        else "n/a"


if __name__ == "__main__":
    sys.exit(main())
