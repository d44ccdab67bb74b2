"""The results store: every run recorded, queried, compared, ranked; safe under concurrent and
killed writers; damaged stores refused."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys

import pytest

import faceprobe
from faceprobe.errors import FaceprobeError, OptionError
from faceprobe.ledger.compare import compare_runs
from faceprobe.ledger.db import SCHEMA_VERSION, verify
from faceprobe.ledger.query import RunFilter, get_run, leaderboard, list_runs


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(path))
    return path


def _evaluate(cache, **kw):
    return faceprobe.evaluate(str(cache), progress=False, **{"head": ["logreg", "knn"], "cv": 3, **kw})


def test_classify_records_every_cell_and_fold_figure_with_protocol_and_tags(tiny_cache, store):
    res = _evaluate(tiny_cache, tag=["paper", "table-2"])
    rec = res.raw["recorded"]
    assert rec["store"] == str(store) and rec["seconds"] < 1.0
    run = get_run(store, rec["run"])
    assert run["kind"] == "classify" and run["protocol"] == "cv 3 by subject" and run["grouped"] is True
    assert run["tags"] == ["paper", "table-2"] and run["dataset"] and run["key_ids"][res.key]
    metrics = set(res.raw["cells"][0]["summary"])
    assert len(run["cells"]) == 2 * len(metrics)
    assert len(run["folds"]) == 2 * 3 * len(metrics)  # 2 heads x 3 folds
    logreg = {c["metric"]: c["value"] for c in run["cells"] if c["head"] == "logreg"}
    assert logreg["balanced_accuracy"] == pytest.approx(res.raw["cells"][0]["summary"]["balanced_accuracy"]["mean"])
    assert run["options"] == {"cache": str(tiny_cache), "cv": 3, "head": ["logreg", "knn"], "progress": False}


def test_no_record_writes_nothing_and_refuses_tags(tiny_cache, store):
    res = _evaluate(tiny_cache, record=False)
    assert "recorded" not in res.raw and not store.exists()
    with pytest.raises(OptionError, match="tag.*not recorded"):
        _evaluate(tiny_cache, record=False, tag=["x"])


def test_compare_same_command_gives_zero_differences(tiny_cache, store):
    _evaluate(tiny_cache)
    _evaluate(tiny_cache)
    res = compare_runs(store, "last~1", "last")
    assert res["moved"] == 0 and res["provenance"] == [] and res["paired"]["folds"]
    assert len(res["figures"]) == 2 * len(_evaluate(tiny_cache, record=False).raw["cells"][0]["summary"])


def test_compare_names_moved_figures_and_the_provenance_behind_them(tiny_cache, store, monkeypatch):
    _evaluate(tiny_cache, head="logreg")
    monkeypatch.setattr("faceprobe.classify.run.__version__", "9.9.9")
    _evaluate(tiny_cache, head="logreg", params={"C": [0.001]})
    res = compare_runs(store, "last~1", "last")
    assert res["moved"] > 0 and all(f["p"] is not None for f in res["figures"] if f["moved"])
    fields = {d["field"] for d in res["provenance"]}
    assert "faceprobe" in fields and "provenance.versions.faceprobe" in fields
    assert any(f.startswith("options.params") for f in fields)


def test_list_filters_and_leaderboard_mark_ungrouped_runs(tiny_cache, store):
    _evaluate(tiny_cache, tag="a")
    _evaluate(tiny_cache, group="none", head="knn")
    assert [r["tags"] for r in list_runs(store, RunFilter(tag="a"))] == [["a"]]
    assert len(list_runs(store, RunFilter(head="knn"))) == 2 and len(list_runs(store, RunFilter(head="svm"))) == 0
    board = leaderboard(store)
    assert {r["grouped"] for r in board} == {"by subject", "NOT grouped (leak-prone)"}
    assert all(r["protocol"].startswith("cv 3") for r in board)
    with pytest.raises(OptionError, match="since.*2026-12-01"):
        list_runs(store, RunFilter(since="yesterday"))


def test_runs_frame_is_tidy(tiny_cache, store):
    _evaluate(tiny_cache, tag="a")
    df = faceprobe.runs(folds=True)
    assert {"run", "key", "head", "metric", "repeat", "fold", "value", "tags"} <= set(df.columns)
    assert set(df["fold"]) == {-1, 0, 1, 2} and set(df["tags"]) == {"a"}


def test_damaged_store_is_refused_before_any_work_and_left_as_it_is(tiny_cache, store):
    store.write_bytes(b"this is not a database" * 100)
    with pytest.raises(FaceprobeError, match="results store .*not a SQLite database.*left as it is"):
        _evaluate(tiny_cache)
    assert store.read_bytes() == b"this is not a database" * 100


def test_store_from_a_newer_faceprobe_is_refused(tiny_cache, store):
    con = sqlite3.connect(store)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(FaceprobeError, match="newer faceprobe"):
        _evaluate(tiny_cache)


def test_foreign_sqlite_database_is_refused(tiny_cache, store):
    con = sqlite3.connect(store)
    con.execute("CREATE TABLE mine (x)")
    con.close()
    with pytest.raises(FaceprobeError, match="not a faceprobe results store"):
        _evaluate(tiny_cache)


def _record_many(path: str, worker: int, n: int) -> None:
    from faceprobe.ledger.entries import Entry
    from faceprobe.ledger.record import write_entry

    for i in range(n):
        run = {"uid": f"{worker:04d}{i:04d}".ljust(32, "0"), "created": "2026-12-06T00:00:00Z", "kind": "classify",
               "argv": "[]", "faceprobe": "test", "keys": '["k"]', "key_ids": "{}", "heads": '["h"]', "options": "{}",
               "provenance": "{}", "metric": "accuracy"}
        write_entry(Entry(run, [("k", "h", "", "accuracy", f, f, 0.5, None, None, None, None) for f in range(-1, 10)]), path)


def test_eight_processes_record_at_once_and_every_run_is_kept(tmp_path):
    path = str(tmp_path / "runs.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_many, args=(path, w, 5)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    res = verify(path)
    assert res["ok"] and res["runs"] == 40 and res["figures"] == 40 * 11


_KILLED = """
import os, sys
from faceprobe.ledger.db import connect
with connect(sys.argv[1]) as con:
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO runs (uid, created, kind, argv, faceprobe, keys, key_ids, heads, options, provenance) "
                "VALUES ('killed', 'x', 'classify', '[]', 't', '[]', '{}', '[]', '{}', '{}')")
    con.execute("INSERT INTO figures (run, key, head, metric, repeat, fold, value) VALUES (last_insert_rowid(), 'k', 'h', 'm', -1, -1, 1)")
    os._exit(9)  # killed in the middle of its record
