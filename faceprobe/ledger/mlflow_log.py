"""Logging a run to MLflow (the ``mlflow`` extra), through its client API only (no process-wide
tracking state is set).

A ``classify`` run (one key or a study of many) is one parent run with a nested run per key x head
cell. The parent holds the run's parameters, the cache as the dataset (``mlflow.data``, by its
content identity), every cell's aggregate figures, and the results, grid and confusion matrices as
artifacts. Each nested run holds its key, head and head parameters, its aggregate figures, and every
fold's figures with the fold as the step (repeats one after another), since scikit-learn's autolog is
off inside cross-validation and a CV tool must log its folds itself. ``fit`` and ``featurize`` runs
are one run each.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import warnings

from ..errors import FaceprobeError
from .entries import Entry
from .formats import write_rows

__all__ = ["require_mlflow", "check_tracking", "log_run", "failure_text", "EXPERIMENT"]

GRID_COLUMNS = ("key", "head", "target", "mean", "std", "folds", "p_vs_best", "p_holm", "tied", "p_permutation")
"""The grid's columns an MLflow run keeps as ``grid.md`` and ``grid.csv`` (those the grid has)."""

EXPERIMENT = "faceprobe"
"""The MLflow experiment runs are logged under."""


def require_mlflow():
    """The ``mlflow`` module, or a one-line error saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise FaceprobeError("MLflow is not installed: pip install 'faceprobe[mlflow]' (or leave out `mlflow` and unset "
                             "$FACEPROBE_MLFLOW)") from None
    return mlflow


def failure_text(exc: BaseException) -> str:
    """An MLflow or connection error in one line: its first sentence, without the library's chained detail."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    cut = text.find(". ")
    text = text[:cut] if 0 < cut < 300 else text
    return text[:300] or type(exc).__name__


def _reach(uri: str) -> None:
    """A tracking server's socket answers within seconds (MLflow's own client retries for minutes)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "localhost", port), timeout=5).close()
    except OSError as exc:
        raise FaceprobeError(f"MLflow tracking server {uri} cannot be reached ({exc.strerror or exc}): start it, or give "
                             "another `mlflow` URI (sqlite:///mlflow.db keeps runs in a local file)") from None


def _sqlite_writable(uri: str) -> None:
    """A ``sqlite:///`` store's file can be created or opened (SQLAlchemy retries an unopenable one for minutes)."""
    path = uri[len("sqlite:///"):]
    if not path or path.startswith(":memory:"):
        return
    try:
        if os.path.exists(path):
            with open(path, "rb+"):
                pass
        else:
            with open(path, "xb"):
                pass
            os.unlink(path)
    except OSError as exc:
        raise FaceprobeError(f"MLflow tracking URI {uri}: its file {path} cannot be written ({exc.strerror or exc}): give "
                             "a `mlflow` URI in a writable folder, such as sqlite:///mlflow.db") from None


def check_tracking(uri: str) -> None:
    """Refuse, before a run's work, an MLflow tracking URI that cannot take the run: MLflow missing, a
    scheme it does not serve, a server that does not answer, a store that cannot be opened.

    Raises
    ------
    FaceprobeError
        Naming the URI, MLflow's reason and the fix.
    """
    require_mlflow()
    resolved = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if resolved.startswith(("http://", "https://")):
        _reach(resolved)
    elif resolved.startswith("sqlite:///"):
        _sqlite_writable(resolved)
    try:
        _client(uri)
    except FaceprobeError:
        raise
    except Exception as exc:  # MLflow raises its own, SQLAlchemy's and OS errors here
        shown = resolved or "MLflow's default"
        raise FaceprobeError(f"MLflow tracking URI {shown}: {failure_text(exc)}; give a `mlflow` URI it serves, such as "
                             "sqlite:///mlflow.db or http://HOST:5000") from None


def _name(text: str) -> str:
    """A metric or parameter name MLflow accepts (letters, digits, _ - . / and spaces)."""
    return re.sub(r"[^0-9A-Za-z_\-./ ]", "_", str(text))[:250]


def _params(entry: Entry) -> dict:
    run = entry.run
    options = json.loads(run["options"])
    params = {f"option.{k}": json.dumps(v, default=str) if not isinstance(v, str) else v for k, v in options.items()}
    params.update({"kind": run["kind"], "faceprobe": run["faceprobe"], "protocol": run.get("protocol") or "-",
                   "corpus": run.get("corpus") or "-", "grouped": str(run.get("grouped")), "cpu": run.get("cpu") or "-",
                   "faceprobe.run": run["uid"][:12]})
    return {_name(k): _fits(str(v)) for k, v in params.items()}


_PARAM_CHARS = 6000
"""MLflow's longest parameter value."""


def _fits(text: str) -> str:
    """``text`` as an MLflow parameter value: a longer one is cut with a mark saying where the whole is."""
    mark = " ... (cut: the whole is in the run's JSON artifact)"
    return text if len(text) <= _PARAM_CHARS else text[:_PARAM_CHARS - len(mark)] + mark


