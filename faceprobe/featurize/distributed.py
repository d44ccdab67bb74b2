"""featurize under ``torchrun``: one content-hash shard per rank, merged by rank 0.

Each rank writes its own shard cache next to the main one
(``<cache>.rank<r>-of-<n>.h5``), skipping images the main cache already holds. When all ranks
are done, rank 0 merges the shards into the main cache and removes them. Before starting,
rank 0 also commits and merges shards left by an earlier, interrupted job (with any number
of ranks), so a relaunch computes each image once.
"""

from __future__ import annotations

import glob
import os
from dataclasses import replace

from ..cache.journal import part_files
from ..cache.layout import journal_dir, lock_path
from ..cache.lock import writer_lock
from ..cache.merge import merge_caches
from ..cache.store import commit_journal
from .config import FeaturizeConfig
from .engine.cores import usable_cores
from .summary import FeaturizeSummary

__all__ = ["torchrun_env", "featurize_distributed"]


def torchrun_env() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when launched by torchrun with more than one process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return None
    if world < 2 or "RANK" not in os.environ:
        return None
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def _fold_in_shards(main: str, pattern: str) -> int:
    """Commit each shard's journal, merge the shards into ``main``, delete them."""
    # a rank killed before its first commit leaves only a journal, no cache file yet
    named = set(glob.glob(pattern)) | {j[: -len(".journal")] for j in glob.glob(pattern + ".journal")}
    shards = sorted(p for p in named if os.path.isfile(p) or part_files(p))
    if not shards:
        return 0
    for shard in shards:
        with writer_lock(shard):
            commit_journal(shard)
    with writer_lock(main):
        merge_caches([s for s in shards if os.path.isfile(s)], main)
    for shard in shards:
        for path in (shard, lock_path(shard)):
            if os.path.exists(path):
                os.remove(path)
        if os.path.isdir(journal_dir(shard)):
            os.rmdir(journal_dir(shard))
    return len(shards)


def featurize_distributed(cfg: FeaturizeConfig, run) -> FeaturizeSummary:
    """Run this rank's share of a featurize job launched by torchrun (gloo for coordination).

    :func:`faceprobe.featurize.pipeline.featurize` calls it (with ``run``:
    :func:`~faceprobe.featurize.pipeline.run_featurize`, which computes one shard) whenever
    torchrun started several ranks, from the CLI or the API.

    Returns
    -------
    FeaturizeSummary
        This rank's summary; on rank 0, ``cache`` is the merged main cache.
    """
    import torch
    import torch.distributed as dist

    rank, world, local = torchrun_env()
    dist.init_process_group("gloo")
    try:
        main = cfg.cache
        if rank == 0:
            _fold_in_shards(main, f"{main}.rank*-of-*.h5")
        dist.barrier()
        device = cfg.device
        if device == "auto" and torch.cuda.is_available():
            device = f"cuda:{local % torch.cuda.device_count()}"
        shard_cache = f"{main}.rank{rank}-of-{world}.h5"
        # ranks on one machine share its cores: each gets its part (4 threads of 2 ranks on 2
        # cores ran 25x slower than 1 each, measured)
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        cores = cfg.cores or max(1, usable_cores() // local_world)
        summary = run(replace(cfg, cache=shard_cache, shard=(rank, world), done_in=(main,), device=device,
                              cores=cores, progress=cfg.progress and rank == 0, distributed="none"))
        dist.barrier()
        if rank == 0:
            _fold_in_shards(main, f"{main}.rank*-of-{world}.h5")
            summary = replace(summary, cache=os.path.abspath(main))
        dist.barrier()
        return summary
    finally:
        dist.destroy_process_group()
