"""Decode JPEG faces on the model's device (nvJPEG on CUDA) and resize them there, pixel for pixel
like the CPU path.

Workers then only read file bytes. A JPEG goes to the device only where the CPU path would not
treat it specially: 8-bit grey or YCbCr, no EXIF rotation, not large enough for Pillow's draft
(DCT-scaled) decoding, and a bilinear or bicubic resize. Everything else, and any JPEG the device decoder rejects, takes the CPU
path, so both paths give the same rows. Resizing repeats Pillow's resampling arithmetic: its
fixed-point coefficients, a horizontal pass rounded to 8 bits, then a vertical pass. torchvision's
own antialiased resize differed by 1 in many pixels, which moved efficientnet_lite0's features to
cosine 0.992 of the CPU path's; this one reproduces Pillow's pixels exactly (tested).

``--decode auto`` uses the device only on CUDA and only when decoding on the CPU workers would
be slower than the forward pass; any run that decodes on the device first checks, on a probe of
real images, that features stay within cosine 0.9999 of the CPU path's.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from ...registry import Choice, Registry
from .transform import resized_size

__all__ = ["DECODE_MODES", "jpeg_for_device", "decode_on_device", "choose_decoder"]

DECODE_MODES: Registry[Choice] = Registry("decode mode", "decode")
DECODE_MODES.register("auto", Choice("the device only on CUDA when CPU decoding is the bottleneck"))
DECODE_MODES.register("cpu", Choice("Pillow in the decode workers"))
DECODE_MODES.register("device", Choice("nvJPEG on CUDA when its features match the CPU path's"))
_EXIF_ORIENTATION = 0x0112


def jpeg_for_device(path: str, draft: tuple[int, int]) -> np.ndarray | None:
    """The file's bytes when the device may decode it to the CPU path's pixels; else None.

    Parameters
    ----------
    path : str
    draft : (int, int)
        The CPU path's draft size (``FaceDataset.draft``); JPEGs that Pillow's draft mode
        would reduce (by its own rule: both sides at least twice the draft size) stay on the
        CPU path, because the device cannot reproduce DCT-scaled decoding.
    """
    from PIL import Image

    from ..sources.decode import MIN_SIDE

    try:
        with Image.open(path) as img:  # reads the header only
            if img.format != "JPEG" or img.mode not in ("L", "RGB"):
                return None
            (w, h), (dw, dh) = img.size, draft
            if min(w // dw, h // dh) >= 2 or min(w, h) < MIN_SIDE:
                return None
            if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:
                return None
        return np.fromfile(path, dtype=np.uint8)
    except Exception:  # the CPU path will say what is wrong with it
        return None


def _decode(blobs: list, device) -> list:
    """Decode JPEG byte arrays on ``device``; None for any the decoder rejects."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    tensors = [torch.from_numpy(b) for b in blobs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision 0.29 deprecates its decoders for TorchCodec
        try:
            return list(decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device))
        except RuntimeError:  # one bad file fails the batched call: find it
            out = []
            for t in tensors:
                try:
                    out.append(decode_jpeg(t, mode=ImageReadMode.RGB, device=device))
                except RuntimeError:
                    out.append(None)
            return out


_PRECISION_BITS = 22  # Pillow's fixed point for 8-bit resampling (32 - 8 - 2)


def _bilinear(x: float) -> float:
    x = abs(x)
    return 1.0 - x if x < 1.0 else 0.0


def _bicubic(x: float, a: float = -0.5) -> float:
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


_FILTERS = {"bilinear": (_bilinear, 1.0), "bicubic": (_bicubic, 2.0)}


