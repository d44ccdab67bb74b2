"""featurize: every image through each frozen backbone once, into the HDF5 cache."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..cache.journal import part_files, read_parts, remove_parts
from ..cache.layout import feature_key
from ..cache.lock import writer_lock
from ..cache.store import commit, read_feature_hashes, read_images, read_root_attrs, remove_stale_copies
from ..errors import FaceprobeError, OptionError
from .engine.compile import COMPILE_MODES
from .faces.crop import CropSpec
from .engine.devdecode import DECODE_MODES
from .sources.hashing import hash_files
from .backbones.layers import parse_request
from .backbones.resolve import cached_resolution, key_spec
from .sources.read import read_source

__all__ = ["FeaturizeConfig", "FeaturizeSummary", "featurize"]


@dataclass
class FeaturizeConfig:
    """Everything a featurize run needs; the CLI fills it from its options.

    Attributes
    ----------
    source : str
        Folder of class folders, CSV manifest, or CSV of pixel strings (FER-2013).
    root, path_col, label_col, subject_col
        As for :func:`~faceprobe.featurize.sources.read.read_source`.
    subject_regex : str or None
        Subjects from file names: the first group of this regular expression.
    frames : str or None
        Which frames of videos become rows: ``all`` (None), ``every:N``, ``fps:F``, ``count:K``.
    backbones : list of str
    weights : list of str
        One entry for all backbones, or one per backbone (``DEFAULT``, a name, a file, ``none``).
    cache : str
    crop : CropSpec
    views : list of str
        ``orig`` first, then augmented views.
    device, precision : str
    batch_size : int or None
        Images per forward pass; None: 16 on CPU (faster than larger batches there), 128 on CUDA.
    workers : int or None
        DataLoader worker processes; None picks from the device and core count.
    seed : int
        Seed of random weights (``--weights none``).
    strict : bool
        Fail on the first bad image instead of recording it.
    compile : str
        ``none``, ``freeze``, ``inductor`` or ``auto`` (see :mod:`faceprobe.featurize.engine.compile`).
    cores : int or None
        CPU cores this run may use (forward threads plus decode workers); None: all cores of
        the process's affinity. torchrun ranks on one machine get an equal part each.
    decode : str
        Where JPEGs are decoded: ``cpu``, ``device`` (nvJPEG on CUDA) or ``auto`` (the device
        only on CUDA when CPU decoding is the bottleneck; see :mod:`faceprobe.featurize.engine.devdecode`).
    shard : (int, int) or None
        ``(i, n)``: compute only images whose content hash falls in shard i of n, so that
        n jobs (e.g. a Slurm array) split the work deterministically; merge their caches
        with ``faceprobe cache merge``.
    done_in : list of str
        Other caches (read only) whose rows count as done, e.g. the main cache of a sharded job.
    progress : bool
    """

    source: str
    backbones: list[str]
    weights: list[str] = field(default_factory=lambda: ["DEFAULT"])
    cache: str = "features.h5"
    root: str | None = None
    path_col: str = "path"
    label_col: str = "label"
    subject_col: str = "subject"
    subject_regex: str | None = None
    frames: str | None = None
    crop: CropSpec = field(default_factory=CropSpec)
    views: list[str] = field(default_factory=lambda: ["orig"])
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    workers: int | None = None
    seed: int = 0
    strict: bool = False
    progress: bool = True
    labelled: bool = True
    compile: str = "auto"
    decode: str = "auto"
    cores: int | None = None
    shard: tuple[int, int] | None = None
    done_in: list = field(default_factory=list)


@dataclass
class FeaturizeSummary:
    """What a run did; ``featurize --json`` prints it."""

    cache: str
    images: int = 0
    conflicts: list = field(default_factory=list)
    repeats: int = 0
    duplicates_by_content: int = 0
    cached: int = 0
    computed: int = 0
    forward_passes: int = 0
    bad: list = field(default_factory=list)
    no_face: int = 0
    recovered_rows: int = 0
    keys: list = field(default_factory=list)
    device: str = ""
    precision: str = ""
    precision_check: dict = field(default_factory=dict)
    compile: dict = field(default_factory=dict)
    decode: str = ""
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0
    setup_seconds: float = 0.0
    steady_images_per_second: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _weights_per_backbone(cfg: FeaturizeConfig) -> list[str]:
    if len(cfg.weights) == 1:
        return list(cfg.weights) * len(cfg.backbones)
    if len(cfg.weights) != len(cfg.backbones):
        raise FaceprobeError(
            f"`weights` given {len(cfg.weights)} times for {len(cfg.backbones)} backbones; give it once or once per `backbones`"
        )
    return list(cfg.weights)


def _recover(cache: str) -> int:
    """Commit results a killed run left in the journal."""
    if not part_files(cache):
        return 0
    added = commit(cache, parts=read_parts(cache))
    remove_parts(cache)
    return added


def _source_rows(entries, hashes, old: dict) -> tuple[dict, dict]:
    """Image-table rows for the source, with statuses carried over from unchanged files."""
    prev = {str(p): i for i, p in enumerate(old["path"])}
    cols: dict[str, list] = {c: [] for c in ("path", "sha256", "label", "subject", "width", "height", "bytes", "mtime_ns", "status", "reason",
                                             "extra", "dhash")}
    # what is known of each content, whatever path it was seen under
    status_by_sha: dict[str, tuple] = {}
    for j, (sha, st) in enumerate(zip(old["sha256"], old["status"])):
        if sha and st in ("ok", "bad"):
            status_by_sha.setdefault(str(sha), (str(st), str(old["reason"][j]), int(old["width"][j]), int(old["height"][j]), str(old["dhash"][j])))
    for e, h in zip(entries, hashes):
        i = prev.get(e.path)
        if h.error:
            status = ("bad", h.error, -1, -1, "")
        else:
            status = status_by_sha.get(h.sha256, ("pending", "", -1, -1, ""))
        label, subject, extra = e.label, e.subject, json.dumps(e.extra, sort_keys=True) if e.extra else ""
        if not label and i is not None:  # an unlabelled source (predict) keeps known labels
            label, subject, extra = str(old["label"][i]), subject or str(old["subject"][i]), extra or str(old["extra"][i])
        for c, v in zip(("path", "sha256", "label", "subject", "bytes", "mtime_ns", "extra"),
                        (e.path, h.sha256, label, subject, h.size, h.mtime_ns, extra)):
            cols[c].append(v)
        for c, v in zip(("status", "reason", "width", "height", "dhash"), status):
            cols[c].append(v)
    return cols, status_by_sha


def _rows_changed(new: dict, old: dict) -> bool:
    prev = {str(p): i for i, p in enumerate(old["path"])}
    for j, p in enumerate(new["path"]):
        i = prev.get(p)
        if i is None:
            return True
        for c in ("sha256", "label", "subject", "status", "bytes", "mtime_ns", "extra"):
            if str(old[c][i]) != str(new[c][j]):
                return True
    return False


def _read(cfg: FeaturizeConfig):
    """The source's table, and the run's summary started with what reading it found."""
    table = read_source(cfg.source, root=cfg.root, path_col=cfg.path_col, label_col=cfg.label_col,
                        subject_col=cfg.subject_col, labelled=cfg.labelled, subject_regex=cfg.subject_regex,
                        frames=cfg.frames)
    summary = FeaturizeSummary(cache=os.path.abspath(cfg.cache), images=len(table.entries), conflicts=table.conflicts, repeats=table.repeats)
    if table.videos:
        frames = [e for e in table.entries if "#frame=" in e.id]
        broken = sum(1 for e in frames if getattr(e, "error", ""))
        summary.notes.append(f"{table.videos} videos: {len(frames) - broken} frames ({cfg.frames or 'all'}), one row each"
                             + (f"; {broken} videos cannot be read (recorded as bad)" if broken else ""))
    if table.subject_matches is not None:
        got, total = table.subject_matches
        summary.notes.append(f"`subject_regex` gave {got} of {total} images a subject" + (f"; {total - got} have none" if got < total else ""))
    return table, summary


def featurize(cfg: FeaturizeConfig) -> FeaturizeSummary:
    """Compute and cache the features of every image in ``cfg.source``.

    Images are identified by the sha256 of their bytes: one already held under a feature
    key is not computed again, and a run whose images are all cached does no forward pass
    (and does not even import torch when the backbones were resolved before). Results go to
    a journal batch by batch and are committed atomically at the end; a killed run's
    journal is committed by the next run, which then computes only what is missing.

    Parameters
    ----------
    cfg : FeaturizeConfig

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
    cfg = replace(cfg, backbones=_requests(cfg.backbones))
    weights = _check_config(cfg)
    table, summary = _read(cfg)
    cache = cfg.cache
    with writer_lock(cache):
        stale, stale_bytes = remove_stale_copies(cache)
        if stale:
            summary.notes.append(f"removed {stale} temporary copies ({stale_bytes / 1e6:.1f} MB) left by an interrupted commit")
        summary.recovered_rows = _recover(cache)
        exists = os.path.exists(cache)
        old = read_images(cache) if exists else {c: np.array([], dtype=object) for c in ("path", "sha256", "status")}
        known = {str(p): (str(s), int(b), int(m)) for p, s, b, m in zip(old["path"], old["sha256"], old.get("bytes", []), old.get("mtime_ns", []))}
        hashes = hash_files(table.entries, known)
        if cfg.strict:
            unreadable = next(((e.path, h.error) for e, h in zip(table.entries, hashes) if h.error), None)
            if unreadable:
                raise FaceprobeError(f"{unreadable[0]}: {unreadable[1]} (`strict` stops at the first bad image)")
        rows, status_by_sha = _source_rows(table.entries, hashes, old)
        resolutions, have = _known_results(cfg, exists)
        recs = {name: cached_resolution(resolutions, name, w, cfg.seed) for name, w in zip(cfg.backbones, weights)}
        first_path = _first_paths(cfg, rows, summary)
        todo = list(first_path)
        if all(recs.values()):
            keys = {feature_key(key_spec(name, rec, cfg.crop, view)) for name, rec in recs.items() for view in cfg.views}
            todo = [s for s in first_path if any(s not in have.get(k, ()) for k in keys)]
            summary.keys = sorted(keys)
        summary.cached = len(first_path) - len(todo)
        try:
            if todo:
                from .compute import Work, compute_missing

                refs = {e.path: e for e in table.entries}
                compute_missing(cfg, weights, Work(todo, {s: refs[p] for s, p in first_path.items()}, have, status_by_sha, resolutions), summary)
        finally:
            # commit whatever was computed, also when the run stops early (error, --strict, Ctrl-C)
            for j, s in enumerate(rows["sha256"]):
                if s in status_by_sha:
                    rows["status"][j], rows["reason"][j], rows["width"][j], rows["height"][j], rows["dhash"][j] = status_by_sha[s]
            parts = read_parts(cache)
            forget = _vanished_bad_rows(old, rows)
            if forget:
                summary.notes.append(f"forgot {len(forget)} unusable rows of files that no longer exist and this source does "
                                     "not list (e.g. paths read earlier without the right `root`)")
            if parts or forget or _rows_changed(rows, old):
                commit(cache, images=rows, parts=parts, root_attrs={"backbones": resolutions}, forget=forget)
                remove_parts(cache)
    return _finish(cfg, rows, summary, t0)


