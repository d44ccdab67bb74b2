"""FaceNet's Inception-ResNet-v1 for the zoo's ``face/facenet_vggface2``: the published PyTorch
weights (a plain state dict, read with ``torch.load(weights_only=True)`` after its sha256 was
checked) loaded into this module, whose parameter names follow the published file.

The default output is FaceNet's embedding: the 512-d bottleneck after its batch norm, L2-normalised
(``@embedding`` names it; ``@bottleneck`` is the same before normalisation). The stages
``repeat_1``, ``mixed_6a``, ``repeat_2``, ``mixed_7a``, ``repeat_3`` and ``block8`` are layers to
pool as for any backbone; ``@logits`` are the identity scores of its training set when the file
holds them.
"""

from __future__ import annotations

import hashlib
import json
import os

from ...errors import OptionError, first_line
from ...hashes import file_sha256
from ..engine.transform import TransformSpec
from .base import LoadedBackbone, load_state_file

__all__ = ["inception_resnet_v1", "load_facenet", "LAYERS"]

LAYERS = {"embedding": "embedding", "bottleneck": "last_bn", "logits": "logits"}


def _parts():
    """The building blocks (made on first use, so that importing this module does not import torch)."""
    import torch
    from torch import nn

    class Unit(nn.Module):
        """Convolution, batch norm (TensorFlow's eps), ReLU; names as in the published file."""

        def __init__(self, cin: int, cout: int, kernel, stride: int = 1, padding=0):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=1e-3)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class Residual(nn.Module):
        """Branches side by side, a 1x1 projection back to ``width``, scaled and added to the input."""

        def __init__(self, width: int, branches: list, scale: float, relu: bool = True):
            super().__init__()
            for i, branch in enumerate(branches):
                setattr(self, f"branch{i}", branch)
            self.count, self.scale, self.relu = len(branches), scale, relu
            inner = sum([m for m in branch.modules() if isinstance(m, nn.Conv2d)][-1].out_channels for branch in branches)
            self.conv2d = nn.Conv2d(inner, width, 1)

        def forward(self, x):
            out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.count)], 1)
            out = self.conv2d(out) * self.scale + x
            return torch.relu(out) if self.relu else out

    class Reduction(nn.Module):
        """Strided branches and a max pool, concatenated."""

        def __init__(self, branches: list):
            super().__init__()
            for i, branch in enumerate(branches + [nn.MaxPool2d(3, 2)]):
                setattr(self, f"branch{i}", branch)
            self.count = len(branches) + 1

        def forward(self, x):
            return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.count)], 1)

    return Unit, Residual, Reduction


def inception_resnet_v1(identities: int = 0):
    """Inception-ResNet-v1 (Szegedy et al. 2017) as FaceNet uses it: 512-d embedding, optional identity logits.

    Parameters
    ----------
    identities : int
        Number of identity logits after the embedding (0: none).
    """
    import torch
    from torch import nn

    unit, Residual, Reduction = _parts()

    def chain(*layers) -> nn.Module:
        return layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def block35() -> nn.Module:
        return Residual(256, [unit(256, 32, 1), chain(unit(256, 32, 1), unit(32, 32, 3, 1, 1)),
                              chain(unit(256, 32, 1), unit(32, 32, 3, 1, 1), unit(32, 32, 3, 1, 1))], 0.17)

    def block17() -> nn.Module:
        return Residual(896, [unit(896, 128, 1), chain(unit(896, 128, 1), unit(128, 128, (1, 7), 1, (0, 3)),
                                                       unit(128, 128, (7, 1), 1, (3, 0)))], 0.10)

    def block8(scale: float = 0.20, relu: bool = True) -> nn.Module:
        return Residual(1792, [unit(1792, 192, 1), chain(unit(1792, 192, 1), unit(192, 192, (1, 3), 1, (0, 1)),
                                                         unit(192, 192, (3, 1), 1, (1, 0)))], scale, relu)

    class InceptionResnetV1(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv2d_1a, self.conv2d_2a, self.conv2d_2b = unit(3, 32, 3, 2), unit(32, 32, 3), unit(32, 64, 3, 1, 1)
            self.maxpool_3a = nn.MaxPool2d(3, 2)
            self.conv2d_3b, self.conv2d_4a, self.conv2d_4b = unit(64, 80, 1), unit(80, 192, 3), unit(192, 256, 3, 2)
            self.repeat_1 = nn.Sequential(*[block35() for _ in range(5)])
            self.mixed_6a = Reduction([unit(256, 384, 3, 2), chain(unit(256, 192, 1), unit(192, 192, 3, 1, 1),
                                                                   unit(192, 256, 3, 2))])
            self.repeat_2 = nn.Sequential(*[block17() for _ in range(10)])
            self.mixed_7a = Reduction([chain(unit(896, 256, 1), unit(256, 384, 3, 2)),
                                       chain(unit(896, 256, 1), unit(256, 256, 3, 2)),
                                       chain(unit(896, 256, 1), unit(256, 256, 3, 1, 1), unit(256, 256, 3, 2))])
            self.repeat_3 = nn.Sequential(*[block8() for _ in range(5)])
            self.block8 = block8(1.0, relu=False)
            self.last_linear = nn.Linear(1792, 512, bias=False)
            self.last_bn = nn.BatchNorm1d(512, eps=1e-3)
            self.embedding = nn.Identity()
            if identities:
                self.logits = nn.Linear(512, identities)

        def forward(self, x):
            for stage in (self.conv2d_1a, self.conv2d_2a, self.conv2d_2b, self.maxpool_3a, self.conv2d_3b, self.conv2d_4a,
                          self.conv2d_4b, self.repeat_1, self.mixed_6a, self.repeat_2, self.mixed_7a, self.repeat_3,
                          self.block8):
                x = stage(x)
            bottleneck = self.last_bn(self.last_linear(x.mean((2, 3))))
            if hasattr(self, "logits"):
                self.logits(bottleneck)
            return self.embedding(torch.nn.functional.normalize(bottleneck, p=2, dim=1))

    return InceptionResnetV1()


def load_facenet(name: str, path: str, spec: dict, extra: dict | None = None) -> LoadedBackbone:
    """A FaceNet state-dict file as a backbone, with its preprocessing ``spec``.

    Parameters
    ----------
    name : str
        The request's name (a zoo name).
    path : str
        The state dict (its hash already checked by the zoo).
    spec : dict
        ``input_size``, ``mean`` and ``std`` (RGB, values in [0, 1] before normalising).
    extra : dict, optional
        More provenance for the weights record (licence, where it came from).
    """
    state = load_state_file(path)
    logits = state.get("logits.weight")
    model = inception_resnet_v1(int(logits.shape[0]) if logits is not None else 0)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise OptionError("backbones", name, f"{path} does not hold FaceNet's Inception-ResNet-v1 weights "
                                             f"({first_line(exc)})") from None
    model.eval()
    file_sha = file_sha256(path)
    combined = hashlib.sha256(json.dumps({"file": file_sha, "preprocessing": spec}, sort_keys=True).encode()).hexdigest()
    info = {"arg": "DEFAULT", "name": os.path.basename(path), "file": os.path.abspath(path), "sha256": combined,
            "file_sha256": file_sha, "preprocessing": spec, **(extra or {})}
    size = int(spec["input_size"])
    transform = TransformSpec(size, size, tuple(spec["mean"]), tuple(spec["std"]), spec.get("interpolation", "bilinear"))
    return LoadedBackbone(name, model, 512, transform, info, output="FaceNet embedding (512-d, L2-normalised)")
