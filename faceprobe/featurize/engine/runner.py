"""Run a frozen backbone on uint8 batches: normalise on the device, autocast, float32 out."""

from __future__ import annotations

import contextlib

import numpy as np

from ...errors import OptionError
from .device import DeviceSetup

__all__ = ["FeatureRunner", "FIDELITY_COSINE", "check_batch_memory"]

FIDELITY_COSINE = 0.999
"""``precision="auto"`` keeps bf16/fp16 for a backbone only while every feature vector of a
calibration batch stays at least this close (cosine) to its fp32 value."""

_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}

_BATCH_MEMORY_FACTOR = 48
"""Peak memory of a batch per byte of its float input, measured: efficientnet_lite0 at 224 pixels took
12 MB an image more in eager PyTorch (20x its 0.6 MB input) and 30 MB (49x) while ``auto`` timed the
runtimes on it (batches of 16 to 256, 288 dev faces, peak RSS). A batch asked for beyond what is
available is refused before the first batch: a batch of 1,730 was killed for memory after 4 minutes."""


def check_batch_memory(asked: int | None, batch: int, side: int) -> None:
    """Refuse a ``batch_size`` asked for (``asked``; None: the device's default, not checked)
    whose batch of ``side`` x ``side`` images needs more memory than is available."""
    if not asked:  # the default batch is sized for the device
        return
    from ...machine import available_memory

    need = batch * 3 * side * side * 4 * _BATCH_MEMORY_FACTOR
    have = available_memory()
    if need > have:
        fits = max(1, batch * have // need)
        raise OptionError("batch_size", asked, f"a batch of {batch} images of {side}x{side} pixels needs about {need / 2**30:.1f} GiB; "
                                               f"{have / 2**30:.1f} GiB is available: give {fits} or less (or leave it out)")


class FeatureRunner:
    """A backbone placed on a device, ready for ``__call__(uint8 batch) -> float32 ndarray``.

    Parameters
    ----------
    backbone : LoadedBackbone
        (:class:`~faceprobe.featurize.backbones.base.LoadedBackbone`; not imported here: the engine sits under the families)
    plan : DeviceSetup
    pad_to : int, default=32
        The run's batch size: compiled graphs see this one shape (short batches are padded).
    asked : int or None, default=None
        The ``batch_size`` the user gave: refused here when the batch would not fit in memory
        (:func:`check_batch_memory`), before the model is placed.
    """

    def __init__(self, backbone: "LoadedBackbone", plan: DeviceSetup, pad_to: int = 32, asked: int | None = None):  # noqa: F821 - the engine sits under the families
        import torch

        check_batch_memory(asked, pad_to, backbone.transform.crop or 224)
        self.backbone = backbone
        self.plan = plan
        self.device = torch.device(plan.device)
        self.precision = plan.precision if backbone.graph else "fp32"  # other libraries compute in float32
        self.pad_to = pad_to  # compiled graphs see one batch shape; short batches are padded
        self.compile_mode = "none"
        self.compiled = None
        self.chunk = None  # eager PyTorch forwards a batch in slices of this many images (None: whole), chosen by measurement
        self.preparing = None  # a choice waiting for runtimes prepared beside the run (engine.beside.Pending)
        self._checked: tuple | None = None  # (batch, {precision: (seconds, vectors)}) of the precision check (see checked_on)
        self.model = backbone.model.to(self.device).eval().to(memory_format=torch.channels_last)
        t = backbone.transform
        self.mean = torch.tensor(t.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(t.std, device=self.device).view(1, 3, 1, 1) * 255.0
        self._mean_np, self._std_np = self.mean.cpu().numpy(), self.std.cpu().numpy()

    def autocast(self):
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, _DTYPES[self.precision]))

    def set_compiled(self, mode: str, module) -> None:
        """Use ``module`` (a compiled version of the model) from now on; ``none`` for eager."""
        self.compile_mode, self.compiled = mode, module

    def forward_float(self, x):
        """Forward an already normalised float batch on the device; returns a float32 tensor."""
        import torch

        n = x.shape[0]
        model = self.model
        if self.compiled is not None:
            model = self.compiled
            if n < self.pad_to:  # keep the one shape the graph was built for
                x = torch.cat([x, x[-1:].expand(self.pad_to - n, *x.shape[1:])])
        if not getattr(model, "host_layout", False):  # PyTorch graphs run channels-last; other runtimes take NCHW as is
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.autocast():
            if self.compiled is None and self.chunk and n > self.chunk:  # slices run faster where they fit the CPU's caches
                out = torch.cat([model(x[i:i + self.chunk]) for i in range(0, n, self.chunk)])
            else:
                out = model(x)
        return out[:n].float()

    def normalise(self, batch_uint8):
        """uint8 (n, 3, H, W) on the host -> normalised float32 on the device."""
        import torch

        if self.device.type == "cpu" and batch_uint8.device.type == "cpu":
            # one thread, one buffer: the same float32 arithmetic as (x - mean) / std, without PyTorch's
            # thread pool, whose barrier waited on cores the runtime's threads held (12 ms a batch, not 1)
            x = batch_uint8.numpy().astype(np.float32)
            np.subtract(x, self._mean_np, out=x)
            np.divide(x, self._std_np, out=x)
            return torch.from_numpy(x)
        x = batch_uint8.to(self.device, non_blocking=self.plan.pin_memory).float()
        return x.sub_(self.mean).div_(self.std)

    def __call__(self, batch_uint8) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.forward_float(self.normalise(batch_uint8))
        return out.cpu().numpy().astype(np.float32, copy=False)

    def check_fidelity(self, batch_uint8, threshold: float = FIDELITY_COSINE) -> float | None:
        """Compare this runner's reduced precision with fp32 on a real batch.

        Falls back to fp32 (for the rest of the run) when any vector's cosine similarity to
        its fp32 value is below ``threshold``. Returns the smallest cosine, or None when the
        runner already computes in fp32.
        """
        if self.precision == "fp32":
            return None
        import time

        from .compile import min_cosine

        t0 = time.perf_counter()
        low = self(batch_uint8)
        t1 = time.perf_counter()
        wanted, self.precision = self.precision, "fp32"
        ref = self(batch_uint8)
        self._checked = (batch_uint8, {wanted: (t1 - t0, low), "fp32": (time.perf_counter() - t1, ref)})
        cos = min_cosine(low, ref, self.backbone.bounds())
        if cos >= threshold:
            self.precision = wanted
        return cos

    def checked_on(self, batch_uint8) -> dict:
        """What :meth:`check_fidelity` computed on this very batch (the same memory and shape), once:
        ``{precision: (seconds of one cold call, vectors)}``, or ``{}``. The choice of runtime
        takes eager's reference vectors from it instead of computing them again (resnet50 on 2
        cores: 0.4 s in bf16 and 0.9 s in float32 a batch of 16)."""
        held, self._checked = self._checked, None
        if held is None:
            return {}
        batch, outputs = held
        same = batch.shape == batch_uint8.shape and batch.data_ptr() == batch_uint8.data_ptr() and batch.dtype == batch_uint8.dtype
        return outputs if same else {}
