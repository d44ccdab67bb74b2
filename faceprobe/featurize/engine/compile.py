"""Compiled forward graphs: a registry of compile modes, and the choice among them on real data.

Modes: ``none`` (eager PyTorch), ``freeze`` (``torch.jit.trace`` + ``torch.jit.freeze``:
constant folding, conv-batchnorm fusion, oneDNN fused kernels) and ``inductor``
(``torch.compile`` with inductor's freezing: the frozen weights become constants, so
convolutions and batch norms fold and oneDNN gets weights prepacked in its own layout; on the
dev faces this ran efficientnet_lite0 1.5x faster than inductor without freezing. Compiled
kernels are cached on disk by PyTorch, so most of the warm-up is paid once per machine).
A mode is only used when, on the run's first batch of real images, every feature vector stays
within cosine 0.9999 of the eager model's, so rows of any mode can share a feature key.
``auto`` tries the runtimes first, then a mode only when, at twice the speed of the best
candidate so far (``speedup_bound``), the run's images would save more than the mode's typical
warm-up (``warmup_guess_s``); it times each candidate that passes and keeps the fastest.
"""

from __future__ import annotations

from contextlib import contextmanager

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...registry import Registry

__all__ = ["COMPILE_MODES", "CompileMode", "COMPILE_COSINE", "choose_compile", "min_cosine"]

from .choices import choice_key, recall_choice, recall_retry, recall_slice, remember_choice  # noqa: E402  (the remembered choices)
from .timing import SLICE_REPAY, slice_cost, slice_eager, timed  # noqa: E402

COMPILE_COSINE = 0.9999
CLOSE_CALL = 1.15
"""A candidate timed within this factor of the best so far is timed a second time (the faster
call kept); one clearly slower or faster is decided on one call."""


@dataclass(frozen=True)
class CompileMode:
    """A compile mode.

    Attributes
    ----------
    build : callable (runner, example float batch on the device) -> callable module, or None
        None for ``none`` (eager) and ``auto`` (a choice among the others).
    warmup_guess_s : float
        Typical warm-up (efficientnet_lite0 on 2 CPU cores: freeze 1 s; inductor 7 s with a warm
        kernel cache, 10 to 13 s cold).
    description : str
    speedup_bound : float
        The most it is expected to beat the fastest faithful candidate tried before it (runtimes
        and eager, sliced where faster): ``auto`` skips it when the time it would save at that
        speed-up is less than its warm-up. Both compiled modes: 2 (measured on 2 AMD EPYC cores,
        efficientnet_lite0: freeze 1.6x and inductor 1.8x eager in whole batches, both slower than
        eager in slices and than onnxruntime and OpenVINO; no measurement here has shown either
        twice as fast as the best candidate before it). An explicit ``compile`` is always tried.
    """

    build: Callable | None
    warmup_guess_s: float = 0.0
    description: str = ""
    speedup_bound: float = float("inf")


COMPILE_MODES: Registry[CompileMode] = Registry("compile mode", "compile")
COMPILE_MODES.register("none", CompileMode(None, 0.0, "eager PyTorch"))
COMPILE_MODES.register("auto", CompileMode(None, 0.0, "times the compiled modes on the first batch and keeps the fastest "
                                                       f"whose features match eager (cosine >= {COMPILE_COSINE})"))


