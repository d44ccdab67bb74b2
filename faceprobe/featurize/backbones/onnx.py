"""ONNX models as backbones: ``onnx:PATH`` runs any ONNX graph with onnxruntime (the CPU
provider, or CUDA's when the run's device is a GPU and onnxruntime-gpu is installed).

The model's preprocessing is declared in a sidecar next to it, ``PATH.json``::

    {"input_size": 224, "resize": 256, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
     "channels": "RGB", "layout": "NCHW", "interpolation": "bilinear", "output": "embedding"}

``input_size``, ``mean`` and ``std`` are required (values in [0, 1] are normalised; a model fed
0-255 pixels says ``"mean": [0, 0, 0], "std": [0.00392156862745098, ...]``); ``resize``
defaults to ``input_size``, ``channels`` to RGB (or BGR, or grey: luminance, one channel),
``layout`` to NCHW (or NHWC), ``output`` to the graph's first output. Every graph output is a
layer: ``onnx:PATH@OUTPUT`` keeps that output, pooled like any layer (``:avg``, ``:max``,
``:avgmax`` over the spatial axes of a 4-D output). The weights hash is the sha256 of the file
and of the sidecar, so a changed preprocessing gives a new feature key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ...errors import OptionError, first_line
from ...hashes import file_sha256
from ..engine.transform import TransformSpec
from .base import FAMILIES, BackboneFamily, LoadedBackbone

__all__ = ["PREFIX", "read_sidecar", "load_onnx", "output_layers", "ONNX"]

PREFIX = "onnx:"
_CHANNELS = ("RGB", "BGR", "grey")
_LAYOUTS = ("NCHW", "NHWC")


def _path(name: str) -> str:
    return name[len(PREFIX):]


def _safe(output: str) -> str:
    """A module name for a graph output (torch refuses dots in module names)."""
    return re.sub(r"[^0-9A-Za-z_]", "_", output)


def read_sidecar(model_path: str) -> dict:
    """The preprocessing declared next to an ONNX model (``PATH.json``), its required fields
    checked (the rest, and the defaults, are checked by :func:`load_onnx` for every source).

    Raises
    ------
    OptionError
        Naming the sidecar and what is missing.
    """
    side = model_path + ".json"
    example = '{"input_size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}'
    if not os.path.isfile(side):
        raise OptionError("backbones", PREFIX + model_path, f"needs its preprocessing in {side}, e.g. {example}")
    try:
        spec = json.loads(open(side, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise OptionError("backbones", PREFIX + model_path, f"{side} is not JSON ({exc})") from None
    missing = [k for k in ("input_size", "mean", "std") if k not in spec]
    if missing:
        raise OptionError("backbones", PREFIX + model_path, f"{side} lacks {', '.join(missing)}, e.g. {example}")
    return spec


_FIELDS = {"input_size": "a whole number of pixels (the graph's input side)", "resize": "a whole number >= input_size",
           "mean": "three numbers", "std": "three numbers above 0", "channels": f"one of {', '.join(_CHANNELS)}",
           "layout": f"one of {', '.join(_LAYOUTS)}", "interpolation": "one of bilinear, bicubic, nearest",
           "output": "the name of one of the graph's outputs"}
"""The sidecar's schema: every field it may hold, and what it must be."""


def _bad_field(spec: dict) -> tuple[str, str] | None:
    """The first field of ``spec`` that breaks the schema, with the reason (None: all good)."""
    import difflib
    import numbers

    from ..engine.transform import INTERPOLATIONS

    def whole(v, low):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= low

    def three(v):
        return isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v)

    for key in spec:
        if key not in _FIELDS:
            near = difflib.get_close_matches(str(key), list(_FIELDS), n=1)
            return key, "is not a field" + (f"; did you mean {near[0]!r}?" if near else f" (fields: {', '.join(_FIELDS)})")
    checks = {"input_size": lambda: whole(spec["input_size"], 1),  # in order: a later check may rely on an earlier one
              "resize": lambda: whole(spec["resize"], 1) and spec["resize"] >= spec["input_size"],
              "mean": lambda: three(spec["mean"]), "std": lambda: three(spec["std"]) and min(spec["std"]) > 0,
              "channels": lambda: spec["channels"] in _CHANNELS, "layout": lambda: spec["layout"] in _LAYOUTS,
              "interpolation": lambda: spec["interpolation"] in INTERPOLATIONS,
              "output": lambda: isinstance(spec.get("output", ""), str)}
    bad = next((k for k, ok in checks.items() if not ok()), None)
    return (bad, f"is {spec[bad]!r}; it must be {_FIELDS[bad]}") if bad else None


