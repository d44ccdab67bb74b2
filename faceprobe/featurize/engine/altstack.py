"""A roomy alternate signal stack for the calling thread, where a library left a small or dangling one.

OpenVINO's CPU plugin, when a ``Core`` first uses it, sets the calling thread's alternate signal
stack to 11,568 bytes of its own (measured on an AMD EPYC with AVX-512), and puts back the one it
found when that ``Core`` is destroyed. Python installs every signal handler with ``SA_ONSTACK``,
and PyTorch's DataLoader installs one for ``SIGCHLD``, so a child process's exit is handled on
that stack. Two failures follow:

- two ``Core`` objects whose lives overlap put back a stack already freed (the first saved none,
  the second saved the first's), and the next ``SIGCHLD`` wrote over freed memory: a featurize
  run that tried OpenVINO in float32 and bf16, then classify with worker processes, ended in
  SIGSEGV (``si_code`` SI_KERNEL) at exit, every time;
- a signal frame holds the CPU's extended state: with AMX tiles (Intel Xeon 4th generation on)
  that is about 11 KB by itself, more than the plugin's stack holds.

:func:`roomy_altstack` gives the thread a stack of its own that is never freed and large enough
for any frame (``ROOM`` bytes), after OpenVINO has set its own; OpenVINO's later restore then
puts back a stack that still exists. It changes nothing for a thread without an alternate stack
before OpenVINO ran, other than where its ``SA_ONSTACK`` handlers run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

__all__ = ["roomy_altstack", "ROOM"]

ROOM = 256 * 1024
"""Bytes of the alternate stack: the largest signal frame (AMX and AVX-512 state, about 12 KB)
with ample margin for the handler."""

SS_DISABLE = 2


class _Stack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_KEPT: dict[int, ctypes.Array] = {}  # thread id -> its stack's memory, alive as long as the process (see above)
_LOCK = threading.Lock()


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def current() -> tuple[int, int, int]:
    """The calling thread's alternate stack: (address, size, flags)."""
    old = _Stack()
    if _libc().sigaltstack(None, ctypes.byref(old)) != 0:
        return 0, 0, SS_DISABLE
    return old.ss_sp or 0, old.ss_size, old.ss_flags


def roomy_altstack() -> bool:
    """Set the calling thread's alternate signal stack to one of ``ROOM`` bytes kept for the
    process's life (the same one on every call from that thread); whether it is set now.

    Linux only; elsewhere (or where ``sigaltstack`` fails) nothing changes and False is returned.
    """
    try:
        libc = _libc()
    except OSError:
        return False
    with _LOCK:
        buf = _KEPT.get(threading.get_ident())
        if buf is None:
            buf = _KEPT[threading.get_ident()] = ctypes.create_string_buffer(ROOM)
    want = _Stack(ctypes.cast(buf, ctypes.c_void_p), 0, ROOM)
    if current()[0] == want.ss_sp:
        return True
    return libc.sigaltstack(ctypes.byref(want), None) == 0
