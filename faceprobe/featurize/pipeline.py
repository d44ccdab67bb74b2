"""featurize: every image through each frozen backbone once, into the HDF5 cache."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import __version__
from ..cache.journal import Part, part_files, read_parts, remove_parts, write_part
from ..cache.layout import feature_key
from ..cache.lock import writer_lock
from ..cache.store import commit, read_feature_hashes, read_images, read_root_attrs
from ..errors import FaceprobeError
from .crop import CropSpec
from .hashing import hash_files
from .resolve import cached_resolution, key_spec, record_resolution, request_id, transform_of
from .sources import read_source

__all__ = ["FeaturizeConfig", "FeaturizeSummary", "featurize"]


@dataclass
class FeaturizeConfig:
    """Everything a featurize run needs; the CLI fills it from its options.

    Attributes
    ----------
    source : str
        Folder of class folders, or CSV manifest.
    backbones : list of str
    weights : list of str
        One entry for all backbones, or one per backbone (``DEFAULT``, a name, a file, ``none``).
    cache : str
    crop : CropSpec
    views : list of str
        ``orig`` first, then augmented views.
    device, precision : str
    batch_size : int or None
        Images per forward pass; None: 32 on CPU (faster than larger batches there), 128 on CUDA.
    workers : int or None
        DataLoader worker processes; None picks from the device and core count.
    seed : int
        Seed of random weights (``--weights none``).
    strict : bool
        Fail on the first bad image instead of recording it.
    compile : str
        ``none``, ``freeze``, ``inductor`` or ``auto`` (see :mod:`faceprobe.featurize.compile`).
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
            f"--weights given {len(cfg.weights)} times for {len(cfg.backbones)} backbones; give it once or once per --backbone"
        )
    return list(cfg.weights)


