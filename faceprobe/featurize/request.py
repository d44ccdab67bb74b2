"""What a featurize run's options ask for, checked once: the backbone requests parsed, their
weights, licences accepted, the cache writable, and the face recipe resolved
(:func:`check_request`, called by :func:`~faceprobe.featurize.options.resolve`, whose config
carries the result as ``request``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError
from .faces.crop import FaceRecipe

__all__ = ["RunRequest", "check_request"]


@dataclass(frozen=True)
class RunRequest:
    """What the options ask for, checked before any file is read.

    Attributes
    ----------
    requests : tuple of Request
        The backbone requests, parsed once and normalised (``resnet50@layer3:avg`` is ``resnet50@layer3``).
    weights : tuple of str
        The weights of each request.
    recipe : FaceRecipe
        The crop settings with cropper, steps and views resolved.
    """

    requests: tuple
    weights: tuple
    recipe: FaceRecipe

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.requests)



def check_request(cfg) -> RunRequest:
    """Refuse bad options before any work; parse each backbone request once (``cfg``: the
    config :func:`~faceprobe.featurize.options.resolve` is making).

    Raises
    ------
    OptionError
        Naming the parameter, the value and the fix.
    """
    if not cfg.backbones:
        raise OptionError("backbones", [], "give at least one backbone")
    from ..outputs import check_writable

    check_writable(cfg.cache, "cache")
    from .backbones.layers import parse_request

    requests = tuple(parse_request(b) for b in cfg.backbones)
    names = [r.name for r in requests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise OptionError("backbones", ",".join(cfg.backbones), f"{twice[0]} is requested twice; give each backbone or layer once")
    from .backbones.zoo import licence_to_accept

    for r in requests:
        why = licence_to_accept(r.base)
        if why and r.base not in cfg.accept_licences:
            raise OptionError("backbones", r.base, f"{why}; to use it, accept that with `accept_licences={r.base}`")
    if len(cfg.weights) not in (1, len(requests)):
        raise OptionError("weights", ",".join(cfg.weights), f"given {len(cfg.weights)} times for {len(requests)} backbones; give it once "
                                                           "or once per `backbones`")
    weights = tuple(cfg.weights) * len(requests) if len(cfg.weights) == 1 else tuple(cfg.weights)
    return RunRequest(requests, weights, FaceRecipe.of(cfg.crop_spec, cfg.views))
