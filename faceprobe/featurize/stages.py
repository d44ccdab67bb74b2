"""Where a featurize run's time goes: seconds per stage, measured where each stage runs.

Main process (wall time, one after another): ``read_source`` (listing the source), ``plan``
(hashing the files, reading the cache), ``load`` (backbones), ``checks`` (precision and
compile or runtime choice on the first batch), ``wait_input`` (blocked on the next batch:
the part of decoding and cropping that did not overlap the forward pass), ``forward``,
``journal`` (writing batch parts), ``commit``, and ``other`` (the rest of the wall time: the
progress bar, starting and stopping worker processes between batches). Worker processes (CPU seconds summed over
workers, overlapping the main process when there are workers): ``decode``, ``crop``
(detection and cropping) and ``preprocess`` (steps, views, resizing to the input).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["StageClock", "MAIN_STAGES", "WORKER_STAGES", "stage_shares"]

MAIN_STAGES = ("read_source", "plan", "load", "checks", "wait_input", "forward", "journal", "commit")
WORKER_STAGES = ("decode", "crop", "preprocess")


@dataclass
class StageClock:
    """Seconds per stage, added up as the run goes."""

    seconds: dict = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def rounded(self) -> dict:
        return {k: round(v, 3) for k, v in self.seconds.items()}


def stage_shares(stages: dict, wall: float) -> dict:
    """Each main-process stage's share of the run's wall time (worker stages, which overlap it,
    as their CPU seconds over the wall time too; they may add up past 1 with several workers)."""
    return {k: round(v / wall, 3) for k, v in stages.items()} if wall > 0 else {}
