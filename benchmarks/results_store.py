"""Benchmark the results store; prints one JSON object.

1. What recording costs a dev-faces classify run: the run (logreg and knn, 10 subject-grouped
   folds) is timed with and without recording, interleaved, and the recording step itself
   (building the record and writing it in one transaction) is timed on its own.
2. SQLite against DuckDB (when installed) for the same records: the time to write 50 runs' records,
   and whether a second process can write while another holds the store open.
3. Eight ``classify`` processes recording into one store at once: every run present, the store
   verifying clean.

Usage::

    python benchmarks/results_store.py [--data ../shared/data/muxspace-dev] [--cache FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dev_cache import DEFAULT_DATA, dev_cache


def _recording_cost(cache: Path, store: Path, rounds: int) -> dict:
    from faceprobe.classify.options import ClassifyOptions
    from faceprobe.classify.run import run_classify
    from faceprobe.ledger.entries import classify_entry
    from faceprobe.ledger.record import record_run

    base = dict(cache=str(cache), head=("logreg", "knn"), cv=10, min_count=10, progress=False, engine="sklearn")
    off, on, step = [], [], []
    for _ in range(rounds):
        for record, times in ((False, off), (True, on)):
            t0 = time.perf_counter()
            res = run_classify(ClassifyOptions(**base, record=record, **({"results_db": str(store)} if record else {})))
            times.append(time.perf_counter() - t0)
        options = ClassifyOptions(**base, results_db=str(store))
        t0 = time.perf_counter()
        record_run("classify", res, options)
        step.append(time.perf_counter() - t0)
    median = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {"run_seconds_not_recorded": median(off), "run_seconds_recorded": median(on), "record_step_seconds": median(step),
            "record_step_share_of_run": median(step) / median(off),
            "figures_per_run": len(classify_entry(res, options).figures)}


def _write_many(path: str, backend: str, n: int) -> float:
    from faceprobe.ledger.db import MIGRATIONS

    row = ("u", "2026-12-06", "classify", "[]", "x", None, None, "[]", "{}", "[]", None, None, 0, 1, "m", "h", "c", None, 1.0,
           None, "{}", "{}")
    figures = [("k", "h", "", "accuracy", r, f, 0.5, None, None, None, None) for r in range(-1, 1) for f in range(-1, 70)]
    if backend == "duckdb":
        import duckdb

        con = duckdb.connect(path)
        schema = MIGRATIONS[0][0].replace("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER PRIMARY KEY")
        con.execute(schema)
        con.execute(MIGRATIONS[0][2].replace(" REFERENCES runs(id) ON DELETE CASCADE", ""))
    else:
        import sqlite3

        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        for s in MIGRATIONS[0]:
            con.execute(s)
    t0 = time.perf_counter()
    for i in range(n):
        con.execute("BEGIN TRANSACTION")
        con.execute(f"INSERT INTO runs VALUES ({i + 1}, {', '.join('?' * (len(row) - 0))})", (f"u{i}", *row[1:]))
        con.executemany("INSERT INTO figures VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(i + 1, *f) for f in figures])
        con.execute("COMMIT")
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


def _second_writer(path: str, backend: str) -> str:
    """Whether another process can write while this one holds the store open."""
    code = (f"import duckdb; c = duckdb.connect({path!r}); c.execute('INSERT INTO figures VALUES (1, \"k\", \"h\", \"\", \"m\", 0, 0, 1, NULL, NULL, NULL, NULL)')"
            if backend == "duckdb" else
            f"import sqlite3; c = sqlite3.connect({path!r}, timeout=10); c.execute(\"INSERT INTO figures VALUES (1, 'k', 'h', '', 'm', 0, 0, 1, NULL, NULL, NULL, NULL)\"); c.commit()")
    if backend == "duckdb":
        import duckdb

        holder = duckdb.connect(path)
    else:
        import sqlite3

        holder = sqlite3.connect(path)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    return "yes" if out.returncode == 0 else f"no: {out.stderr.strip().splitlines()[-1][:160]}"


def _backends(folder: Path, n: int) -> dict:
    out = {}
    for backend in ("sqlite", "duckdb"):
        if backend == "duckdb":
            try:
                import duckdb  # noqa: F401
            except ImportError:
                out[backend] = "not installed"
                continue
        path = str(folder / f"store.{backend}")
        out[backend] = {"seconds_for_runs": round(_write_many(path, backend, n), 4), "runs": n,
                        "second_process_writes_while_open": _second_writer(path, backend)}
    return out


def _concurrent(cache: Path, store: Path, n: int) -> dict:
    exe = Path(sys.executable).with_name("faceprobe")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([str(exe), "classify", "-c", str(cache), "--head", "knn", "--cv", "3", "--min-count", "3", "-q", "-j", "1",
                               "--results-db", str(store), "--tag", f"worker{i}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(n)]
    codes = [p.wait() for p in procs]
    from faceprobe.ledger.db import verify
    from faceprobe.ledger.query import RunFilter, list_runs

    tagged = sum(len(list_runs(store, RunFilter(tag=f"worker{i}"))) for i in range(n))
    return {"processes": n, "exit_codes": codes, "runs_recorded": tagged, "verify": verify(store)["ok"],
            "seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=None, help="efficientnet_lite0 cache of the dev faces (built when missing)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from faceprobe.machine import cpu_info

    cache = dev_cache(args.data, args.cache)
    folder = Path(tempfile.mkdtemp(prefix="faceprobe-store-"))
    result = {"cpu": cpu_info()["model"], "cores": len(os.sched_getaffinity(0)),
              "recording": _recording_cost(cache, folder / "runs.sqlite", args.rounds),
              "backends": _backends(folder, 50), "concurrent": _concurrent(cache, folder / "concurrent.sqlite", 8)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
