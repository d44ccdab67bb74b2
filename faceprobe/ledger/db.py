"""The results store's database: where it lives, its versioned schema, opening it safely.

SQLite from the standard library, chosen over DuckDB by measurement and by what the store must do
(``benchmarks/results_store.py``): several processes (fold workers, concurrent runs, torchrun
ranks) record at once, and SQLite's write-ahead log lets them, each write waiting its turn
(``busy_timeout``), where DuckDB lets one process hold the file; and one run's record is written in
one transaction, so a process killed while recording leaves the store as it was before.

The schema's version is SQLite's ``user_version``; :data:`MIGRATIONS` lists the statements that take
a store from each version to the next, applied in order when an older store is opened (its records
kept). A store newer than this faceprobe, a file that is not a SQLite database, or one that fails
SQLite's own check is refused with a one-line message, never rewritten.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import FaceprobeError

__all__ = ["store_path", "connect", "MIGRATIONS", "SCHEMA_VERSION", "verify", "ENV"]

ENV = "FACEPROBE_RESULTS_DB"
"""The environment variable naming the store (else ``$FACEPROBE_HOME/runs.sqlite``)."""

BUSY_MS = 60_000
"""How long one write waits for another process's write to finish (a record takes milliseconds)."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # version 1
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL,
            kind TEXT NOT NULL,
            argv TEXT NOT NULL,
            faceprobe TEXT NOT NULL,
            cache TEXT,
            dataset TEXT,
            keys TEXT NOT NULL,
            key_ids TEXT NOT NULL,
            heads TEXT NOT NULL,
            corpus TEXT,
            protocol TEXT,
            official INTEGER NOT NULL DEFAULT 0,
            grouped INTEGER,
            metric TEXT,
            host TEXT,
            cpu TEXT,
            gpu TEXT,
            seconds REAL,
            note TEXT,
            options TEXT NOT NULL,
            provenance TEXT NOT NULL)""",
        "CREATE TABLE tags (run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY (run, tag))",
        """CREATE TABLE figures (
            run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            head TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            metric TEXT NOT NULL,
            repeat INTEGER NOT NULL,
            fold INTEGER NOT NULL,
            value REAL,
            std REAL,
            low REAL,
            high REAL,
            over TEXT)""",
        "CREATE INDEX figures_run ON figures (run, key, head)",
        "CREATE INDEX runs_created ON runs (created)",
    ),
)
"""Statements per schema version: ``MIGRATIONS[v - 1]`` takes a store from version ``v - 1`` to ``v``.
Figures of a cell (the aggregate over folds or repeats) have ``repeat = fold = -1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def store_path(path: str | os.PathLike | None = None) -> Path:
    """The store: ``path``, else ``$FACEPROBE_RESULTS_DB``, else ``$FACEPROBE_HOME/runs.sqlite``."""
    if path:
        return Path(path)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    from ..machine import home_dir

    return home_dir("runs.sqlite")


def _refuse(path: Path, why: str) -> FaceprobeError:
    return FaceprobeError(f"results store {path}: {why}; it was left as it is: move it aside (a new one is started) "
                          "or choose another with `results_db`")


def _unopenable(path: Path, exc: BaseException) -> FaceprobeError:
    why = getattr(exc, "strerror", None) or str(exc)
    return FaceprobeError(f"results store {path} cannot be opened for writing ({why}): choose a writable file with "
                          f"`results_db` or ${ENV}, or skip recording with `record=False`")


def _open(path: Path, create: bool) -> sqlite3.Connection:
    if not path.exists():
        if not create:
            raise FaceprobeError(f"results store {path} does not exist: no run was recorded there yet "
                                 f"(choose the store with `results_db` or ${ENV})")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unopenable(path, exc) from None
    elif path.is_dir():
        raise FaceprobeError(f"results store {path} is a folder: give a file path, such as {path / 'runs.sqlite'}")
    if create and not os.access(path if path.exists() else path.parent, os.W_OK):
        raise _unopenable(path, PermissionError(13, "not writable"))
    try:
        con = sqlite3.connect(str(path), timeout=BUSY_MS / 1000, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise _unopenable(path, exc) from None
    try:
        con.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":  # a file system without shared memory: the rollback journal is as safe, and slower
            con.execute("PRAGMA journal_mode = DELETE")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise _refuse(path, f"not a SQLite database ({exc})") from None
    return con


def _migrate(con: sqlite3.Connection, path: Path) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise _refuse(path, f"written by a newer faceprobe (schema {version}; this one reads up to {SCHEMA_VERSION}): upgrade faceprobe")
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated meanwhile
        if version == 0 and con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise _refuse(path, "a SQLite database with tables that are not a faceprobe results store")
        for v in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[v]:
                con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def connect(path: str | os.PathLike | None = None, create: bool = True) -> Iterator[sqlite3.Connection]:
    """An open, current store (migrated when older; created when missing and ``create``).

    Raises
    ------
    FaceprobeError
        The file is not a store, is damaged, or is newer than this faceprobe.
    """
    where = store_path(path)
    con = _open(where, create)
    try:
        try:
            _migrate(con, where)
        except sqlite3.DatabaseError as exc:
            raise _refuse(where, f"damaged ({exc})") from None
        yield con
    finally:
        con.close()


def verify(path: str | os.PathLike | None = None) -> dict:
    """SQLite's integrity check and the store's counts.

    Returns
    -------
    dict
        ``path``, ``ok`` (bool), ``problems`` (SQLite's findings), ``schema``, ``runs``, ``figures``.
    """
    where = store_path(path)
    with connect(where, create=False) as con:
        problems = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
        ok = problems == ["ok"]
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        figures = con.execute("SELECT count(*) FROM figures").fetchone()[0]
        orphans = con.execute("SELECT count(*) FROM figures WHERE run NOT IN (SELECT id FROM runs)").fetchone()[0]
    if orphans:
        ok, problems = False, [*problems, f"{orphans} figures of no run"]
    return {"path": str(where), "ok": ok, "problems": [] if ok else problems, "schema": SCHEMA_VERSION,
            "runs": runs, "figures": figures}
