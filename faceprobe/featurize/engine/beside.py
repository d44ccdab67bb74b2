"""The runtimes of a first run's choice, exported and built on a thread while the run computes on eager PyTorch.

A first run (nothing remembered, no export kept) used to export the network and build every
runtime before its first batch was forwarded: on 2 cores 1.6 s for efficientnet_lite0 and
2.4 s for resnet50, during which no image advanced. With ``runtime=auto`` on the CPU the run
now starts at once on eager PyTorch while a :class:`Preparation` exports and builds the
runtimes beside it; the choice is concluded on the first whole batch after they are ready
(:func:`~faceprobe.featurize.engine.compile.finish_prepared`): each runtime is timed and held to
the fidelity gate against eager's vectors of that batch, as on a first batch.

The thread takes one core of the two for the export (a trace and a file, mostly one thread), so
eager meanwhile runs at about two thirds of its speed; what that buys depends on how close
eager is to the runtime chosen (resnet50: eager 0.88 s a batch, onnxruntime 0.61 s; lite0: 0.33 s
against 0.084 s), measured in ``docs/benchmarks.md``. A GPU run keeps the export before its
first batch: exporting moves the model to the host, which the running model cannot share.
"""

from __future__ import annotations

import threading
import time

from .trial import failure, label

__all__ = ["Preparation", "Pending"]


class Preparation:
    """Export ``runner``'s network and build each ``(runtime, precision)`` of ``pairs`` on a thread.

    Parameters
    ----------
    runner : FeatureRunner
    example : tensor
        A normalised batch of the run's shape (what the export traces).
    pairs : list of (str, str)
        The runtimes and precisions to build (:func:`~faceprobe.featurize.engine.runtimes.runtime_candidates`).
    state : str
        The export's :func:`~faceprobe.featurize.engine.runtimes.export_state` as taken by the caller.
    """

    def __init__(self, runner, example, pairs: list, state: str):
        self.pairs = list(pairs)
        self.export: dict = {}
        self.built: dict = {}  # (runtime, precision) -> (built callable or None, seconds or why it failed)
        self._thread = threading.Thread(target=self._prepare, args=(runner, example, state), name="faceprobe-prepare", daemon=True)
        self._thread.start()

    def _prepare(self, runner, example, state: str) -> None:
        from .runtimes import RUNTIMES, exported

        t0 = time.perf_counter()
        try:
            _, reused = exported(runner, example, state)
        except Exception as exc:  # noqa: BLE001 -- an unexportable graph leaves PyTorch, as on a first batch
            self.export = {"failed": failure(exc, "export")}
            return
        self.export = {"seconds": round(time.perf_counter() - t0, 2), "reused": reused, "beside_the_run": True}
        for name, prec in self.pairs:
            t = time.perf_counter()
            try:
                self.built[(name, prec)] = (RUNTIMES.get(name).build(runner, example, prec), round(time.perf_counter() - t, 2))
            except Exception as exc:  # noqa: BLE001 -- a runtime that cannot load the graph is left out, with why
                self.built[(name, prec)] = (None, failure(exc))

    def done(self) -> bool:
        """Whether the export and every build have finished (each may have failed)."""
        return not self._thread.is_alive()

    def wait(self) -> float:
        """Wait for the thread to end (a run that ended first: no thread outlives its run, to be
        running when the process forks workers next, as classify does); the seconds waited."""
        t0 = time.perf_counter()
        self._thread.join()
        return time.perf_counter() - t0


class Pending:
    """A runner's choice waiting for its :class:`Preparation`: what the first batch decided
    (``trial``, its report and eager's timing) and what the choice was asked (``context``)."""

    def __init__(self, preparation: Preparation, trial, context):
        self.preparation, self.trial, self.context = preparation, trial, context

    def ready(self, batch) -> bool:
        """Whether the runtimes are ready and ``batch`` is at least as large as the first (a batch
        that lost images to bad files waits for the next)."""
        return self.preparation.done() and batch.shape[0] >= self.trial.batch.shape[0]

    def labels(self) -> list[str]:
        return [label(n, p) for n, p in self.preparation.pairs]
