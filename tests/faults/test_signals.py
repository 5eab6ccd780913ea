"""Ctrl-C (SIGINT) and SIGTERM stop a real scan of real APKs within seconds, with its
scanning processes and conversion workers; every finished input is kept and --resume
completes the scan as if it had never stopped."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelhound.cli import main
from tests.conftest import REPO, fixture_path

#: how long a stopped scan may take to end (a bound, not a measurement)
STOP_BOUND_S = 30


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _as_foreground_job() -> None:
    """(In the child, before exec.) SIGINT at its default, as in a command a user starts
    from a terminal. A test run started in the background by a non-interactive shell
    (``cmd &``, as a CI runner may) ignores SIGINT, and an ignored signal stays ignored
    across exec: the scan would never see the Ctrl-C this test sends, and rightly so,
    since a background job is not meant to get one."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> Path:
    """The real fixture APKs, models last (sorted names), so a conversion runs late."""
    folder = tmp_path_factory.mktemp("apks")
    for group in ("no-models", "with-models"):
        for apk in sorted(fixture_path("apks", group).iterdir()):
            prefix = "a" if group == "no-models" else "z"
            shutil.copy(apk, folder / f"{prefix}-{apk.name}")
    return folder


@pytest.fixture(scope="module")
def fresh(apps, tmp_path_factory) -> list[tuple[str, ...]]:
    """The rows of the same scan, never interrupted."""
    folder = tmp_path_factory.mktemp("fresh")
    out = folder / "fresh.csv"
    assert main(["scan", str(apps), "--db", str(folder / "fresh.db"), "--no-match", "--no-cache", "--csv",
                 str(out), "--no-table", "--jobs", "1"]) == 0
    rows = _rows(out)
    assert any(r[4] == "yes" for r in rows)  # real conversions ran
    return rows


def _done(db: Path) -> int:
    try:
        with sqlite3.connect(db) as c:
            n = c.execute("SELECT count(*) FROM inputs").fetchone()[0]
        c.close()
        return n
    except sqlite3.Error:
        return 0


def _rows(path: Path) -> list[tuple[str, ...]]:
    with path.open() as f:
        return sorted((r["apk"], r["entry"], r["status"], r["model_sha256"], r["runnable"])
                      for r in csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("sig,jobs", [(signal.SIGTERM, "2"), (signal.SIGINT, "2"),
                                      (signal.SIGTERM, "1")],
                         ids=["SIGTERM-jobs2", "SIGINT-jobs2", "SIGTERM-jobs1"])
def test_a_signal_stops_the_scan_keeps_finished_rows_and_resume_completes(
        apps, fresh, tmp_path, sig, jobs):
    db = tmp_path / "r.db"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelhound", "scan", str(apps), "--db", str(db), "--no-match",
         "--no-cache", "--no-table", "--jobs", jobs],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=_as_foreground_job)
    # wait until a conversion worker runs: a model is being converted, inputs remain
    deadline = time.time() + 300
    workers: set[int] = set()
    while time.time() < deadline and proc.poll() is None:
        tree = _descendants(proc.pid)
        workers = {p for p in tree if "modelhound.converters.pool" in _cmdline(p)}
        if workers:
            break
        time.sleep(0.2)
    assert workers and proc.poll() is None, "the scan never reached a conversion"
    tree = _descendants(proc.pid)
    if sig == signal.SIGINT:  # Ctrl-C: the terminal signals the whole foreground group
        os.killpg(proc.pid, sig)
    else:  # `kill PID`: the scan alone
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=STOP_BOUND_S)
    assert proc.returncode == 128 + sig, stderr
    assert f"stopped by {signal.Signals(sig).name}" in " ".join(stderr.split()), stderr
    assert "Traceback" not in stderr, stderr
    deadline = time.time() + STOP_BOUND_S
    while time.time() < deadline and any(_alive(p) for p in tree):
        time.sleep(0.2)
    assert not [p for p in tree if _alive(p)], "a scanning process or worker outlived the scan"
    kept = _done(db)
    total = len(list(apps.iterdir()))
    assert 0 < kept < total
    with sqlite3.connect(db) as c:
        orphans = c.execute("SELECT count(*) FROM rows WHERE input_seq NOT IN "
                            "(SELECT seq FROM inputs)").fetchone()[0]
    c.close()
    assert orphans == 0

    resumed = tmp_path / "resumed.csv"
    assert main(["scan", str(apps), "--db", str(db), "--resume", "--no-match", "--no-cache", "--csv",
                 str(resumed), "--no-table", "--jobs", "1"]) == 0
    assert _done(db) == total
    assert _rows(resumed) == fresh
