"""One parameter vocabulary for plug-ins: heads, croppers and corpora.

:class:`Param` declares one parameter of a plug-in (default, kind, range, choices);
:func:`read_assignments` is the one reader of ``NAME=VALUE`` texts (``--param``, ``--crop-param``,
``--corpus-option``): it casts each value by its declaration, checks it, and words every refusal
the same way. The options tables (:class:`faceprobe.options.Option`) word their ranges with the
same :func:`range_words`, so a bound reads alike wherever it is refused.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from .errors import OptionError

__all__ = ["Bounded", "Param", "declare", "read_text", "read_assignments", "range_words", "BOOL_WORDS"]

BOOL_WORDS = {"true": True, "yes": True, "false": False, "no": False}
"""The words a true-or-false value is written with (any case); ``1`` and ``0`` too where the parameter is declared a bool."""

_KIND_WORDS = {int: "an integer", float: "a number", str: "text", bool: "true or false"}


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def range_words(low: float | None, high: float | None, open_low: bool = False, open_high: bool = False) -> str:
    """``>= 1 and <= 5``, ``> 0``: a range in words ('' when unbounded)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if open_low else '>='} {_number(low)}")
    if high is not None:
        parts.append(f"{'<' if open_high else '<='} {_number(high)}")
    return " and ".join(parts)


def read_text(text: str):
    """A value written as text, read without a declaration: true/false/yes/no, an integer, a number, or the text."""
    word = text.strip()
    if word.lower() in BOOL_WORDS:
        return BOOL_WORDS[word.lower()]
    for cast in (int, float):
        try:
            return cast(word)
        except ValueError:
            pass
    return word