def _vanished_bad_rows(old: dict, rows: dict) -> set[str]:
    """Image rows recorded as unusable whose file is gone and which the current source does not list."""
    listed = set(rows["path"])
    return {str(p) for p, st in zip(old["path"], old["status"]) if st == "bad" and str(p) not in listed and not os.path.exists(str(p))}


def _requests(backbones: list[str]) -> list[str]:
    """The backbone requests, normalised (``resnet50@layer3:avg`` is ``resnet50@layer3``)."""
    names = [parse_request(b).name for b in backbones]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise OptionError("backbones", ",".join(backbones), f"{twice[0]} is requested twice; give each backbone or layer once")
    return names


def _check_config(cfg: FeaturizeConfig) -> list[str]:
    """Refuse bad options before any work; return the weights of each backbone."""
    if not cfg.backbones:
        raise OptionError("backbones", [], "give at least one backbone")
    if cfg.shard is not None and not (cfg.shard[1] >= 1 and 0 <= cfg.shard[0] < cfg.shard[1]):
        raise OptionError("shard", f"{cfg.shard[0]}/{cfg.shard[1]}", "must be i/n with 0 <= i < n")
    DECODE_MODES.check(cfg.decode)
    COMPILE_MODES.check(cfg.compile)
    if cfg.seed < 0:
        raise OptionError("seed", cfg.seed, "must be >= 0")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise OptionError("batch_size", cfg.batch_size, "must be >= 1")
    return _weights_per_backbone(cfg)


