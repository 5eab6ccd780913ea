"""The results database: finished inputs survive a killed scan; --resume completes it."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from modelhound.cli import main
from modelhound.errors import StoreError
from modelhound.store import ResultStore
from tests import builders


def _apps(folder, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        entries = [("assets/m.tflite", builders.tflite_model(seed=i)),
                   ("assets/pack.model", os.urandom(2_000_000))]  # slows each app a little
        (folder / f"app{i:02d}.apk").write_bytes(builders.apk(entries, package=f"com.x.a{i}"))


def _rows(path):
    with open(path) as f:
        return [(r["apk"], r["entry"], r["status"], r["model_sha256"]) for r in csv.DictReader(f)]


def test_killed_scan_keeps_finished_inputs_and_resume_completes_it(tmp_path):
    apps = tmp_path / "apps"
    _apps(apps, 30)
    db = tmp_path / "run.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelhound", "scan", str(apps), "--db", str(db), "--no-table",
         "--no-convert"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db) as c:
                    done = c.execute("SELECT count(*) FROM inputs").fetchone()[0]
            except sqlite3.OperationalError:
                done = 0
            if done >= 5:
                break
        time.sleep(0.01)
    killed_mid_scan = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as c:
        kept = c.execute("SELECT count(*) FROM inputs").fetchone()[0]
        orphan = c.execute("SELECT count(*) FROM rows WHERE input_seq NOT IN "
                           "(SELECT seq FROM inputs)").fetchone()[0]
    assert kept >= 5 and orphan == 0
    if killed_mid_scan:
        assert kept < 30

    resumed_csv = tmp_path / "resumed.csv"
    assert main(["scan", str(apps), "--db", str(db), "--resume", "--csv", str(resumed_csv),
                 "--no-table", "--no-convert"]) == 0
    fresh_csv = tmp_path / "fresh.csv"
    assert main(["scan", str(apps), "--db", str(tmp_path / "fresh.db"), "--csv", str(fresh_csv),
                 "--no-table", "--no-convert"]) == 0
    resumed, fresh = _rows(resumed_csv), _rows(fresh_csv)
    assert len(resumed) == len(set(resumed)) == 60  # two rows per app, none twice
    assert sorted(resumed) == sorted(fresh)


def test_report_exports_from_the_database_afterwards(tmp_path, capsys):
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "a.apk").write_bytes(builders.apk([("assets/m.onnx", builders.onnx_model())]))
    db = tmp_path / "r.db"
    assert main(["scan", str(apps), "--db", str(db), "--no-table", "--no-match"]) == 0
    out = tmp_path / "later.csv"
    assert main(["report", "--db", str(db), "--csv", str(out), "--no-table"]) == 0
    [row] = list(csv.DictReader(out.open()))
    assert (row["entry"], row["format"], row["package"]) == ("assets/m.onnx", "onnx", "com.example.app")
    assert "1 inputs; 1 with models" in capsys.readouterr().out


def test_an_export_opens_the_database_read_only(tmp_path):
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "a.apk").write_bytes(builders.apk([("assets/m.onnx", builders.onnx_model())]))
    db = tmp_path / "r.db"
    assert main(["scan", str(apps), "--db", str(db), "--no-table", "--no-match"]) == 0
    store = ResultStore(str(db), readonly=True)
    assert [a["path"] for a in store.apps()] == [str(apps / "a.apk")]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.set_meta("x", 1)  # what reads for a report cannot change the user's file
    store.close()


def test_incompatible_or_missing_database_is_refused_clearly(tmp_path):
    db = tmp_path / "old.db"
    store = ResultStore(str(db))
    store._db.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version 999"):
        ResultStore(str(db), resume=True)
    with pytest.raises(StoreError, match="no results database to resume"):
        ResultStore(str(tmp_path / "none.db"), resume=True)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a modelhound results database"):
        ResultStore(str(junk), resume=True)
