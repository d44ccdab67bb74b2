"""The ``timm`` backbone family: ``timm/NAME[.TAG]`` for any model of ``timm.list_models()``.

Features are the model's own pooled pre-logits vector (``num_classes=0``: global pooling, or the
class token for vision transformers, and the model's own final norm). Preprocessing is the
model's (or the tag's) data config: input size, interpolation, crop fraction and mode, mean and
std, so ``resize = floor(size / crop_pct)`` as timm's eval transform does. Weights come from the
Hugging Face hub (or the URL timm names) into the usual caches at run time; offline, the error
names the repository and where the files go. Layers are timm's ``feature_info`` modules
(``layer3``, ``stages.2``, ``blocks.11``) or any module name.
"""

from __future__ import annotations

import importlib.util
import math
import os

from ...errors import FaceprobeError, OptionError, first_line, message_line
from .base import (
    FAMILIES,
    BackboneFamily,
    LoadedBackbone,
    checkpoint_path,
    load_state_file,
    seeded,
    state_dict_sha256,
)
from ..engine.transform import CROP_MODES, INTERPOLATIONS, TransformSpec

__all__ = ["TIMM", "PREFIX"]

PREFIX = "timm/"


def _need_timm() -> None:
    if importlib.util.find_spec("timm") is None:
        raise FaceprobeError("timm backbones need timm: pip install timm")


def _names() -> list[str]:
    if importlib.util.find_spec("timm") is None:
        return []
    import timm

    return [PREFIX + n for n in timm.list_models()]


def _provides(name: str) -> bool:
    if not name.startswith(PREFIX) or importlib.util.find_spec("timm") is None:
        return False
    import timm
    from timm.models import get_pretrained_cfg

    model = name[len(PREFIX):]
    if not timm.models.is_model(model.split(".")[0]):
        return False
    if "." in model:
        try:
            get_pretrained_cfg(model)
        except RuntimeError:  # an unknown tag
            return False
    return True


def _transform(model, name: str) -> TransformSpec:
    from timm.data import resolve_model_data_config

    cfg = resolve_model_data_config(model)
    _, h, w = cfg["input_size"]
    if h != w:
        raise FaceprobeError(f"{name}: input size {h}x{w} is not square; faceprobe crops square faces (choose another tag)")
    interp, mode = cfg.get("interpolation", "bicubic"), cfg.get("crop_mode", "center")
    if interp not in INTERPOLATIONS:
        raise FaceprobeError(f"{name}: interpolation {interp!r} is not supported (one of {', '.join(INTERPOLATIONS)})")
    if mode not in CROP_MODES:
        raise FaceprobeError(f"{name}: crop mode {mode!r} is not supported (one of {', '.join(CROP_MODES)})")
    resize = math.floor(h / cfg.get("crop_pct", 1.0))
    return TransformSpec(resize, int(h), tuple(map(float, cfg["mean"])), tuple(map(float, cfg["std"])), interp, mode)


def _source(cfg: dict) -> tuple[str, str]:
    """Where timm fetches the weights: (``hf-hub``, repository) or (``url``, address)."""
    if cfg.get("hf_hub_id"):
        return "hf-hub", cfg["hf_hub_id"]
    if cfg.get("url"):
        return "url", cfg["url"]
    return "", ""


def _offline_hint(name: str, cfg: dict) -> str:
    kind, where = _source(cfg)
    if kind == "hf-hub":
        return (f"offline, download the Hugging Face hub repository {where} on a connected machine "
                f"(huggingface-cli download {where}), copy the hub cache (~/.cache/huggingface/hub, or $HF_HOME/hub) "
                "here and set HF_HUB_OFFLINE=1, or pass `weights=FILE`")
    if kind == "url":
        return f"offline, download {where} and place it at {checkpoint_path(where)}, or pass `weights=FILE`"
    return "pass `weights=FILE`"


def _build(model_name: str, weights: str, seed: int):
    import timm

    if weights == "none":
        with seeded(seed):
            return timm.create_model(model_name, pretrained=False, num_classes=0)
    if os.path.exists(weights):
        return _from_file(model_name, weights)
    if weights != "DEFAULT":
        raise OptionError("weights", weights, f"timm models take DEFAULT (the weights of the tag in the name, e.g. "
                                              f"timm/{model_name.split('.')[0]}.TAG), none or an existing FILE")
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model_name)
    if cfg is None or not _source(cfg.to_dict())[0]:
        raise OptionError("weights", weights, f"timm has no pretrained weights for timm/{model_name}; use none or FILE")
    try:
        return timm.create_model(model_name, pretrained=True, num_classes=0)
    except Exception as exc:  # LocalEntryNotFoundError, URLError, OSError, hash mismatch ...
        raise FaceprobeError(f"cannot get the weights of timm/{model_name} ({first_line(exc)}); "
                             f"{_offline_hint(model_name, cfg.to_dict())}") from None


