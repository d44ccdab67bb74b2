"""What this machine is (CPU model and the instruction sets that matter for speed) and where
faceprobe keeps what it learns about it (``$FACEPROBE_HOME``, else the user's cache folder).

Featurize and classify both read it; it imports neither torch nor scikit-learn.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

__all__ = ["cpu_info", "isa_caps", "onednn_bf16", "home_dir", "check_home", "NATIVE_BF16_FLAGS", "ISA_CAPS", "read_memo",
           "write_memo", "available_memory"]

NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")

ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
"""Environment variables that cap the instruction sets software uses below what the CPU has:
PyTorch's own kernels (``ATEN_CPU_CAPABILITY``) and oneDNN, which PyTorch and OpenVINO compute
convolutions with (``ONEDNN_MAX_CPU_ISA``, formerly ``DNNL_MAX_CPU_ISA``). Set, they are part of
what the machine is: a run under ``ONEDNN_MAX_CPU_ISA=AVX2`` computes and times as an AVX2 CPU."""

_ONEDNN_BELOW_BF16 = {"SSE41": "none", "AVX": "none", "AVX2": "none", "AVX2_VNNI": "none", "AVX2_VNNI_2": "none",
                      "AVX512_MIC": "none", "AVX512_MIC_4OPS": "none", "AVX512_CORE": "emulated", "AVX512_CORE_VNNI": "emulated"}
"""oneDNN caps below native bf16, and what bf16 is under each: ``emulated`` on AVX-512 cores,
``none`` below them (OpenVINO's bf16 convolutions then fail at their first inference). Other
values keep bf16 native: higher caps, and names oneDNN does not know, which it ignores."""


def isa_caps() -> dict:
    """The instruction-set caps set in the environment (see ``ISA_CAPS``), upper-cased."""
    return {name: os.environ[name].strip().upper() for name in ISA_CAPS if os.environ.get(name, "").strip()}


def onednn_bf16(caps: dict) -> str:
    """What oneDNN can do in bf16 under ``caps``: ``native``, ``emulated`` or ``none``
    (``ONEDNN_MAX_CPU_ISA`` ahead of its former name ``DNNL_MAX_CPU_ISA``, as oneDNN reads them)."""
    cap = caps.get("ONEDNN_MAX_CPU_ISA") or caps.get("DNNL_MAX_CPU_ISA")
    return _ONEDNN_BELOW_BF16.get(cap or "", "native")


def cpu_info() -> dict:
    """CPU model name and the flags that matter for speed (Linux ``/proc/cpuinfo``).

    Returns
    -------
    dict
        ``model`` (str: the CPU's name, followed by the instruction-set caps in effect, if any, so
        that what is remembered per machine is remembered per capped machine), ``flags`` (sorted
        avx*, amx*, fma*, f16c flags), ``native_bf16`` (AMX or AVX512-BF16 present, and oneDNN not
        capped below it) and ``caps`` (:func:`isa_caps`).
    """
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")))
    caps = isa_caps()
    if caps:
        model = f"{model} ({', '.join(f'{k}={v}' for k, v in caps.items())})"
    native = any(f in flags for f in NATIVE_BF16_FLAGS) and onednn_bf16(caps) == "native"
    return {"model": model, "flags": wanted, "native_bf16": native, "caps": caps}


def home_dir(*parts: str) -> Path:
    """``$FACEPROBE_HOME/parts...``, else the user cache folder's ``faceprobe/parts...`` (not created)."""
    env = os.environ.get("FACEPROBE_HOME")
    if env:
        return Path(env).joinpath(*parts)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("faceprobe")).joinpath(*parts)


def check_home() -> None:
    """Refuse a ``$FACEPROBE_HOME`` that cannot hold what runs keep there (exports, remembered
    choices, the zoo's files, the results store): a file, or a folder that cannot be made or written.
    The default (the user cache folder) is not checked: a read-only one only means nothing is kept.

    Raises
    ------
    FaceprobeError
        Naming the folder, why, and ``$FACEPROBE_HOME``.
    """
    from .errors import FaceprobeError

    if not os.environ.get("FACEPROBE_HOME"):  # the user cache folder: a run that cannot keep anything there still runs
        return
    home = home_dir()
    why = None
    if home.exists() and not home.is_dir():
        why = "is a file, not a folder"
    else:
        try:
            home.mkdir(parents=True, exist_ok=True)
            if not os.access(home, os.W_OK | os.X_OK):
                why = "cannot be written"
        except OSError as exc:
            why = f"cannot be made ({exc.strerror or exc})"
    if why:
        raise FaceprobeError(f"faceprobe's home {home} {why}: it keeps exports, remembered choices and the zoo's files; "
                             "set $FACEPROBE_HOME to a writable folder")


def read_memo(path: Path) -> dict:
    """A JSON object of remembered decisions (empty when the file is missing or unreadable)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_memo(path: Path, key: str, value) -> bool:
    """Set ``key`` in the JSON object at ``path``, written atomically. A file that cannot be written
    is left alone (a decision that is not remembered is made again next time): returns False."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = read_memo(path)
        data[key] = value
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=0, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
        return True
    except OSError:
        return False


def available_memory() -> int:
    """Memory available to new allocations (Linux ``MemAvailable``; else free pages; else 4 GiB)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30
