"""The compute half of a featurize run: load backbones, check precision and compile modes on
the first batch, stream the missing images through the models, journal every batch."""

from __future__ import annotations

import platform
import sys
import time
import uuid
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from ..cache.journal import Part, write_part
from ..cache.layout import feature_key
from ..errors import FaceprobeError
from .engine.cores import plan_cores, torch_threads, usable_cores
from .backbones.resolve import key_spec, record_resolution, request_id

__all__ = ["Work", "compute_missing"]


def _run_record(plan, cfg, loaded: dict, members: dict) -> dict:
    import PIL
    import torch
    import torchvision

    from .engine.device import cpu_info

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
        "weights": {name: loaded[rid].weights for rid, names in members.items() for name in names},
        "argv": sys.argv[1:],
    }
    if any(name.startswith("timm/") for name in loaded):
        import timm

        rec["timm"] = timm.__version__
    rec.update(cfg.crop.cropper.versions())
    return rec


def _check_precision(m, tensors, run: dict) -> None:
    """``--precision auto``: keep reduced precision per backbone only where it is faithful
    (every output of it: pooled vector and layers).

    Runs on the first batch of real images; the outcome is recorded in the run's provenance.
    """
    checks = {}
    for rid, runner in m.runners.items():
        cos = runner.check_fidelity(tensors[0][m.t_index[rid]][:32])
        if cos is not None:
            checks[rid] = {"min_cosine_to_fp32": round(cos, 6), "kept": runner.precision != "fp32"}
    run["precision_check"] = checks
    run["precision_by_backbone"] = {name: m.runners[rid].precision for rid, names in m.members.items() for name in names}


def _choose_compile(m, tensors, run: dict, mode: str, n_images: int, summary) -> None:
    """Pick each backbone's compile mode on the first batch; record it in the run's provenance."""
    from .engine.compile import choose_compile

    reports = {rid: choose_compile(r, tensors[0][m.t_index[rid]], mode, n_images) for rid, r in m.runners.items()}
    skipped = [name for name, rep in reports.items() if mode == "auto" and all("skipped" in rep.get(kind, {}) for kind in ("freeze", "inductor"))]
    if skipped:
        summary.compile["note"] = f"`compile=auto`: {n_images} images are too few to repay compiling {', '.join(skipped)}; eager"
    run["compile"] = {name: rep["mode"] for name, rep in reports.items()}
    run["compile_check"] = reports
    summary.compile.update(run["compile"])
    for name, rep in reports.items():
        if mode != "auto" and rep["mode"] != mode:
            why = rep.get(mode, {}).get("failed") or rep.get(mode, {}).get("rejected") or rep.get("skipped") or "unknown"
            summary.compile.setdefault("notes", []).append(f"{name}: `compile={mode}` not used ({why}); eager instead")


def _choose_decoder(cfg, dataset, runners: dict, t_index: dict, plan, workers: int, run: dict, summary) -> None:
    """Decide where JPEGs are decoded (``--decode``); record it in the run's provenance."""
    from .engine.devdecode import choose_decoder

    report = choose_decoder(cfg.decode, dataset, runners, t_index, plan.device, workers, plan.is_cuda)
    run["decode"] = report
    dataset.on_device = report["decode"] == "device"
    summary.decode = report["decode"]
    if cfg.decode == "device" and not dataset.on_device:
        summary.notes.append(f"`decode=device` not used ({report.get('reason', 'unknown')}); CPU decoding instead")


