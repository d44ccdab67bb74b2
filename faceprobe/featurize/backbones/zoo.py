"""A zoo of face networks: ``-b face/NAME``, each entry declared once (where its file is published,
its sha256, licence, preprocessing, which output to keep and what it was trained on).

Files are downloaded on first use into ``$FACEPROBE_HOME/zoo`` (default: the user cache folder)
and checked against their sha256: the publisher's pin where there is one; otherwise the hash
recorded the first time the file loaded as its network (``pins.json`` there), which every later
use must match (a file that does not load is never pinned; deleting the file forgets its pin). Offline,
one line names the URL and the path to place the file at. Entries are ONNX files run by the
``onnx`` family, or PyTorch state dicts of an architecture faceprobe defines (``ARCHITECTURES``:
FaceNet's Inception-ResNet-v1), read with ``weights_only`` after their hash was checked, so no
pickled code is ever run. An entry whose licence restricts use says so in the run's notes.

Adding an entry is one ``ZOO.register("face/NAME", ZooEntry(...))`` (a plug-in may do it).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from ...errors import OptionError, first_line
from ...hashes import file_sha256
from ...registry import Registry
from .base import FAMILIES, BackboneFamily, LoadedBackbone
from .facenet import LAYERS as FACENET_LAYERS
from .onnx import output_layers

__all__ = ["ZooEntry", "ZOO", "ARCHITECTURES", "zoo_dir", "fetch", "record_pin", "licence_to_accept"]


def _onnx(*args):
    from .onnx import load_onnx

    return load_onnx(*args)


def _facenet(*args):
    from .facenet import load_facenet

    return load_facenet(*args)


ARCHITECTURES = {"onnx": _onnx, "inception_resnet_v1": _facenet}  # (name, path, preprocessing, provenance) -> backbone


@dataclass(frozen=True)
class ZooEntry:
    """One published face network.

    Attributes
    ----------
    url : str
        Where the publisher serves the file.
    file : str
        Its file name in the zoo folder.
    licence : str
    preprocessing : dict
        The ONNX sidecar's fields (``input_size``, ``mean``, ``std``, ``channels``, ...).
    trained_on : str
    sha256 : str or None
        The publisher's hash; None: recorded at first download and checked after.
    restricts : str
        How the licence restricts use ("" when it does not); said in the notes of every run.
    description : str
    architecture : str
        ``onnx``, or a name in ``ARCHITECTURES`` for a PyTorch state dict.
    """

    url: str
    file: str
    licence: str
    preprocessing: dict = field(default_factory=dict)
    trained_on: str = ""
    sha256: str | None = None
    restricts: str = ""
    description: str = ""
    architecture: str = "onnx"


ZOO: Registry[ZooEntry] = Registry("zoo network", "backbones")

_IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
_EMOTIEFF = "https://github.com/sb-ai-lab/EmotiEffLib/raw/main/models/affectnet_emotions/onnx/"
ZOO.register("face/enet_b0_8_best_afew", ZooEntry(
    _EMOTIEFF + "enet_b0_8_best_afew.onnx", "enet_b0_8_best_afew.onnx", "Apache-2.0",
    {"input_size": 224, **_IMAGENET}, "AffectNet (8 expressions), fine-tuned on AFEW (HSEmotion / EmotiEffLib)",
    description="EfficientNet-B0 expression network of HSEmotion; the graph's first output"))
ZOO.register("face/enet_b2_8", ZooEntry(
    _EMOTIEFF + "enet_b2_8.onnx", "enet_b2_8.onnx", "Apache-2.0", {"input_size": 260, **_IMAGENET},
    "AffectNet (8 expressions) (HSEmotion / EmotiEffLib)", description="EfficientNet-B2 expression network of HSEmotion"))
ZOO.register("face/mobilevit_va_mtl", ZooEntry(
    _EMOTIEFF + "mobilevit_va_mtl.onnx", "mobilevit_va_mtl.onnx", "Apache-2.0", {"input_size": 224, **_IMAGENET},
    "AffectNet: expressions, valence and arousal (multi-task; HSEmotion / EmotiEffLib)",
    description="MobileViT multi-task expression network of HSEmotion"))
ZOO.register("face/ferplus", ZooEntry(
    "https://github.com/onnx/models/raw/main/validated/vision/body_analysis/emotion_ferplus/model/emotion-ferplus-8.onnx",
    "emotion-ferplus-8.onnx", "MIT",
    {"input_size": 64, "mean": [0.0, 0.0, 0.0], "std": [1 / 255] * 3, "channels": "grey"},
    "FER+ (FER-2013 relabelled by 10 taggers, 8 expressions)", description="FER+ CNN of the ONNX model zoo: its 8 scores"))
ZOO.register("face/facenet_vggface2", ZooEntry(
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
    "20180402-114759-vggface2.pt", "MIT (facenet-pytorch; weights ported from David Sandberg's facenet)",
    {"input_size": 160, "mean": [127.5 / 255] * 3, "std": [128 / 255] * 3}, "VGGFace2 (identity, 8631 people)",
    restricts="trained on VGGFace2, which its authors released for non-commercial research only; check that before "
              "commercial use",
    description="FaceNet Inception-ResNet-v1: the 512-d L2-normalised identity embedding (a contrast to expression networks)",
    architecture="inception_resnet_v1"))


def zoo_dir() -> str:
    """Where zoo files are kept: ``$FACEPROBE_HOME/zoo``, else the user cache folder's ``zoo``."""
    from ...machine import home_dir

    return str(home_dir("zoo"))


