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
warm-up (``warmup_guess_s``), and only while the best so far is slower than the most the mode is
expected to beat eager by (``eager_bound``); it times each candidate that passes and keeps the fastest.
"""

from __future__ import annotations

from contextlib import contextmanager

from dataclasses import dataclass
from typing import Callable

from ...registry import Registry

__all__ = ["COMPILE_MODES", "CompileMode", "COMPILE_COSINE", "choose_compile", "finish_prepared", "min_cosine"]

from .choices import (choice_key, recall_choice, recall_retry, recall_slice, recall_slices, recall_speedups,  # noqa: E402  (the remembered choices)
                      remember_choice, remember_speedups, remember_warmup)
from .timing import timed  # noqa: E402
from .trial import Trial, label, min_cosine, run_runtime, try_runtimes  # noqa: E402  (timing and checking one choice's candidates)

COMPILE_COSINE = 0.9999
LEARNED_MARGIN = 1.5
"""A compiled mode is expected to beat the best other candidate by at most this many times the
best speed-up it showed on this machine before (on any backbone): measured on 2 AMD EPYC cores,
inductor ran at 0.94x OpenVINO bf16 for resnet50 after a 10 s compile, freeze at 0.78x."""
LEARNED_FLOOR = 1.1
"""The least such bound: a mode that lost everywhere measured is still tried on a run long enough
(ten times its warm-up or more) to repay it at 1.1x."""
BESIDE_BATCHES = 4
"""A first ``auto`` run prepares its runtimes beside the run (:mod:`.beside`) only where it has at
least this many batches: one for the first-batch checks, then enough for the preparation to finish
before the run does."""


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
    eager_bound : float
        The most it is expected to beat eager PyTorch in whole batches: ``auto`` skips it where the
        best candidate so far is already faster than that (a runtime three times eager's speed
        leaves a compiled graph nothing to win). Both compiled modes: 2.5 (measured: 1.6x and 1.8x).
    """

    build: Callable | None
    warmup_guess_s: float = 0.0
    description: str = ""
    speedup_bound: float = float("inf")
    eager_bound: float = float("inf")


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


COMPILE_MODES.register("freeze", CompileMode(_freeze, 2.0, "torch.jit.trace + torch.jit.freeze", speedup_bound=2.0,
                                                     eager_bound=2.5))
COMPILE_MODES.register("inductor", CompileMode(_inductor, 10.0, "torch.compile with inductor's freezing",
                                                         speedup_bound=2.0, eager_bound=2.5))


def _compiled_modes() -> list[str]:
    return [n for n, m in COMPILE_MODES.items() if m.build is not None]


def warmup_guesses() -> dict:
    """Every candidate's guessed warm-up and speed-up bound (what a remembered choice is keyed by)."""
    from .runtimes import EXPORT_GUESS_S, RUNTIMES

    return {"export": EXPORT_GUESS_S, **{n: m.warmup_guess_s for n, m in [*COMPILE_MODES.items(), *RUNTIMES.items()]},
            "bounds": {n: m.speedup_bound for n, m in COMPILE_MODES.items() if m.speedup_bound != float("inf")},
            "eager_bounds": {n: m.eager_bound for n, m in COMPILE_MODES.items() if m.eager_bound != float("inf")}}


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
    checked = runner.checked_on(batch_uint8)  # the precision check's passes over this batch, where it made them
    if recalled is not None:  # a remembered choice needs eager's vectors on this batch (the check's, if made), not its time
        runner.chunk = recall_slice(key)  # in eager's remembered slices: 1.6x faster than whole here
        cold_s, eager = checked.get(runner.precision) or timed(runner, batch_uint8, repeats=1)
        report["none"] = {"seconds_per_batch": round(cold_s, 4), "one_call": True}  # not remembered: no timing
        trial = Trial(runner, batch_uint8, eager, batches, n_images, report, slices=recall_slices(key),
                      fp32=checked.get("fp32", (0, None))[1])
        if _try_recalled(trial, runner, example, recalled, precision):
            if recalled != "none":  # its warm-up now (an export loaded, not made); its speed as timed beside the others
                remember_warmup(key, recalled, trial.timings()[recalled][1], slices=trial.slices)
            report["remembered"] = True  # the choice timed on an earlier run here, checked again on this batch
            return _use(runner, trial, recalled, report)
    only = recall_retry(key, batches) if key else None  # a longer run than the one remembered: its best and what it skipped
    return _time_candidates(runner, batch_uint8, example, torch_modes, report, mode=mode, runtime=runtime, precision=precision,
                            key=key, auto=auto, n_images=n_images, only=only, checked=checked)