def _client(uri: str):
    mlflow = require_mlflow()
    client = mlflow.MlflowClient(tracking_uri=uri or os.environ.get("MLFLOW_TRACKING_URI") or None)
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = found.experiment_id if found is not None else client.create_experiment(EXPERIMENT)
    return mlflow, client, experiment


def _batch(client, run_id: str, metrics=(), params: dict | None = None, tags: dict | None = None) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metrics = [Metric(_name(k), float(v), now, int(step)) for k, v, step in metrics if v is not None]
    params = [Param(k, v) for k, v in (params or {}).items()]
    tags = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for i in range(0, max(len(metrics), len(params), len(tags), 1), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, metrics=metrics[i:i + 100], params=params[i:i + 100], tags=tags[i:i + 100])


def _dataset(client, run_id: str, entry: Entry) -> None:
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    cache = entry.run.get("cache")
    if not cache:
        return
    with warnings.catch_warnings():  # the resolver warns that its module is experimental
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(os.path.abspath(cache))
    dataset = MetaDataset(source, name=os.path.basename(cache), digest=entry.run.get("dataset") or None)
    client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])])


def _cell_runs(client, experiment: str, parent: str, result: dict, entry: Entry) -> list[str]:
    folds: dict = {}
    for f in entry.figures:
        key, head, target, metric, repeat, fold, value = f[:7]
        folds.setdefault((key, head, target), {}).setdefault(metric, []).append((repeat, fold, value))
    heads = result.get("provenance", {}).get("heads", {})
    ids = []
    for (key, head, target), metrics in folds.items():
        name = f"{key} x {head}" + (f" ({target})" if target else "")
        child = client.create_run(experiment, run_name=name, tags={"mlflow.parentRunId": parent, "faceprobe.key": key,
                                                                    "faceprobe.head": head}).info.run_id
        values = []
        for metric, rows in metrics.items():
            cell = [r for r in rows if r[0] == -1]
            per_fold = sorted(r for r in rows if r[0] >= 0)
            values += [(metric, cell[0][2], 0)] if cell else []
            values += [(f"fold/{metric}", v, step) for step, (_, _, v) in enumerate(per_fold)]
        own = {f"head.{k}": json.dumps(v, default=str) for k, v in heads.get(head, {}).items()}
        _batch(client, child, values, {"key": key, "head": head, "target": target or "-", **own})
        client.set_terminated(child)
        ids.append(child)
    return ids


def _artifacts(client, run_id: str, kind: str, result: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, f"{kind}.json"), "w", encoding="utf-8") as handle:
            json.dump({k: v for k, v in result.items() if k not in ("pipeline",)}, handle, indent=1, default=str)
        if kind == "classify" and result.get("cells"):
            grid = result.get("grid") or []
            columns = [c for c in GRID_COLUMNS if any(c in cell for cell in grid)]
            for fmt in ("md", "csv"):
                write_rows(grid, fmt, os.path.join(folder, f"grid.{fmt}"), columns)
            confusion = {f"{c['key']} x {c['head']}": c.get("confusion") for c in result["cells"] if c.get("confusion")}
            if confusion:
                with open(os.path.join(folder, "confusion.json"), "w", encoding="utf-8") as handle:
                    json.dump({"classes": result.get("classes"), "matrices": confusion}, handle, indent=1)
        client.log_artifacts(run_id, folder)


def log_run(kind: str, result: dict, entry: Entry, uri: str) -> dict:
    """Log one faceprobe run to MLflow at ``uri`` ("" : ``$MLFLOW_TRACKING_URI`` or MLflow's default).

    Returns
    -------
    dict
        ``run_id`` (the parent), ``nested`` (the cells' run ids), ``experiment``, ``tracking_uri``.
    """
    _, client, experiment = _client(uri)
    keys = json.loads(entry.run["keys"])
    parent = client.create_run(experiment, run_name=f"{kind} {', '.join(map(str, keys))}"[:200],
                               tags={"faceprobe.kind": kind, "faceprobe.run": entry.run["uid"][:12],
                                     **{f"faceprobe.tag.{t}": "1" for t in entry.tags}}).info.run_id
    try:
        _batch(client, parent, params=_params(entry))
        _dataset(client, parent, entry)
        cells = [f for f in entry.figures if f[4] == -1]
        _batch(client, parent, [("/".join(part for part in (f[0], f[1], f[2], f[3]) if part), f[6], 0) for f in cells])  # a run's own figures (featurize: images) have no key or head
        nested = _cell_runs(client, experiment, parent, result, entry) if kind == "classify" else []
        _artifacts(client, parent, kind, result)
    except BaseException:
        client.set_terminated(parent, status="FAILED")
        raise
    client.set_terminated(parent)
    return {"run_id": parent, "nested": nested, "experiment": experiment, "tracking_uri": client.tracking_uri}
