"""The results database: every finished input is committed as it finishes.

A scan killed at any moment keeps every input it finished; ``--resume`` skips them.
Reports (CSV, JSON, terminal) can be exported from the database at any time.

A database holds *runs*: a scan given an existing modelhound database appends a new run
(earlier runs are kept; reports show the newest), ``--resume`` continues the newest run, and
``--replace-db`` starts the file afresh. modelhound writes only into a file it recognises as
its own: anything else (a text file, another program's SQLite database, a corrupt or newer
database) is refused with a message and left byte for byte as it was.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any, Sequence

from modelhound import __version__
from modelhound.errors import StoreError

STORE_SCHEMA_VERSION = 2
"""2: inputs belong to runs (a database keeps every scan); 1 kept one scan per file."""

_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    generator TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inputs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run INTEGER NOT NULL REFERENCES runs(run),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    app_json TEXT NOT NULL,
    finished_at REAL NOT NULL,
    UNIQUE (run, path)
);
CREATE TABLE IF NOT EXISTS rows (
    input_seq INTEGER NOT NULL REFERENCES inputs(seq) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    row_json TEXT NOT NULL,
    PRIMARY KEY (input_seq, ordinal)
);
"""

#: what reading a damaged SQLite file raises: SQLite's errors, text that is not UTF-8, and
#: MemoryError, which is how Python reports SQLITE_NOMEM: SQLite answers some corrupt records
#: (impossible sizes) with it, long before the process is short of memory
READ_DAMAGE = (sqlite3.Error, UnicodeDecodeError, MemoryError)


def damage(e: BaseException) -> str:
    """What a read of a damaged database said (MemoryError says nothing)."""
    return str(e) or ("SQLite: out of memory" if isinstance(e, MemoryError) else type(e).__name__)


_KEEP_HINT = ("modelhound writes only into its own results databases and never replaces "
              "another file; give --db a new path")


def inspect_database(path: str, what: str = "results database", generator_key: str = "generator",
                     hint: str = _KEEP_HINT) -> int | None:
    """The schema version of the modelhound SQLite file at ``path``, or None when there is no
    file. Raises StoreError (message naming the file) for anything that is not one of ours or
    is damaged. Reads only: the file is opened read-only and never changed.

    Shared by the results database and the zoo index (``what`` names which)."""
    version, db = _open_checked(path, what, generator_key, hint)
    if db is not None:
        db.close()
    return version


def _open_checked(path: str, what: str = "results database", generator_key: str = "generator",
                  hint: str = _KEEP_HINT) -> tuple[int | None, sqlite3.Connection | None]:
    """:func:`inspect_database`, also returning its read-only connection to the file (None
    when there is no file); the caller closes it."""
    if not os.path.exists(path):
        return None, None
    if not os.path.isfile(path):
        raise StoreError(f"{path}: not a file; {hint}")
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise StoreError(f"{path}: cannot read the {what} ({e.strerror or e})") from e
    if not head:
        raise StoreError(f"{path}: an empty file, not a modelhound {what}; {hint}")
    if head != _SQLITE_MAGIC:
        raise StoreError(f"{path}: not a modelhound {what} (it starts with {head[:8]!r}, "
                         f"not an SQLite header); {hint}")
    try:
        db = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open the {what} ({e})") from e
    db.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        check = db.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise StoreError(f"{path}: the {what} is damaged (SQLite: {check[0] if check else '?'})"
                             f"; it is left as it is: {hint}")
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            raise StoreError(f"{path}: an SQLite database, but not a modelhound {what} "
                             f"(no meta table; tables: {', '.join(sorted(tables)) or 'none'}); "
                             f"{hint}")
        meta = dict(db.execute("SELECT key, value FROM meta"))
        if not str(meta.get(generator_key, "")).startswith("modelhound"):
            raise StoreError(f"{path}: an SQLite database, but not a modelhound {what}; {hint}")
        try:
            version = int(meta["schema_version"])
        except (KeyError, ValueError):
            raise StoreError(f"{path}: modelhound {what} without a readable schema version; "
                             f"{hint}") from None
    except READ_DAMAGE as e:
        db.close()
        raise StoreError(f"{path}: the {what} is damaged or not SQLite ({damage(e)}); it is "
                         f"left as it is: {hint}") from e
    except BaseException:
        db.close()
        raise
    return version, db


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


