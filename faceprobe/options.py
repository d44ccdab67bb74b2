"""Every option declared once: one table per stage drives its options dataclass, the API's
signatures and docstrings, the CLI's flags, the one validation pass and docs/cli.md.

Modelled on scikit-learn's declarative parameter constraints (``_parameter_constraints`` and
``validate_params`` in ``sklearn/utils/_param_validation.py``): an :class:`Option` says a
parameter's kind, default, range or choices, help, which commands and API functions take it, and
which options it cannot be combined with; :meth:`OptionTable.validate` checks them all in one
pass. The click options are built from the same entries by :mod:`faceprobe.cli.options`.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from .errors import OptionError
from .params import Bounded

__all__ = ["option_values", "with_values", "Option", "Cli", "OptionTable", "KINDS", "strings_or_dict", "parsed_by", "MAX_SEED"]

MAX_SEED = 2**31 - 1
"""The largest seed: NumPy's generators take seeds below 2**32, and runs derive more from it
(seed + repeat, and per learning-curve size), which stay below that."""

KINDS = ("int", "float", "str", "bool", "values", "object")
"""An option's kind: a number, a string, a flag, ``values`` (one string or a sequence of strings;
a repeatable flag on the CLI) or ``object`` (checked by the entry's own ``check``)."""

_TYPE_TEXT = {"int": "int", "float": "float", "str": "str", "bool": "bool", "values": "str or sequence of str",
              "object": "object"}


@dataclass(frozen=True)
class Cli:
    """How an option is presented on the command line, apart from what it is (:class:`Option`).

    Attributes
    ----------
    flag, short : str or None
        The flag without its dashes (default the option's name with dashes: ``max-memory``) and
        its one-letter short form (``j`` for ``-j``).
    metavar : str, optional
        The placeholder for the value.
    negate : str, optional
        A flag (without dashes) that sets a ``bool`` option to False (``quiet`` for ``progress``).
    negate_help : str, optional
        The help of the ``negate`` flag.
    repeat : bool
        The flag may be repeated (always for ``values``).
    from_text : callable, optional
        How the flag's text becomes the value (``cv``: ``5`` -> 5, ``loso``).
    bare : str, optional
        The value of the flag given with no value (``--mlflow`` alone); None: a value is required.
    """

    flag: str | None = None
    short: str | None = None
    metavar: str | None = None
    negate: str | None = None
    negate_help: str | None = None
    repeat: bool = False
    from_text: Callable[[str], object] | None = None
    bare: str | None = None


@dataclass(frozen=True)
class Option(Bounded):
    """One option of one stage, declared once.

    Attributes
    ----------
    name : str
        The library name (a keyword of the API, a field of the options dataclass).
    kind : str
        One of :data:`KINDS`.
    default : object
        The default everywhere (API, dataclass, CLI).
    help : str or callable
        One paragraph; a callable (no arguments) is called when help is shown, so texts that
        list a registry's entries include plug-ins.
    commands : tuple of str
        The CLI commands that take it (``classify``, ``fit``).
    api : tuple of str
        The API functions that take it as a keyword (``evaluate``, ``fit``).
    choices : tuple or callable, optional
        Allowed values; a callable returns them (a registry's names, read when checked).
    low, high, open_low, open_high
        A number's bounds (keywords; declared by :class:`~faceprobe.params.Bounded`, as a plug-in's
        parameters' are).
    also : tuple
        Values accepted besides the range or choices (``-1`` for ``jobs``: all cores).
    check : callable, optional
        ``check(value) -> str | None``: the reason a value is refused, for ``object`` kinds and
        parsing beyond the kind (``cv``: folds, ``loso`` or a splitter).
    conflicts : tuple of (str, str)
        ``(other, why)``: this option and ``other`` cannot both be given.
    requires : tuple of (str, str)
        ``(other, why)``: this option, given, needs ``other`` given too.
    type_text : str, optional
        The docstring's type line (default from ``kind`` and ``default``).
    cli : Cli
        Its presentation on the command line (flag, short form, placeholder); the library never reads it.
    """

    name: str
    kind: str
    default: object = None
    help: str | Callable[[], str] = ""
    commands: tuple = ()
    api: tuple = ()
    choices: tuple | Callable[[], tuple] | None = None
    also: tuple = ()
    check: Callable[[object], str | None] | None = None
    conflicts: tuple = ()
    requires: tuple = ()
    type_text: str | None = None
    cli: Cli = Cli()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def help_text(self) -> str:
        return self.help() if callable(self.help) else self.help

    def allowed(self) -> tuple | None:
        """The allowed choices, read now (a registry's current names)."""
        return tuple(self.choices()) if callable(self.choices) else self.choices

    def given(self, value) -> bool:
        """Whether ``value`` differs from the default (an empty sequence is not given)."""
        if isinstance(value, (list, tuple, dict)) and not value:
            return False
        try:
            return bool(value != self.default)
        except Exception:  # objects whose comparison is not a bool (arrays, splitters)
            return True

    def type_line(self) -> str:
        text = self.type_text or _TYPE_TEXT[self.kind] + (" or None" if self.default is None else "")
        return f"{text}, default={self.default!r}"

    def refusal(self, value) -> str | None:
        """Why ``value`` is refused by kind, range, choices and ``check``; None when it is accepted."""
        if value is None and self.default is None:
            return None
        if self.also and isinstance(value, (int, float, str)) and not isinstance(value, bool) and value in self.also:
            return None
        why = _kind_refusal(self.kind, value)
        if why is None and self.kind in ("int", "float"):
            why = self._range_refusal(value)
        if why is None and self.choices is not None and self.kind in ("str", "values"):
            allowed = self.allowed()
            bad = [v for v in ([value] if isinstance(value, str) else value) if v not in allowed]
            if bad:
                why = f"choose from: {', '.join(map(str, allowed))}"
        if why is None and self.check is not None:
            why = self.check(value)
        return why

    def _range_refusal(self, value) -> str | None:
        if not math.isfinite(value):
            return "must be a finite number"
        if not self.outside(value):
            return None
        also = f" (or {' or '.join(map(str, self.also))})" if self.also else ""
        return f"must be {self.bounds_words()}{also}"


def _kind_refusal(kind: str, value) -> str | None:
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected a whole number, got {type(value).__name__}"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"expected a number, got {type(value).__name__}"
    if kind == "str" and not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if kind == "bool" and not isinstance(value, bool):
        return f"expected True or False, got {type(value).__name__}"
    if kind == "values" and not (isinstance(value, str) or (isinstance(value, (list, tuple))
                                                           and all(isinstance(v, str) for v in value))):
        return f"expected a string or a sequence of strings, got {type(value).__name__}"
    return None


def strings_or_dict(expected: str) -> Callable[[object], str | None]:
    """A ``check``: a dict, a sequence of strings, or None (nothing given); else ``expected``."""
    def check(value) -> str | None:
        if value is None or isinstance(value, dict) or (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
            return None
        return expected
    return check


def parsed_by(parse: Callable[[object], object]) -> Callable[[object], str | None]:
    """A ``check`` that runs the option's own parser and gives the reason its ``OptionError`` states."""
    def check(value) -> str | None:
        try:
            parse(value)
        except OptionError as exc:
            return exc.why
        return None
    return check


class OptionTable:
    """A stage's options, in the order they are shown.

    Parameters
    ----------
    stage : str
        ``classify`` or ``featurize``.
    options : sequence of Option
    """

    def __init__(self, stage: str, options):
        self.stage = stage
        self._options = {o.name: o for o in options}
        if len(self._options) != len(options):
            raise ValueError(f"{stage}: an option is declared twice")
        for o in options:
            for other, _ in (*o.conflicts, *o.requires):
                if other not in self._options:
                    raise ValueError(f"{stage}: option {o.name} names an unknown option {other!r}")

    def __iter__(self) -> Iterator[Option]:
        return iter(self._options.values())

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    def __contains__(self, name: str) -> bool:
        return name in self._options

    def names(self) -> list[str]:
        return list(self._options)

    def of_command(self, command: str) -> list[Option]:
        return [o for o in self if command in o.commands]

    def of_api(self, function: str) -> list[Option]:
        return [o for o in self if function in o.api]

    def defaults(self) -> dict:
        return {o.name: o.default for o in self}

    def dataclass(self, name: str, doc: str, module: str, namespace: dict | None = None) -> type:
        """The stage's frozen, keyword-only options dataclass: one field per option, its default."""
        fields = [(o.name, object, dataclasses.field(default=o.default)) for o in self]
        cls = dataclasses.make_dataclass(name, fields, frozen=True, kw_only=True, namespace=dict(namespace or {}))
        cls.__module__ = module
        cls.__doc__ = doc + "\n\n" + self.parameters_section(registries=False)
        return cls

    def unknown(self, given: Mapping, function: str, every: bool = False) -> None:
        """Refuse keywords that ``function`` does not take (``every``: that are no option of the
        table), naming the closest option."""
        allowed = {o.name for o in (self if every else self.of_api(function))}
        for name in given:
            if name not in allowed:
                near = difflib.get_close_matches(name, sorted(allowed), n=1) or \
                    [a for a in sorted(allowed) if name.startswith(a + "_") or a.startswith(name + "_")][:1]  # cv_folds: cv
                hint = f"did you mean `{near[0]}`?" if near else f"options: {', '.join(sorted(allowed))}"
                raise OptionError(name, given[name], f"is not an option of {function}; {hint}")

    def validate(self, values: Mapping) -> None:
        """Check every option's value, then the combinations; the first refusal is raised.

        Raises
        ------
        OptionError
            Naming the option, the value and the fix.
        """
        for o in self:
            if o.name in values:
                why = o.refusal(values[o.name])
                if why is not None:
                    raise OptionError(o.name, _shown(values[o.name]), why)
        for o in self:
            if o.name not in values or not o.given(values[o.name]):
                continue
            for other, why in o.conflicts:
                if other in values and self[other].given(values[other]):
                    raise OptionError(other, _shown(values[other]), f"cannot be combined with `{o.name}={_shown(values[o.name])}`: {why}")
            for other, why in o.requires:
                if other not in values or not self[other].given(values[other]):
                    raise OptionError(o.name, _shown(values[o.name]), f"needs `{other}`: {why}")

    def parameters_section(self, function: str | None = None, *, registries: bool = True) -> str:
        """A numpydoc ``Parameters`` body for the options (of one API function, or all).

        ``registries=False`` leaves out help texts read from registries (they import the
        registering modules): the entry then points to docs/cli.md, which lists them.
        """
        lines = []
        for o in (self.of_api(function) if function else self):
            lines.append(f"{o.name} : {o.type_line()}")
            text = o.help_text() if registries or not callable(o.help) else "The registered entries: see docs/cli.md."
            lines += ["    " + line for line in _wrap(text, 88)]
        return "\n".join(lines)

    def signature(self, function: str, leading: list[inspect.Parameter]) -> inspect.Signature:
        """``leading`` parameters, then the function's options as keyword-only parameters with their defaults."""
        taken = {p.name for p in leading}
        tail = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
                for o in self.of_api(function) if o.name not in taken]
        return inspect.Signature(leading + tail)


def option_values(options) -> dict:
    """``{name: value}`` of an options object made by :meth:`OptionTable.dataclass`: the one
    place options are read by reflection, so every reader after it names what it takes."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


def with_values(options, **given):
    """A copy of the options object ``options`` with the ``given`` values (checked later, once)."""
    return dataclasses.replace(options, **given)


def _shown(value):
    """A value as an error message shows it: a sequence of strings joined by commas (a repeated
    flag's values); any other value as Python writes it (``[5]`` stays a list, not ``'5'``)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return value


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(" ".join(text.split()), width) or [""]
