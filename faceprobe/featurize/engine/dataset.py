"""Decode, crop, augment and resize faces in DataLoader workers; bad images travel as records."""

from __future__ import annotations

import time

from dataclasses import dataclass, replace

import numpy as np

from ...errors import BadImage, first_line
from ..faces.crop import FaceRecipe
from ..sources.decode import dhash
from .transform import TransformSpec, to_uint8_chw

__all__ = ["FaceDataset", "collate", "finish_on_device", "worker_init", "started_workers"]


@dataclass(frozen=True)
class Job:
    """One image to process: its row in the run's work list, its reference and content hash."""

    index: int
    ref: object
    sha256: str

    @property
    def path(self) -> str:
        return self.ref.path


class FaceDataset:
    """Map-style dataset: item ``i`` is a dict with the image's metadata and, when it could be
    used, one uint8 (3, H, W) array per (transform, view).

    Parameters
    ----------
    jobs : list of Job
    recipe : FaceRecipe
        The crop settings with the cropper, steps and views resolved; pickled by value
        (cloudpickle) for worker processes, so plug-in entries work in every start method.
    transforms : list of TransformSpec
        Distinct input pipelines of the run's backbones (backbones sharing one share the arrays).
    on_device : bool, default=False
        Ship the bytes of JPEGs the model's device can decode (see :mod:`.devdecode`) instead
        of decoding them here.
    """

    def __init__(self, jobs: list[Job], recipe: FaceRecipe, transforms: list[TransformSpec], on_device: bool = False):
        self.jobs = jobs
        self.recipe = recipe
        self.crop = recipe.spec
        self.transforms = transforms
        self.views = [name for name, _ in recipe.views]
        self.on_device = on_device
        # let JPEG decode at reduced size when the face fills the frame; keep detail for detection
        largest = max(t.resize for t in transforms)
        self.draft = (2 * largest, 2 * largest) if recipe.cropper.detector else (largest, largest)

    def __getstate__(self) -> dict:
        import cloudpickle

        return {**self.__dict__, "recipe": cloudpickle.dumps(self.recipe)}

    def __setstate__(self, state: dict) -> None:
        import pickle

        self.__dict__.update({**state, "recipe": pickle.loads(state["recipe"])})

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> dict:
        return self.load(i, self.on_device)

    def load(self, i: int, on_device: bool) -> dict:
        """Item ``i``: metadata plus ``arrays`` (decoded here) or ``jpeg`` (bytes for the device)."""
        job = self.jobs[i]
        item = {"index": job.index, "ok": False, "reason": "", "width": -1, "height": -1, "face": -1, "box": (-1, -1, -1, -1)}
        if on_device and job.ref.file is not None:
            from .devdecode import jpeg_for_device

            blob = jpeg_for_device(job.ref.file, self.draft)
            if blob is not None:
                item.update(ok=True, jpeg=blob)
                return item
        t0 = time.perf_counter()
        try:
            img = job.ref.open(draft_size=self.draft)
        except BadImage as exc:
            item["reason"] = str(exc)
            return item
        except Exception as exc:  # a decoder bug must not stop the run: record it
            item["reason"] = f"cannot decode: {first_line(exc)}"
            return item
        item["width"], item["height"] = img.size
        item["dhash"] = dhash(img)
        t1 = time.perf_counter()
        cropped = self.recipe.crop(img)
        t2 = time.perf_counter()
        item["seconds"] = (t1 - t0, t2 - t1, 0.0)  # decode, crop, preprocess (stages.py)
        item["face"], item["box"] = cropped.face, cropped.box
        if self.recipe.cropper.landmarks:
            item["score"], item["landmarks"] = cropped.score, cropped.landmarks or (float("nan"),) * 10
        if cropped.face == 0 and self.crop.no_face == "skip":
            item["ok"] = True
            item["arrays"] = None
            return item
        # an aligned face is already framed: resize the square to the input size, no centre crop
        transforms = [replace(t, resize=t.crop, mode="center") for t in self.transforms] if self.crop.align and cropped.face == 1 else self.transforms
        arrays = []
        for v in range(len(self.views)):
            face = self.recipe.view(cropped.image, v)
            arrays.append([to_uint8_chw(face, t) for t in transforms])
        item["seconds"] = (t1 - t0, t2 - t1, time.perf_counter() - t2)
        item["ok"] = True
        item["arrays"] = arrays
        return item


