"""featurize: every image through each frozen backbone once, into the HDF5 cache.

One run reads top to bottom, no step reaching back up: the options checked and resolved once
(:func:`~faceprobe.featurize.options.resolve`, the requests included) -> read the source's rows -> under the cache's
writer lock, commit what an interrupted run left and read the cache's state once into a plan
(:func:`~faceprobe.featurize.plan.make_plan`) -> compute (:func:`~faceprobe.featurize.compute.compute`,
which journals every batch and returns what it did) -> commit the journal -> the summary,
assembled here in one place. Under torchrun with several ranks, :func:`featurize` hands the run to
:mod:`faceprobe.featurize.distributed` (each rank one shard, rank 0 merges), so the API and the
CLI behave alike.
"""

from __future__ import annotations

import os
import time

from ..cache.lock import writer_lock
from ..cache.store import commit_journal, recover_journal
from .config import FeaturizeConfig
from .plan import FeaturizePlan, make_plan
from .stages import StageClock
from .summary import FeaturizeSummary, summarize
from .sources.read import read_source

__all__ = ["FeaturizeConfig", "FeaturizeSummary", "featurize", "run_featurize"]


def featurize(source, options=None, **given) -> FeaturizeSummary:
    """Compute and cache the features of every image in ``source``: the one entry of the CLI,
    the API and every other caller. The options are checked and resolved once
    (:func:`~faceprobe.featurize.options.resolve`), then the run goes as :func:`run_featurize`.

    Parameters
    ----------
    source : str or list of str
        Folder of class folders, CSV manifest, CSV of pixel strings (FER-2013), videos, a corpus
        folder, or a list of image files.
    options : FeaturizeOptions, optional
        The options as one object; keywords given beside it replace its fields.
    **given
        Options by name (those of :data:`~faceprobe.featurize.options.FEATURIZE`).

    Returns
    -------
    FeaturizeSummary

    Raises
    ------
    OptionError
        For a keyword that is not an option, or a bad value or combination (before any work).
    """
    from dataclasses import replace

    from ..options import with_values
    from .options import FEATURIZE, FeaturizeOptions, resolve

    from ..ledger.record import check_store, record_run

    FEATURIZE.unknown(given, "featurize", every=True)
    if options is None:
        options = FeaturizeOptions()
    from .distributed import featurize_distributed, torchrun_env

    cfg = resolve(source, with_values(options, **given))
    check_store(cfg)
    if cfg.distributed == "auto" and cfg.shard is None and torchrun_env():  # each rank one shard, rank 0 merges
        summary = featurize_distributed(cfg, run_featurize)
    else:
        summary = run_featurize(cfg)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 records the merged run once
        summary = replace(summary, recorded=record_run("featurize", summary.as_dict(), cfg) or {})
    return summary


def run_featurize(cfg: FeaturizeConfig) -> FeaturizeSummary:
    """Compute and cache the features of every image in ``cfg.source``, its config resolved.

    Images are identified by the sha256 of their bytes: one already held under a feature
    key is not computed again, and a run whose images are all cached does no forward pass
    (and does not even import torch when the backbones were resolved before). Results go to
    a journal batch by batch and are committed atomically at the end; a killed run's
    journal is committed by the next run, which then computes only what is missing. This is
    one process's run (one rank's shard under torchrun: :func:`featurize` hands a job of
    several ranks to :mod:`faceprobe.featurize.distributed`, which calls this for each).

    Parameters
    ----------
    cfg : FeaturizeConfig
        As :func:`~faceprobe.featurize.options.resolve` made it (checked once there).

    Returns
    -------
    FeaturizeSummary

    Raises
    ------
    FaceprobeError
        For bad options or sources, an unusable cache, a locked cache, ``strict`` and a bad
        image, or when no image at all could be featurized.
    """
    t0 = time.perf_counter()
    clock = StageClock()
    with clock("read_source"):
        table = _read(cfg)
    report = None
    with writer_lock(cfg.cache):
        with clock("plan"):
            recovered, notes = recover_journal(cfg.cache, {e.path for e in table.entries})
            plan = make_plan(cfg, table, notes)
        try:
            if plan.todo:
                from .compute import compute

                report = compute(plan)
        finally:
            # commit whatever was journaled, also when the run stops early (error, strict, Ctrl-C)
            with clock("commit"):
                rows = _commit_run(plan, report)
    return summarize(plan, report, rows, recovered, time.perf_counter() - t0, clock)


def _read(cfg: FeaturizeConfig):
    """The source's rows (:func:`read_source` with the config's column and frame options; a
    corpus read as its manifest)."""
    source = cfg.source
    if cfg.corpus is not None:
        from .sources.corpus import corpus_source

        source = corpus_source(cfg.corpus, cfg.source, cfg.corpus_options)
    return read_source(source, root=cfg.root, path_col=cfg.path_col, label_col=cfg.label_col, subject_col=cfg.subject_col,
                       labelled=cfg.labelled, subject_regex=cfg.subject_regex, frames=cfg.frames)


def _learnt(parts: list) -> tuple[dict, dict]:
    """From the journal's parts: each content's status (status, reason, width, height, dhash),
    and what the requests resolved to."""
    status, resolutions = {}, {}
    for part in parts:
        resolutions.update(part.run.get("resolutions", {}))
        img = part.images
        for j, sha in enumerate(img.get("sha256", ())):
            status[str(sha)] = (str(img["status"][j]), str(img["reason"][j]), int(img["width"][j]), int(img["height"][j]),
                                str(img["dhash"][j]))
    return status, resolutions


def _corpora(cache: str, corpus: dict) -> dict:
    """``{"corpora": {name: provenance, ...}}`` when this run's corpus is new to the cache (or
    read differently: other label files, options or layout); else empty."""
    if not corpus:
        return {}
    from ..cache.store import read_root_attrs

    held = read_root_attrs(cache).get("corpora", {}) if os.path.exists(cache) else {}
    if held.get(corpus["corpus"]) == corpus:
        return {}
    return {"corpora": {**held, corpus["corpus"]: corpus}}


def _commit_run(plan: FeaturizePlan, report) -> dict:
    """Commit the journal with the source's rows (statuses learnt applied to every path of a
    content); return the rows as committed."""
    cache = plan.config.cache
    rows = {c: list(v) for c, v in plan.rows.items()}

    def with_parts(parts: list) -> dict:
        status, resolutions = _learnt(parts)
        for j, sha in enumerate(rows["sha256"]):
            if sha in status:
                rows["status"][j], rows["reason"][j], rows["width"][j], rows["height"][j], rows["dhash"][j] = status[sha]
        resolutions = {**plan.resolutions, **resolutions, **(report.resolutions if report is not None else {})}
        corpora = _corpora(cache, plan.corpus)
        if not (parts or plan.forget or plan.changed or corpora):
            return {}
        return {"images": rows, "root_attrs": {"backbones": resolutions, **corpora}, "forget": set(plan.forget)}

    commit_journal(cache, with_parts)
    return rows


