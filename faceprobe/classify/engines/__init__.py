"""Engines for heads: scikit-learn (the reference), oneDAL and cuML, and scikit-learn on several cores.

``registry`` holds the engines and the choice per head and parameters; ``builds`` the heads'
builds on each accelerated engine with the values each takes; ``pairwise`` the threaded
one-vs-one SVC.
"""

from .registry import (
    ENGINE_CHOICES,
    ENGINES,
    Engine,
    EngineBuild,
    EngineChoice,
    check_engine,
    choose_engine,
    engine_provenance,
    engine_status,
    watch_fallback,
)

__all__ = ["Engine", "EngineBuild", "ENGINES", "ENGINE_CHOICES", "EngineChoice", "engine_status", "choose_engine",
           "check_engine", "engine_provenance", "watch_fallback"]
