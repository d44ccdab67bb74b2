"""Parameter declarations of registered plug-ins (heads): kind, range and choices, checked before any work.

A head declares ``params={"C": Param(1.0, float, low=0, low_open=True), ...}``; a plain
default (``{"shrinkage": "auto"}``) declares a parameter whose values are not checked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...errors import OptionError

__all__ = ["Param", "declare"]

_KIND_WORDS = {int: "an integer", float: "a number", str: "text"}


@dataclass(frozen=True)
class Param:
    """One parameter: its default and what values it takes.

    Attributes
    ----------
    default : object
    kind : type or None
        ``int``, ``float`` or ``str``; None leaves values unchecked.
    low, high : float or None
        Bounds (inclusive unless ``low_open``).
    low_open : bool
        ``low`` itself is not allowed (``C > 0``).
    choices : tuple of str
        For text: the allowed values. For numbers: words allowed besides them (``scale``).
    pattern : str or None
        A regular expression text values must match in full (``256-128``).
    help : str
        What it takes, in words, where the declaration alone does not say it well.
    at_most_rows : bool
        A count that cannot exceed the training rows of a fold (knn's ``k``); checked against
        the smallest training fold before any work.
    """

    default: object
    kind: type | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()
    pattern: str | None = None
    at_most_rows: bool = False
    help: str = ""

    def describe(self) -> str:
        """What the parameter takes, for messages and help."""
        if self.help:
            return self.help
        if self.kind is None:
            return "any value"
        if self.kind is str and self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is str and self.pattern:
            return f"text like {self.default}"
        parts = [_KIND_WORDS[self.kind]]
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"<= {self.high:g}")
        words = f" or {', '.join(self.choices)}" if self.choices else ""
        return " ".join(parts) + words

    def check(self, value):
        """``value`` if allowed (an int for an integer parameter), else a ``ValueError`` saying what is."""
        if self.kind is None or (self.choices and value in self.choices):
            return value
        if self.kind is str:
            ok = isinstance(value, (str, int)) and (not self.pattern or re.fullmatch(self.pattern, str(value)))
            if not ok or (self.choices and value not in self.choices):
                raise ValueError(f"must be {self.describe()}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"must be {self.describe()}")
        if self.kind is int and value != int(value):
            raise ValueError(f"must be {self.describe()}")
        if (self.low is not None and (value < self.low or (self.low_open and value == self.low))) or \
                (self.high is not None and value > self.high):
            raise ValueError(f"must be {self.describe()}")
        return int(value) if self.kind is int else value


def declare(params: dict) -> dict[str, Param]:
    """Plain defaults become unchecked :class:`Param` declarations."""
    return {k: v if isinstance(v, Param) else Param(v) for k, v in params.items()}


def check_value(owner: str, name: str, param: Param, value):
    """The checked value, or an :class:`OptionError` naming ``--param NAME=VALUE`` and what it takes."""
    try:
        return param.check(value)
    except ValueError as exc:
        why = str(exc)
        raise OptionError("params", f"{name}={value}", f"{owner} takes {why.removeprefix('must be ')}") from None