def _image_rows(meta: list, jobs: list, status_by_sha: dict, summary) -> tuple[dict, tuple | None]:
    """The batch's rows of the image table, and the first bad image (path, reason) if any.

    ``status_by_sha`` gets the batch's statuses (what the final commit writes into the table);
    the caller applies them only once the batch's part is in the journal, so the table never
    says ok for an image whose vectors were lost with an interrupted batch.
    """
    cols: dict[str, list] = {c: [] for c in ("path", "sha256", "status", "reason", "width", "height", "dhash")}
    bad = None
    for it in meta:
        job = jobs[it["index"]]
        status = ("ok", "", it["width"], it["height"], it.get("dhash", "")) if it["ok"] else ("bad", it["reason"], -1, -1, "")
        status_by_sha[job.sha256] = status
        for c, v in zip(cols, (job.path, job.sha256, *status)):
            cols[c].append(v)
        if not it["ok"] and bad is None:
            bad = (job.path, it["reason"])
        if it["face"] == 0:
            summary.no_face += 1
    return {c: np.asarray(v) for c, v in cols.items()}, bad


def _forward(need: list, pos_in_stack: dict, batch_x, runner, summary) -> np.ndarray:
    """All outputs of one model for the batch items ``need`` (one forward pass); NaN rows for
    items without an array (no face found with ``--no-face skip``)."""
    import torch

    vectors = np.full((len(need), runner.backbone.feature_dim), np.nan, dtype=np.float32)
    stacked = [j for j, i in enumerate(need) if i in pos_in_stack]
    if stacked:
        rows = [pos_in_stack[need[j]] for j in stacked]
        x = batch_x if rows == list(range(batch_x.shape[0])) else batch_x.index_select(0, torch.as_tensor(rows, device=batch_x.device))
        vectors[stacked] = runner(x)
        summary.forward_passes += len(stacked)
    return vectors


def _feature_rows(need: list, meta: list, jobs: list, vectors: np.ndarray, spec: dict) -> dict:
    """One feature key's rows for the batch items ``need`` (with the detector's score and
    landmarks when the cropper gives them)."""
    rows = {
        "spec": spec,
        "sha256": np.asarray([jobs[meta[i]["index"]].sha256 for i in need]),
        "vectors": np.ascontiguousarray(vectors),
        "face": np.asarray([meta[i]["face"] for i in need], dtype=np.int8),
        "box": np.asarray([meta[i]["box"] for i in need], dtype=np.int32).reshape(-1, 4),
    }
    if need and "landmarks" in meta[need[0]]:
        rows["score"] = np.asarray([meta[i]["score"] for i in need], dtype=np.float32)
        rows["landmarks"] = np.asarray([meta[i]["landmarks"] for i in need], dtype=np.float32).reshape(-1, 10)
    return rows


@dataclass
class Work:
    """What a featurize run still has to compute, and where its results go.

    Attributes
    ----------
    todo : list of str
        Content hashes that miss at least one feature key (when resolutions were known).
    refs : dict of str -> ImageRef
        Each content hash's first listing (what is opened).
    have : dict of str -> set of str
        Per feature key, the content hashes already held (updated as batches are journaled).
    status_by_sha : dict
        Per content hash, (status, reason, width, height, dhash) as learnt (updated).
    resolutions : dict
        Backbone requests -> what they resolved to (updated with the loaded backbones).
    """

    todo: list
    refs: dict
    have: dict
    status_by_sha: dict
    resolutions: dict


@dataclass
class _Models:
    """The loaded backbones with their runners and the feature keys they fill.

    A runner is one backbone with one set of weights; ``members`` lists the requests it serves
    (its pooled output and layers, in the order of its output columns), ``columns`` each
    request's column range in its runner's output.
    """

    plan: object
    batch_size: int
    loaded: dict
    runners: dict
    transforms: list
    t_index: dict
    keys: dict
    specs: dict
    members: dict
    columns: dict


def _runner_groups(cfg, weights) -> dict[str, tuple[list[str], str]]:
    """Runner id -> (the requests one forward pass serves, their weights): the requests of one
    backbone with the same weights share a model."""
    from .backbones.layers import parse_request

    by_model: dict[tuple[str, str], list[str]] = {}
    for name, w in zip(cfg.backbones, weights):
        by_model.setdefault((parse_request(name).base, w), []).append(name)
    bases = [b for b, _ in by_model]
    return {(b if bases.count(b) == 1 else f"{b} ({w})"): (names, w) for (b, w), names in by_model.items()}


