"""MLflow logging of a study, read back through MLflow's own client from a real local tracking store."""

from __future__ import annotations

import pytest

import faceprobe

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'faceprobe[mlflow]')")


def test_study_of_3_keys_x_4_heads_logs_one_parent_and_12_nested_runs_with_fold_metrics(synthetic_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts in ./mlruns
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path / "runs.sqlite"))
    cache = synthetic_cache(tmp_path / "study.h5", n_subjects=12, views=("flip", "blur"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = faceprobe.evaluate(str(cache), key=["toy.none.orig", "toy.none.flip", "toy.none.blur"], head=["logreg", "knn", "svm", "mlp"],
                             cv=3, progress=False, mlflow=uri, tag="study")
    logged = res.raw["recorded"]["mlflow"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([logged["experiment"]], max_results=100)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == logged["run_id"]]
    assert len(parents) == 1 and len(nested) == 12
    assert {(r.data.params["key"], r.data.params["head"]) for r in nested} == {(c["key"], c["head"]) for c in res.raw["cells"]}
    for r in nested:
        history = client.get_metric_history(r.info.run_id, "fold/balanced_accuracy")
        assert [m.step for m in history] == [0, 1, 2]
        cell = next(c for c in res.raw["cells"] if c["key"] == r.data.params["key"] and c["head"] == r.data.params["head"])
        assert r.data.metrics["balanced_accuracy"] == pytest.approx(cell["summary"]["balanced_accuracy"]["mean"])
    parent = client.get_run(logged["run_id"])
    assert parent.data.params["protocol"] == "cv 3 by subject" and parent.data.tags["faceprobe.tag.study"] == "1"
    from faceprobe.ledger.query import get_run

    assert parent.inputs.dataset_inputs[0].dataset.digest == get_run(None, "last")["dataset"]
    assert {a.path for a in client.list_artifacts(logged["run_id"])} >= {"classify.json", "grid.md", "grid.csv", "confusion.json"}
    import csv

    grid = list(csv.DictReader(open(client.download_artifacts(logged["run_id"], "grid.csv", str(tmp_path)), encoding="utf-8")))
    assert {(r["key"], r["head"]) for r in grid} == {(c["key"], c["head"]) for c in res.raw["grid"]}
    assert all(float(r["mean"]) == pytest.approx(c["mean"]) for r, c in zip(grid, res.raw["grid"]))


def test_mlflow_missing_is_a_one_line_error_before_any_work(tiny_cache, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    import builtins

    real = builtins.__import__

    def no_mlflow(name, *a, **k):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(faceprobe.errors.FaceprobeError, match=r"MLflow is not installed: pip install 'faceprobe\[mlflow\]'"):
        faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, progress=False, mlflow="")


@pytest.mark.slow
def test_logging_to_an_mlflow_server_started_here(tiny_cache, tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path / "runs.sqlite"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the MLflow server did not answer within 60 s")
        uri = f"http://127.0.0.1:{port}"
        res = faceprobe.evaluate(str(tiny_cache), head=["logreg", "knn"], cv=3, progress=False, mlflow=uri)
        client = mlflow.MlflowClient(tracking_uri=uri)
        runs = client.search_runs([res.raw["recorded"]["mlflow"]["experiment"]])
        assert len(runs) == 3 and sum("mlflow.parentRunId" in r.data.tags for r in runs) == 2
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.parametrize("uri, why", [
    ("foo://bar", r"MLflow tracking URI foo://bar: .*unsupported URI"),
    ("http://127.0.0.1:9", r"MLflow tracking server http://127.0.0.1:9 cannot be reached"),
    ("sqlite:///{tmp}/no-such-folder/m.db", r"its file .*no-such-folder/m.db cannot be written"),
    ("{tmp}/mlruns", r"MLflow tracking URI .*mlruns: The filesystem tracking backend"),
])
def test_unusable_tracking_uri_is_one_line_before_any_work_in_seconds(tiny_cache, tmp_path, monkeypatch, uri, why):
    import time

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path / "runs.sqlite"))
    t0 = time.perf_counter()
    with pytest.raises(faceprobe.errors.FaceprobeError, match=why):
        faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, progress=False, mlflow=uri.format(tmp=tmp_path))
    assert time.perf_counter() - t0 < 30  # MLflow's own retries took 104 s (sqlite) and 254 s (http)
    from faceprobe.ledger.db import connect

    with connect(tmp_path / "runs.sqlite") as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # refused before the run


def test_tracking_server_gone_after_the_check_loses_the_log_not_the_results(tiny_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path / "runs.sqlite"))
    from faceprobe.ledger import mlflow_log

    def gone(*a, **k):
        raise mlflow.exceptions.MlflowException("API request to http://x failed. Retries exhausted")

    monkeypatch.setattr(mlflow_log, "log_run", gone)
    res = faceprobe.evaluate(str(tiny_cache), head="logreg", cv=3, progress=False, mlflow=f"sqlite:///{tmp_path / 'm.db'}")
    assert res.raw["cells"] and res.raw["recorded"]["run"]
    assert res.raw["recorded"]["mlflow_error"].endswith("API request to http://x failed")


def test_featurize_and_fit_runs_log_their_figures_under_names_mlflow_accepts(tiny_cache, image_folder, tmp_path, monkeypatch,
                                                                            featurize_cli):
    # featurize's own figures have no key or head: they were logged as '//images', which MLflow refuses
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEPROBE_RESULTS_DB", str(tmp_path / "runs.sqlite"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = featurize_cli(image_folder, tmp_path / "f.h5", "--mlflow", uri)
    assert res.exit_code == 0 and "logged to MLflow" in res.output and "not logged" not in res.output
    fitted = faceprobe.fit(str(tiny_cache), "logreg", str(tmp_path / "m.skops"), progress=False, cv=3, mlflow=uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = {r.data.tags["faceprobe.kind"]: r for r in client.search_runs([client.get_experiment_by_name("faceprobe").experiment_id])}
    assert runs["featurize"].data.metrics["images"] == 12 and "seconds" in runs["featurize"].data.metrics
    assert any(name.endswith("/logreg/balanced_accuracy") for name in runs["fit"].data.metrics), fitted["recorded"]


def test_a_parameter_longer_than_mlflow_takes_is_cut_with_a_mark_not_silently():
    from faceprobe.ledger.mlflow_log import _fits

    long = "k" * 7000
    assert _fits("short") == "short"
    cut = _fits(long)
    assert len(cut) == 6000 and cut.endswith("(cut: the whole is in the run's JSON artifact)")
