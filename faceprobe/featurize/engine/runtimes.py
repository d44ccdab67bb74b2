"""Runtimes for the forward pass besides PyTorch: onnxruntime and OpenVINO, for every backbone.

The network (with every requested layer as part of its one output) is exported to ONNX once and
kept on disk (:func:`exported`), keyed by the backbone, its weights' hash, the outputs, the input
size and the exporter's version, so a later run loads the file without exporting again. A
runtime is a candidate of the compile choice (:func:`~faceprobe.featurize.engine.compile.choose_compile`):
on the run's first batch of real faces it must give every vector within the run's fidelity
threshold of eager PyTorch in float32 (cosine 0.9999 when it computes in float32, 0.999 in
bf16), else it is not used and the reason goes to the run's notes. Precision is the run's
choice: OpenVINO is told float32 or bf16 explicitly (on CPUs with bf16 it would otherwise pick
bf16 by itself). Feature keys do not depend on the runtime; the run's provenance records it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import first_line
from ...registry import Registry

__all__ = ["Runtime", "RUNTIMES", "exported", "export_path", "export_dir", "RUNTIME_COSINE", "EXPORT_GUESS_S", "runtime_candidates"]

RUNTIME_COSINE = {"fp32": 0.9999, "bf16": 0.999}
"""Smallest cosine to eager float32 PyTorch a runtime's vectors may have, by the precision it computes in."""
_OPSET = 17
EXPORT_GUESS_S = 4.0
"""Typical time to export a network to ONNX on 2 cores (lite0 2 s, resnet50 and densenet121 4-5 s),
for ``auto``'s cost check when no export is kept yet."""


@dataclass(frozen=True)
class Runtime:
    """A runtime for the forward pass.

    Attributes
    ----------
    build : callable or None
        ``build(runner, example, precision) -> callable`` mapping a normalised float batch (a
        torch tensor) to a float32 torch tensor; None for ``torch`` (PyTorch itself) and ``auto``.
    missing : callable
        ``missing(device_type) -> str or None``: why it cannot run here (None: it can).
    precisions : callable
        ``precisions(device_type) -> tuple``: the precisions it can compute in here.
    version : callable
    warmup_guess_s : float
        Typical time to load an exported graph and run it once on 2 cores, for ``auto``'s cost
        check (the export itself: :data:`EXPORT_GUESS_S`).
    description : str
    """

    build: Callable | None
    missing: Callable = lambda device: None
    precisions: Callable = lambda device: ("fp32",)
    version: Callable = lambda: ""
    warmup_guess_s: float = 0.0
    description: str = ""


RUNTIMES: Registry[Runtime] = Registry("runtime", "runtime")


def export_dir() -> Path:
    """Where exported graphs are kept: ``$FACEPROBE_HOME/exports`` or the user's cache folder."""
    from ...machine import home_dir

    return home_dir("exports")