def collate(items: list[dict]) -> dict:
    """Stack usable items; keep metadata of all (bad and skipped ones included).

    Returns
    -------
    dict
        ``meta``: the items without arrays; ``rows``: positions in ``meta`` of the stacked
        rows; ``tensors[v][t]``: uint8 tensor (n, 3, H, W) for view v and transform t;
        ``jpeg``: (position, bytes) of items left for the device to decode.
    """
    import torch

    rows = [i for i, it in enumerate(items) if it["ok"] and it.get("arrays") is not None]
    tensors = None
    if rows:
        n_views, n_t = len(items[rows[0]]["arrays"]), len(items[rows[0]]["arrays"][0])
        tensors = [[torch.from_numpy(np.stack([items[r]["arrays"][v][t] for r in rows])) for t in range(n_t)] for v in range(n_views)]
    jpeg = [(i, it["jpeg"]) for i, it in enumerate(items) if "jpeg" in it]
    meta = [{k: v for k, v in it.items() if k not in ("arrays", "jpeg")} for it in items]
    return {"meta": meta, "rows": rows, "tensors": tensors, "jpeg": jpeg}


def finish_on_device(batch: dict, dataset: FaceDataset, device) -> dict:
    """Decode the batch's JPEG bytes on ``device`` and append them to its tensors.

    A JPEG the device decoder rejects is decoded here on the CPU instead, so a bad file gets
    the CPU path's reason. Single view (``orig``) only, as :func:`.devdecode.choose_decoder`
    ensures.
    """
    import torch

    from .devdecode import decode_on_device

    meta, rows = batch["meta"], list(batch["rows"])
    n_t = len(dataset.transforms)
    host = batch["tensors"][0] if batch["tensors"] else [None] * n_t
    parts = [[h.to(device, non_blocking=True)] if h is not None else [] for h in host]
    positions = [p for p, _ in batch["jpeg"]]
    for pos, got in zip(positions, decode_on_device([b for _, b in batch["jpeg"]], dataset.transforms, device)):
        if got is None:  # the CPU path decodes it, or records why it cannot
            item = dataset.load(meta[pos]["index"], on_device=False)
            meta[pos] = {k: v for k, v in item.items() if k != "arrays"}
            if not item["ok"]:
                continue
            width, height, arrays = item["width"], item["height"], [torch.from_numpy(a).to(device) for a in item["arrays"][0]]
        else:
            width, height, arrays = got
        meta[pos].update(width=width, height=height)
        rows.append(pos)
        for t in range(n_t):
            parts[t].append(arrays[t][None])
    tensors = [[torch.cat(p) for p in parts]] if rows else None
    return {"meta": meta, "rows": rows, "tensors": tensors, "jpeg": []}


def worker_init(_worker_id: int) -> None:
    """Keep each worker on one thread: the cores belong to the forward pass (OpenMP-based
    detectors read ``OMP_NUM_THREADS`` when first used, in this worker process only)."""
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def started_workers(loader):
    """``iter(loader)``: its worker processes started without re-running the user's script.

    Workers started by a fork server or by spawn import the main module again (Python's
    multiprocessing does so that they find what the script defines), so a plain script that calls
    faceprobe at its top level, with no ``if __name__ == "__main__":``, would run again in each
    of them (and find the cache locked by itself). faceprobe's workers need nothing from that
    script: the face recipe, plug-ins included, travels to them by value. So while they start,
    multiprocessing is not told the script's path; it is put back at once. A main module run with
    ``python -m`` is re-imported by name as usual.
    """
    import sys

    main = sys.modules.get("__main__")
    hide = main is not None and getattr(main, "__spec__", None) is None and "__file__" in vars(main)
    path = vars(main).pop("__file__") if hide else None
    try:
        return iter(loader)
    finally:
        if hide:
            main.__file__ = path

