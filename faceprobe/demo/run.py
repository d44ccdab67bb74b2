"""``faceprobe demo``: featurize the shipped faces once, then evaluate every head."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["demo_data", "demo_home", "run_demo"]


def demo_data() -> Path:
    """Folder of the shipped demo set: ``manifest.csv``, ``images/``, LICENSE, ATTRIBUTION.md."""
    return Path(str(resources.files("faceprobe.demo") / "data"))


def demo_home() -> Path:
    """Where the demo keeps its cache: ``$FACEPROBE_HOME`` or the user's cache folder."""
    from ..machine import home_dir

    return home_dir()


def run_demo(*, progress: bool = True, jobs: int | None = None, predictions: bool = False) -> tuple[dict, dict]:
    """Featurize the demo set with efficientnet_lite0 (cached), then 5-fold subject-grouped CV of all heads.

    ``predictions``: keep the test predictions (a report's ROC curves and faces need them).

    Returns
    -------
    summary, results : dict, dict
        The featurize summary and the classify results (with provenance).
    """
    from ..classify.run import ClassifyOptions, run_classify
    from ..featurize.pipeline import featurize

    data, home = demo_data(), demo_home()
    home.mkdir(parents=True, exist_ok=True)
    cache = str(home / "demo-features.h5")
    summary = featurize(data / "manifest.csv", backbones=["efficientnet_lite0"], weights=["DEFAULT"], cache=cache,
                        root=str(data / "images"), progress=progress)
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    res = run_classify(ClassifyOptions(cache=cache, key=summary.keys[0], head="all", cv=5, group="subject", seed=0, jobs=jobs,
                                       progress=progress, predictions=predictions))
    return summary.as_dict(), res