def _weights_digest(backbone) -> str:
    """The weights' sha256 as loaded (recorded by the family), else a hash of the parameters themselves."""
    known = (backbone.weights or {}).get("sha256")
    if known:
        return str(known)
    h = hashlib.sha256()
    for name, tensor in sorted(backbone.model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_path(runner, example) -> Path:
    """Where the runner's network is (or will be) exported: one file per backbone, weights hash,
    outputs, input size, torch version, opset and the module's ``export_revision`` (where it
    declares one), under :func:`export_dir`."""
    import torch

    b = runner.backbone
    revision = getattr(b.model, "export_revision", None)  # a module whose exported graph changed declares it
    key = json.dumps({"backbone": b.name, "weights": _weights_digest(b), "outputs": [getattr(o, "name", str(o)) for o in b.output_list()],
                      "input": list(example.shape[1:]), "torch": torch.__version__, "opset": _OPSET,
                      **({"revision": revision} if revision else {})}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return export_dir() / f"{b.name.replace('/', '_').replace('@', '-')}-{digest}.onnx"


TRACE_IMAGES = 2
"""Images the export traces the network on. The batch axis is dynamic, so the graph is the same as
traced on the run's batch (measured: ONNX files of the same size, identical onnxruntime vectors on
a batch of 16, for efficientnet_lite0, resnet18, densenet121, mobilenet_v2 and a layer), and the
trace, a forward pass, costs a fraction of a batch of 16 (resnet18 0.41 s against 0.75 s,
densenet121 0.73 s against 1.47 s on 2 cores). Not one image: a ``squeeze`` would drop the batch axis."""

_EXPORTING = threading.Lock()
"""One export at a time in a process: PyTorch's ONNX exporter keeps its state in module globals
(the opset, the export flag, the graph passes' settings), and a first run prepares each backbone's
runtimes on a thread of its own (:mod:`.beside`)."""

STALE_EXPORT_S = 3600.0
"""A temporary export file older than this was left by a killed run: removed when the next export starts."""


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _file_digest(path: Path) -> dict:
    from ...hashes import file_sha256

    return {"bytes": path.stat().st_size, "sha256": file_sha256(str(path))}


def export_state(path: Path) -> str:
    """``missing``, ``ok`` (its size and sha256 as recorded when it was written), or why it is not
    to be used: ``damaged`` (size or hash differ) or ``unrecorded`` (written before exports were
    recorded, or its record lost): such a file is exported again."""
    if not path.exists():
        return "missing"
    try:
        want = json.loads(_record(path).read_text())
    except (OSError, ValueError):
        return "unrecorded"
    if not isinstance(want, dict) or want.get("bytes") != path.stat().st_size:
        return "damaged"
    return "ok" if want.get("sha256") == _file_digest(path)["sha256"] else "damaged"


def _remove_stale_temps(folder: Path) -> None:
    import time

    for tmp in folder.glob("*.onnx.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > STALE_EXPORT_S:
                tmp.unlink()
        except OSError:  # another process's, or already gone
            pass


def exported(runner, example, state: str | None = None) -> tuple[Path, bool | str]:
    """The runner's network as an ONNX file (float32, dynamic batch): ``(path, reused)``,
    written once (atomically) at :func:`export_path` with its size and sha256 beside it
    (``NAME.onnx.sha256``). A kept file is used only when it still matches that record; a damaged
    or unrecorded one is exported again, and ``reused`` says so (``"rebuilt: damaged"``).
    ``state``: :func:`export_state` of the file, where the caller has just taken it (not hashed twice)."""
    import torch

    b = runner.backbone
    path = export_path(runner, example)
    state = state or export_state(path)
    if state == "ok":
        return path, True
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path.parent)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    model = b.model  # converted only where needed: with the runtimes prepared beside the run, eager runs it meanwhile
    if any(t.dtype != torch.float32 for t in model.parameters()):
        model = model.float()
    if model.training:
        model.eval()
    x = example[:TRACE_IMAGES].detach().float().cpu().contiguous()
    device = next(model.parameters(), torch.zeros(0)).device
    if device.type != "cpu":
        model = model.cpu()
    try:
        with _EXPORTING, torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and constant-folding chatter
            torch.onnx.export(model, x, str(tmp), input_names=["input"], output_names=["features"], opset_version=_OPSET,
                              dynamic_axes={"input": {0: "n"}, "features": {0: "n"}}, dynamo=False)
        record = _file_digest(tmp)
        os.replace(tmp, path)
        _record(path).write_text(json.dumps(record))
    finally:
        if device.type != "cpu":
            model.to(device)
        if tmp.exists():
            tmp.unlink()
    return path, (False if state == "missing" else f"rebuilt: the kept export was {state}")


# ------------------------------------------------------------------ onnxruntime

def _ort_missing(device: str) -> str | None:
    try:
        import onnxruntime
    except ModuleNotFoundError:
        return "not installed: pip install 'faceprobe[onnx]'"
    except Exception as exc:  # noqa: BLE001 - a broken install (a missing shared library) is as unusable as a missing one
        return _unloadable(exc)
    if device == "cuda" and len(ort_providers("cuda", onnxruntime.get_available_providers())) == 1:
        return "no CUDA or TensorRT provider in this onnxruntime (pip install onnxruntime-gpu)"
    return None


def ort_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime's execution providers for a device, best first: TensorRT and CUDA on a GPU
    (those installed), the CPU always last."""
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"] if device == "cuda" else []
    return [p for p in wanted if p in available] + ["CPUExecutionProvider"]


def ort_options(threads: int):
    """onnxruntime's session options for a run: ``threads`` intra-op threads, and its own log
    quiet below fatal (a failure reaches the run as an exception, said there in one line; the
    log printed it again, in red, C++ source lines included)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.log_severity_level = 4
    return options


def _ort_build(runner, example, precision: str):
    import onnxruntime as ort
    import torch

    path, _ = exported(runner, example)
    session = ort.InferenceSession(str(path), ort_options(torch.get_num_threads()),
                                   providers=ort_providers(runner.device.type, ort.get_available_providers()))

    def run(x):
        out = session.run(None, {"input": x.detach().float().contiguous().cpu().numpy()})[0]
        return torch.from_numpy(out).to(x.device)

    run.host_layout = True  # takes the batch in NCHW as normalised (no channels-last copy)
    return run


def installed_version(dists: tuple[str, ...], module_version: Callable[[], str]) -> str:
    """A runtime's version from its installed distribution's metadata (a millisecond), else from
    the imported module (``module_version``): importing OpenVINO only to read its version took
    0.23 s of every remembered run on another runtime (it keys the remembered choice)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return module_version()


def _ort_version() -> str:
    def imported() -> str:
        import onnxruntime

        return onnxruntime.__version__

    return installed_version(("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"), imported)


# ------------------------------------------------------------------ OpenVINO

def _openvino():
    """``import openvino``, with the newest oneTBB of the environment loaded first.

    OpenVINO's wheel ships its own oneTBB (2021.x), oneDAL (scikit-learn-intelex, ``engine=onedal``)
    needs the newer one of the ``tbb`` wheel, and one process holds one ``libtbb.so.12``: whichever
    loads first. After OpenVINO loaded its own, oneDAL could not load in the same process (a
    notebook that featurizes, then classifies). oneTBB keeps its binary interface within a major
    version, so the ``tbb`` wheel's library, loaded first, serves both.
    """
    import sys

    if "openvino" not in sys.modules:
        _load_tbb_wheel()
    import openvino

    return openvino


def _load_tbb_wheel() -> None:
    import ctypes
    from importlib import metadata

    try:
        files = metadata.files("tbb") or ()
    except metadata.PackageNotFoundError:
        return
    lib = next((f for f in files if f.name == "libtbb.so.12"), None)
    if lib is not None and os.path.exists(lib.locate()):
        try:
            ctypes.CDLL(str(lib.locate()), mode=ctypes.RTLD_GLOBAL)
        except OSError:  # a broken tbb wheel: OpenVINO loads its own, as before
            pass


def _ov_missing(device: str) -> str | None:
    if device != "cpu":
        return "runs here on the CPU only"
    try:
        _openvino()
    except ModuleNotFoundError:
        return "not installed: pip install 'faceprobe[openvino]'"
    except Exception as exc:  # noqa: BLE001 - a broken install (OSError from a shared library) is as unusable as a missing one
        return _unloadable(exc)
    return None


def _unloadable(exc: Exception) -> str:
    return f"installed, but it fails to load ({first_line(exc)}); reinstall it, or choose another runtime"


_CORES: dict = {}  # the process's one OpenVINO Core (see _ov_core)


def _ov_core():
    """The process's one OpenVINO ``Core``, with a roomy alternate signal stack on the thread
    that made it (:mod:`.altstack`).

    One for the process, by necessity: each ``Core`` that first uses the CPU plugin swaps the
    thread's alternate signal stack for its own and puts the old one back when destroyed, so two
    whose lives overlap left a freed stack behind, and a later child process's exit crashed the
    process (a first run that tried OpenVINO in float32 and bf16, then classify with workers).
    """
    from .altstack import roomy_altstack

    core = _CORES.get("cpu")
    if core is None:
        core = _CORES["cpu"] = _openvino().Core()
        core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")  # the CPU plugin sets its stack now, once
        roomy_altstack()
    return core


def _ov_precisions(device: str) -> tuple:
    """float32, and bf16 where the CPU plugin has it and oneDNN is not capped below AVX-512
    (``ONEDNN_MAX_CPU_ISA=AVX2``: the plugin still offers bf16, and its convolutions fail at the
    first inference)."""
    from ...machine import isa_caps, onednn_bf16

    if _ov_missing(device):
        return ()
    caps = _ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return ("fp32", "bf16") if "BF16" in caps and onednn_bf16(isa_caps()) != "none" else ("fp32",)


def _ov_build(runner, example, precision: str):
    """A throughput-compiled model run in streams (:class:`~faceprobe.featurize.engine.streams.StreamedRun`;
    the trial chooses its slice of the batch on the run's first batch, or recalls it)."""
    import torch

    from .streams import StreamedRun, stream_config

    path, _ = exported(runner, example)
    core = _ov_core()
    config = stream_config(torch.get_num_threads(), "bf16" if precision == "bf16" else "f32")
    return StreamedRun(core.compile_model(core.read_model(str(path)), "CPU", config))


def _ov_version() -> str:
    return installed_version(("openvino",), lambda: _openvino().__version__).split("-")[0]


RUNTIMES.register("auto", Runtime(None, description="the fastest faithful of PyTorch (with `compile`) and the installed runtimes, "
                                                    "timed on the first batch"))
RUNTIMES.register("torch", Runtime(None, description="PyTorch (eager or compiled, see `compile`)"))
RUNTIMES.register("onnxruntime", Runtime(_ort_build, _ort_missing, version=_ort_version, warmup_guess_s=1.5,
                                         description="onnxruntime on the exported graph (CPU; CUDA and TensorRT providers "
                                                     "where installed), float32"))
RUNTIMES.register("openvino", Runtime(_ov_build, _ov_missing, _ov_precisions, _ov_version, warmup_guess_s=1.5,
                                      description="OpenVINO on the exported graph (CPU), float32, or bf16 where the CPU has it "
                                                  "and the run's precision allows"))


def runtime_candidates(runtime: str, device: str, precision: str) -> tuple[list[tuple[str, str]], dict]:
    """The (runtime, precision) pairs to try for ``runtime`` and the run's ``precision``
    (``auto``, ``fp32``, ``bf16``, ``fp16``), and why others are not tried."""
    RUNTIMES.check(runtime)
    names = [n for n, r in RUNTIMES.items() if r.build is not None] if runtime == "auto" else \
        ([runtime] if RUNTIMES.get(runtime).build is not None else [])
    out, skipped = [], {}
    for name in names:
        rt = RUNTIMES.get(name)
        why = rt.missing(device)
        if why:
            skipped[name] = why
            continue
        allowed = [p for p in rt.precisions(device) if precision == "auto" or p == precision]
        if not allowed:
            skipped[name] = f"computes in {', '.join(rt.precisions(device)) or 'no precision'} here; the run's precision is {precision}"
        out += [(name, p) for p in allowed]
    return out, skipped
