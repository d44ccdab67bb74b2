"""Errors that reach the user as one clean line."""

from __future__ import annotations

import re

__all__ = ["FaceprobeError", "BadImage", "OptionError", "first_line", "message_line", "flag_of", "flags_in"]


def _message(exc: BaseException) -> str | None:
    """The first line of an exception's message; None where it has none (``RuntimeError()``:
    ``str(exc).splitlines()[0]`` fails there)."""
    lines = str(exc).splitlines()
    return lines[0] if lines and lines[0].strip() else None


def message_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name where the message is empty."""
    return _message(exc) or type(exc).__name__


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception (``Type`` alone where the message is
    empty), for one-line errors."""
    message = _message(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class FaceprobeError(Exception):
    """A user-facing error: bad input, bad option, unusable file.

    The CLI prints ``str(error)`` on one line and exits non-zero, without a traceback.
    """


class BadImage(FaceprobeError):
    """One image cannot be used; featurize records the reason and goes on."""


class OptionError(FaceprobeError, ValueError):
    """A bad value of a named library parameter (scikit-learn's pattern: name, value received, fix).

    ``str(error)`` names the parameter as the library calls it (``cv=1: must be >= 2``); the
    CLI rewrites it with the flag that sets it (``--cv 1: must be >= 2``), see :func:`flag_of`.

    Attributes
    ----------
    param : str
    value : object
    why : str
    """

    def __init__(self, param: str, value, why: str):
        self.param, self.value, self.why = param, value, why
        super().__init__(f"{param}: {why}" if value is None else f"{param}={value!r}: {why}")

    def __reduce__(self):  # picklable, so it crosses from worker processes intact
        return (type(self), (self.param, self.value, self.why))

    def as_flag(self, flags: dict[str, str] | None = None) -> str:
        """The message with the CLI flag of ``param`` (``flags`` overrides the derived name)."""
        why = flags_in(self.why, flags)
        if self.value is None or isinstance(self.value, bool):  # a flag takes no value: --no-record, --align
            return f"{flag_of(self.param, flags)}: {why}"
        value = self.value if not isinstance(self.value, (list, tuple)) else ",".join(map(str, self.value))
        value = "''" if value == "" else value  # an empty value, visibly
        return f"{flag_of(self.param, flags)} {value}: {why}"


_FLAGS = {"views": "--augment"}
"""Library names the CLI spells otherwise and that no option table declares (the tables' own flags
are passed in by the CLI: :func:`faceprobe.cli.options.flag_map`)."""


def flag_of(param: str, flags: dict[str, str] | None = None) -> str:
    """The CLI flag of a library parameter: ``max_memory`` -> ``--max-memory`` unless named otherwise."""
    if flags and param in flags:
        return flags[param]
    return _FLAGS.get(param, "--" + param.replace("_", "-"))


_REFERENCE = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`]*))?`")


def flags_in(text: str, flags: dict[str, str] | None = None) -> str:
    """Library text with its parameter references as CLI flags.

    Library messages and notes name parameters in backticks, as a Python caller writes them:
    ``raise `max_memory```, ```cv=5` or `group=none```. The CLI shows them as flags:
    ``raise --max-memory``, ``--cv 5 or --group none``.
    """
    def flag(m: re.Match) -> str:
        name, value = m.group(1), m.group(2)
        bare = value is None or value in ("True", "False")  # a switch is its flag alone
        return flag_of(name, flags) if bare else f"{flag_of(name, flags)} {value}"

    return _REFERENCE.sub(flag, text)