class ResultStore:
    """SQLite store of app records and report rows, one transaction per input.

    ``resume`` continues the newest run of an existing database; otherwise a new run is
    appended, or, with ``replace``, an existing modelhound database is started afresh.
    ``readonly`` opens an existing database for export (the newest run, or ``run``)."""

    def __init__(self, path: str, resume: bool = False, replace: bool = False,
                 readonly: bool = False, run: int | None = None) -> None:
        self.path = path
        version, checked = _open_checked(path)
        if readonly and version in (1, STORE_SCHEMA_VERSION) and checked is not None:
            # an export only reads: it keeps the read-only connection the check opened, and
            # reads an older (version 1) database from a copy upgraded in memory, never
            # upgrading the user's file
            db = checked
            try:
                if version != STORE_SCHEMA_VERSION:
                    db = _upgraded_copy(checked)
                self._db = db
                self._db.text_factory = str  # undecodable text is damage (see _read)
                self.run = self._pick_run(run)
                self.runs = int(self._db.execute("SELECT count(*) FROM runs").fetchone()[0])
            except READ_DAMAGE as e:
                db.close()
                raise StoreError(f"{path}: the results database is damaged ({damage(e)}); it is "
                                 "left as it is") from e
            except BaseException:
                db.close()
                raise
            return
        if checked is not None:
            checked.close()
        if version is None and (resume or readonly):
            raise StoreError(f"{path}: no results database to "
                             f"{'resume' if resume else 'read'}")
        if version is not None and version > STORE_SCHEMA_VERSION:
            raise StoreError(
                f"{path}: results database has schema version {version}, this modelhound "
                f"reads version {STORE_SCHEMA_VERSION} or older; export it with the modelhound "
                "that wrote it, or give --db a new path (the file is left as it is)"
            )
        if version is not None and version < 1:
            raise StoreError(f"{path}: results database has schema version {version}, which no "
                             "modelhound writes; give --db a new path (the file is left as it is)")
        if version is not None and replace and not (resume or readonly):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{path}: cannot open or create the results database ({e})") from e
        try:
            self._db.execute("PRAGMA foreign_keys=ON")
            # WAL only once the file is known good: switching rewrites the header, which a
            # refused file must keep (the init below rolls back byte for byte before it)
            self._db.execute("BEGIN IMMEDIATE")
            if version == 1:
                _migrate_v1(self._db)
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('generator', ?)",
                             (f"modelhound {__version__}",))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                             (str(STORE_SCHEMA_VERSION),))
            latest = self._db.execute("SELECT max(run) FROM runs").fetchone()[0]
            if run is not None or readonly or (resume and latest is not None):
                self.run = self._pick_run(run)
            else:
                self.run = int(latest or 0) + 1
                self._db.execute("INSERT INTO runs VALUES (?, ?, ?)",
                                 (self.run, time.time(), f"modelhound {__version__}"))
            self._db.execute("COMMIT")
            self._db.execute("PRAGMA journal_mode=WAL")
            # each input is still its own transaction; in WAL mode NORMAL keeps every commit
            # through a crash of the scan and only skips the fsync per input
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, StoreError) as e:
            if self._db.in_transaction:
                self._db.rollback()
            self._db.close()
            if version is None:  # the file is ours, just made: leave no half-made database
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
            if isinstance(e, StoreError):
                raise
            raise StoreError(f"{path}: cannot write the results database ({e})") from e
        self.runs = int(self._db.execute("SELECT count(*) FROM runs").fetchone()[0])

    def _pick_run(self, run: int | None) -> int:
        latest = self._db.execute("SELECT max(run) FROM runs").fetchone()[0]
        if run is None:
            return int(latest or 0)
        if not self._db.execute("SELECT 1 FROM runs WHERE run = ?", (run,)).fetchone():
            raise StoreError(f"{self.path}: no run {run} (runs 1 to {latest or 0})")
        return run

    def _read(self, sql: str, *args: Any) -> list[Any]:
        """Rows of a query; a database damaged past what quick_check sees is a StoreError."""
        try:
            return self._db.execute(sql, args).fetchall()
        except READ_DAMAGE as e:
            raise StoreError(f"{self.path}: the results database is damaged ({damage(e)})") from e

    def _json(self, texts: list[Any]) -> list[dict[str, Any]]:
        out = []
        for (text,) in texts:
            try:
                value = json.loads(text)
            except (TypeError, ValueError) as e:
                raise StoreError(f"{self.path}: the results database holds a damaged record "
                                 f"({e})") from e
            if not isinstance(value, dict):
                raise StoreError(f"{self.path}: the results database holds a damaged record "
                                 f"(not an object)")
            out.append(value)
        return out

    def done(self) -> dict[str, str]:
        """Inputs already finished in this run: path -> sha256."""
        return {str(p): str(h) for p, h in self._read(
            "SELECT path, sha256 FROM inputs WHERE run = ?", self.run)}

    def first_by_hash(self) -> dict[str, str]:
        """sha256 -> the first path scanned with it in this run (duplicates on resume)."""
        out: dict[str, str] = {}
        for path, sha, status in self._read(
                "SELECT path, sha256, status FROM inputs WHERE run = ? ORDER BY seq", self.run):
            if sha and status != "duplicate":
                out.setdefault(sha, path)
        return out

    def record(self, app: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
        """Store one finished input and its rows atomically (replacing this run's earlier
        record of the same path). A failed write (disk full, file-size limit, read-only)
        leaves the database as it was before this input."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM inputs WHERE run = ? AND path = ?",
                             (self.run, app["path"]))
            cur = self._db.execute(
                "INSERT INTO inputs (run, path, sha256, status, app_json, finished_at) "
                "VALUES (?,?,?,?,?,?)",
                (self.run, app["path"], app["sha256"], app["status"],
                 json.dumps(app, default=str), time.time()),
            )
            self._db.executemany(
                "INSERT INTO rows VALUES (?,?,?)",
                [(cur.lastrowid, i, json.dumps(r, default=str)) for i, r in enumerate(rows)],
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            # SQLite may have rolled back already (an I/O error ends the transaction)
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise StoreError(
                f"{self.path}: cannot record {app['path']} ({e}); every input finished before "
                "it is kept: free space (or lift the limit) and continue with --resume") from e
        except BaseException:  # Ctrl-C / SIGTERM mid-transaction: this input is not kept
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def apps(self) -> list[dict[str, Any]]:
        """This run's app records in the order they finished."""
        return self._json(self._read(
            "SELECT app_json FROM inputs WHERE run = ? ORDER BY seq", self.run))

    def rows(self) -> list[dict[str, Any]]:
        """This run's report rows in the order their inputs finished."""
        return self._json(self._read(
            "SELECT row_json FROM rows JOIN inputs ON rows.input_seq = inputs.seq "
            "WHERE inputs.run = ? ORDER BY inputs.seq, rows.ordinal", self.run))

    def set_meta(self, key: str, value: Any) -> None:
        """Keep one fact about this run (e.g. the scan's settings) as JSON."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                         (f"run{self.run}:{key}", json.dumps(value, default=str)))

    def meta(self, key: str) -> Any:
        """A fact about this run kept by :meth:`set_meta` (None when absent)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?",
                               (f"run{self.run}:{key}",)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def _upgraded_copy(db: sqlite3.Connection) -> sqlite3.Connection:
    """A version-1 database copied into memory and upgraded there; closes ``db``."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.backup(mem)
        mem.execute("BEGIN")
        _migrate_v1(mem)
        mem.execute("COMMIT")
    except BaseException:
        mem.close()
        raise
    finally:
        db.close()
    return mem


def _migrate_v1(db: sqlite3.Connection) -> None:
    """A version-1 database (one scan, no runs) becomes run 1 of a version-2 one."""
    db.execute("ALTER TABLE inputs RENAME TO inputs_v1")
    db.execute("ALTER TABLE rows RENAME TO rows_v1")
    for stmt in _SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)
    db.execute("INSERT INTO runs VALUES (1, coalesce((SELECT min(finished_at) FROM inputs_v1), "
               "0), 'modelhound (schema 1)')")
    db.execute("INSERT INTO inputs (seq, run, path, sha256, status, app_json, finished_at) "
               "SELECT seq, 1, path, sha256, status, app_json, finished_at FROM inputs_v1")
    db.execute("INSERT INTO rows SELECT input_seq, ordinal, row_json FROM rows_v1")
    db.execute("DROP TABLE rows_v1")
    db.execute("DROP TABLE inputs_v1")


def open_existing(path: str, run: int | None = None) -> ResultStore:
    """Open a database for export (its newest run, or ``run``), refusing a missing file."""
    if not os.path.exists(path):
        raise StoreError(f"{path}: no such results database")
    return ResultStore(path, readonly=True, run=run)