@functools.lru_cache(maxsize=1024)
def _pillow_weights(in_size: int, out_size: int, interpolation: str) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's resampling coefficients (``precompute_coeffs`` in 8-bit fixed point), banded.

    Returns
    -------
    index, weight : ndarray (out_size, taps)
        Input positions and integer weights of each output pixel (zero weights pad the band).
    """
    kernel, support = _FILTERS[interpolation]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support *= filterscale
    taps = int(np.ceil(support)) * 2 + 1
    index = np.zeros((out_size, taps), dtype=np.int64)
    weight = np.zeros((out_size, taps))
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(0, int(center - support + 0.5))
        xmax = min(in_size, int(center + support + 0.5))
        k = np.array([kernel((x - center + 0.5) / filterscale) for x in range(xmin, xmax)])
        if k.sum() != 0:
            k = k / k.sum()
        index[xx, : xmax - xmin] = np.arange(xmin, xmax)
        weight[xx, : xmax - xmin] = np.trunc(np.where(k < 0, -0.5, 0.5) + k * (1 << _PRECISION_BITS))
    return index, weight


def _resample(x, in_size: int, out_size: int, interpolation: str, dim: int):
    """One Pillow pass along ``dim`` (-1 width, -2 height) of float64 8-bit values; exact in float64."""
    import torch

    index, weight = _pillow_weights(in_size, out_size, interpolation)
    index = torch.as_tensor(index, device=x.device)
    weight = torch.as_tensor(weight, device=x.device)
    if dim == -1:  # rows gather far faster than columns: resample the transpose
        x = x.transpose(-1, -2).contiguous()
    acc = x.index_select(-2, index[:, 0]) * weight[:, 0, None]
    for k in range(1, index.shape[1]):
        acc += x.index_select(-2, index[:, k]) * weight[:, k, None]
    acc = torch.floor((acc + (1 << (_PRECISION_BITS - 1))) / (1 << _PRECISION_BITS)).clamp_(0, 255)
    return acc.transpose(-1, -2) if dim == -1 else acc


def _resize_like_pillow(img, spec):
    """uint8 (..., 3, H, W) on any device -> uint8 (..., 3, crop, crop), as ``to_uint8_chw`` does it.

    Pillow resamples horizontally, rounds to 8 bits, then vertically, with fixed-point
    coefficients; this repeats that arithmetic exactly (float64 holds the integer sums).
    """
    import torch

    h, w = img.shape[-2:]
    new_w, new_h = resized_size(int(w), int(h), spec)
    x = img.to(torch.float64)
    if new_w != w:
        x = _resample(x, w, new_w, spec.interpolation, -1)
    if new_h != h:
        x = _resample(x, h, new_h, spec.interpolation, -2)
    top, left = (new_h - spec.crop) // 2, (new_w - spec.crop) // 2
    return x[..., top:top + spec.crop, left:left + spec.crop].to(torch.uint8)


def decode_on_device(blobs: list, transforms: list, device) -> list:
    """Decode and resize JPEG byte arrays on ``device``; images of one size resize together.

    Returns
    -------
    list
        Per blob, None when the device decoder rejected it (send it down the CPU path), else
        ``(width, height, [uint8 (3, crop, crop) tensor per transform])``.
    """
    import torch

    images = _decode(blobs, device)
    out: list = [None] * len(images)
    by_shape: dict = {}
    for i, img in enumerate(images):
        if img is not None:
            by_shape.setdefault(tuple(img.shape), []).append(i)
    for (_, h, w), members in by_shape.items():
        stack = torch.stack([images[i] for i in members])
        resized = [_resize_like_pillow(stack, t) for t in transforms]
        for j, i in enumerate(members):
            out[i] = (w, h, [r[j] for r in resized])
    return out


def choose_decoder(mode: str, dataset, runners: dict, t_index: dict, device, workers: int, cuda: bool, probe: int = 16) -> dict:
    """Decide where this run decodes JPEGs; returns the report recorded in the run's provenance.

    ``cpu``: always the CPU. ``device``: on the device when it reproduces the CPU path's features
    (cosine >= 0.9999 on a probe of real images). ``auto``: as ``device``, but only on CUDA and
    only when the probe shows CPU decoding (spread over ``workers``) slower than the forward pass.

    Returns
    -------
    dict
        ``decode`` (``cpu`` or ``device``), the probe's timings and cosine, or ``reason``.
    """
    import torch

    from .compile import COMPILE_COSINE, min_cosine

    report: dict = {"requested": mode, "decode": "cpu"}
    if mode == "cpu" or (mode == "auto" and not cuda):
        return report
    if dataset.crop.method != "none" or dataset.crop.steps() or dataset.views != ["orig"]:
        report["reason"] = "face cropping, preprocessing steps and augmented views run on the CPU"
        return report
    if any(t.interpolation not in _FILTERS for t in dataset.transforms):
        report["reason"] = f"only {' and '.join(_FILTERS)} resizing runs on the device"
        return report
    picked, blobs = [], []
    for i in range(len(dataset)):
        blob = jpeg_for_device(dataset.jobs[i].ref.file, dataset.draft) if dataset.jobs[i].ref.file else None
        if blob is not None:
            picked.append(i)
            blobs.append(blob)
        if len(picked) == probe or i >= 4 * probe and not picked:
            break
    if not picked:
        report["reason"] = "no JPEG among the first images that the device can decode like the CPU"
        return report
    t0 = time.perf_counter()
    cpu_items = [dataset.load(i, on_device=False) for i in picked]
    cpu_s = (time.perf_counter() - t0) / len(picked)
    _decode(blobs[:1], device)  # first use initialises the decoder
    t0 = time.perf_counter()
    dev = decode_on_device(blobs, dataset.transforms, device)
    if cuda:
        torch.cuda.synchronize(device)
    dev_s = (time.perf_counter() - t0) / len(picked)
    keep = [k for k, d in enumerate(dev) if d is not None and cpu_items[k]["ok"]]
    if not keep:
        report["reason"] = "the device decoder rejected the probe images"
        return report
    cos, fwd_s = 1.0, 0.0
    for name, runner in runners.items():
        ti = t_index[name]
        host = torch.from_numpy(np.stack([cpu_items[k]["arrays"][0][ti] for k in keep]))
        on_dev = torch.stack([dev[k][2][ti] for k in keep])
        ref = runner(host)
        t0 = time.perf_counter()
        got = runner(on_dev)
        fwd_s += (time.perf_counter() - t0) / len(keep)
        cos = min(cos, min_cosine(ref, got, runner.backbone.bounds()))
    report.update({"probe_images": len(keep), "cpu_decode_ms": round(cpu_s * 1e3, 3), "device_decode_ms": round(dev_s * 1e3, 3),
                   "forward_ms": round(fwd_s * 1e3, 3), "workers": workers, "min_cosine": round(cos, 7)})
    if cos < COMPILE_COSINE:
        report["reason"] = f"device-decoded features differ from the CPU path's (cosine {cos:.6f} < {COMPILE_COSINE})"
    elif mode == "auto" and cpu_s / max(1, workers) <= fwd_s:
        report["reason"] = "CPU workers decode faster than the model computes"
    else:
        report["decode"] = "device"
    return report
