"""Engines: the implementations a head can run on (scikit-learn, oneDAL, cuML), one registry.

scikit-learn is the reference and always there. An accelerated engine is an extra
(``faceprobe[fast]``: oneDAL through scikit-learn-intelex on the CPU; ``faceprobe[gpu]``: cuML
on a CUDA GPU). A head declares, in its registry entry (``engines``), an :class:`EngineBuild`
per accelerated engine it may run on, with the parameter values that engine was tested
faithful for (``accepts``); any other head or parameter value stays on scikit-learn, and the
results say so. ``auto`` takes, per head, the engine its calibration on this machine timed
fastest (:mod:`.calibrate`); without a calibration (a head evaluated outside
:func:`~faceprobe.classify.evaluate.evaluate` or ``fit``), the highest-ranked usable one.

Nothing here imports an engine's package until an engine is asked about; classify never
imports torch.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Callable

from ...errors import OptionError, first_line
from ...registry import Registry

__all__ = ["Engine", "EngineBuild", "ENGINES", "ENGINE_CHOICES", "EngineChoice", "engine_status", "choose_engine",
           "check_engine", "engine_provenance", "watch_fallback"]


@dataclass(frozen=True)
class Engine:
    """One implementation of heads.

    Attributes
    ----------
    name : str
    module : str
        The module whose import says the engine is installed (``sklearnex``).
    distributions : tuple of str
        Package names whose installed version is recorded (the first one found).
    install : str
        How to install it, for messages.
    device : str
        ``cpu`` or ``cuda``.
    rank : int
        ``auto`` prefers higher ranks.
    description : str
    ready : callable () -> str or None, optional
        Why the installed engine cannot run here (no CUDA device), or None.
    """

    name: str
    module: str
    distributions: tuple
    install: str
    device: str
    rank: int
    description: str
    ready: Callable[[], "str | None"] | None = None


@dataclass(frozen=True)
class EngineBuild:
    """How a head runs on an accelerated engine.

    Attributes
    ----------
    build : callable (params: dict, seed: int, cores: int) -> estimator
        An unfitted classifier with scikit-learn's interface (``fit``, ``predict``,
        ``classes_``, ``decision_function`` or ``predict_proba``), using ``cores`` threads.
    accepts : callable (params: dict) -> str or None
        Why these parameter values stay on scikit-learn (not supported, or not faithful to
        it in the tests), or None when the engine takes them.
    """

    build: Callable
    accepts: Callable[[dict], "str | None"] = lambda p: None


def _cuda_ready() -> str | None:
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
        return "no CUDA device is visible"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the driver means: not here
        return f"no usable CUDA device ({type(exc).__name__})"


ENGINES: Registry[Engine] = Registry("engine", "engine")
ENGINES.register("sklearn", Engine("sklearn", "sklearn", ("scikit-learn",), "pip install scikit-learn", "cpu", 0,
                                   "scikit-learn, the reference (always installed)"))
ENGINES.register("onedal", Engine("onedal", "sklearnex", ("scikit-learn-intelex",), "pip install 'faceprobe[fast]'", "cpu", 1,
                                  "oneDAL through scikit-learn-intelex on the CPU (the fast extra)"))
ENGINES.register("cuml", Engine("cuml", "cuml", ("cuml-cu12", "cuml-cu13", "cuml"), "pip install 'faceprobe[gpu]'", "cuda", 2,
                                "RAPIDS cuML on a CUDA GPU (the gpu extra)", ready=_cuda_ready))

ENGINE_CHOICES = ("auto",) + tuple(ENGINES.names())
"""What ``engine`` takes: ``auto`` or a registered engine."""


def _version(engine: Engine) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in engine.distributions:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return getattr(importlib.import_module(engine.module), "__version__", None)


def engine_status(name: str) -> tuple[str | None, str | None]:
    """``(version, None)`` for a usable engine, ``(None, why)`` otherwise (not installed, no device)."""
    engine = ENGINES.get(name)
    try:
        importlib.import_module(engine.module)
    except Exception as exc:  # noqa: BLE001 - a broken install is as unusable as a missing one
        if isinstance(exc, ModuleNotFoundError):
            return None, f"not installed: {engine.install}"
        return None, (f"installed, but it cannot be loaded in this process ({first_line(exc)}); another library "
                      f"loaded first may hold an older copy of a library it needs: run it in a fresh process (to reinstall: {engine.install})")
    why = engine.ready() if engine.ready is not None else None
    if why:
        return None, why
    return _version(engine), None


@dataclass(frozen=True)
class EngineChoice:
    """The engine a head runs on for one parameter combination, and why when not the requested one."""

    name: str
    version: str | None
    note: str = ""


def check_engine(requested: str, heads: dict, known: dict | None = None) -> dict[str, tuple]:
    """Refuse an engine that cannot run, before any work; returns the usable engines' status.

    Parameters
    ----------
    requested : str
        ``auto`` or an engine name.
    heads : dict of str -> HeadSpec
        The selected heads.
    known : dict of str -> HeadSpec, optional
        Every registered head, to name those that run on an engine none of ``heads`` runs on.

    Returns
    -------
    dict of str -> (version, why)
        Every engine's status (``auto`` considers every usable one).

    Raises
    ------
    OptionError
        An unknown engine, one that is not usable here, or one no selected head runs on.
    """
    if requested not in ENGINE_CHOICES and requested not in ENGINES:
        raise OptionError("engine", requested, f"choose from: {', '.join(ENGINE_CHOICES)}")
    if requested == "sklearn":  # nothing else is imported
        return {"sklearn": (_version(ENGINES.get("sklearn")), None)}
    status = {name: engine_status(name) if name != "sklearn" else (_version(ENGINES.get(name)), None) for name in ENGINES.names()}
    if requested == "auto":
        return status
    version, why = status[requested]
    if why:
        raise OptionError("engine", requested, why)
    if not any(requested in spec.engines for spec in heads.values()):
        able = sorted(h for h, s in (known or heads).items() if requested in s.engines)
        raise OptionError("engine", requested, f"none of {', '.join(heads)} runs on it; heads that do: {', '.join(able) or 'none'}")
    return status


def choose_engine(requested: str, spec, params: dict, status: dict) -> EngineChoice:
    """The engine ``spec`` runs on with ``params`` (every parameter, defaults merged).

    ``auto``: the highest-ranked usable engine the head declares and whose ``accepts`` takes
    the parameters, else scikit-learn. A named engine: that one where the head and its
    parameters allow it, else scikit-learn. The choice's ``note`` says why an engine the head
    could have used was passed over.
    """
    sk = EngineChoice("sklearn", status.get("sklearn", (None, None))[0])
    if requested == "sklearn":
        return sk
    if requested == "auto":
        names = [n for n in sorted(spec.engines, key=lambda n: -ENGINES.get(n).rank) if not status.get(n, (None, "unknown"))[1]]
    else:
        names = [requested]
    reasons = []
    for name in names:
        build = spec.engines.get(name)
        if build is None:
            reasons.append(f"{spec.name} does not run on {name}")
            continue
        refused = build.accepts(params)
        if refused:
            reasons.append(f"{name}: {refused}")
            continue
        return EngineChoice(name, status.get(name, (None, None))[0])
    return EngineChoice("sklearn", sk.version, f"{spec.name} on scikit-learn ({'; '.join(reasons)})" if reasons else "")


def engine_provenance(choice: EngineChoice) -> dict:
    """What results record of the engine a fit ran on."""
    engine = ENGINES.get(choice.name)
    return {"engine": choice.name, "version": choice.version, "device": engine.device}


class _Collect(logging.Filter):
    """Collects the calling thread's records; lets through only those the logger's level shown before."""

    def __init__(self, thread: int, shown: int):
        super().__init__()
        self.thread, self.shown, self.messages = thread, shown, []

    def filter(self, record):
        if record.thread == self.thread:
            self.messages.append(record.getMessage())
        return record.levelno >= self.shown


@contextlib.contextmanager
def watch_fallback(engine: str):
    """Collect, for the calling thread, where scikit-learn-intelex fell back to scikit-learn.

    Yields a list that holds, after the block, the messages of calls that did not run on
    oneDAL (empty when everything ran accelerated). The ``sklearnex`` logger is lowered to
    INFO for the block, its new records below the level it had are dropped, and its level is
    restored afterwards.
    """
    fell: list[str] = []
    if engine != "onedal":
        yield fell
        return
    logger = logging.getLogger("sklearnex")
    level = logger.level
    collect = _Collect(threading.get_ident(), logger.getEffectiveLevel())
    logger.addFilter(collect)
    logger.setLevel(min(logging.INFO, logger.getEffectiveLevel()))
    try:
        yield fell
    finally:
        logger.removeFilter(collect)
        logger.setLevel(level)
        fell.extend(m for m in collect.messages if "fallback" in m)