def _known_results(cfg: FeaturizeConfig, exists: bool) -> tuple[dict, dict]:
    """Backbone resolutions and, per feature key, the content hashes already computed, in the
    cache and in the read-only caches of ``done_in``."""
    resolutions = dict(read_root_attrs(cfg.cache).get("backbones", {})) if exists else {}
    have = read_feature_hashes(cfg.cache) if exists else {}
    for other in cfg.done_in:
        if os.path.exists(other):
            for req, rec in read_root_attrs(other).get("backbones", {}).items():
                resolutions.setdefault(req, rec)
            for key, hashes in read_feature_hashes(other).items():
                have.setdefault(key, set()).update(hashes)
    return resolutions, have


def _first_paths(cfg: FeaturizeConfig, rows: dict, summary: FeaturizeSummary) -> dict[str, str]:
    """Unique contents still to consider -> the first path listing them (bad files are not retried
    unless their bytes changed); only this run's shard with ``shard``."""
    first_path: dict[str, str] = {}
    for p, s, st in zip(rows["path"], rows["sha256"], rows["status"]):
        if s and st != "bad":
            first_path.setdefault(s, p)
    summary.duplicates_by_content = sum(1 for s, st in zip(rows["sha256"], rows["status"]) if s and st != "bad") - len(first_path)
    labels: dict[str, set] = {}
    for s, lab in zip(rows["sha256"], rows["label"]):
        if s and lab:
            labels.setdefault(s, set()).add(lab)
    conflicting = sum(1 for labs in labels.values() if len(labs) > 1)
    if conflicting:
        summary.notes.append(f"{conflicting} images have identical bytes listed under different labels; classify leaves them out "
                             "until the labels agree")
    if cfg.shard is not None:
        i, n = cfg.shard
        first_path = {s: p for s, p in first_path.items() if int(s[:15], 16) % n == i}
    return first_path


def _finish(cfg: FeaturizeConfig, rows: dict, summary: FeaturizeSummary, t0: float) -> FeaturizeSummary:
    summary.bad = [(p, r) for p, st, r in zip(rows["path"], rows["status"], rows["reason"]) if st == "bad"]
    summary.seconds = round(time.perf_counter() - t0, 3)
    summary.images_per_second = round(summary.computed / summary.seconds, 2) if summary.seconds else 0.0
    if not any(st == "ok" for st in rows["status"]) and cfg.shard is None and not cfg.done_in:
        raise FaceprobeError(f"no image could be featurized: all {len(rows['path'])} are unusable (first: {summary.bad[0][0]}: {summary.bad[0][1]})" if summary.bad else "no image could be featurized")
    return summary
