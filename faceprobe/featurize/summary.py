"""What a featurize run did: compute's report, and the run's summary assembled in one place."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields

from ..errors import FaceprobeError
from .stages import MAIN_STAGES, StageClock, stage_shares

__all__ = ["ComputeFigures", "ComputeReport", "FeaturizeSummary", "summarize"]


@dataclass(kw_only=True)
class ComputeFigures:
    """What computing did, as both compute's report and the run's summary give it.

    Attributes
    ----------
    cached : int
        Contents held under every key (known once the backbones were loaded).
    computed, forward_passes, no_face : int
    no_face_by_key : dict of str -> int
        Per geometry key (a backbone that finds the face itself), the images computed in this
        run where it found none (their rows are kept, with NaN).
    device, precision, decode : str
    precision_check, compile : dict
    notes : list of str
    setup_seconds, steady_images_per_second : float
    """

    cached: int = 0
    computed: int = 0
    forward_passes: int = 0
    no_face: int = 0
    no_face_by_key: dict = field(default_factory=dict)
    device: str = ""
    precision: str = ""
    decode: str = ""
    precision_check: dict = field(default_factory=dict)
    compile: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    setup_seconds: float = 0.0
    steady_images_per_second: float = 0.0


@dataclass(kw_only=True)
class ComputeReport(ComputeFigures):
    """What :func:`~faceprobe.featurize.compute.compute` did (it builds this record and returns it).

    Attributes (beside :class:`ComputeFigures`)
    ----------
    keys : tuple of str
        The run's feature keys.
    resolutions : dict
        Backbone request id -> what it resolved to (for the cache's root attributes).
    stages : StageClock
        Seconds per stage (:mod:`faceprobe.featurize.stages`).
    """

    keys: tuple = ()
    resolutions: dict = field(default_factory=dict)
    stages: StageClock = field(default_factory=StageClock)


@dataclass(kw_only=True)
class FeaturizeSummary(ComputeFigures):
    """What a run did; ``featurize --json`` prints it (beside :class:`ComputeFigures`: the
    cache, the source's images and what was left out of them, the keys, times and stages)."""

    cache: str
    images: int = 0
    conflicts: list = field(default_factory=list)
    repeats: int = 0
    duplicates_by_content: int = 0
    bad: list = field(default_factory=list)
    recovered_rows: int = 0
    keys: list = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0
    stages: dict = field(default_factory=dict)
    stage_shares: dict = field(default_factory=dict)
    recorded: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The summary as plain data, the cache first."""
        out = asdict(self)
        return {"cache": out.pop("cache"), **out}


def summarize(plan, report: ComputeReport | None, rows: dict, recovered: int, seconds: float,
              clock: StageClock | None = None) -> FeaturizeSummary:
    """The run's summary from the plan, what compute reported (None: nothing was computed) and
    the rows as committed.

    Raises
    ------
    FaceprobeError
        When no image at all could be featurized.
    """
    cfg = plan.config
    bad = [(p, r) for p, st, r in zip(rows["path"], rows["status"], rows["reason"]) if st == "bad"]
    if not any(st == "ok" for st in rows["status"]) and cfg.shard is None and not cfg.done_in:
        raise FaceprobeError(f"no image could be featurized: all {len(rows['path'])} are unusable (first: {bad[0][0]}: {bad[0][1]})"
                             if bad else "no image could be featurized")
    r = report if report is not None else ComputeReport(keys=tuple(plan.keys or ()), cached=len(plan.refs) - len(plan.todo))
    seconds = round(seconds, 3)
    stages = {**(clock.rounded() if clock else {}), **r.stages.rounded()}
    stages["other"] = round(max(0.0, seconds - sum(v for k, v in stages.items() if k in MAIN_STAGES)), 3)
    figures = {f.name: getattr(r, f.name) for f in fields(ComputeFigures)}
    figures.update(no_face_by_key=dict(r.no_face_by_key), notes=[*plan.notes, *r.notes])
    return FeaturizeSummary(
        **figures, cache=os.path.abspath(cfg.cache), images=plan.images, conflicts=list(plan.conflicts), repeats=plan.repeats,
        duplicates_by_content=plan.duplicates_by_content, bad=bad, recovered_rows=recovered, keys=list(r.keys),
        seconds=seconds, images_per_second=round(r.computed / seconds, 2) if seconds else 0.0,
        stages=stages, stage_shares=stage_shares(stages, seconds),
    )
