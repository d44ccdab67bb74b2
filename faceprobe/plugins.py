"""Plug-in modules named by ``FACEPROBE_PLUGINS`` (comma-separated), imported by the CLI at start.

A plug-in registers what it adds (``faceprobe.register_head(...)``, a cropper, a backbone
family) when it is imported; the library itself never reads the variable.
"""

from __future__ import annotations

import importlib
import os

from .errors import FaceprobeError, first_line

__all__ = ["load_plugins", "ENV"]

ENV = "FACEPROBE_PLUGINS"


def load_plugins(value: str | None = None) -> list[str]:
    """Import every module named in ``value`` (default: ``$FACEPROBE_PLUGINS``); return their names.

    Raises
    ------
    FaceprobeError
        Naming the module that cannot be imported and why.
    """
    value = os.environ.get(ENV, "") if value is None else value
    names = [n.strip() for n in value.split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a plug-in may fail in any way; say which and why
            raise FaceprobeError(f"{ENV}: cannot import plug-in {name!r} ({first_line(exc)})") from None
    return names