def _default_workers(cuda: bool, crop: str) -> int:
    """Worker processes for decode and crop.

    On CUDA the CPU only feeds the GPU: use up to 8 cores. On a CPU the cores run the forward
    pass; decoding a face costs a few percent of it, and on two cores a worker process slows
    the forward pass more than it saves (measured), so decoding stays in-process there unless
    a face detector makes it expensive.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cuda:
        return min(8, cores)
    if crop != "none":
        return max(1, cores - 1)
    return 0 if cores <= 2 else max(1, min(4, cores // 4))


def _run_record(plan, cfg: FeaturizeConfig, loaded: dict) -> dict:
    import PIL
    import torch
    import torchvision

    from .device import cpu_info

    rec = {
        "run_id": uuid.uuid4().hex,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "faceprobe": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "device": plan.device,
        "device_name": torch.cuda.get_device_name(plan.device) if plan.is_cuda else cpu_info()["model"],
        "precision": plan.precision,
        "weights": {name: b.weights for name, b in loaded.items()},
        "argv": sys.argv[1:],
    }
    if cfg.crop.method == "haar":
        import cv2

        rec["opencv"] = cv2.__version__
    return rec


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
    cols: dict[str, list] = {c: [] for c in ("path", "sha256", "label", "subject", "width", "height", "bytes", "mtime_ns", "status", "reason")}
    # what is known of each content, whatever path it was seen under
    status_by_sha: dict[str, tuple] = {}
    for j, (sha, st) in enumerate(zip(old["sha256"], old["status"])):
        if sha and st in ("ok", "bad"):
            status_by_sha.setdefault(str(sha), (str(st), str(old["reason"][j]), int(old["width"][j]), int(old["height"][j])))
    for e, h in zip(entries, hashes):
        i = prev.get(e.path)
        if h.error:
            status = ("bad", h.error, -1, -1)
        else:
            status = status_by_sha.get(h.sha256, ("pending", "", -1, -1))
        label, subject = e.label, e.subject
        if not label and i is not None:  # an unlabelled source (predict) keeps known labels
            label, subject = str(old["label"][i]), subject or str(old["subject"][i])
        for c, v in zip(("path", "sha256", "label", "subject", "bytes", "mtime_ns"), (e.path, h.sha256, label, subject, h.size, h.mtime_ns)):
            cols[c].append(v)
        for c, v in zip(("status", "reason", "width", "height"), status):
            cols[c].append(v)
    return cols, status_by_sha


def _rows_changed(new: dict, old: dict) -> bool:
    prev = {str(p): i for i, p in enumerate(old["path"])}
    for j, p in enumerate(new["path"]):
        i = prev.get(p)
        if i is None:
            return True
        for c in ("sha256", "label", "subject", "status", "bytes", "mtime_ns"):
            if str(old[c][i]) != str(new[c][j]):
                return True
    return False


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
    if not cfg.backbones:
        raise FaceprobeError("give at least one --backbone")
    if cfg.shard is not None and not (cfg.shard[1] >= 1 and 0 <= cfg.shard[0] < cfg.shard[1]):
        raise FaceprobeError(f"--shard must be i/n with 0 <= i < n, got {cfg.shard[0]}/{cfg.shard[1]}")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise FaceprobeError(f"--batch-size must be >= 1, got {cfg.batch_size}")
    weights = _weights_per_backbone(cfg)
    table = read_source(cfg.source, root=cfg.root, path_col=cfg.path_col, label_col=cfg.label_col,
                        subject_col=cfg.subject_col, labelled=cfg.labelled)
    summary = FeaturizeSummary(cache=os.path.abspath(cfg.cache), images=len(table.entries), conflicts=table.conflicts, repeats=table.repeats)
    cache = cfg.cache
    with writer_lock(cache):
        summary.recovered_rows = _recover(cache)
        exists = os.path.exists(cache)
        old = read_images(cache) if exists else {c: np.array([], dtype=object) for c in ("path", "sha256", "status")}
        known = {str(p): (str(s), int(b), int(m)) for p, s, b, m in zip(old["path"], old["sha256"], old.get("bytes", []), old.get("mtime_ns", []))}
        hashes = hash_files([e.path for e in table.entries], known)
        rows, status_by_sha = _source_rows(table.entries, hashes, old)
        resolutions = dict(read_root_attrs(cache).get("backbones", {})) if exists else {}
        for other in cfg.done_in:
            if os.path.exists(other):
                for req, rec in read_root_attrs(other).get("backbones", {}).items():
                    resolutions.setdefault(req, rec)
        recs = {name: cached_resolution(resolutions, name, w, cfg.seed) for name, w in zip(cfg.backbones, weights)}
        have = read_feature_hashes(cache) if exists else {}
        for other in cfg.done_in:
            if os.path.exists(other):
                for key, hashes in read_feature_hashes(other).items():
                    have.setdefault(key, set()).update(hashes)

        # unique contents still to do (bad files are not retried unless their bytes changed)
        first_path: dict[str, str] = {}
        for p, s, st in zip(rows["path"], rows["sha256"], rows["status"]):
            if s and st != "bad":
                first_path.setdefault(s, p)
        summary.duplicates_by_content = sum(1 for s, st in zip(rows["sha256"], rows["status"]) if s and st != "bad") - len(first_path)

        def keys_for(rec_by_name):
            return {(name, view): feature_key(key_spec(name, rec, cfg.crop, view)) for name, rec in rec_by_name.items() for view in cfg.views}

        if cfg.shard is not None:
            i, n = cfg.shard
            first_path = {s: p for s, p in first_path.items() if int(s[:15], 16) % n == i}
        todo = list(first_path)
        if all(recs.values()):
            keys = keys_for(recs)
            todo = [s for s in first_path if any(s not in have.get(k, ()) for k in keys.values())]
            summary.keys = sorted(set(keys.values()))
        summary.cached = len(first_path) - len(todo)
        try:
            if todo:
                _compute(cfg, weights, todo, first_path, have, status_by_sha, resolutions, summary)
        finally:
            # commit whatever was computed, also when the run stops early (error, --strict, Ctrl-C)
            for j, s in enumerate(rows["sha256"]):
                if s in status_by_sha:
                    rows["status"][j], rows["reason"][j], rows["width"][j], rows["height"][j] = status_by_sha[s]
            parts = read_parts(cache)
            if parts or _rows_changed(rows, old):
                commit(cache, images=rows, parts=parts, root_attrs={"backbones": resolutions})
                remove_parts(cache)
    summary.bad = [(p, r) for p, st, r in zip(rows["path"], rows["status"], rows["reason"]) if st == "bad"]
    summary.seconds = round(time.perf_counter() - t0, 3)
    summary.images_per_second = round(summary.computed / summary.seconds, 2) if summary.seconds else 0.0
    if not any(st == "ok" for st in rows["status"]) and cfg.shard is None and not cfg.done_in:
        raise FaceprobeError(f"no image could be featurized: all {len(rows['path'])} are unusable (first: {summary.bad[0][0]}: {summary.bad[0][1]})" if summary.bad else "no image could be featurized")
    return summary


def _check_precision(runners: dict, t_index: dict, tensors, run: dict) -> None:
    """``--precision auto``: keep reduced precision per backbone only where it is faithful.

    Runs on the first batch of real images; the outcome is recorded in the run's provenance.
    """
    checks = {}
    for name, runner in runners.items():
        cos = runner.check_fidelity(tensors[0][t_index[name]][:32])
        if cos is not None:
            checks[name] = {"min_cosine_to_fp32": round(cos, 6), "kept": runner.precision != "fp32"}
    run["precision_check"] = checks
    run["precision_by_backbone"] = {name: r.precision for name, r in runners.items()}


def _choose_compile(runners: dict, t_index: dict, tensors, run: dict, mode: str, summary) -> None:
    """Pick each backbone's compile mode on the first batch; record it in the run's provenance."""
    from .compile import choose_compile

    reports = {name: choose_compile(r, tensors[0][t_index[name]], mode) for name, r in runners.items()}
    run["compile"] = {name: rep["mode"] for name, rep in reports.items()}
    run["compile_check"] = reports
    summary.compile.update(run["compile"])
    for name, rep in reports.items():
        if mode != "auto" and rep["mode"] != mode:
            why = rep.get(mode, {}).get("failed") or rep.get(mode, {}).get("rejected") or "unknown"
            summary.compile.setdefault("notes", []).append(f"{name}: --compile {mode} not used ({why}); eager instead")


def _compute(cfg, weights, todo, first_path, have, status_by_sha, resolutions, summary) -> None:
    """Load the backbones, stream the missing images through them, journal every batch."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from .backbones import load_backbone
    from .dataset import FaceDataset, Job, collate, worker_init
    from .device import plan_execution
    from .runner import FeatureRunner

    t_setup = time.perf_counter()
    plan = plan_execution(cfg.device, cfg.precision)
    summary.device, summary.precision = plan.device, plan.precision
    loaded, runners, recs = {}, {}, {}
    for name, w in zip(cfg.backbones, weights):
        if name in loaded:
            continue
        loaded[name] = load_backbone(name, w, seed=cfg.seed)
        recs[name] = record_resolution(loaded[name])
        resolutions[request_id(name, w, cfg.seed)] = recs[name]
        runners[name] = FeatureRunner(loaded[name], plan, pad_to=cfg.batch_size or (128 if plan.is_cuda else 32))
    # backbones that resize and crop alike share one array; normalisation happens on the device
    geometry = {name: (transform_of(r).resize, transform_of(r).crop, transform_of(r).interpolation) for name, r in recs.items()}
    shapes = sorted(set(geometry.values()))
    transforms = [next(transform_of(recs[n]) for n in recs if geometry[n] == g) for g in shapes]
    t_index = {name: shapes.index(geometry[name]) for name in recs}
    keys = {(name, view): feature_key(key_spec(name, recs[name], cfg.crop, view)) for name in recs for view in cfg.views}
    specs = {k: key_spec(name, recs[name], cfg.crop, view) for (name, view), k in keys.items()}
    summary.keys = sorted(set(keys.values()))
    todo = [s for s in todo if any(s not in have.get(k, ()) for k in keys.values())]
    summary.cached = len(first_path) - len(todo)
    if not todo:
        return
    batch_size = cfg.batch_size or (128 if plan.is_cuda else 32)
    run = _run_record(plan, cfg, loaded)
    run["batch_size"] = batch_size
    jobs = [Job(i, first_path[s], s) for i, s in enumerate(todo)]
    dataset = FaceDataset(jobs, cfg.crop, transforms, cfg.views)
    workers = _default_workers(plan.is_cuda, cfg.crop.method) if cfg.workers is None else cfg.workers
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
        pin_memory=plan.pin_memory, worker_init_fn=worker_init if workers else None,
        prefetch_factor=4 if workers else None,
    )
    steady_from, steady_images = None, 0
    bar = tqdm(total=len(jobs), unit="img", desc="featurize", disable=not cfg.progress, dynamic_ncols=True, file=sys.stderr)
    seq = 0
    checked = cfg.precision != "auto"
    compile_mode = cfg.compile
    if compile_mode == "auto" and len(jobs) < 8 * batch_size:
        compile_mode = "none"  # compiling costs seconds; not worth it for a few batches
        summary.compile["note"] = f"--compile auto: {len(jobs)} images are too few to repay compiling; eager"
    compiled = compile_mode == "none"
    try:
        for batch in loader:
            meta, rows, tensors = batch["meta"], batch["rows"], batch["tensors"]
            part = Part(run)
            img_cols: dict[str, list] = {c: [] for c in ("path", "sha256", "status", "reason", "width", "height")}
            bad_here = None
            for it in meta:
                job = jobs[it["index"]]
                status = ("ok", "", it["width"], it["height"]) if it["ok"] else ("bad", it["reason"], -1, -1)
                status_by_sha[job.sha256] = status
                for c, v in zip(img_cols, (job.path, job.sha256, *status)):
                    img_cols[c].append(v)
                if not it["ok"] and bad_here is None:
                    bad_here = (job.path, it["reason"])
                if it["face"] == 0:
                    summary.no_face += 1
            part.images = {c: np.asarray(v) for c, v in img_cols.items()}
            if not checked and tensors is not None:
                _check_precision(runners, t_index, tensors, run)
                checked = True
                precisions = sorted({r.precision for r in runners.values()})
                summary.precision = precisions[0] if len(precisions) == 1 else ",".join(f"{n}={r.precision}" for n, r in runners.items())
                summary.precision_check = run["precision_check"]
            if not compiled and tensors is not None:
                _choose_compile(runners, t_index, tensors, run, compile_mode, summary)
                compiled = True
            usable = [i for i, it in enumerate(meta) if it["ok"]]
            pos_in_stack = {m: r for r, m in enumerate(rows)}
            for (name, view), key in keys.items():
                vi, ti = cfg.views.index(view), t_index[name]
                held = have.setdefault(key, set())
                need = [i for i in usable if jobs[meta[i]["index"]].sha256 not in held]
                if not need:
                    continue
                vectors = np.full((len(need), loaded[name].feature_dim), np.nan, dtype=np.float32)
                stacked = [j for j, i in enumerate(need) if i in pos_in_stack]
                if stacked:
                    sel = torch.as_tensor([pos_in_stack[need[j]] for j in stacked])
                    vectors[stacked] = runners[name](tensors[vi][ti].index_select(0, sel))
                    summary.forward_passes += len(stacked)
                shas = [jobs[meta[i]["index"]].sha256 for i in need]
                held.update(shas)
                part.features[key] = {
                    "spec": specs[key],
                    "sha256": np.asarray(shas),
                    "vectors": vectors,
                    "face": np.asarray([meta[i]["face"] for i in need], dtype=np.int8),
                    "box": np.asarray([meta[i]["box"] for i in need], dtype=np.int32).reshape(-1, 4),
                }
            write_part(cfg.cache, f"{run['run_id']}-{seq:06d}", part)
            seq += 1
            summary.computed += len(usable)
            if steady_from is None:  # loading, checks and compiling end with the first batch
                steady_from = time.perf_counter()
                summary.setup_seconds = round(steady_from - t_setup, 3)
            else:
                steady_images += len(usable)
            bar.update(len(meta))
            if bad_here is not None and cfg.strict:
                raise FaceprobeError(f"{bad_here[0]}: {bad_here[1]} (--strict stops at the first bad image)")
    finally:
        bar.close()
        if steady_from is not None and steady_images:
            summary.steady_images_per_second = round(steady_images / (time.perf_counter() - steady_from), 2)
