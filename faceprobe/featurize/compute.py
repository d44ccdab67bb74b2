"""The compute half of a featurize run: take the plan, load the backbones, check precision and
compile modes on the first batch, stream the missing images through the models, journal every
batch, and return what was computed.

Everything a later commit needs is in the journal: each batch's part holds its image rows
(statuses) and vectors, and the run record in it holds what the requests resolved to, so an
interrupted run loses nothing that was journaled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..cache.journal import Part, merge_parts, part_rows, write_part
from ..cache.layout import feature_key
from ..errors import FaceprobeError
from .backbones.resolve import key_spec, record_resolution, request_id
from .engine.cores import share_cores, torch_threads, usable_cores
from .plan import FeaturizePlan
from .stages import WORKER_STAGES
from .first_batch import check_precision, choose_compile_or_runtime, never_prepared, prepared, report_precision, switch_to_prepared
from .run_record import run_record
from .summary import ComputeReport

__all__ = ["ComputeReport", "compute", "PART_ROWS"]

PART_ROWS = 1024
"""A journal part is written once the batches waiting for it hold this many images, or once the
oldest of them waited ``journal_seconds``: a killed run loses at most those seconds of work, and
a long run leaves a few hundred parts instead of one per batch (FER-2013 left 2,243)."""


@dataclass(frozen=True)
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


def _runner_groups(p: FeaturizePlan) -> dict[str, tuple[list[str], str]]:
    """Runner id -> (the requests one forward pass serves, their weights): the requests of one
    backbone with the same weights share a model."""
    from .backbones.load import family_of

    by_model: dict[tuple[str, str], list[str]] = {}
    for r, w in zip(p.request.requests, p.request.weights):
        by_model.setdefault((family_of(r.base).runner(r.base), w), []).append(r.name)
    bases = [b for b, _ in by_model]
    return {(b if bases.count(b) == 1 else f"{b} ({w})"): (names, w) for (b, w), names in by_model.items()}


def _load_models(p: FeaturizePlan, report: ComputeReport) -> _Models:
    from .backbones.load import load_outputs
    from .engine.device import device_setup
    from .engine.runner import FeatureRunner

    cfg = p.config
    groups = _runner_groups(p)
    plan = device_setup(cfg.device, cfg.precision)
    report.device, report.precision = plan.device, plan.precision
    batch_size = min(cfg.batch_size or plan.default_batch_size, max(1, len(p.todo)))  # never padded past the run's images
    loaded, runners, recs, members, columns, specs = {}, {}, {}, {}, {}, {}
    for rid, (names, w) in groups.items():
        loaded[rid] = load_outputs(names, w, seed=cfg.seed)
        members[rid] = [o.name for o in loaded[rid].output_list()]
        for o, bounds in zip(loaded[rid].output_list(), loaded[rid].bounds()):
            recs[o.name] = record_resolution(loaded[rid], o)
            report.resolutions[request_id(o.name, w, cfg.seed)] = recs[o.name]
            specs |= {(o.name, view): key_spec(o.name, recs[o.name], cfg.crop_spec, view) for view in cfg.views}
            columns[o.name] = bounds
        runners[rid] = FeatureRunner(loaded[rid], plan, pad_to=batch_size, asked=cfg.batch_size)
        w = loaded[rid].weights
        if w.get("licence_restricts"):
            report.notes.append(f"{rid}: licence {w.get('licence')}: {w['licence_restricts']}")
    for rid, runner in runners.items():  # said where the precision was asked for, or where other backbones take it
        if runner.precision != plan.precision and (cfg.precision != "auto" or any(lb.graph for lb in loaded.values())):
            report.notes.append(f"{rid} computes in float32 (not a PyTorch graph); `precision={plan.precision}` applies to the others")
    # backbones that resize and crop alike share one array; normalisation happens on the device
    geometry = {rid: (lb.transform.resize, lb.transform.crop, lb.transform.interpolation, lb.transform.mode) for rid, lb in loaded.items()}
    shapes = sorted(set(geometry.values()))
    transforms = [next(loaded[r].transform for r in loaded if geometry[r] == g) for g in shapes]
    t_index = {rid: shapes.index(geometry[rid]) for rid in loaded}
    keys = {nv: feature_key(spec) for nv, spec in specs.items()}
    report.keys = tuple(sorted(set(keys.values())))
    return _Models(plan, batch_size, loaded, runners, transforms, t_index, keys, {keys[nv]: s for nv, s in specs.items()}, members, columns)


def _start_method(p: FeaturizePlan, jobs: list) -> str | None:
    """The workers' start method: the plan's, or with ``auto`` fork where the cropper and every
    image reference allow it (None: the platform's default, fork on Linux), else fork server."""
    method = p.config.start_method
    if method != "auto":
        return method
    forkable = p.request.recipe.cropper.fork_safe and all(job.ref.fork_safe for job in jobs)
    return None if forkable else "forkserver"


def compute(p: FeaturizePlan) -> ComputeReport:
    """Load the backbones, stream the plan's missing images through them, journal every batch.

    Returns
    -------
    ComputeReport
        What was computed; the vectors and image statuses are in the cache's journal.
    """
    t_setup = time.perf_counter()
    report = ComputeReport()
    with report.stages("load"):  # importing torch, then the backbones
        from torch.utils.data import DataLoader

        from .engine.dataset import FaceDataset, Job, collate, worker_init
        from .engine.devdecode import choose_decoder

        m = _load_models(p, report)
    todo = [s for s in p.todo if any(s not in p.have.get(k, ()) for k in m.keys.values())]
    report.cached = len(p.refs) - len(todo)
    if not todo:
        return report
    jobs = [Job(i, p.refs[s], s) for i, s in enumerate(todo)]
    run = run_record(p, m, report)
    start_method = _start_method(p, jobs)
    dataset = FaceDataset(jobs, p.request.recipe, m.transforms)
    cores = share_cores(m.plan.is_cuda, p.request.recipe.cropper.detector, p.config.cores or usable_cores(), p.config.workers)
    loader = DataLoader(
        dataset, batch_size=m.batch_size, shuffle=False, num_workers=cores.workers, collate_fn=collate,
        pin_memory=m.plan.pin_memory, worker_init_fn=worker_init if cores.workers else None,
        prefetch_factor=4 if cores.workers else None, multiprocessing_context=start_method if cores.workers else None,
    )
    run["workers"] = cores.workers
    try:
        with torch_threads(cores.torch_threads) as threads:
            run["torch_threads"] = threads
            # where JPEGs are decoded (``decode``), in the run's provenance
            choice = choose_decoder(p.config.decode, dataset, m.runners, m.t_index, m.plan.device, cores.workers, m.plan.is_cuda)
            run["decode"], report.decode = choice, choice["decode"]
            dataset.on_device = choice["decode"] == "device"
            if p.config.decode == "device" and not dataset.on_device:
                report.notes.append(f"`decode=device` not used ({choice.get('reason', 'unknown')}); CPU decoding instead")
            _Stream(p, m, jobs, run, report).run(loader, dataset, t_setup)
    finally:
        for loaded in m.loaded.values():  # what a model holds outside Python (a MediaPipe graph) is released now
            loaded.close()
    return report


@dataclass
class _Batch:
    """One batch as the loader gave it: item metadata, positions of the stacked rows, tensors."""

    meta: list
    rows: list
    tensors: list | None

    @property
    def usable(self) -> list[int]:
        return [i for i, it in enumerate(self.meta) if it["ok"]]


class _Stream:
    """The batch loop of one run: first-batch checks, a forward pass per model and view for the
    rows each key misses, one journal part per batch, the steady-state rate."""

    def __init__(self, p: FeaturizePlan, m: _Models, jobs: list, run: dict, report: ComputeReport):
        self.p, self.m, self.jobs, self.run_record, self.report = p, m, jobs, run, report
        self.pending: list[Part] = []  # batches not yet in a journal part
        self.pending_since = 0.0
        self.written = 0
        self.seen = 0  # images the loader has given
        self.checked = {"precision": False,  # every reduced precision is measured; an explicit one is kept, with a warning below the gate
                        "compile": p.config.compile == "none" and p.config.runtime in ("torch", "auto")}

    def run(self, loader, dataset, t_setup: float) -> None:
        from ..progress import Meter

        from .engine.dataset import finish_on_device, started_workers
        from .engine.prefetch import prefetched

        steady_from, steady_images = None, 0
        bar = Meter(len(self.jobs), "featurize", "image", self.p.config.progress)
        # without worker processes, a thread decodes the next batches during the forward pass
        batches = started_workers(loader) if loader.num_workers else prefetched(loader)
        try:
            while True:
                with self.report.stages("wait_input"):  # decoding and cropping not hidden behind the forward pass
                    raw = next(batches, None)
                if raw is None:
                    break
                if raw["jpeg"]:
                    raw = finish_on_device(raw, dataset, self.m.plan.device)
                batch = _Batch(raw["meta"], raw["rows"], raw["tensors"])
                bad = self._journal(batch)
                if steady_from is None:  # loading, checks and compiling end with the first batch
                    steady_from = time.perf_counter()
                    self.report.setup_seconds = round(steady_from - t_setup, 3)
                else:
                    steady_images += len(batch.usable)
                bar.update(len(batch.meta))
                if bad is not None and self.p.config.strict:
                    raise FaceprobeError(f"{bad[0]}: {bad[1]} (`strict` stops at the first bad image)")
        finally:
            if hasattr(batches, "close"):
                batches.close()
            self._flush()  # a stopped or failed run keeps every batch it computed
            never_prepared(self.m, self.report)
            bar.close()
            if steady_from is not None and steady_images:
                self.report.steady_images_per_second = round(steady_images / (time.perf_counter() - steady_from), 2)

    def _journal(self, batch: _Batch) -> tuple | None:
        """Forward the batch and journal it; the first bad image (path, reason), if any."""
        stages = self.report.stages
        with stages("checks"):
            if batch.tensors is not None and prepared(self.m, batch.tensors):  # the rows from here on get a record of their own
                self._flush()
                self.run_record = switch_to_prepared(self.m, batch.tensors, self.run_record, self.report, done=self.report.computed,
                                                     left=len(self.jobs) - self.seen)
            self._first_batch_checks(batch)
        part = Part(self.run_record)
        part.images, bad = self._image_rows(batch)
        self.seen += len(batch.meta)
        with stages("forward"):
            for rid in self.m.runners:
                for view in self.p.config.views:
                    self._forward_model(rid, view, batch, part)
        if not self.pending:
            self.pending_since = time.perf_counter()
        self.pending.append(part)
        self.report.computed += len(batch.usable)
        if sum(part_rows(q) for q in self.pending) >= PART_ROWS or time.perf_counter() - self.pending_since >= self.p.config.journal_seconds:
            self._flush()
        return bad

    def _flush(self) -> None:
        """Write the pending batches as one journal part."""
        if not self.pending:
            return
        with self.report.stages("journal"):
            # named by the run's first record: parts are committed in name order, a switch's included
            write_part(self.p.config.cache, f"{self.run_record.get('continues_run', self.run_record['run_id'])}-{self.written:06d}",
                       merge_parts(self.pending))
        self.pending, self.written = [], self.written + 1

    def _image_rows(self, batch: _Batch) -> tuple[dict, tuple | None]:
        """The batch's rows of the image table (what the commit writes), and the first bad image."""
        cols: dict[str, list] = {c: [] for c in ("path", "sha256", "status", "reason", "width", "height", "dhash")}
        bad = None
        for it in batch.meta:
            job = self.jobs[it["index"]]
            status = ("ok", "", it["width"], it["height"], it.get("dhash", "")) if it["ok"] else ("bad", it["reason"], -1, -1, "")
            for c, v in zip(cols, (job.path, job.sha256, *status)):
                cols[c].append(v)
            if not it["ok"] and bad is None:
                bad = (job.path, it["reason"])
            for stage, secs in zip(WORKER_STAGES, it.get("seconds", ())):
                self.report.stages.add(stage, secs)
            self.report.no_face += it["face"] == 0
        return {c: np.asarray(v) for c, v in cols.items()}, bad

    def _first_batch_checks(self, batch: _Batch) -> None:
        """Precision and compile choices, on the first batch that has images (each once)."""
        if batch.tensors is None:
            return
        if not self.checked["precision"]:
            self.report.notes.extend(check_precision(self.m, batch.tensors, self.run_record, explicit=self.p.config.precision != "auto"))
            self.checked["precision"] = True
            report_precision(self.m, self.report)
            self.report.precision_check = self.run_record["precision_check"]
        if not self.checked["compile"]:
            cfg = self.p.config
            choose_compile_or_runtime(self.m, batch.tensors, self.run_record, cfg.compile, len(self.jobs), self.report, runtime=cfg.runtime,
                            precision=cfg.precision)
            self.checked["compile"] = True

    def _forward_model(self, rid: str, view: str, batch: _Batch, part: Part) -> None:
        """One model's forward pass for one view: the rows every request it serves still misses."""
        m = self.m
        need_by = {}
        for name in m.members[rid]:
            held = self.p.have.get(m.keys[(name, view)], frozenset())
            need_by[name] = [i for i in batch.usable if self.jobs[batch.meta[i]["index"]].sha256 not in held]
        union = sorted(set().union(*need_by.values()))
        if not union:
            return
        batch_x = batch.tensors[self.p.config.views.index(view)][m.t_index[rid]] if batch.tensors is not None else None
        vectors = self._forward(union, batch, batch_x, m.runners[rid])
        at = {i: j for j, i in enumerate(union)}
        for name, need in need_by.items():
            if need:
                key = m.keys[(name, view)]
                lo, hi = m.columns[name]
                rows = _feature_rows(need, batch.meta, self.jobs, vectors[[at[i] for i in need], lo:hi], m.specs[key])
                part.features[key] = rows
                if "detects" in m.specs[key]:
                    self.report.no_face_by_key[name] = self.report.no_face_by_key.get(name, 0) + int(np.sum(rows["face"] == 0))

    def _forward(self, need: list, batch: _Batch, batch_x, runner) -> np.ndarray:
        """All outputs of one model for the batch items ``need`` (one forward pass); NaN rows for
        items without an array (no face found with ``no_face="skip"``)."""
        import torch

        pos_in_stack = {r: j for j, r in enumerate(batch.rows)}
        vectors = np.full((len(need), runner.backbone.feature_dim), np.nan, dtype=np.float32)
        stacked = [j for j, i in enumerate(need) if i in pos_in_stack]
        if stacked:
            rows = [pos_in_stack[need[j]] for j in stacked]
            x = batch_x if rows == list(range(batch_x.shape[0])) else batch_x.index_select(0, torch.as_tensor(rows, device=batch_x.device))
            vectors[stacked] = runner(x)
            self.report.forward_passes += len(stacked)
        return vectors


def _feature_rows(need: list, meta: list, jobs: list, vectors: np.ndarray, spec: dict) -> dict:
    """One feature key's rows for the batch items ``need`` (with the detector's score and
    landmarks when the cropper gives them); for a backbone that finds the face itself, ``face``
    says whether it found one."""
    face = np.asarray([meta[i]["face"] for i in need], dtype=np.int8)
    if "detects" in spec:  # the backbone's own detection: no face where its row is NaN
        face = np.where(np.isnan(vectors).any(axis=1) if vectors.size else np.zeros(len(need), bool), 0, np.maximum(face, 1)).astype(np.int8)
    rows = {
        "spec": spec,
        "sha256": np.asarray([jobs[meta[i]["index"]].sha256 for i in need]),
        "vectors": np.ascontiguousarray(vectors),
        "face": face,
        "box": np.asarray([meta[i]["box"] for i in need], dtype=np.int32).reshape(-1, 4),
    }
    if need and "landmarks" in meta[need[0]]:
        rows["score"] = np.asarray([meta[i]["score"] for i in need], dtype=np.float32)
        rows["landmarks"] = np.asarray([meta[i]["landmarks"] for i in need], dtype=np.float32).reshape(-1, 10)
    return rows
