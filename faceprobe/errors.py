"""Errors that reach the user as one clean line."""

from __future__ import annotations

__all__ = ["FaceprobeError", "BadImage"]


class FaceprobeError(Exception):
    """A user-facing error: bad input, bad option, unusable file.

    The CLI prints ``str(error)`` on one line and exits non-zero, without a traceback.
    """


class BadImage(FaceprobeError):
    """One image cannot be used; featurize records the reason and goes on."""
