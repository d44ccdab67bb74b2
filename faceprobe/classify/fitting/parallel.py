"""Running a run's outer folds: how many processes and threads, in which order, on joblib's
processes or a Dask cluster, with a progress bar."""

from __future__ import annotations

from ...errors import OptionError
from ..config import EvalConfig, cores_of

__all__ = ["fold_workers", "fold_threads", "run_fold_tasks", "run_on_dask"]


def fold_workers(jobs: int, tasks: int) -> int:
    """Processes worth starting: ``jobs`` (-1: the cores this process may use), at most one per task."""
    return max(1, min(cores_of(jobs), tasks))


def fold_threads(cfg: EvalConfig, tasks: int) -> tuple[int, int]:
    """(fold processes, threads per fold): the ``jobs`` cores shared out; one thread per Dask task."""
    if cfg.backend == "dask":
        return 1, 1
    workers = fold_workers(cfg.jobs, tasks)
    return workers, max(1, cores_of(cfg.jobs) // workers)


def run_fold_tasks(tasks: list, train_sizes: list[int], ds, cfg: EvalConfig, desc: str, workers: int) -> list:
    """Run delayed fold tasks (largest training folds first, so no worker idles on the last, longest
    one) on ``workers`` processes or Dask, with a progress bar; results come back in task order."""
    from joblib import Parallel

    from ...progress import progress

    def run(stream):
        return list(progress(stream, len(tasks), desc, "fold", cfg.progress))

    order = sorted(range(len(tasks)), key=lambda i: -train_sizes[i])
    ordered = [tasks[i] for i in order]
    if cfg.backend == "dask":
        results = run_on_dask(ordered, ds, cfg, run)
    elif workers > 1:
        results = run(Parallel(n_jobs=workers, return_as="generator")(ordered))
    else:
        results = run(t[0](*t[1], **t[2]) for t in ordered)
    return [r for _, r in sorted(zip(order, results), key=lambda pair: pair[0])]


def run_on_dask(tasks, ds, cfg: EvalConfig, run):
    """Run the fold tasks through joblib's Dask backend (the dataset is scattered once)."""
    from joblib import Parallel, parallel_config

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("backend", "dask", "needs dask.distributed: pip install 'faceprobe[dask]'") from None
    cluster = None
    try:
        if cfg.scheduler:
            client = Client(cfg.scheduler, timeout=10)
        else:
            workers = cfg.jobs if cfg.jobs > 0 else None
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        raise OptionError("scheduler", cfg.scheduler, f"cannot reach the Dask scheduler ({exc})") from None
    try:
        with client, parallel_config(backend="dask", scatter=[ds]):
            return run(Parallel(n_jobs=-1, return_as="generator")(tasks))
    finally:
        if cluster is not None:
            cluster.close()
