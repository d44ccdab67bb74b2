"""The dev faces' efficientnet_lite0 cache that several benchmarks evaluate heads on.

Imported by the scripts beside it (``python benchmarks/NAME.py`` puts this folder on the path).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "muxspace-dev"


def dev_cache(data: Path, cache: Path | None) -> Path:
    """``cache``, featurized from the dev faces at ``data`` when it does not exist yet (a temporary
    file when None); the benchmark's own runs are not recorded in the results store."""
    cache = cache or Path(tempfile.mkdtemp(prefix="faceprobe-bench-")) / "features.h5"
    if not cache.exists():
        from faceprobe.featurize.pipeline import featurize

        featurize(str(data / "manifest.csv"), backbones=["efficientnet_lite0"], weights=["DEFAULT"], cache=str(cache),
                  root=str(data / "images"), progress=False, record=False)
    return cache
