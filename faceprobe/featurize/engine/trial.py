"""The candidates of one backbone's compile or runtime choice, timed and checked on the run's first batch."""

from __future__ import annotations

import time

import numpy as np

from ...errors import first_line
from .timing import SLICE_REPAY, slice_cost, slice_eager, timed

__all__ = ["Trial", "min_cosine", "CLOSE_CALL", "run_runtime", "try_runtimes", "label", "failure"]

CLOSE_CALL = 1.15
"""A candidate timed within this factor of the best so far is timed a second time (the faster
call kept); one clearly slower or faster is decided on one call."""


def label(name: str, precision: str) -> str:
    """A candidate's name in reports and remembered choices: the runtime, ``-bf16`` where it computes in bf16."""
    return name if precision == "fp32" else f"{name}-{precision}"


def failure(exc: Exception, what: str = "") -> str:
    """Why a candidate failed, on one line: ``[what: ]Type: first line of the message`` (300 characters at most)."""
    return f"{what + ': ' if what else ''}{first_line(exc)}"[:300]


def min_cosine(a: np.ndarray, b: np.ndarray, bounds: list | None = None) -> float:
    """Smallest row-wise cosine similarity of two feature matrices (1.0 for two zero rows).

    With ``bounds`` (column ranges of the outputs of one model: its pooled vector and layers),
    the smallest over every output's own cosine, so each layer is held to the threshold.
    """
    if bounds and len(bounds) > 1:
        return min(min_cosine(a[:, lo:hi], b[:, lo:hi]) for lo, hi in bounds)
    denom = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(denom > 0, (a * b).sum(1) / np.maximum(denom, 1e-30), 1.0)
    return float(cos.min())