def _with_defaults(name: str, spec: dict) -> dict:
    """The preprocessing with its defaults, checked against the schema (a sidecar's or a zoo entry's alike)."""
    if not isinstance(spec, dict):
        raise OptionError("backbones", name, f"its preprocessing is a JSON {type(spec).__name__}, not an object of fields")
    spec = {"resize": spec.get("input_size"), "channels": "RGB", "layout": "NCHW", "interpolation": "bilinear", **spec}
    bad = _bad_field(spec)
    if bad:
        raise OptionError("backbones", name, f"its preprocessing's {bad[0]!r} {bad[1]}")
    return spec


def _check_input(name: str, spec: dict, session) -> None:
    """Refuse preprocessing the graph's own input does not take (its rank, channels and side)."""
    shape = list(session.get_inputs()[0].shape)
    if len(shape) != 4:
        raise OptionError("backbones", name, f"the graph's input has shape {shape}; faceprobe feeds images (4 axes: batch, "
                                             "channels and two spatial ones)")
    channels = 1 if spec["channels"] == "grey" else 3
    c_axis, sides = (1, shape[2:]) if spec["layout"] == "NCHW" else (3, shape[1:3])
    other = "NHWC" if spec["layout"] == "NCHW" else "NCHW"
    if isinstance(shape[c_axis], int) and shape[c_axis] != channels:
        fits = isinstance(shape[4 - c_axis], int) and shape[4 - c_axis] == channels
        raise OptionError("backbones", name, f"the graph's input is {shape}: {shape[c_axis]} channels where layout "
                                             f"{spec['layout']} and channels {spec['channels']} give {channels}"
                                             + (f"; its layout is {other}" if fits else f"; set channels to {'grey' if shape[c_axis] == 1 else 'RGB or BGR'}"
                                                if shape[c_axis] in (1, 3) else ""))
    fixed = [d for d in sides if isinstance(d, int)]
    if any(d != spec["input_size"] for d in fixed):
        raise OptionError("backbones", name, f"the graph's input is {shape}, sides {'x'.join(map(str, sides))}; the preprocessing's "
                                             f"input_size is {spec['input_size']}: set input_size to the graph's side")


def _session(path: str, threads: int, cuda: bool):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    return ort.InferenceSession(path, options, providers=[p for p in providers if p in available])


