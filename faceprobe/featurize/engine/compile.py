"""Compiled forward graphs: a registry of compile modes, and the choice among them on real data.

Modes: ``none`` (eager PyTorch), ``freeze`` (``torch.jit.trace`` + ``torch.jit.freeze``:
constant folding, conv-batchnorm fusion, oneDNN fused kernels) and ``inductor``
(``torch.compile`` with inductor's freezing: the frozen weights become constants, so
convolutions and batch norms fold and oneDNN gets weights prepacked in its own layout; on the
dev faces this ran efficientnet_lite0 1.5x faster than inductor without freezing. Compiled
kernels are cached on disk by PyTorch, so most of the warm-up is paid once per machine).
A mode is only used when, on the run's first batch of real images, every feature vector stays
within cosine 0.9999 of the eager model's, so rows of any mode can share a feature key.
``auto`` tries a mode only when eager would need longer for the run's images than the mode's
typical warm-up (``WARMUP_GUESS_S``), times each mode that passes and keeps the fastest.
"""

from __future__ import annotations

from contextlib import contextmanager

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...registry import Registry

__all__ = ["COMPILE_MODES", "CompileMode", "COMPILE_COSINE", "choose_compile", "min_cosine"]

COMPILE_COSINE = 0.9999


@dataclass(frozen=True)
class CompileMode:
    """A compile mode.

    Attributes
    ----------
    build : callable (runner, example float batch on the device) -> callable module, or None
        None for ``none`` (eager) and ``auto`` (a choice among the others).
    warmup_guess_s : float
        Typical warm-up; ``auto`` skips a mode whose warm-up would exceed the eager time of
        the whole run (efficientnet_lite0 on 2 CPU cores: freeze 1 s; inductor 7 s with a warm
        kernel cache, 13 s cold).
    description : str
    """

    build: Callable | None
    warmup_guess_s: float = 0.0
    description: str = ""


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


COMPILE_MODES.register("freeze", CompileMode(_freeze, 2.0, "torch.jit.trace + torch.jit.freeze"))
COMPILE_MODES.register("inductor", CompileMode(_inductor, 10.0, "torch.compile with inductor's freezing"))


def _compiled_modes() -> list[str]:
    return [n for n, m in COMPILE_MODES.items() if m.build is not None]


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


def _timed(runner, batch, repeats: int = 2) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = runner(batch)
        best = min(best, time.perf_counter() - t0)
    return best, out


def choose_compile(runner, batch_uint8, mode: str, n_images: int | None = None) -> dict:
    """Set ``runner.compiled`` to the mode to use for the rest of the run; return a report.

    Parameters
    ----------
    runner : FeatureRunner
    batch_uint8 : tensor (n, 3, H, W)
        A batch of real images (the run's first).
    mode : str
        ``none``, ``freeze``, ``inductor`` or ``auto``.
    n_images : int or None, default=None
        Images the run will forward; with ``auto``, a mode whose typical warm-up exceeds the
        eager time for them is not tried. None: try every mode.

    Returns
    -------
    dict
        ``mode`` (the one used), and per tried mode its ``seconds_per_batch``, ``warmup_s``,
        ``min_cosine`` to eager, or ``failed`` / ``rejected`` / ``skipped`` with the reason.
    """
    import torch

    COMPILE_MODES.check(mode)
    report: dict = {"requested": mode}
    runner.set_compiled("none", None)
    if mode == "none":
        report["mode"] = "none"
        return report
    if not runner.backbone.graph:
        report.update(mode="none", skipped="not a PyTorch graph")
        return report
    eager_s, eager = _timed(runner, batch_uint8)
    report["none"] = {"seconds_per_batch": round(eager_s, 4)}
    candidates = {"none": eager_s}
    example = runner.normalise(batch_uint8[: runner.pad_to])
    if example.shape[0] < runner.pad_to:  # trace and compile at the one batch shape used later
        example = torch.cat([example, example[-1:].expand(runner.pad_to - example.shape[0], *example.shape[1:])])
    built = {}
    eager_total = eager_s * (n_images or 0) / max(1, batch_uint8.shape[0])
    for name in (_compiled_modes() if mode == "auto" else [mode]):
        guess = COMPILE_MODES.get(name).warmup_guess_s
        if mode == "auto" and n_images is not None and guess > eager_total:
            report[name] = {"skipped": f"{n_images} images run {eager_total:.1f} s eager, less than the "
                                       f"~{guess:.0f} s warm-up of {name}"}
            continue
        t0 = time.perf_counter()
        try:
            built[name] = COMPILE_MODES.get(name).build(runner, example)
            runner.set_compiled(name, built[name])
            runner(batch_uint8)  # the first call compiles (inductor)
            warm = time.perf_counter() - t0
            secs, out = _timed(runner, batch_uint8)
        except Exception as exc:  # tracing and compiling fail in many ways; eager still works
            report[name] = {"failed": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
            runner.set_compiled("none", None)
            continue
        cos = min_cosine(eager, out, runner.backbone.bounds())
        report[name] = {"seconds_per_batch": round(secs, 4), "warmup_s": round(warm, 2), "min_cosine": round(cos, 7)}
        if cos >= COMPILE_COSINE:
            candidates[name] = secs
        else:
            report[name]["rejected"] = f"features differ from eager (cosine {cos:.6f} < {COMPILE_COSINE})"
        runner.set_compiled("none", None)
    if mode == "auto":
        best = min(candidates, key=candidates.get)
    else:  # an explicit mode is honoured whenever it works and is faithful
        best = mode if mode in candidates else "none"
    if best != "none":
        runner.set_compiled(best, built[best])
    report["mode"] = best
    return report
