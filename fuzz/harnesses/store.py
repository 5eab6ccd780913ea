"""The results database as ``scan --db FILE`` / ``--resume`` / ``report --db`` open a file a
user hands over. Contract: a file modelhound refuses is left byte for byte as it was, and
the refusal (StoreError) names it; a file it accepts is read without any other error."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil

from fuzz.driver import check_refusal, scratch_dir

MAX_LEN = 64 * 1024
_DIR = scratch_dir("fuzz-store-")
atexit.register(shutil.rmtree, _DIR, True)
_PATH = os.path.join(_DIR, "results.db")


def _clear() -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(_PATH + suffix)
        except FileNotFoundError:
            pass


def _real_db(runs: int) -> bytes:
    """A database as a scan of a real fixture APK writes it (checkpointed into one file)."""
    import sqlite3

    from fuzz import seeds as S
    from modelhound.extractor import extract
    from modelhound.report import app_record, rows
    from modelhound.store import ResultStore

    apk = os.path.join(_DIR, "app.apk")
    with open(apk, "wb") as f:
        f.write(S.fixture("apks", "no-models", "androguard-com.politedroid_4.apk"))
    _clear()
    for _ in range(runs):
        store = ResultStore(_PATH)
        result = extract(apk).to_scan()
        store.record(app_record(result), rows(result))
        store.close()
    with sqlite3.connect(_PATH) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    with open(_PATH, "rb") as f:
        data = f.read()
    _clear()
    os.remove(apk)
    return data


def seeds() -> list[bytes]:
    """Real modelhound databases (one and two runs), an empty SQLite file, text."""
    import sqlite3

    _clear()
    with sqlite3.connect(_PATH) as db:
        db.execute("CREATE TABLE notes (text)")
    db.close()
    with open(_PATH, "rb") as f:
        foreign = f.read()
    _clear()
    return [_real_db(1), _real_db(2), foreign, b"my notes\n"]


def test_one(data: bytes) -> None:
    """Open the file for --resume and for export; refusals must leave it untouched."""
    from modelhound.errors import StoreError
    from modelhound.store import ResultStore

    _clear()
    with open(_PATH, "wb") as f:
        f.write(data)
    before = hashlib.sha256(data).hexdigest()
    try:
        for kwargs in ({"readonly": True}, {"resume": True}):
            try:
                store = ResultStore(_PATH, **kwargs)
            except StoreError as e:
                check_refusal(e, _PATH, _PATH, before, "file")
                continue
            try:
                store.done()
                store.first_by_hash()
                store.apps()
                store.rows()
            except StoreError as e:  # damage that only reading the records shows
                if not str(e).startswith(_PATH):
                    raise AssertionError(f"error does not name the file: {e}") from e
            finally:
                store.close()
    finally:
        _clear()