def _module(path: str, spec: dict, outputs: list[str], default: str):
    """A torch module around the ONNX session: normalised (N, 3, H, W) in, the default output
    pooled out; each graph output passes through an identity child (``outputs.NAME``) so that
    layer taps see it."""
    import torch

    class OnnxBackbone(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.path, self.spec, self.default, self.output_names = path, spec, default, list(outputs)
            self.outputs = torch.nn.ModuleDict({_safe(o): torch.nn.Identity() for o in outputs})
            self._session, self._key = None, None

        def _run(self, x):
            key = (torch.get_num_threads(), x.device.type == "cuda")
            if self._session is None or self._key != key:  # threads follow the run's share of the cores
                self._session, self._key = _session(self.path, *key), key
            if self.spec["channels"] == "grey":
                x = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
            elif self.spec["channels"] == "BGR":
                x = x.flip(1)
            if self.spec["layout"] == "NHWC":
                x = x.permute(0, 2, 3, 1)
            feeds = {self._session.get_inputs()[0].name: x.detach().float().contiguous().cpu().numpy()}
            names = [o.name for o in self._session.get_outputs()]
            return dict(zip(names, self._session.run(names, feeds)))

        def forward(self, x):
            got = {name: torch.from_numpy(value).to(x.device) for name, value in self._run(x).items()}
            for name, value in got.items():
                if _safe(name) in self.outputs:
                    self.outputs[_safe(name)](value)
            out = got[self.default].float()
            return out.flatten(2).mean(2) if out.dim() > 2 else out

    return OnnxBackbone()


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    path = _path(name)
    if weights != "DEFAULT":
        raise OptionError("weights", weights, f"{name} carries its own weights; leave `weights` as DEFAULT")
    if not os.path.isfile(path):
        raise OptionError("backbones", name, f"no such file {path}")
    return load_onnx(name, path, read_sidecar(path), {"depends_on": [os.path.abspath(path) + ".json"]})


def load_onnx(name: str, path: str, spec: dict, extra: dict | None = None) -> LoadedBackbone:
    """An ONNX file as a backbone, with its preprocessing ``spec`` (the sidecar's fields, checked).

    Parameters
    ----------
    name : str
        The request's name (``onnx:PATH`` or a zoo name).
    path : str
    spec : dict
        ``input_size``, ``resize``, ``mean``, ``std``, ``channels``, ``layout``, ``interpolation``,
        and optionally ``output``.
    extra : dict, optional
        More provenance for the weights record (licence, where it came from).
    """
    try:
        import onnxruntime
    except ImportError:
        raise OptionError("backbones", name, "needs onnxruntime: pip install 'faceprobe[onnx]'") from None
    spec = _with_defaults(name, spec)
    try:
        session = _session(path, 1, False)
    except Exception as exc:  # noqa: BLE001 -- onnxruntime raises its own types for a bad file
        raise OptionError("backbones", name, f"onnxruntime cannot load it ({first_line(exc)})") from None
    _check_input(name, spec, session)
    outputs = [o.name for o in session.get_outputs()]
    default = spec.get("output", outputs[0])
    if default not in outputs:
        raise OptionError("backbones", name, f"its preprocessing names the output {default!r}; the graph has: {', '.join(outputs)}")
    model = _module(path, spec, outputs, default).eval()
    import torch

    try:
        with torch.no_grad():
            dim = int(model(torch.zeros(1, 3, spec["input_size"], spec["input_size"])).shape[1])
    except Exception as exc:  # noqa: BLE001 -- the graph refused an input its declared shape allows
        raise OptionError("backbones", name, f"onnxruntime could not run it on one {spec['input_size']}-pixel image as the "
                                             f"preprocessing describes ({first_line(exc)[:200]})") from None
    file_sha = file_sha256(path)
    combined = hashlib.sha256(json.dumps({"file": file_sha, "preprocessing": spec}, sort_keys=True).encode()).hexdigest()
    info = {"arg": "DEFAULT", "name": os.path.basename(path), "file": os.path.abspath(path), "sha256": combined,
            "file_sha256": file_sha, "preprocessing": spec, "onnxruntime": onnxruntime.__version__, **(extra or {})}
    transform = TransformSpec(int(spec["resize"]), int(spec["input_size"]), tuple(spec["mean"]), tuple(spec["std"]),
                              spec["interpolation"])
    return LoadedBackbone(name, model, dim, transform, info, graph=False,
                          output=f"ONNX output {default!r}" + (", averaged over its spatial axes" if dim else ""))


def _describe(name: str) -> dict:
    path = _path(name)
    if not os.path.isfile(path):
        return {"feature_dim": None, "weights": f"no such file {path}"}
    return {"feature_dim": None, "weights": f"ONNX file, preprocessing in {path}.json"}


def output_layers(model) -> dict:
    """Graph output name -> the module path its layer tap reads (``outputs.NAME``)."""
    return {name: f"outputs.{_safe(name)}" for name in model.output_names}


ONNX = FAMILIES.register("onnx", BackboneFamily(
    lambda: [], _load, _describe, "onnx:PATH: any ONNX model (onnxruntime), preprocessing in PATH.json",
    provides_fn=lambda name: name.startswith(PREFIX), layer_modules=output_layers))