"""


def test_process_killed_while_recording_leaves_the_store_readable_and_other_records_intact(tmp_path):
    path = str(tmp_path / "runs.sqlite")
    _record_many(path, 0, 3)
    killed = subprocess.run([sys.executable, "-c", _KILLED, path], capture_output=True)
    assert killed.returncode == 9
    res = verify(path)
    assert res["ok"] and res["runs"] == 3 and res["figures"] == 33
    _record_many(path, 1, 1)
    assert verify(path)["runs"] == 4


def test_runs_cli_lists_shows_compares_ranks_tags_in_every_format(tiny_cache, store, invoke, tmp_path):
    for tag in ("first", "second"):
        assert invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "-q", "--tag", tag).exit_code == 0
    listed = invoke("runs", "list", "--format", "json")
    rows = json.loads(listed.output)
    assert [r["tags"] for r in rows] == [["second"], ["first"]]
    assert "0 differ" in invoke("runs", "compare", "last~1", "last").output
    assert invoke("runs", "show", str(rows[0]["id"])).output.startswith(f"run {rows[0]['id']} ")
    assert r"\toprule" in invoke("runs", "leaderboard", "--format", "tex").output
    assert invoke("runs", "leaderboard", "--format", "md").output.startswith("| corpus | protocol |")
    csv_out = tmp_path / "figures.csv"
    assert invoke("runs", "figures", "--format", "csv", "-o", csv_out).exit_code == 0
    assert csv_out.read_text().splitlines()[0].startswith("run,uid,created,kind")
    assert "tags paper, second" in invoke("runs", "tag", "last", "paper").output
    assert invoke("runs", "list", "--tag", "paper", "--format", "csv").output.count("\n") == 2
    bad = invoke("runs", "show", "nosuchrun")
    assert bad.exit_code == 1 and "RUN nosuchrun: no such run" in bad.output
    assert "ok (schema" in invoke("runs", "verify").output


def test_runs_cli_writes_parquet_or_says_what_it_needs(tiny_cache, store, invoke, tmp_path):
    invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "-q")
    out = tmp_path / "runs.parquet"
    res = invoke("runs", "figures", "--format", "parquet", "-o", out)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert res.exit_code == 1 and "needs pyarrow" in res.output
        return
    import pandas as pd

    assert res.exit_code == 0 and len(pd.read_parquet(out)) == len(faceprobe.runs())


def test_fit_and_featurize_runs_are_recorded(tiny_cache, store, tmp_path, image_folder, featurize_cli):
    faceprobe.fit(str(tiny_cache), "logreg", str(tmp_path / "m.skops"), progress=False, cv=3, tag="model")
    fit = get_run(store, "last")
    assert fit["kind"] == "fit" and fit["tags"] == ["model"] and fit["protocol"] == "cv 3 by subject"
    assert any(c["metric"] == "balanced_accuracy" for c in fit["cells"])
    assert featurize_cli(image_folder, tmp_path / "f.h5").exit_code == 0
    feat = get_run(store, "last")
    assert feat["kind"] == "featurize" and {c["metric"] for c in feat["cells"]} >= {"images", "seconds"}


@pytest.mark.real
def test_real_faces_run_recorded_and_compared_across_keys(real_lite0_eager_cache, store, tmp_path):
    import shutil

    cache = tmp_path / "real.h5"
    shutil.copy(real_lite0_eager_cache, cache)
    a = faceprobe.evaluate(str(cache), head="logreg", cv=3, progress=False)
    b = faceprobe.evaluate(str(cache), head="logreg", cv=3, progress=False, group="none")
    res = compare_runs(store, a.raw["recorded"]["run"], b.raw["recorded"]["run"])
    assert not res["paired"]["folds"] and res["paired"]["why_not"] == "different splits"
    assert any(d["field"] == "options.group" for d in res["provenance"])
    board = leaderboard(store)
    assert {r["grouped"] for r in board} == {"by subject", "NOT grouped (leak-prone)"}
    assert os.path.getsize(store) > 0


def test_an_older_store_is_migrated_with_its_records_kept(tmp_path, monkeypatch):
    from faceprobe.ledger import db

    path = str(tmp_path / "runs.sqlite")
    _record_many(path, 0, 2)
    newer = (*db.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN reviewer TEXT", "UPDATE runs SET reviewer = 'nobody'"))
    monkeypatch.setattr(db, "MIGRATIONS", newer)
    monkeypatch.setattr(db, "SCHEMA_VERSION", len(newer))
    res = verify(path)
    assert res["ok"] and res["runs"] == 2 and res["schema"] == len(newer)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(newer)
    assert con.execute("SELECT DISTINCT reviewer FROM runs").fetchall() == [("nobody",)]
    con.close()


def test_store_that_cannot_be_created_or_is_named_empty_is_one_line_before_work(tiny_cache, store, invoke, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "-q", "--results-db", blocker / "runs.sqlite")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"results store {blocker / 'runs.sqlite'} cannot be opened for writing" in res.output and "--no-record" in res.output
    empty = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "-q", "--results-db", "")
    assert empty.exit_code == 1 and "--results-db '': an empty name is no file" in empty.output
    assert not store.exists()


def test_tags_empty_or_with_commas_are_refused_and_removing_an_absent_tag_is_said(tiny_cache, store, invoke):
    for bad, why in (("", "a tag is a non-empty word"), ("a,b", "a tag holds no comma"), (" x", "no leading or trailing")):
        with pytest.raises(OptionError, match=why):
            _evaluate(tiny_cache, tag=[bad])
    assert not store.exists()
    _evaluate(tiny_cache, tag=["paper"])
    res = invoke("runs", "tag", "last", "")
    assert res.exit_code == 1 and "TAG '': a tag is a non-empty word" in res.output
    gone = invoke("runs", "tag", "last", "--remove", "paper", "nosuch")
    assert gone.exit_code == 0 and "run 1 had no tag nosuch" in gone.output and "run 1: tags -" in gone.output
    assert "run 1: note cleared" in invoke("runs", "note", "last", "").output


def test_run_references_empty_or_beyond_sqlite_integers_are_one_line(tiny_cache, store, invoke):
    _evaluate(tiny_cache)
    for ref, why in (("", "give a run's number"), ("9" * 30, "no such run")):
        res = invoke("runs", "show", ref)
        assert res.exit_code == 1 and why in res.output and "Traceback" not in res.output


def test_switch_flags_are_named_without_a_value_in_conflicts(tiny_cache, store, invoke):
    res = invoke("classify", "-c", tiny_cache, "--head", "logreg", "--cv", "3", "--no-record", "--results-db", "x.sqlite")
    assert res.exit_code == 1 and "Error: --no-record: cannot be combined with --results-db x.sqlite" in res.output


def test_filters_that_cannot_match_and_metrics_no_run_has_are_refused_not_answered_empty(tiny_cache, store, invoke):
    _evaluate(tiny_cache)
    with pytest.raises(OptionError, match="kind='bogus': runs are of kind classify, fit, featurize"):
        faceprobe.runs(kind="bogus")
    with pytest.raises(OptionError, match="until='2026-01-01': is not after `since=2027-01-01`"):
        list_runs(store, RunFilter(since="2027-01-01", until="2026-01-01"))
    with pytest.raises(OptionError, match="metric='bogus': no matching run has it; they have: accuracy, balanced_accuracy"):
        leaderboard(store, metric="bogus")
    assert invoke("runs", "list", "--limit", "0").exit_code == 2


def test_a_featurize_run_is_not_compared_with_a_classify_run(tiny_cache, store, image_folder, tmp_path, featurize_cli):
    assert featurize_cli(image_folder, tmp_path / "f.h5").exit_code == 0
    _evaluate(tiny_cache)
    with pytest.raises(OptionError, match="run 2 is a classify run and run 1 a featurize run"):
        compare_runs(store, "1", "2")