class Trial:
    """The candidates of one backbone's choice, timed and checked on the run's first batch."""

    def __init__(self, runner, batch, eager, batches: float, n_images, report: dict, slices: dict | None = None,
                 fp32=None):
        self.runner, self.batch, self.eager, self.batches, self.n_images, self.report = runner, batch, eager, batches, n_images, report
        self.slices = dict(slices or {})  # candidate run in slices -> its slice (0: whole batches), remembered or chosen here
        self.sliced = False  # eager's slices timed
        self.candidates = {"none": report["none"]["seconds_per_batch"]}
        self.built: dict = {}
        self.precision: dict = {}
        self.skipped: dict = {}  # candidate skipped as too long to warm up -> the run time on the best at which it would repay
        self._fp32 = fp32  # eager float32's vectors of the batch where already computed (the precision check)

    def timings(self) -> dict:
        """``{candidate: (seconds_per_batch, warmup_s)}`` of the faithful candidates tried (eager: no warm-up)."""
        out = {}
        for name in self.candidates:
            rep = self.report.get(name, {})
            out[name] = (rep.get("seconds_per_batch", self.candidates[name]), rep.get("warmup_s", 0.0))
        return out

    def fp32(self):
        """Eager PyTorch in float32 on the batch (what runtimes are held to)."""
        if self._fp32 is None:
            if self.runner.precision == "fp32":
                self._fp32 = self.eager
            else:
                kept, self.runner.precision = self.runner.precision, "fp32"
                self._fp32 = self.runner(self.batch)
                self.runner.precision = kept
        return self._fp32

    def best_total(self) -> tuple[str, float]:
        """The fastest faithful candidate so far (eager at first) and the seconds the run's images
        take on it: a candidate whose warm-up alone exceeds them cannot repay it."""
        best = min(self.candidates, key=self.candidates.get)
        return best, self.batches * self.candidates[best]

    def beyond_reach(self, name: str, eager_bound: float) -> bool:
        """Whether ``name``, at ``eager_bound`` times eager's whole-batch speed, would still be no faster
        than the best so far; if so the report says why and it is not tried (by any run: no length repays it)."""
        best = min(self.candidates, key=self.candidates.get)
        whole = self.report["none"].get("seconds_per_batch_whole", self.report["none"]["seconds_per_batch"])
        if whole / eager_bound < self.candidates[best]:
            return False
        on = "eager in slices" if best == "none" else best
        self.report[name] = {"skipped": f"at most {eager_bound:g}x eager ({whole / eager_bound:.3f} s a batch): not faster than "
                                        f"{on} ({self.candidates[best]:.3f} s)"}
        return True

    def recheck_eager(self) -> None:
        """Eager is timed on one call; where that leaves it the best or within ``CLOSE_CALL`` of the
        best, a second call decides (the faster kept), as for every other candidate. A runtime
        clearly faster (onnxruntime at 3.9x eager for efficientnet_lite0 on 2 cores) spares it."""
        best = min(self.candidates, key=self.candidates.get)
        if self.candidates["none"] >= CLOSE_CALL * self.candidates[best]:
            return
        self.runner.set_compiled("none", None)
        secs = timed(self.runner, self.batch, repeats=1)[0]
        if secs < self.candidates["none"]:
            self.candidates["none"] = secs
            self.report["none"]["seconds_per_batch"] = round(secs, 4)

    def slice_eager(self) -> None:
        """Time eager's slices (once) while eager is the fastest faithful candidate and its run is
        long enough to repay the timing (``SLICE_REPAY`` times its estimated cost)."""
        best, total = self.best_total()
        if self.sliced or best != "none":
            return
        if self.n_images is not None and total < SLICE_REPAY * slice_cost(self.batch.shape[0], self.candidates["none"]):
            return
        self.sliced = True
        self.candidates["none"] = slice_eager(self.runner, self.batch, self.candidates["none"], self.report["none"])

    def _slice(self, name: str) -> None:
        """A candidate that runs a batch in slices (OpenVINO's streams) takes its remembered
        slice, or has it chosen on the batch now (timed into its warm-up)."""
        built = self.built[name]
        if not hasattr(built, "choose_slice"):
            return
        if name in self.slices:
            built.slice = self.slices[name] or None
        else:
            built.choose_slice(self.runner.normalise(self.batch).numpy(), repeats=1)
            self.slices[name] = built.slice or 0

    def eager_cosine_to_fp32(self) -> float:
        """Eager PyTorch's own cosine to float32 on the batch, in the precision it computes now."""
        if self.runner.precision == "fp32":
            return 1.0
        return min_cosine(self.fp32(), self.eager, self.runner.backbone.bounds())

    def run(self, name: str, guess: float, build, threshold: float, precision: str, against_fp32: bool = False,
            bound: float = float("inf")) -> None:
        """Build, time and check one candidate, unless its warm-up ``guess`` exceeds what it could
        save at ``bound`` times the speed of the best so far (``inf``: were it instant)."""
        runner = self.runner
        best, best_total = self.best_total()
        break_even = guess / (1.0 - 1.0 / bound)  # the run time on the best so far at which it would repay
        if guess and self.n_images is not None and break_even > best_total:
            on = "eager" if best == "none" else "on " + best
            could = "" if bound == float("inf") else f"; {bound:.3g}x faster would save {best_total * (1 - 1 / bound):.1f} s, less than"
            self.report[name] = {"skipped": f"{self.n_images} images run {best_total:.1f} s {on}{could or ', less than'} "
                                            f"the ~{guess:.0f} s warm-up of {name}"}
            self.skipped[name] = break_even
            return
        t0 = time.perf_counter()
        try:
            self.built[name] = build()
            runner.set_compiled(name, self.built[name])
            first = runner(self.batch)  # the first call compiles (inductor); its vectors are checked before any timing
            cos = min_cosine(self.fp32() if against_fp32 else self.eager, first, runner.backbone.bounds())
            faithful = cos >= threshold  # a candidate the gate refuses is never timed: it cannot be chosen
            if faithful:
                self._slice(name)
            warm = time.perf_counter() - t0
            if faithful:
                secs = timed(runner, self.batch, repeats=1)[0]
                if secs < CLOSE_CALL * self.candidates[best]:  # near the best so far: the faster of two calls decides
                    secs = min(secs, timed(runner, self.batch, repeats=1)[0])
        except Exception as exc:  # exporting, tracing and compiling fail in many ways; eager still works
            self.report[name] = {"failed": failure(exc)}
            runner.set_compiled("none", None)
            return
        finally:
            runner.set_compiled("none", None)
        self.report[name] = {**({"seconds_per_batch": round(secs, 4)} if faithful else {}), "warmup_s": round(warm, 2),
                             "min_cosine": round(cos, 7), "threshold": round(threshold, 7), **getattr(self.built[name], "details", {})}
        if faithful:
            self.candidates[name], self.precision[name] = secs, precision
        else:
            what = "eager float32" if against_fp32 else "eager"
            self.report[name]["rejected"] = f"features differ from {what} (cosine {cos:.6f} < {threshold}); not timed"