def _pins(folder: str) -> dict:
    path = os.path.join(folder, "pins.json")
    try:
        pins = json.loads(open(path, encoding="utf-8").read()) if os.path.isfile(path) else {}
    except (OSError, ValueError):
        return {}
    return pins if isinstance(pins, dict) else {}


def _write_pins(folder: str, pins: dict) -> None:
    path = os.path.join(folder, "pins.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(pins, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def fetch(name: str, entry: ZooEntry) -> tuple[str, str | None]:
    """The entry's file, downloaded on first use, its sha256 checked: ``(path, to_pin)``.

    ``to_pin`` is the file's sha256 when it has no pin yet (no published hash, none recorded):
    the caller records it with :func:`record_pin` once the file has loaded as the entry's
    network, so a file that is not the network is never pinned. A recorded pin belongs to the
    file it was recorded for: deleting the file forgets it.

    Raises
    ------
    OptionError
        Offline (naming the URL and the path to place the file at), or for a file whose sha256
        differs from the pin (the publisher's, or the one recorded when it first loaded).
    """
    folder = zoo_dir()
    path = os.path.join(folder, entry.file)
    if not os.path.isfile(path):
        os.makedirs(folder, exist_ok=True)
        pins = _pins(folder)
        if pins.pop(entry.file, None) is not None:  # the file it was recorded for is gone
            _write_pins(folder, pins)
        _download(name, entry, path)
    got = file_sha256(path)
    pin = entry.sha256 or _pins(folder).get(entry.file)
    if pin is None:
        return path, got
    if got != pin:
        whose = "the publisher's pin" if entry.sha256 else "the hash recorded when it first loaded"
        raise OptionError("backbones", name, f"{path} has sha256 {got[:12]}..., not {whose} {pin[:12]}...; delete it to "
                                             "download it again, or check where it came from")
    return path, None


def record_pin(entry: ZooEntry, sha256: str) -> None:
    """Record the hash of an entry's file that loaded as its network; later uses must match it."""
    folder = zoo_dir()
    pins = _pins(folder)
    pins[entry.file] = sha256
    _write_pins(folder, pins)


def _download(name: str, entry: ZooEntry, path: str) -> None:
    part = path + ".part"
    try:
        with urllib.request.urlopen(entry.url, timeout=60) as response, open(part, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError) as exc:
        if os.path.exists(part):
            os.remove(part)
        why = getattr(exc, "reason", exc)
        raise OptionError("backbones", name, f"cannot download {entry.url} ({why}); offline, download it on a connected "
                                             f"machine and place it at {path}") from None
    os.replace(part, path)


def licence_to_accept(name: str) -> str | None:
    """For a zoo network whose licence restricts use and whose file is not here yet: the licence
    and its restriction, to show before the first download; else None."""
    if name not in ZOO:
        return None
    entry = ZOO.get(name)
    if not entry.restricts or os.path.isfile(os.path.join(zoo_dir(), entry.file)):
        return None
    return f"licensed {entry.licence}: {entry.restricts}"


def _load(name: str, weights: str, seed: int) -> LoadedBackbone:
    entry = ZOO.get(name)
    if weights != "DEFAULT":
        raise OptionError("weights", weights, f"{name} is a published network; leave `weights` as DEFAULT")
    if entry.architecture not in ARCHITECTURES:
        raise OptionError("backbones", name, f"its entry names the architecture {entry.architecture!r}; known: "
                                             f"{', '.join(ARCHITECTURES)}")
    if entry.architecture == "onnx":  # a missing runtime is not the file's fault: said before the file is judged
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise OptionError("backbones", name, "needs onnxruntime: pip install 'faceprobe[onnx]'") from None
    path, to_pin = fetch(name, entry)
    extra = {"url": entry.url, "licence": entry.licence, "trained_on": entry.trained_on,
             **({"licence_restricts": entry.restricts} if entry.restricts else {})}
    if to_pin is None:  # the file matches its pin: it is the network, so any error is not about the file
        return ARCHITECTURES[entry.architecture](name, path, dict(entry.preprocessing), extra)
    try:
        loaded = ARCHITECTURES[entry.architecture](name, path, dict(entry.preprocessing), extra)
    except Exception as exc:  # noqa: BLE001 -- whatever the architecture's reader raises, an unpinned file is not the network
        why = exc.why if isinstance(exc, OptionError) else first_line(exc)
        raise OptionError("backbones", name, f"{path} does not load as its {entry.architecture} network ({why[:300]}); delete "
                                             "it to download it again, or place the published file there") from None
    record_pin(entry, to_pin)
    return loaded


def _layers(model) -> dict:
    return output_layers(model) if hasattr(model, "output_names") else dict(FACENET_LAYERS)


def _describe(name: str) -> dict:
    entry = ZOO.get(name)
    here = os.path.isfile(os.path.join(zoo_dir(), entry.file))
    return {"feature_dim": None, "weights": f"{'downloaded' if here else 'download on first use'} ({entry.licence}; "
                                            f"trained on {entry.trained_on})"}


ZOO_FAMILY = FAMILIES.register("zoo", BackboneFamily(
    lambda: ZOO.names(), _load, _describe, "face/NAME: published face and expression networks (ONNX, FaceNet), downloaded on first use",
    layer_modules=_layers))
