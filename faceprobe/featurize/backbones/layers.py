"""Intermediate layers: ``BACKBONE@LAYER[:POOL]`` requests, pooled to vectors, all outputs of one
backbone from one forward pass.

A layer is a module of the backbone, named as the family lists it (``faceprobe backbones NAME
--layers``) or by its module path. A forward hook keeps the module's output; the wrapper returns
the pooled output and every requested layer's pooled map side by side, so several layers and the
pooled vector of one backbone cost one forward pass, and compiled graphs and reduced precision
apply to all of them at once (hooks are traced by ``torch.jit.trace`` and ``torch.compile``).

Pooling (``POOL``): ``avg`` (default, global average), ``max``, or ``avgmax`` (both, side by
side). Feature maps are (N, C, H, W); a map whose last two dimensions differ while the first two
spatial-looking ones agree is taken as (N, H, W, C) (swin); token sequences (N, L, C) are averaged
over tokens (the class token included).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import OptionError

__all__ = ["POOLS", "Request", "parse_request", "MultiOutput", "pool_map", "pooled_dims"]

POOLS = {"avg": "global average", "max": "global max", "avgmax": "average and max side by side (twice the channels)"}


@dataclass(frozen=True)
class Request:
    """A requested feature vector.

    Attributes
    ----------
    name : str
        Normalised request (``resnet50@layer3``; ``:avg`` is left out, being the default).
    base : str
        The backbone (``resnet50``, ``timm/convnext_tiny.fb_in1k``).
    layer : str or None
        None for the backbone's pooled output.
    pool : str
    """

    name: str
    base: str
    layer: str | None = None
    pool: str = "avg"


def parse_request(text: str) -> Request:
    """Parse ``BACKBONE[@LAYER[:POOL]]``.

    Raises
    ------
    OptionError
        For an empty layer or an unknown pooling.
    """
    base, at, rest = text.partition("@")
    if not at:
        return Request(text, text)
    layer, colon, pool = rest.partition(":")
    pool = pool if colon else "avg"
    if not base or not layer:
        raise OptionError("backbone", text, "write BACKBONE@LAYER[:POOL], e.g. resnet50@layer3 or resnet50@layer3:avgmax")
    if pool not in POOLS:
        raise OptionError("backbone", text, f"unknown pooling {pool!r}; choose one of {', '.join(POOLS)}")
    name = f"{base}@{layer}" + ("" if pool == "avg" else f":{pool}")
    return Request(name, base, layer, pool)


def pooled_dims(shape: tuple) -> tuple[int, ...]:
    """The dimensions a layer output of ``shape`` (batch first) is pooled over: H and W of a
    (N, C, H, W) or (N, H, W, C) map, the tokens of (N, L, C).

    Raises
    ------
    ValueError
        For shapes that are not a map or a token sequence.
    """
    if len(shape) == 4:
        nhwc = shape[2] != shape[3] and shape[1] == shape[2]
        return (1, 2) if nhwc else (2, 3)
    if len(shape) == 3:
        return (1,)
    raise ValueError(f"a layer output of shape {tuple(shape)} cannot be pooled to a vector")


def pool_map(x, pool: str):
    """Pool a layer's output to (N, C) (``avgmax``: (N, 2C)); (N, C) passes through."""
    import torch

    if x.dim() == 2:
        return torch.cat([x, x], 1) if pool == "avgmax" else x
    dims = pooled_dims(tuple(x.shape))
    if pool == "avg":
        return x.mean(dims)
    if pool == "max":
        return x.amax(dims)
    return torch.cat([x.mean(dims), x.amax(dims)], 1)


def _module_class():
    import torch

    class _MultiOutput(torch.nn.Module):
        """``model``'s pooled output (when ``pooled``) and the pooled maps of ``taps``
        ((module path, pool) pairs), concatenated, from one forward pass."""

        def __init__(self, model, taps: list, pooled: bool):
            super().__init__()
            self.model = model
            self.taps = list(taps)
            self.pooled = pooled
            self._kept: dict = {}
            modules = dict(model.named_modules())
            for path in dict.fromkeys(p for p, _ in self.taps):
                modules[path].register_forward_hook(self._keeper(path))

        def _keeper(self, path: str):
            kept = self._kept

            def hook(module, args, output):
                kept[path] = output  # the last call's output, for a module called several times

            return hook

        def parts(self, x) -> list:
            self._kept.clear()
            out = self.model(x)
            parts = [out] if self.pooled else []
            for path, pool in self.taps:
                value = self._kept[path]
                if not hasattr(value, "dim"):
                    raise ValueError(f"layer {path} returns a {type(value).__name__}, not a tensor")
                parts.append(pool_map(value, pool))
            self._kept.clear()
            return parts

        def forward(self, x):
            parts = self.parts(x)
            return parts[0] if len(parts) == 1 else torch.cat(parts, 1)

    return _MultiOutput


def MultiOutput(model, taps: list, pooled: bool):
    """Wrap ``model`` so its forward returns its pooled output (when ``pooled``) and the pooled
    outputs of the modules ``taps`` ((module path, pool) pairs), side by side.

    Parameters
    ----------
    model : torch.nn.Module
        Returns the pooled vector (N, D).
    taps : list of (str, str)
    pooled : bool

    Returns
    -------
    torch.nn.Module
        With ``parts(x)``, the list of (N, d_i) tensors, and ``forward(x)``, their concatenation.
    """
    return _module_class()(model, taps, pooled)
