"""Files a user owns are never destroyed; a full disk or a file-size limit ends a scan with a
clear error and an intact database; an earlier database keeps its runs unless asked."""

from __future__ import annotations

import csv
import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from modelhound import samples
from modelhound.cli import main
from modelhound.errors import StoreError
from modelhound.store import ResultStore
from tests.conftest import REPO, fixture_path


def _squash(text: str) -> str:
    """Text without whitespace: rich wraps long lines anywhere, even inside a path."""
    return "".join(text.split())


class _Err(str):
    """stderr whose ``in`` ignores whitespace (rich's line wrapping)."""

    def __contains__(self, part: object) -> bool:
        return _squash(str(part)) in _squash(str(self))


def _err(capsys) -> str:
    """stderr, compared without rich's line wrapping."""
    return _Err(capsys.readouterr().err)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> Path:
    """Three small apps the test builds: two with a model, one without."""
    folder = tmp_path_factory.mktemp("apps")
    (folder / "a.apk").write_bytes(samples.apk([("assets/m.tflite", samples.tflite_model(seed=1))],
                                               package="com.t.a"))
    (folder / "b.apk").write_bytes(samples.apk([("assets/m.onnx", samples.onnx_model())],
                                               package="com.t.b"))
    (folder / "c.apk").write_bytes(samples.apk([("assets/readme.txt", b"hello")], package="com.t.c"))
    return folder


def _scan(apps: Path, db: Path, *extra: str) -> int:
    return main(["scan", str(apps), "--db", str(db), "--no-table", "--no-convert", *extra])


@pytest.mark.parametrize("content", [
    b"my notes: buy milk\n" * 50,
    os.urandom(5000),
    b"",
])
def test_a_file_that_is_not_a_modelhound_database_is_refused_and_left_alone(
        apps, tmp_path, capsys, content):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    before = _sha(notes)
    for flags in ((), ("--replace-db",), ("--resume",)):
        assert _scan(apps, notes, *flags) == 1
        err = _err(capsys)
        assert f"{notes}: " in err and "not a modelhound results database" in err
        assert _sha(notes) == before
        assert not Path(str(notes) + "-wal").exists()


def test_another_programs_sqlite_database_is_refused_and_left_alone(apps, tmp_path, capsys):
    other = tmp_path / "contacts.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE people (name TEXT)")
        db.execute("INSERT INTO people VALUES ('Ada')")
    db.close()
    before = _sha(other)
    assert _scan(apps, other, "--replace-db") == 1
    assert "an SQLite database, but not a modelhound results database" in _err(capsys)
    assert _sha(other) == before


def _csv_packages(path: Path) -> list[str]:
    with path.open() as f:
        return sorted({r["package"] for r in csv.DictReader(f)})


def test_an_earlier_database_gets_a_new_run_and_is_replaced_only_when_asked(apps, tmp_path, capsys):
    db = tmp_path / "r.db"
    assert _scan(apps, db) == 0
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(apps / "a.apk", one / "a.apk")
    out = tmp_path / "second.csv"
    assert _scan(one, db, "--csv", str(out)) == 0
    assert "adding run 2" in _err(capsys)
    assert _csv_packages(out) == ["com.t.a"]  # the scan's report: its own run
    first = tmp_path / "first.csv"
    assert main(["report", "--db", str(db), "--run", "1", "--csv", str(first), "--no-table"]) == 0
    assert _csv_packages(first) == ["com.t.a", "com.t.b", "com.t.c"]  # kept
    newest = tmp_path / "newest.csv"
    assert main(["report", "--db", str(db), "--csv", str(newest), "--no-table"]) == 0
    assert _csv_packages(newest) == ["com.t.a"]
    assert _scan(one, db, "--replace-db") == 0
    store = ResultStore(str(db), readonly=True)
    assert (store.run, store.runs, len(store.apps())) == (1, 1, 1)
    store.close()
    assert main(["report", "--db", str(db), "--run", "2", "--no-table"]) == 1
    assert "no run 2" in _err(capsys)


def test_a_version_1_database_becomes_run_1(apps, tmp_path):
    v2 = tmp_path / "v2.db"
    assert _scan(apps, v2) == 0
    db = tmp_path / "v1.db"
    with sqlite3.connect(db) as c:  # the layout modelhound wrote before runs (schema 1)
        c.executescript(f"""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE inputs (seq INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE,
                sha256 TEXT NOT NULL, status TEXT NOT NULL, app_json TEXT NOT NULL,
                finished_at REAL NOT NULL);
            CREATE TABLE rows (input_seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL, row_json TEXT NOT NULL, PRIMARY KEY (input_seq, ordinal));
            INSERT INTO meta VALUES ('schema_version', '1'), ('generator', 'modelhound 0.1.0');
            ATTACH '{v2}' AS v2;
            INSERT INTO inputs SELECT seq, path, sha256, status, app_json, finished_at
                FROM v2.inputs WHERE path LIKE '%/a.apk';
            INSERT INTO rows SELECT * FROM v2.rows WHERE input_seq IN (SELECT seq FROM inputs);
        """)
    c.close()
    out = tmp_path / "all.csv"
    assert _scan(apps, db, "--resume", "--csv", str(out)) == 0  # continues the old scan
    assert _csv_packages(out) == ["com.t.a", "com.t.b", "com.t.c"]
    store = ResultStore(str(db), readonly=True)
    assert (store.run, store.runs, len(store.done())) == (1, 1, 3)
    store.close()


