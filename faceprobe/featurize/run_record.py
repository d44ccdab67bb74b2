"""The provenance record of a featurize run (what every journal part and cached row carries)."""

from __future__ import annotations

import platform
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from .._version import __version__

__all__ = ["run_record", "torchvision_version"]


def run_record(p: "FeaturizePlan", m, report: "ComputeReport") -> dict:  # noqa: F821 - the plan and report are what compute holds
    """The provenance of one featurize run, as its journal parts and cache rows carry it: versions,
    device, precision, weights, what each request resolved to, the batch size and the command.
    ``m`` is the run's loaded models (``compute._Models``)."""
    import PIL
    import torch

    from .engine.device import cpu_info

    rec = {
        "run_id": uuid.uuid4().hex,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "faceprobe": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision_version(),
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "device": m.plan.device,
        "device_name": torch.cuda.get_device_name(m.plan.device) if m.plan.is_cuda else cpu_info()["model"],
        "precision": m.plan.precision,
        "weights": {name: m.loaded[rid].weights for rid, names in m.members.items() for name in names},
        "resolutions": dict(report.resolutions),
        "batch_size": m.batch_size,
        "argv": sys.argv[1:],
    }
    if any(name.startswith("timm/") for name in m.loaded):
        import timm

        rec["timm"] = timm.__version__
    return {**rec, **p.request.recipe.cropper.versions()}


def torchvision_version() -> str:
    """torchvision's full version (with its build, e.g. ``+cu130``) without importing it: the
    import costs about 4 s on 2 cores, which runs whose backbones do not need it should not pay."""
    import re
    from importlib.metadata import version
    from importlib.util import find_spec

    if "torchvision" in sys.modules:
        return sys.modules["torchvision"].__version__
    spec = find_spec("torchvision")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", (Path(folder) / "version.py").read_text(), re.M)
        except OSError:
            continue
        if found:
            return found.group(1)
    return version("torchvision")