def _load_models(cfg, weights, work: Work, summary) -> _Models:
    from .backbones.load import load_outputs
    from .engine.device import plan_execution
    from .engine.runner import FeatureRunner

    plan = plan_execution(cfg.device, cfg.precision)
    summary.device, summary.precision = plan.device, plan.precision
    batch_size = cfg.batch_size or plan.default_batch_size
    loaded, runners, recs, members, columns = {}, {}, {}, {}, {}
    for rid, (names, w) in _runner_groups(cfg, weights).items():
        loaded[rid] = load_outputs(names, w, seed=cfg.seed)
        members[rid] = [o.name for o in loaded[rid].output_list()]
        for o, bounds in zip(loaded[rid].output_list(), loaded[rid].bounds()):
            recs[o.name] = record_resolution(loaded[rid], o)
            work.resolutions[request_id(o.name, w, cfg.seed)] = recs[o.name]
            columns[o.name] = bounds
        runners[rid] = FeatureRunner(loaded[rid], plan, pad_to=batch_size)
        if runners[rid].precision != plan.precision:
            summary.notes.append(f"{rid} computes in float32 (not a PyTorch graph); `precision={plan.precision}` applies to the others")
    # backbones that resize and crop alike share one array; normalisation happens on the device
    geometry = {rid: (lb.transform.resize, lb.transform.crop, lb.transform.interpolation, lb.transform.mode) for rid, lb in loaded.items()}
    shapes = sorted(set(geometry.values()))
    transforms = [next(loaded[r].transform for r in loaded if geometry[r] == g) for g in shapes]
    t_index = {rid: shapes.index(geometry[rid]) for rid in loaded}
    keys = {(name, view): feature_key(key_spec(name, recs[name], cfg.crop, view)) for name in recs for view in cfg.views}
    specs = {k: key_spec(name, recs[name], cfg.crop, view) for (name, view), k in keys.items()}
    summary.keys = sorted(set(keys.values()))
    return _Models(plan, batch_size, loaded, runners, transforms, t_index, keys, specs, members, columns)


def compute_missing(cfg, weights, work: Work, summary) -> None:
    """Load the backbones, stream the missing images through them, journal every batch."""
    from torch.utils.data import DataLoader

    from .engine.dataset import FaceDataset, Job, collate, worker_init

    t_setup = time.perf_counter()
    m = _load_models(cfg, weights, work, summary)
    todo = [s for s in work.todo if any(s not in work.have.get(k, ()) for k in m.keys.values())]
    summary.cached = len(work.refs) - len(todo)
    if not todo:
        return
    run = _run_record(m.plan, cfg, m.loaded, m.members)
    run["batch_size"] = m.batch_size
    jobs = [Job(i, work.refs[s], s) for i, s in enumerate(todo)]
    dataset = FaceDataset(jobs, cfg.crop, m.transforms, cfg.views)
    cores = plan_cores(m.plan.is_cuda, cfg.crop.cropper.detector, cfg.cores or usable_cores(), cfg.workers)
    run["workers"] = cores.workers
    loader = DataLoader(
        dataset, batch_size=m.batch_size, shuffle=False, num_workers=cores.workers, collate_fn=collate,
        pin_memory=m.plan.pin_memory, worker_init_fn=worker_init if cores.workers else None,
        prefetch_factor=4 if cores.workers else None,
        multiprocessing_context="forkserver" if cores.workers and not _fork_safe(cfg, jobs) else None,
    )
    with torch_threads(cores.torch_threads) as threads:
        run["torch_threads"] = threads
        _choose_decoder(cfg, dataset, m.runners, m.t_index, m.plan, cores.workers, run, summary)
        _stream(cfg, m, loader, dataset, jobs, work, run, summary, t_setup)


def _fork_safe(cfg, jobs: list) -> bool:
    """Workers may be forked: the cropper and every image reference allow it."""
    return cfg.crop.cropper.fork_safe and all(job.ref.fork_safe for job in jobs)


