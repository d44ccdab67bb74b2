"""One registry per kind of plug-in (backbone family, source reader, cropper, preprocessing step,
view, head, compile mode, decode mode, precision).

Each entry carries its own parameters and capabilities; CLI choices, help texts, validation,
provenance and docs/cli.md are derived from the registries, so adding a plug-in is one
registration. Modelled on torchvision's ``models/_api.py``: a decorator registers, a second
entry under a taken name is refused, and a failed lookup lists the choices.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

from .errors import OptionError

__all__ = ["Registry", "Choice"]

T = TypeVar("T")


@dataclass(frozen=True)
class Choice:
    """An entry of an option registry that is a name with a meaning (a decode mode, a precision)."""

    description: str


class Registry(Generic[T]):
    """Named entries of one kind, listed in sorted order.

    Parameters
    ----------
    kind : str
        What an entry is (``head``, ``cropper``), for messages.
    param : str
        The library parameter that takes an entry's name (``heads``, ``crop``), so that an
        unknown name is reported as a bad value of that parameter (the CLI names its flag).
    """

    def __init__(self, kind: str, param: str):
        self.kind = kind
        self.param = param
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Add ``entry`` under ``name``; without ``entry``, return a decorator that adds its argument.

        Raises
        ------
        ValueError
            When ``name`` is taken or empty.
        """
        def add(obj: T) -> T:
            if not name or not isinstance(name, str):
                raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
            if name in self._entries:
                raise ValueError(f"a {self.kind} is already registered under the name {name!r}")
            self._entries[name] = obj
            return obj

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> T:
        """Remove and return an entry (plug-ins that replace one, tests that add one)."""
        self.get(name)
        return self._entries.pop(name)

    @contextlib.contextmanager
    def replaced(self, name: str, entry: T):
        """Within the block, ``name`` is ``entry`` (added when new); the previous state comes back after."""
        had, old = name in self._entries, self._entries.get(name)
        self._entries[name] = entry
        try:
            yield entry
        finally:
            if had:
                self._entries[name] = old
            else:
                del self._entries[name]

    def get(self, name: str) -> T:
        """The entry named ``name``; an :class:`~faceprobe.errors.OptionError` listing the choices otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise OptionError(self.param, name, f"unknown {self.kind}; choose from: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def check(self, name: str) -> str:
        """``name`` when registered (an :class:`~faceprobe.errors.OptionError` otherwise)."""
        self.get(name)
        return name

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._entries[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def describe(self) -> str:
        """``name: description`` of every entry, for help texts (entries' ``description``)."""
        return "; ".join(f"{n}: {getattr(e, 'description', '')}".rstrip(": ") for n, e in self.items())
