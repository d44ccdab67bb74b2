"""Decode, crop, augment and resize faces in DataLoader workers; bad images travel as records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BadImage
from .crop import CropSpec, crop_face
from .decode import decode_image
from .preprocess import TransformSpec, to_uint8_chw
from .views import apply_view

__all__ = ["FaceDataset", "collate", "worker_init"]


@dataclass(frozen=True)
class Job:
    """One image to process: its row in the run's work list, its file and content hash."""

    index: int
    path: str
    sha256: str


class FaceDataset:
    """Map-style dataset: item ``i`` is a dict with the image's metadata and, when it could be
    used, one uint8 (3, H, W) array per (transform, view).

    Parameters
    ----------
    jobs : list of Job
    crop : CropSpec
    transforms : list of TransformSpec
        Distinct input pipelines of the run's backbones (backbones sharing one share the arrays).
    views : list of str
    """

    def __init__(self, jobs: list[Job], crop: CropSpec, transforms: list[TransformSpec], views: list[str]):
        self.jobs = jobs
        self.crop = crop
        self.transforms = transforms
        self.views = views
        # let JPEG decode at reduced size when the face fills the frame; keep detail for detection
        largest = max(t.resize for t in transforms)
        self.draft = (largest, largest) if crop.method == "none" else (2 * largest, 2 * largest)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> dict:
        job = self.jobs[i]
        item = {"index": job.index, "ok": False, "reason": "", "width": -1, "height": -1, "face": -1, "box": (-1, -1, -1, -1)}
        try:
            img = decode_image(job.path, draft_size=self.draft)
        except BadImage as exc:
            item["reason"] = str(exc)
            return item
        except Exception as exc:  # a decoder bug must not stop the run: record it
            item["reason"] = f"cannot decode: {type(exc).__name__}: {exc}"
            return item
        item["width"], item["height"] = img.size
        cropped = crop_face(img, self.crop)
        item["face"], item["box"] = cropped.face, cropped.box
        if cropped.face == 0 and self.crop.no_face == "skip":
            item["ok"] = True
            item["arrays"] = None
            return item
        arrays = []
        for view in self.views:
            face = apply_view(cropped.image, view)
            arrays.append([to_uint8_chw(face, t) for t in self.transforms])
        item["ok"] = True
        item["arrays"] = arrays
        return item


def collate(items: list[dict]) -> dict:
    """Stack usable items; keep metadata of all (bad and skipped ones included).

    Returns
    -------
    dict
        ``meta``: the items without arrays; ``rows``: positions in ``meta`` of the stacked
        rows; ``tensors[v][t]``: uint8 tensor (n, 3, H, W) for view v and transform t.
    """
    import torch

    rows = [i for i, it in enumerate(items) if it["ok"] and it.get("arrays") is not None]
    tensors = None
    if rows:
        n_views, n_t = len(items[rows[0]]["arrays"]), len(items[rows[0]]["arrays"][0])
        tensors = [[torch.from_numpy(np.stack([items[r]["arrays"][v][t] for r in rows])) for t in range(n_t)] for v in range(n_views)]
    meta = [{k: v for k, v in it.items() if k != "arrays"} for it in items]
    return {"meta": meta, "rows": rows, "tensors": tensors}


def worker_init(_worker_id: int) -> None:
    """Keep each worker on one thread: the cores belong to the forward pass."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
