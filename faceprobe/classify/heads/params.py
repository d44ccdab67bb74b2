"""Parameter declarations of heads: :class:`~faceprobe.params.Param`, the one vocabulary of every plug-in.

A head declares ``params={"C": Param(1.0, float, low=0, open_low=True), ...}``; a plain
default (``{"shrinkage": "auto"}``) declares a parameter whose values are not checked.
"""

from __future__ import annotations

from ...errors import OptionError
from ...params import Param, declare

__all__ = ["Param", "declare", "check_value"]

def check_value(owner: str, name: str, param: Param, value):
    """The checked value, or an :class:`OptionError` naming ``--param NAME=VALUE`` and what it takes."""
    try:
        return param.check(value)
    except ValueError as exc:
        why = str(exc)
        raise OptionError("params", f"{name}={value}", f"{owner} takes {why.removeprefix('must be ')}") from None