def _freeze(runner, example):
    import warnings

    import torch

    with torch.inference_mode(), runner.autocast(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.compile; it still runs
        traced = torch.jit.trace(runner.model, example, check_trace=False)
        return torch.jit.freeze(traced.eval())


def _inductor(runner, example):
    import torch
    from torch._inductor import config

    compiled = torch.compile(runner.model, dynamic=False)

    def run(x):
        # compiling happens on the first call (and on any recompile), so the option must hold
        # there; torch.compile(options={"freezing": True}) did not freeze (measured: no speed-up)
        with config.patch(freezing=True), _quiet_cuda_home():
            return compiled(x)

    return run


@contextmanager
def _quiet_cuda_home():
    """Hide the warning inductor's code generation logs on a CPU-only machine ("No CUDA runtime
    is found, using CUDA_HOME=...": irrelevant to a CPU run), for this call only."""
    import logging

    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


COMPILE_MODES.register("freeze", CompileMode(_freeze, 2.0, "torch.jit.trace + torch.jit.freeze", speedup_bound=2.0))
COMPILE_MODES.register("inductor", CompileMode(_inductor, 10.0, "torch.compile with inductor's freezing", speedup_bound=2.0))


def _compiled_modes() -> list[str]:
    return [n for n, m in COMPILE_MODES.items() if m.build is not None]


def warmup_guesses() -> dict:
    """Every candidate's guessed warm-up and speed-up bound (what a remembered choice is keyed by)."""
    from .runtimes import EXPORT_GUESS_S, RUNTIMES

    return {"export": EXPORT_GUESS_S, **{n: m.warmup_guess_s for n, m in [*COMPILE_MODES.items(), *RUNTIMES.items()]},
            "bounds": {n: m.speedup_bound for n, m in COMPILE_MODES.items() if m.speedup_bound != float("inf")}}


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


def choose_compile(runner, batch_uint8, mode: str, n_images: int | None = None, *, runtime: str = "torch",
                   precision: str = "auto") -> dict:
    """Set ``runner.compiled`` to the mode or runtime to use for the rest of the run; return a report.

    Parameters
    ----------
    runner : FeatureRunner
    batch_uint8 : tensor (n, 3, H, W)
        A batch of real images (the run's first).
    mode : str
        ``none``, ``freeze``, ``inductor`` or ``auto`` (PyTorch's compiled graphs).
    n_images : int or None, default=None
        Images the run will forward; with ``auto``, a candidate whose typical warm-up exceeds
        the time they take on the fastest faithful candidate found so far (eager at first) is not
        tried: it could not repay its warm-up even were it instant. Runtimes are tried before
        PyTorch's compiled graphs (one export serves them all; inductor's compile is the longest
        warm-up). None: try every candidate.
    runtime : str, default="torch"
        ``torch``, ``onnxruntime``, ``openvino`` or ``auto``
        (:data:`~faceprobe.featurize.engine.runtimes.RUNTIMES`): other runtimes are candidates
        too, held to :data:`~faceprobe.featurize.engine.runtimes.RUNTIME_COSINE` of eager float32.
    precision : str, default="auto"
        The run's requested precision: which precisions a runtime may compute in.

    Returns
    -------
    dict
        ``mode`` (the one used: a compile mode, or a runtime such as ``onnxruntime`` or
        ``openvino-bf16``), and per tried candidate its ``seconds_per_batch``, ``warmup_s``,
        ``min_cosine`` to eager, or ``failed`` / ``rejected`` / ``skipped`` with the reason.
    """
    import torch

    COMPILE_MODES.check(mode)
    if runtime == "auto" and mode != "auto":
        runtime = "torch"  # an explicit compile mode (none included) is a choice of PyTorch
    report: dict = {"requested": mode if runtime == "torch" else f"{mode}, runtime {runtime}"}
    runner.set_compiled("none", None)
    torch_modes = (_compiled_modes() if mode == "auto" else [] if mode == "none" else [mode]) if runtime in ("auto", "torch") else []
    if not runner.backbone.graph or (not torch_modes and runtime == "torch"):
        report.update(mode="none", **({} if runner.backbone.graph else {"skipped": "not a PyTorch graph"}))
        return report
    auto = runtime == "auto" or (runtime == "torch" and mode == "auto")  # an explicit runtime is honoured
    key = choice_key(runner, batch_uint8, mode, runtime, precision, warmup_guesses()) if auto else None
    batches = -(-(n_images or batch_uint8.shape[0]) // max(1, batch_uint8.shape[0]))
    recalled = recall_choice(key, batches) if key else None
    example = runner.normalise(batch_uint8[: runner.pad_to])
    if example.shape[0] < runner.pad_to:  # trace and compile at the one batch shape used later
        example = torch.cat([example, example[-1:].expand(runner.pad_to - example.shape[0], *example.shape[1:])])
    if recalled is not None:  # a remembered choice needs eager's vectors on this batch, not its time
        runner.chunk = recall_slice(key)  # in eager's remembered slices: 1.6x faster than whole here
        cold_s, eager = timed(runner, batch_uint8, repeats=1)
        report["none"] = {"seconds_per_batch": round(cold_s, 4), "one_call": True}  # not remembered: no timing
        trial = _Trial(runner, batch_uint8, eager, batches, n_images, report)
        if _try_recalled(trial, runner, example, recalled, precision):
            if recalled != "none":  # its warm-up now (an export loaded, not made)
                remember_choice(key, {recalled: trial.timings()[recalled]})
            report["remembered"] = True  # the choice timed on an earlier run here, checked again on this batch
            return _use(runner, trial, recalled, report)
    only = recall_retry(key, batches) if key else None  # a longer run than the one remembered: its best and what it skipped
    return _time_candidates(runner, batch_uint8, example, torch_modes, report, mode=mode, runtime=runtime, precision=precision,
                            key=key, auto=auto, n_images=n_images, only=only)


def _time_candidates(runner, batch_uint8, example, torch_modes: list, report: dict, *, mode: str, runtime: str, precision: str,
                     key: str | None, auto: bool, n_images: int | None, only: frozenset | None) -> dict:
    """Time eager, the runtimes and the compiled modes on the first batch (of those, only the
    names in ``only`` where it is given), keep the fastest faithful one (``auto``) or the one
    asked for, and remember what was timed under ``key``."""
    batches = (n_images or 0) / max(1, batch_uint8.shape[0])
    runner.chunk = None  # whole batches first (a remembered slice that failed here included)
    eager_s, eager = timed(runner, batch_uint8)
    report["none"] = {"seconds_per_batch": round(eager_s, 4)}
    trial = _Trial(runner, batch_uint8, eager, batches, n_images, report)
    if only is not None:
        report["retimed"] = sorted(only)  # the others, slower than the best there, as remembered
        torch_modes = [name for name in torch_modes if name in only]
    if runtime != "torch":  # first: one export serves every runtime, whose warm-ups are the shortest
        _try_runtimes(trial, runner, example, runtime, precision, only)
    trial.slice_eager()  # where eager is still the best: what compiled modes must beat, and what eager runs in
    for name in torch_modes:  # only auto weighs a warm-up against the run; an explicit choice is tried
        spec = COMPILE_MODES.get(name)
        trial.run(name, spec.warmup_guess_s if mode == "auto" else 0.0,
                  lambda n=name: COMPILE_MODES.get(n).build(runner, example), COMPILE_COSINE, runner.precision, bound=spec.speedup_bound)
    wanted = mode if runtime == "torch" else runtime
    best = min(trial.candidates, key=trial.candidates.get) if auto else next(
        (c for c in trial.candidates if c.split("-")[0] == wanted), "none")  # an explicit choice is honoured when it works and is faithful
    if key:  # with the candidates a short run skipped: a longer run tries them
        remember_choice(key, trial.timings(), trial.skipped, eager_slice=(runner.chunk or 0) if trial.sliced else None)
    return _use(runner, trial, best, report)


def _use(runner, trial: "_Trial", best: str, report: dict) -> dict:
    """Set the runner to the chosen candidate (eager: as it is); the report, with ``mode`` said."""
    if best != "none":
        runner.set_compiled(best, trial.built[best])
        runner.precision = trial.precision.get(best, runner.precision)
    report["mode"] = best
    return report


def _try_recalled(trial: "_Trial", runner, example, name: str, precision: str) -> bool:
    """Build and check only the remembered candidate; whether it is faithful on this batch."""
    if name == "none":
        return True
    base, _, prec = name.partition("-")
    if base in COMPILE_MODES:
        trial.run(name, 0.0, lambda: COMPILE_MODES.get(name).build(runner, example), COMPILE_COSINE, runner.precision)
    else:
        from .runtimes import RUNTIMES

        prec = prec or "fp32"
        if base not in RUNTIMES or RUNTIMES.get(base).missing(runner.device.type) or (precision not in ("auto", prec)):
            return False
        _run_runtime(trial, runner, example, base, prec, 0.0, explicit=precision != "auto")
    return name in trial.candidates


def _run_runtime(trial: "_Trial", runner, example, name: str, precision: str, guess: float, explicit: bool = False) -> None:
    """Build, time and check one runtime in one precision (labelled ``name`` or ``name-bf16``).

    One fidelity rule for every runtime: vectors are held to eager float32 PyTorch at
    :data:`~faceprobe.featurize.engine.runtimes.RUNTIME_COSINE`; under a reduced ``precision`` the
    user asked for (``explicit``), which PyTorch computes whatever its cosine, a runtime computing
    in that precision is held to no more than PyTorch's own cosine on the same batch, so a runtime
    closer to float32 than PyTorch at that precision is never refused in PyTorch's favour."""
    from .runtimes import RUNTIME_COSINE, RUNTIMES

    label = name if precision == "fp32" else f"{name}-{precision}"
    threshold = RUNTIME_COSINE[precision]
    if explicit and precision != "fp32" and runner.precision == precision:
        threshold = min(threshold, trial.eager_cosine_to_fp32())
    trial.run(label, guess, lambda: RUNTIMES.get(name).build(runner, example, precision), threshold, precision,
              against_fp32=True)


def _try_runtimes(trial: "_Trial", runner, example, runtime: str, precision: str, only: frozenset | None = None) -> None:
    from .runtimes import RUNTIMES, runtime_candidates

    pairs, skipped = runtime_candidates(runtime, runner.device.type, precision)
    if only is not None:  # labelled as the trial labels them
        pairs = [(n, p) for n, p in pairs if (n if p == "fp32" else f"{n}-{p}") in only]
    for name, why in skipped.items():
        trial.report[name] = {"skipped": why}
    if not pairs:
        return
    from .runtimes import EXPORT_GUESS_S, export_path, export_state, exported

    state = export_state(export_path(runner, example))  # hashed once: exported() is given it
    export_guess = 0.0 if state == "ok" else EXPORT_GUESS_S
    if runtime == "auto" and trial.n_images is not None and all(
            RUNTIMES.get(n).warmup_guess_s + export_guess > trial.best_total()[1] for n, _ in pairs):
        for name, prec in pairs:  # too short a run to repay an export: not even exported
            trial.run(name if prec == "fp32" else f"{name}-{prec}", RUNTIMES.get(name).warmup_guess_s + export_guess, None, 1.0, prec)
        return
    t0 = time.perf_counter()  # export once, before any runtime is timed, so no runtime's warm-up carries it
    try:
        _, reused = exported(runner, example, state)
        trial.report["export"] = {"seconds": round(time.perf_counter() - t0, 2), "reused": reused}
    except Exception as exc:  # noqa: BLE001 -- an unexportable graph leaves PyTorch
        trial.report["export"] = {"failed": f"export: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
        return
    for name, prec in pairs:  # the export is made: only loading is left to weigh
        _run_runtime(trial, runner, example, name, prec, 0.0 if runtime != "auto" else RUNTIMES.get(name).warmup_guess_s,
                     explicit=precision != "auto")


class _Trial:
    """The candidates of one backbone's choice, timed and checked on the run's first batch."""

    def __init__(self, runner, batch, eager, batches: float, n_images, report: dict):
        self.runner, self.batch, self.eager, self.batches, self.n_images, self.report = runner, batch, eager, batches, n_images, report
        self.sliced = False  # eager's slices timed
        self.candidates = {"none": report["none"]["seconds_per_batch"]}
        self.built: dict = {}
        self.precision: dict = {}
        self.skipped: dict = {}  # candidate skipped as too long to warm up -> the run time on the best at which it would repay
        self._fp32 = None

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
            could = "" if bound == float("inf") else f"; {bound:g}x faster would save {best_total * (1 - 1 / bound):.1f} s, less than"
            self.report[name] = {"skipped": f"{self.n_images} images run {best_total:.1f} s {on}{could or ', less than'} "
                                            f"the ~{guess:.0f} s warm-up of {name}"}
            self.skipped[name] = break_even
            return
        t0 = time.perf_counter()
        try:
            self.built[name] = build()
            runner.set_compiled(name, self.built[name])
            runner(self.batch)  # the first call compiles (inductor)
            warm = time.perf_counter() - t0
            secs, out = timed(runner, self.batch, repeats=1)
            if secs < CLOSE_CALL * self.candidates[best]:  # near the best so far: the faster of two calls decides
                secs = min(secs, timed(runner, self.batch, repeats=1)[0])
        except Exception as exc:  # exporting, tracing and compiling fail in many ways; eager still works
            self.report[name] = {"failed": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
            runner.set_compiled("none", None)
            return
        finally:
            runner.set_compiled("none", None)
        cos = min_cosine(self.fp32() if against_fp32 else self.eager, out, runner.backbone.bounds())
        self.report[name] = {"seconds_per_batch": round(secs, 4), "warmup_s": round(warm, 2), "min_cosine": round(cos, 7),
                             "threshold": round(threshold, 7)}
        if cos >= threshold:
            self.candidates[name], self.precision[name] = secs, precision
        else:
            what = "eager float32" if against_fp32 else "eager"
            self.report[name]["rejected"] = f"features differ from {what} (cosine {cos:.6f} < {threshold})"
