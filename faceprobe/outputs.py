"""Checks on files a command will write, made before any work starts."""

from __future__ import annotations

import html
import os

from .errors import OptionError

__all__ = ["check_writable", "csv_safe", "md_text", "CSV_TRIGGERS"]

CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet evaluate a cell as a formula (OWASP, CSV injection)."""


def check_writable(path: str, param: str) -> None:
    """Refuse an output whose folder is missing or not writable, or that names a folder.

    ``-`` (standard output) always passes.
    """
    if str(path) == "-":
        return
    path = os.fspath(path)
    if not path.strip():
        raise OptionError(param, path, "is empty; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OptionError(param, path, "is a folder; give a file name")
    if not os.path.isdir(folder):
        raise OptionError(param, path, f"the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OptionError(param, path, f"the folder {folder} is not writable")
    _probe(folder, path, param)


def _probe(folder: str, path: str, param: str) -> None:
    """Create and remove a file in ``folder``: the one test that the folder takes new files
    (``/proc``, a read-only mount and a full disk pass the permission check above)."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".faceprobe-write-test-")
    except OSError as exc:
        raise OptionError(param, path, f"cannot create a file in {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    os.remove(probe)


def csv_safe(value):
    """A text cell a spreadsheet will show, not evaluate: a leading ``=``, ``+``, ``-``, ``@``,
    tab or carriage return gets a ``'`` in front (OWASP's advice for CSV injection). Numbers,
    and text that reads as a number (``-0.5``), pass unchanged."""
    if not isinstance(value, str) or not value.startswith(CSV_TRIGGERS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def md_text(text: str) -> str:
    """Text from the data as Markdown shows it, not runs it: HTML escaped, table bars escaped."""
    return html.escape(text, quote=False).replace("|", "\\|")