def _first_batch_checks(cfg, m: _Models, tensors, n_jobs: int, run: dict, summary, done: dict) -> None:
    """Precision and compile choices, on the first batch that has images (each once)."""
    if not done["precision"] and tensors is not None:
        _check_precision(m, tensors, run)
        done["precision"] = True
        precisions = sorted({r.precision for r in m.runners.values()})
        summary.precision = precisions[0] if len(precisions) == 1 else ",".join(f"{rid}={r.precision}" for rid, r in m.runners.items())
        summary.precision_check = run["precision_check"]
    if not done["compile"] and tensors is not None:
        _choose_compile(m, tensors, run, cfg.compile, n_jobs, summary)
        done["compile"] = True


def _stream(cfg, m: _Models, loader, dataset, jobs: list, work: Work, run: dict, summary, t_setup: float) -> None:
    """The batch loop: forward every missing key, journal each batch, time the steady state."""
    from tqdm import tqdm

    from .engine.dataset import finish_on_device

    steady_from, steady_images, seq = None, 0, 0
    done = {"precision": cfg.precision != "auto", "compile": cfg.compile == "none"}
    bar = tqdm(total=len(jobs), unit="img", desc="featurize", disable=None if cfg.progress else True, dynamic_ncols=True, file=sys.stderr)
    try:
        for batch in loader:
            if batch["jpeg"]:
                batch = finish_on_device(batch, dataset, m.plan.device)
            meta, rows, tensors = batch["meta"], batch["rows"], batch["tensors"]
            part, learnt = Part(run), {}
            part.images, bad_here = _image_rows(meta, jobs, learnt, summary)
            _first_batch_checks(cfg, m, tensors, len(jobs), run, summary, done)
            usable = [i for i, it in enumerate(meta) if it["ok"]]
            pos_in_stack = {r: j for j, r in enumerate(rows)}
            for rid, view in ((rid, view) for rid in m.runners for view in cfg.views):
                _forward_model(rid, view, m, cfg, tensors, meta, jobs, usable, pos_in_stack, work, part, summary)
            write_part(cfg.cache, f"{run['run_id']}-{seq:06d}", part)
            work.status_by_sha.update(learnt)
            seq += 1
            summary.computed += len(usable)
            if steady_from is None:  # loading, checks and compiling end with the first batch
                steady_from = time.perf_counter()
                summary.setup_seconds = round(steady_from - t_setup, 3)
            else:
                steady_images += len(usable)
            bar.update(len(meta))
            if bad_here is not None and cfg.strict:
                raise FaceprobeError(f"{bad_here[0]}: {bad_here[1]} (`strict` stops at the first bad image)")
    finally:
        bar.close()
        if steady_from is not None and steady_images:
            summary.steady_images_per_second = round(steady_images / (time.perf_counter() - steady_from), 2)


def _forward_model(rid, view, m: _Models, cfg, tensors, meta, jobs, usable, pos_in_stack, work: Work, part, summary) -> None:
    """One model's forward pass for one view: the rows every request it serves still misses."""
    need_by = {}
    for name in m.members[rid]:
        key = m.keys[(name, view)]
        held = work.have.setdefault(key, set())
        need_by[name] = [i for i in usable if jobs[meta[i]["index"]].sha256 not in held]
    union = sorted(set().union(*need_by.values()))
    if not union:
        return
    batch_x = tensors[cfg.views.index(view)][m.t_index[rid]] if tensors is not None else None
    vectors = _forward(union, pos_in_stack, batch_x, m.runners[rid], summary)
    at = {i: j for j, i in enumerate(union)}
    for name, need in need_by.items():
        if not need:
            continue
        key = m.keys[(name, view)]
        lo, hi = m.columns[name]
        part.features[key] = _feature_rows(need, meta, jobs, vectors[[at[i] for i in need], lo:hi], m.specs[key])
        work.have[key].update(part.features[key]["sha256"].tolist())
