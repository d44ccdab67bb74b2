"""Recording a run: checked before the run starts, written in one transaction when it ends.

A store that cannot be used is refused before any work (:func:`check_store`); a record that cannot
be written at the end (a full disk) loses nothing the run computed: the run's results say why it
was not recorded (``recorded.error``) and the run's own outputs are written as usual.
"""

from __future__ import annotations

import os
import sqlite3
import time

from ..errors import FaceprobeError
from .db import connect, store_path
from .entries import Entry, classify_entry, featurize_entry, fit_entry

__all__ = ["check_store", "write_entry", "record_run", "MLFLOW_ENV"]

MLFLOW_ENV = "FACEPROBE_MLFLOW"
"""Set to a tracking URI, it logs every run to MLflow as ``mlflow=URI`` does."""

_ENTRIES = {"classify": classify_entry, "fit": fit_entry, "featurize": featurize_entry}


def _mlflow_uri(options) -> str | None:
    uri = getattr(options, "mlflow", None)
    if uri is None:
        uri = os.environ.get(MLFLOW_ENV) or None
    return uri


def check_store(options) -> None:
    """Before the run's work: check faceprobe's home folder (:func:`~faceprobe.machine.check_home`);
    open (create, migrate) the store ``options`` records into, so a damaged or foreign file is
    refused; check that MLflow is installed and its tracking URI answers, when asked for.

    Raises
    ------
    FaceprobeError
    """
    from ..machine import check_home

    check_home()
    if getattr(options, "record", False):
        with connect(options.results_db):
            pass
    uri = _mlflow_uri(options)
    if uri is not None:
        from .mlflow_log import check_tracking

        check_tracking(uri)


def write_entry(entry: Entry, path=None) -> dict:
    """Write one run's record in one transaction (all of it or nothing).

    Returns
    -------
    dict
        ``run`` (its id), ``store`` (the file) and ``seconds`` (what recording took).
    """
    t0 = time.perf_counter()
    with connect(path) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            columns = list(entry.run)
            cur = con.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                              [entry.run[c] for c in columns])
            run_id = cur.lastrowid
            con.executemany("INSERT INTO figures (run, key, head, target, metric, repeat, fold, value, std, low, high, over) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(run_id, *f) for f in entry.figures])
            con.executemany("INSERT OR IGNORE INTO tags (run, tag) VALUES (?, ?)", [(run_id, t) for t in entry.tags])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return {"run": entry.run["uid"][:12], "store": str(store_path(path)), "seconds": round(time.perf_counter() - t0, 4)}


def record_run(kind: str, result: dict, options) -> dict | None:
    """Record a finished run of ``kind`` (``classify``, ``fit``, ``featurize``) as ``options`` ask
    (``record``, ``results_db``, ``tag``, ``mlflow``).

    Returns
    -------
    dict or None
        What :func:`write_entry` returned (with ``mlflow``: the MLflow run id), ``error`` when the
        record could not be written; None when the run is not recorded.
    """
    uri = _mlflow_uri(options)
    if not getattr(options, "record", False) and uri is None:
        return None
    tags = tuple([options.tag] if isinstance(options.tag, str) else options.tag or ())
    entry = _ENTRIES[kind](result, options, tags)
    out: dict = {}
    if options.record:
        try:
            out = write_entry(entry, options.results_db)
        except (FaceprobeError, sqlite3.Error, OSError) as exc:
            out = {"error": f"not recorded in {store_path(options.results_db)}: {exc}"}
    if uri is not None:
        from .mlflow_log import failure_text, log_run

        try:
            out["mlflow"] = log_run(kind, result, entry, uri)
        except Exception as exc:  # a server gone mid-run loses the log, never the run's results
            out["mlflow_error"] = f"not logged to MLflow at {uri or 'its default URI'}: {failure_text(exc)}"
    return out