@dataclass(frozen=True, kw_only=True)
class Bounded:
    """The range constraint every declaration shares: an option (:class:`faceprobe.options.Option`)
    and a plug-in's parameter (:class:`Param`) both derive from it, so a bound is declared, checked
    and worded one way.

    Attributes
    ----------
    low, high : float or None
        Bounds, inclusive unless ``open_low`` / ``open_high`` (``C > 0``).
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def outside(self, value: float) -> bool:
        """Whether the number ``value`` lies outside the bounds."""
        return (self.low is not None and (value < self.low or (self.open_low and value == self.low))) or \
            (self.high is not None and (value > self.high or (self.open_high and value == self.high)))

    def bounds_words(self) -> str:
        """The bounds in words (``>= 1 and <= 5``; '' when unbounded)."""
        return range_words(self.low, self.high, self.open_low, self.open_high)


@dataclass(frozen=True)
class Param(Bounded):
    """One parameter of a plug-in: its default and what values it takes.

    Attributes
    ----------
    default : object
    kind : type or None
        ``bool``, ``int``, ``float`` or ``str``; None leaves values unchecked (and reads text
        with :func:`read_text`).
    low, high, open_low, open_high
        Bounds (keywords; :class:`Bounded`).
    choices : tuple
        For text: the allowed values. For numbers: words allowed besides them (``scale``).
    pattern : str or None
        A regular expression text values must match in full (``256-128``).
    at_most_rows : bool
        A count that cannot exceed the training rows of a fold (knn's ``k``); checked against
        the smallest training fold before any work.
    help : str
        What it takes, in words, where the declaration alone does not say it well.
    doc : str
        What it means (listed by ``faceprobe corpus show`` and the docs).
    """

    default: object
    kind: type | None = None
    choices: tuple = ()
    pattern: str | None = None
    at_most_rows: bool = False
    help: str = ""
    doc: str = ""

    @classmethod
    def typed(cls, default, **more) -> "Param":
        """A parameter of the default's own kind (bool, int, float or str)."""
        return cls(default, type(default) if type(default) in _KIND_WORDS else None, **more)

    def describe(self) -> str:
        """What the parameter takes, for messages and help."""
        if self.help:
            return self.help
        if self.kind is None:
            return "any value"
        if self.kind is str and self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind is str and self.pattern:
            return f"text like {self.default}"
        words = " ".join(w for w in (_KIND_WORDS[self.kind], self.bounds_words()) if w)
        return words + (f" or {', '.join(map(str, self.choices))}" if self.choices else "")

    def check(self, value):
        """``value`` if allowed (an int for an integer parameter), else a ``ValueError`` saying what is."""
        if self.kind is None or (self.choices and not isinstance(value, bool) and value in self.choices):
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"must be {self.describe()}")
            return value
        if self.kind is str:
            ok = isinstance(value, (str, int)) and not isinstance(value, bool) and \
                (not self.pattern or re.fullmatch(self.pattern, str(value)))
            if not ok or (self.choices and value not in self.choices):
                raise ValueError(f"must be {self.describe()}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"must be {self.describe()}")
        if self.kind is int and value != int(value):
            raise ValueError(f"must be {self.describe()}")
        if self.outside(value):
            raise ValueError(f"must be {self.describe()}")
        return int(value) if self.kind is int else value

    def read(self, text: str):
        """The value ``text`` gives, cast by the declaration and checked (``ValueError`` saying what it takes)."""
        word = text.strip()
        if self.kind is None:
            return read_text(word)
        if self.choices and word in map(str, self.choices):
            return next(c for c in self.choices if str(c) == word)
        if self.kind is bool:
            value = {**BOOL_WORDS, "1": True, "0": False}.get(word.lower())
            if value is None:
                raise ValueError(f"must be {self.describe()}")
            return value
        if self.kind in (int, float):
            try:
                value = int(word) if self.kind is int else float(word)
            except ValueError:
                raise ValueError(f"must be {self.describe()}") from None
            return self.check(value)
        return self.check(word)


def declare(params: dict, typed: bool = False) -> dict[str, Param]:
    """Declarations of a plug-in's parameters: plain defaults become :class:`Param` entries,
    unchecked, or of their default's kind with ``typed``."""
    return {k: v if isinstance(v, Param) else (Param.typed(v) if typed else Param(v)) for k, v in params.items()}


def _declared(declared: dict, name: str, param: str, owner: str) -> Param:
    if name in declared:
        return declared[name]
    close = difflib.get_close_matches(name, list(declared), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise OptionError(param, name, f"not a parameter of {owner}; {hint}it takes: {', '.join(declared) or 'none'}")


def _checked(p: Param, name: str, value, param: str, owner: str, text: bool):
    try:
        return p.read(value) if text else p.check(value)
    except ValueError as exc:
        raise OptionError(param, f"{name}={value}", f"{owner} takes {str(exc).removeprefix('must be ')}") from None


def read_assignments(given, declared: dict | None, *, param: str, owner: str, lists: bool = False) -> dict:
    """``NAME=VALUE`` texts (or a dict of values) -> ``{name: value}``, each cast by its declaration and checked.

    Parameters
    ----------
    given : sequence of str, dict or None
    declared : dict of str -> Param, or None
        The plug-in's parameters; None when the names are checked later (a grid whose names may
        belong to any of several heads): values are then read with :func:`read_text`.
    param : str
        The option the texts came from, named by every refusal.
    owner : str
        Who takes the parameters (``svm``, ``the ckplus corpus``), in messages.
    lists : bool
        Each text holds a comma list of values (``C=0.1,1,10``): ``{name: [values]}``.

    Raises
    ------
    OptionError
        Naming ``param``: a text without ``=``, a name ``owner`` does not take, or a value its
        declaration refuses (saying what it takes).
    """
    if given is None:
        return {}
    if isinstance(given, dict):
        items, text = given.items(), False
    else:
        items, text = [], True
        for entry in [given] if isinstance(given, str) else given:
            name, eq, value = str(entry).partition("=")
            if not eq or not name.strip() or (lists and not value.strip()):
                raise OptionError(param, entry, f"expected NAME=VALUE{',VALUE...' if lists else ''}")
            items.append((name.strip(), value))
    out = {}
    for name, value in items:
        p = Param(None) if declared is None else _declared(declared, name, param, owner)
        if lists:
            values = [v for v in value.split(",") if v.strip()] if text else (list(value) if isinstance(value, (list, tuple)) else [value])
            out[name] = [_checked(p, name, v, param, owner, text) for v in values]
        else:
            out[name] = _checked(p, name, value, param, owner, text)
    return out