def _from_file(model_name: str, path: str):
    """The model with a state-dict file's weights (timm's format, as on the hub); the file's
    classifier is dropped, every other tensor must fit (strict, unlike timm's own loader)."""
    import timm

    model = timm.create_model(model_name, pretrained=False, num_classes=0)
    classifier = model.pretrained_cfg.get("classifier") or ()
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    state = {k: v for k, v in load_state_file(path).items() if not any(k == h or k.startswith(h + ".") for h in heads)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise OptionError("weights", path, f"does not fit timm/{model_name} ({message_line(exc)})") from None
    return model


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    _need_timm()
    model_name = name[len(PREFIX):]
    model = _build(model_name, weights, seed).eval()
    cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    info: dict = {"arg": weights, "file": None}
    if weights == "none":
        info.update(name=f"random(seed={seed})", seed=seed)
    elif os.path.exists(weights):
        info.update(name=os.path.basename(weights), file=os.path.abspath(weights))
    else:
        kind, where = _source(cfg)
        info.update(name=f"{cfg.get('architecture', model_name)}.{cfg.get('tag', '')}".rstrip("."), source=f"{kind}:{where}")
    info["sha256"] = state_dict_sha256(model)
    transform = _transform(model, name)
    return LoadedBackbone(name, model, _pooled_dim(_skeleton(name)[0], transform, model), transform, info)


def _pooled_dim(skeleton, transform: TransformSpec, model=None) -> int:
    """The pooled vector's size, from a shape-only forward pass of the meta-device ``skeleton``."""
    import torch

    try:
        with torch.device("meta"):
            out = skeleton(torch.empty(1, 3, transform.crop, transform.crop))
        return int(out.shape[-1])
    except Exception:  # a model the meta device cannot run: timm's own count
        m = model if model is not None else skeleton
        return int(getattr(m, "head_hidden_size", None) or m.num_features)


def _skeleton(name: str):
    _need_timm()
    import timm
    import torch

    with torch.device("meta"):
        model = timm.create_model(name[len(PREFIX):], pretrained=False, num_classes=0)
    return model.eval(), _transform(model, name)


def _layer_modules(model) -> dict[str, str]:
    info = getattr(model, "feature_info", None) or []
    return {d["module"]: d["module"] for d in info if d.get("module")}


def _weights_status(model_name: str) -> str:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model_name)
    kind, where = _source(cfg.to_dict()) if cfg is not None else ("", "")
    tag = f"{cfg.architecture}.{cfg.tag}" if cfg is not None and cfg.tag else model_name
    if kind == "hf-hub":
        from huggingface_hub import try_to_load_from_cache

        cached = any(isinstance(try_to_load_from_cache(where, f), str) for f in ("model.safetensors", "pytorch_model.bin"))
        return f"{tag}: cached" if cached else f"{tag}: download needed (hub {where})"
    if kind == "url":
        return f"{tag}: cached" if os.path.exists(checkpoint_path(where)) else f"{tag}: download needed ({os.path.basename(where)})"
    return "no pretrained weights"


def _describe(name: str) -> dict:
    if importlib.util.find_spec("timm") is None:
        return {"feature_dim": None, "weights": "needs pip install timm"}
    try:
        model, transform = _skeleton(name)
        dim = _pooled_dim(model, transform)
    except Exception as exc:  # a model that cannot be built on the meta device: say why, in its row
        return {"feature_dim": None, "weights": _weights_status(name[len(PREFIX):]),
                "note": f"feature size unknown without building it ({first_line(exc)})"}
    return {"feature_dim": dim, "weights": _weights_status(name[len(PREFIX):]), "input": transform.crop}


TIMM = FAMILIES.register("timm", BackboneFamily(
    _names, _load, _describe, "any model of timm.list_models(), as timm/NAME[.TAG]; weights from the Hugging Face hub",
    provides_fn=_provides, skeleton=_skeleton, layer_modules=_layer_modules, summary_only=True))