@pytest.mark.parametrize("damage", ["newer", "truncated", "garbled"])
def test_a_newer_or_corrupt_database_is_refused_never_deleted(apps, tmp_path, capsys, damage):
    db = tmp_path / "r.db"
    assert _scan(apps, db) == 0
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if damage == "newer":
            c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    c.close()
    data = db.read_bytes()
    if damage == "truncated":
        db.write_bytes(data[: len(data) // 2 + 100])
    elif damage == "garbled":
        db.write_bytes(data[:100] + bytes(b ^ 0x5A for b in data[100:]))
    before = _sha(db)
    for flags in ((), ("--replace-db",), ("--resume",)):
        assert _scan(apps, db, *flags) == 1
        err = _err(capsys)
        assert str(db) in err
        assert ("schema version 99" in err) if damage == "newer" else ("damaged" in err)
        assert db.exists() and _sha(db) == before
    with pytest.raises(StoreError):
        ResultStore(str(db), readonly=True)


def _limited(limit_bytes: int):
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return set_limit


def _drop_dac_override() -> None:
    """As root, give up the capability to ignore file permissions (capset(2)), so that a
    read-only folder is read-only to this process as it is to any user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # out of the bounding set too, or exec gives root every capability back
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2
    if libc.capget(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    for i in (0, 1):  # CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2)
        data[i] &= ~0b110
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _cli(*args: str, limit: int | None = None, read_only_aware: bool = False,
         cwd: Path | None = None):
    env = dict(os.environ, PYTHONPATH=str(REPO))

    def pre() -> None:
        if limit is not None:
            _limited(limit)()
        if read_only_aware and os.geteuid() == 0:
            _drop_dac_override()

    return subprocess.run([sys.executable, "-m", "modelhound", *args], env=env, cwd=cwd,
                          preexec_fn=pre, capture_output=True, text=True, timeout=300)


def test_a_file_size_limit_ends_the_scan_clearly_and_keeps_finished_rows(tmp_path):
    """ulimit -f 64: the database's log grows past 64 KiB after a few inputs."""
    apps = tmp_path / "apps"
    apps.mkdir()
    for i in range(40):
        entries = [("assets/m.tflite", samples.tflite_model(seed=i))]
        (apps / f"app{i:02d}.apk").write_bytes(samples.apk(entries, package=f"com.x.a{i}"))
    db = tmp_path / "r.db"
    proc = _cli("scan", str(apps), "--db", str(db), "--no-table", "--no-convert",
                limit=64 * 1024)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot record" in proc.stderr and "--resume" in proc.stderr
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = c.execute("SELECT count(*) FROM inputs").fetchone()[0]
        orphans = c.execute("SELECT count(*) FROM rows WHERE input_seq NOT IN "
                            "(SELECT seq FROM inputs)").fetchone()[0]
        per_input = c.execute("SELECT min(n) FROM (SELECT count(*) n FROM rows "
                              "GROUP BY input_seq)").fetchone()[0]
    c.close()
    assert 0 < kept < 40 and orphans == 0 and per_input >= 1
    out = tmp_path / "all.csv"
    assert main(["scan", str(apps), "--db", str(db), "--resume", "--csv", str(out),
                 "--no-table", "--no-convert"]) == 0
    assert len(_csv_packages(out)) == 40


def test_a_report_that_cannot_be_written_leaves_no_half_file_and_the_database_intact(
        apps, tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    for i in range(120):
        (big / f"app{i:02d}.apk").write_bytes(samples.apk(
            [("assets/m.tflite", samples.tflite_model(seed=i))], package=f"com.x.a{i}"))
    db = tmp_path / "r.db"
    assert _scan(big, db) == 0
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    before = _sha(db)
    limit = 34 * 1024  # room for SQLite's shared-memory file, not for the reports
    for fmt in ("--json", "--csv"):
        target = tmp_path / f"findings.{fmt[2:]}"
        assert main(["report", "--db", str(db), fmt, str(target), "--no-table"]) == 0
        assert target.stat().st_size > limit
        target.unlink()
        proc = _cli("report", "--db", str(db), fmt, str(target), "--no-table", limit=limit)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert f"{target}: cannot write report" in _Err(proc.stderr)
        assert not target.exists() and not Path(f"{target}.partial").exists()
    assert _sha(db) == before


def test_a_read_only_output_folder_is_a_clear_error(apps, tmp_path):
    """A folder the scan cannot write into (root is made to respect its permissions): the
    scan is refused before any work, with the file named; with the database elsewhere the
    rows are kept and the report's failure is named."""
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o555)
    try:
        proc = _cli("scan", str(apps), "--csv", str(out / "f.csv"), "--no-table",
                    "--no-convert", read_only_aware=True, cwd=tmp_path)
        err = _Err(proc.stderr)
        assert proc.returncode == 1 and "Traceback" not in err, err
        # the first file the scan would write there is named (its database, or its log)
        assert any(f"{out / name}: cannot" in err for name in ("modelhound.db", "modelhound.log"))
        assert "Permission denied" in err or "unable to open" in err
        assert os.listdir(out) == []
        db = tmp_path / "r.db"
        proc = _cli("scan", str(apps), "--csv", str(out / "f.csv"), "--db", str(db),
                    "--no-table", "--no-convert", read_only_aware=True, cwd=tmp_path)
        err = _Err(proc.stderr)
        assert proc.returncode == 1 and "Traceback" not in err, err
        assert f"{out / 'f.csv'}: cannot write report (Permission denied)" in err
        assert os.listdir(out) == []
        store = ResultStore(str(db), readonly=True)
        assert len(store.apps()) == 3
        store.close()
    finally:
        os.chmod(out, 0o755)