@dataclass(frozen=True)
class _Asked:
    """What one backbone's choice was asked, kept for its conclusion (on a later batch where the
    runtimes are prepared beside the run)."""

    example: object
    torch_modes: tuple
    mode: str
    runtime: str
    precision: str
    key: str | None
    auto: bool


def _time_candidates(runner, batch_uint8, example, torch_modes: list, report: dict, *, mode: str, runtime: str, precision: str,
                     key: str | None, auto: bool, n_images: int | None, only: frozenset | None, checked: dict | None = None) -> dict:
    """Time eager, the runtimes and the compiled modes on the first batch (of those, only the
    names in ``only`` where it is given), keep the fastest faithful one (``auto``) or the one
    asked for, and remember what was timed under ``key``. A first ``auto`` run on the CPU that
    must export starts on eager instead, the runtimes prepared beside it (``runner.preparing``;
    :func:`finish_prepared` concludes). ``checked``: eager's passes over the batch made by the
    precision check (``{precision: (seconds, vectors)}``): its float32 vectors are the reference
    the runtimes are held to, not computed again; eager is still timed here, since the check's
    calls were the model's first (cold)."""
    batches = (n_images or 0) / max(1, batch_uint8.shape[0])
    runner.chunk = None  # whole batches first (a remembered slice that failed here included)
    checked = checked or {}
    eager_s, eager = timed(runner, batch_uint8, repeats=1)  # a second call only where eager comes close (Trial.recheck_eager)
    report["none"] = {"seconds_per_batch": round(eager_s, 4)}
    trial = Trial(runner, batch_uint8, eager, batches, n_images, report, slices=recall_slices(key),
                  fp32=checked.get("fp32", (0, None))[1])
    if only is not None:
        report["retimed"] = sorted(only)  # the others, slower than the best there, as remembered
        torch_modes = [name for name in torch_modes if name in only]
    asked = _Asked(example, tuple(torch_modes), mode, runtime, precision, key, auto)
    if runtime != "torch":  # first: one export serves every runtime, whose warm-ups are the shortest
        beside = auto and only is None and runner.device.type == "cpu" and batches >= BESIDE_BATCHES
        to_prepare = try_runtimes(trial, runner, example, runtime, precision, only, beside=beside)
        if to_prepare is not None:
            from .beside import Pending, Preparation

            runner.preparing = Pending(Preparation(runner, example, *to_prepare), trial, asked)
            report["preparing"] = runner.preparing.labels()
            return _use(runner, trial, "none", report)
    return _conclude(runner, trial, asked)


def _conclude(runner, trial: "Trial", asked: _Asked) -> dict:
    """After the runtimes: eager's slices and the compiled modes where they could still win, then
    the fastest faithful candidate (``auto``) or the one asked for, remembered under the key."""
    if asked.auto:
        trial.recheck_eager()
    trial.slice_eager()  # where eager is still the best: what compiled modes must beat, and what eager runs in
    for name in asked.torch_modes:  # only auto weighs a warm-up against the run; an explicit choice is tried
        spec = COMPILE_MODES.get(name)
        if asked.mode == "auto" and trial.beyond_reach(name, spec.eager_bound):
            continue
        bound, why = learned_bound(runner, name, spec.speedup_bound) if asked.mode == "auto" else (spec.speedup_bound, "")
        trial.run(name, spec.warmup_guess_s if asked.mode == "auto" else 0.0,
                  lambda n=name: COMPILE_MODES.get(n).build(runner, asked.example), COMPILE_COSINE, runner.precision, bound=bound)
        if why:
            trial.report[name]["bound"] = why
    if asked.mode == "auto":
        remember_speedups(runner, _speedups(trial))
    wanted = asked.mode if asked.runtime == "torch" else asked.runtime
    best = min(trial.candidates, key=trial.candidates.get) if asked.auto else next(
        (c for c in trial.candidates if c.split("-")[0] == wanted), "none")  # an explicit choice is honoured when it works and is faithful
    if asked.key:  # with the candidates a short run skipped: a longer run tries them
        remember_choice(asked.key, trial.timings(), trial.skipped, eager_slice=(runner.chunk or 0) if trial.sliced else None,
                        slices=trial.slices)
    return _use(runner, trial, best, trial.report)


