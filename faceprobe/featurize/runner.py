"""Run a frozen backbone on uint8 batches: normalise on the device, autocast, float32 out."""

from __future__ import annotations

import contextlib

import numpy as np

from .backbones import LoadedBackbone
from .device import ExecutionPlan

__all__ = ["FeatureRunner"]

_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


class FeatureRunner:
    """A backbone placed on a device, ready for ``__call__(uint8 batch) -> float32 ndarray``.

    Parameters
    ----------
    backbone : LoadedBackbone
    plan : ExecutionPlan
    """

    def __init__(self, backbone: LoadedBackbone, plan: ExecutionPlan):
        import torch

        self.backbone = backbone
        self.plan = plan
        self.device = torch.device(plan.device)
        self.model = backbone.model.to(self.device).eval().to(memory_format=torch.channels_last)
        t = backbone.transform
        self.mean = torch.tensor(t.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(t.std, device=self.device).view(1, 3, 1, 1) * 255.0

    def autocast(self):
        import torch

        if self.plan.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, _DTYPES[self.plan.precision]))

    def forward_float(self, x):
        """Forward an already normalised float batch on the device; returns a float32 tensor."""
        import torch

        with torch.inference_mode(), self.autocast():
            out = self.model(x.contiguous(memory_format=torch.channels_last))
        return out.float()

    def normalise(self, batch_uint8):
        """uint8 (n, 3, H, W) on the host -> normalised float32 on the device."""
        x = batch_uint8.to(self.device, non_blocking=self.plan.pin_memory)
        return (x.float() - self.mean) / self.std

    def __call__(self, batch_uint8) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.forward_float(self.normalise(batch_uint8))
        return out.cpu().numpy().astype(np.float32, copy=False)
