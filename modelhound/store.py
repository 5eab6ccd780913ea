"""The results database: every finished input is committed as it finishes.

A scan killed at any moment keeps every input it finished; ``--resume`` skips them.
Reports (CSV, JSON, terminal) can be exported from the database at any time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Sequence

from modelhound import __version__
from modelhound.errors import StoreError

STORE_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    app_json TEXT NOT NULL,
    finished_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rows (
    input_seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    row_json TEXT NOT NULL,
    PRIMARY KEY (input_seq, ordinal)
);
"""


class ResultStore:
    """SQLite store of app records and report rows, one transaction per input."""

    def __init__(self, path: str, resume: bool = False) -> None:
        self.path = path
        if not resume:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        elif not os.path.exists(path):
            raise StoreError(f"{path}: no results database to resume")
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.OperationalError as e:
            raise StoreError(f"{path}: cannot open or create the results database ({e})") from e
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path}: not a modelhound results database ({e})") from e

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?), ('generator', ?)",
                             (str(STORE_SCHEMA_VERSION), f"modelhound {__version__}"))
        elif row[0] != str(STORE_SCHEMA_VERSION):
            raise StoreError(
                f"{self.path}: results database has schema version {row[0]}, this modelhound "
                f"reads version {STORE_SCHEMA_VERSION}; export it with the modelhound that wrote "
                "it, or start a new scan without --resume"
            )

    def done(self) -> dict[str, str]:
        """Inputs already finished: path -> sha256."""
        return dict(self._db.execute("SELECT path, sha256 FROM inputs"))

    def first_by_hash(self) -> dict[str, str]:
        """sha256 -> the first path scanned with it (for duplicate detection on resume)."""
        out: dict[str, str] = {}
        for path, sha, status in self._db.execute(
                "SELECT path, sha256, status FROM inputs ORDER BY seq"):
            if sha and status != "duplicate":
                out.setdefault(sha, path)
        return out

    def record(self, app: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
        """Store one finished input and its rows atomically (replacing an earlier run's)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM inputs WHERE path = ?", (app["path"],))
            cur = self._db.execute(
                "INSERT INTO inputs (path, sha256, status, app_json, finished_at) VALUES (?,?,?,?,?)",
                (app["path"], app["sha256"], app["status"], json.dumps(app, default=str), time.time()),
            )
            self._db.executemany(
                "INSERT INTO rows VALUES (?,?,?)",
                [(cur.lastrowid, i, json.dumps(r, default=str)) for i, r in enumerate(rows)],
            )
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            self._db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: cannot record {app['path']} ({e})") from e

    def apps(self) -> list[dict[str, Any]]:
        """App records in the order they finished."""
        return [json.loads(a) for (a,) in self._db.execute("SELECT app_json FROM inputs ORDER BY seq")]

    def rows(self) -> list[dict[str, Any]]:
        """Report rows in the order their inputs finished."""
        return [json.loads(r) for (r,) in self._db.execute(
            "SELECT row_json FROM rows JOIN inputs ON rows.input_seq = inputs.seq "
            "ORDER BY inputs.seq, rows.ordinal")]

    def set_meta(self, key: str, value: Any) -> None:
        """Keep one scan-level fact (e.g. the scan's settings) as JSON."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, default=str)))

    def meta(self, key: str) -> Any:
        """A fact kept by :meth:`set_meta` (None when absent)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def open_existing(path: str) -> ResultStore:
    """Open a database for export, refusing a missing file."""
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such results database")
    return ResultStore(path, resume=True)