def learned_bound(runner, mode: str, declared: float) -> tuple[float, str]:
    """The most compiled ``mode`` is expected to beat the best other candidate by, for ``auto``'s
    warm-up check, and why: ``LEARNED_MARGIN`` times the best speed-up this machine measured for it
    on any backbone (at least ``LEARNED_FLOOR``, at most ``declared``); ``declared`` ("") where
    nothing was measured here yet."""
    seen = recall_speedups(runner, mode)
    if not seen:
        return declared, ""
    backbone = max(seen, key=seen.get)
    bound = max(LEARNED_FLOOR, min(declared, LEARNED_MARGIN * seen[backbone]))
    return bound, (f"{bound:.2f}x: {LEARNED_MARGIN:g} times the best {mode} measured on this machine "
                   f"({seen[backbone]:.2f}x the best other candidate, {backbone}; {len(seen)} backbone{'s' * (len(seen) > 1)})")


def _speedups(trial: "Trial") -> dict:
    """Each faithful compiled mode timed here: the best other candidate's seconds per batch over its own."""
    compiled = set(_compiled_modes())
    others = [s for n, s in trial.candidates.items() if n not in compiled]
    return {n: min(others) / s for n, s in trial.candidates.items() if n in compiled and s > 0 and others}


def finish_prepared(runner, batch_uint8, images_left: int) -> dict | None:
    """Conclude a choice whose runtimes were prepared beside the run, on ``batch_uint8`` (a whole
    batch of real faces), once they are ready: eager's vectors of the batch are the reference and
    its second timing, each runtime is timed and held to the fidelity gate as on a first batch,
    then the choice concludes as there (:func:`_conclude`) for the ``images_left``. Returns the
    choice's report (a copy; ``mode`` the one used from now on), or None while not ready."""
    import copy

    pending = runner.preparing
    if pending is None or not pending.ready(batch_uint8):
        return None
    runner.preparing = None
    report, asked, prep = copy.deepcopy(pending.trial.report), pending.context, pending.preparation
    eager_s, eager = timed(runner, batch_uint8, repeats=1)  # eager's vectors of this batch: what the runtimes are held to
    first = report["none"]["seconds_per_batch"] if batch_uint8.shape[0] == pending.trial.batch.shape[0] else eager_s
    report["none"]["seconds_per_batch"] = round(min(first, eager_s), 4)  # the faster of two calls on like batches
    trial = Trial(runner, batch_uint8, eager, images_left / batch_uint8.shape[0], images_left, report, slices=pending.trial.slices)
    report["export"] = prep.export
    for (name, prec), (built, how) in prep.built.items():
        if built is None:
            report[label(name, prec)] = {"failed": how}
            continue
        run_runtime(trial, runner, asked.example, name, prec, 0.0, explicit=asked.precision != "auto", built=built)
        report[label(name, prec)]["built_beside_s"] = how
    report.pop("preparing", None)
    report["prepared_beside"] = pending.labels()
    return _conclude(runner, trial, asked)


def _use(runner, trial: "Trial", best: str, report: dict) -> dict:
    """Set the runner to the chosen candidate (eager: as it is); the report, with ``mode`` said."""
    if best != "none":
        runner.set_compiled(best, trial.built[best])
        runner.precision = trial.precision.get(best, runner.precision)
    report["mode"] = best
    return report


def _try_recalled(trial: "Trial", runner, example, name: str, precision: str) -> bool:
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
        run_runtime(trial, runner, example, base, prec, 0.0, explicit=precision != "auto")
    return name in trial.candidates