def run_runtime(trial: Trial, runner, example, name: str, precision: str, guess: float, explicit: bool = False,
                 built=None) -> None:
    """Build, time and check one runtime in one precision (labelled ``name`` or ``name-bf16``).

    One fidelity rule for every runtime: vectors are held to eager float32 PyTorch at
    :data:`~faceprobe.featurize.engine.runtimes.RUNTIME_COSINE`; under a reduced ``precision`` the
    user asked for (``explicit``), which PyTorch computes whatever its cosine, a runtime computing
    in that precision is held to no more than PyTorch's own cosine on the same batch, so a runtime
    closer to float32 than PyTorch at that precision is never refused in PyTorch's favour.
    ``built``: the runtime as already built (beside the run), else it is built here."""
    from .runtimes import RUNTIME_COSINE, RUNTIMES

    threshold = RUNTIME_COSINE[precision]
    if explicit and precision != "fp32" and runner.precision == precision:
        threshold = min(threshold, trial.eager_cosine_to_fp32())
    build = (lambda: built) if built is not None else (lambda: RUNTIMES.get(name).build(runner, example, precision))
    trial.run(label(name, precision), guess, build, threshold, precision, against_fp32=True)


def try_runtimes(trial: Trial, runner, example, runtime: str, precision: str, only: frozenset | None = None,
                  beside: bool = False) -> tuple[list, str] | None:
    """Export once, then build, time and check every runtime candidate; or, with ``beside`` and an
    export to make, leave them to be prepared beside the run: return the ``(runtime, precision)``
    pairs and the export's state (:class:`~.beside.Preparation` takes them)."""
    from .runtimes import RUNTIMES, runtime_candidates

    pairs, skipped = runtime_candidates(runtime, runner.device.type, precision)
    if only is not None:  # labelled as the trial labels them
        pairs = [(n, p) for n, p in pairs if label(n, p) in only]
    for name, why in skipped.items():
        trial.report[name] = {"skipped": why}
    if not pairs:
        return None
    from .runtimes import EXPORT_GUESS_S, export_path, export_state, exported

    state = export_state(export_path(runner, example))  # hashed once: exported() is given it
    export_guess = 0.0 if state == "ok" else EXPORT_GUESS_S
    if runtime == "auto" and trial.n_images is not None and all(
            RUNTIMES.get(n).warmup_guess_s + export_guess > trial.best_total()[1] for n, _ in pairs):
        for name, prec in pairs:  # too short a run to repay an export: not even exported
            trial.run(label(name, prec), RUNTIMES.get(name).warmup_guess_s + export_guess, None, 1.0, prec)
        return None
    if beside and state != "ok":
        return pairs, state
    t0 = time.perf_counter()  # export once, before any runtime is timed, so no runtime's warm-up carries it
    try:
        _, reused = exported(runner, example, state)
        trial.report["export"] = {"seconds": round(time.perf_counter() - t0, 2), "reused": reused}
    except Exception as exc:  # noqa: BLE001 -- an unexportable graph leaves PyTorch
        trial.report["export"] = {"failed": failure(exc, "export")}
        return None
    for name, prec in pairs:  # the export is made: only loading is left to weigh
        run_runtime(trial, runner, example, name, prec, 0.0 if runtime != "auto" else RUNTIMES.get(name).warmup_guess_s,
                     explicit=precision != "auto")
    return None
