"""Progress of long work on stderr: a tqdm bar on a terminal, plain lines when stderr is redirected.

tqdm turns itself off when stderr is not a terminal, so a run whose output goes to a file or a
job log said nothing until the end (a leave-one-subject-out run over 981 people: 32 minutes of
silence). Here a redirected run gets one line when the work starts, then one at most every
``every`` seconds with the count, the share done, the time so far and an estimate of what is
left (the first of them as soon as the first piece of work is done, for an estimate up front),
and one at the end. ``enabled=False`` (``progress=False``, ``-q``) says nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator

__all__ = ["progress", "Meter", "announce", "duration"]


def duration(seconds: float) -> str:
    """``75`` -> ``1 min 15 s``; ``5400`` -> ``1 h 30 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if minutes < 10 and secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours / 24:.1f} days"


def announce(text: str, enabled: bool = True) -> None:
    """One line on stderr (when ``enabled``): what long work is about to start and its cost."""
    if enabled:
        print(text, file=sys.stderr, flush=True)


class Meter:
    """A count of done work shown on stderr: ``update(n)`` as work is done, ``close()`` at the end
    (tqdm on a terminal, plain lines when redirected, nothing when not ``enabled``)."""

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True, every: float = 30.0):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.done, self.bar, self.plain = 0, None, enabled and not sys.stderr.isatty()
        if enabled and not self.plain:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
        self.t0 = self.last = time.perf_counter()
        self.first = (self.t0, 0)  # when, and after how much work, the steady pace began
        if self.plain:
            print(f"{desc}: 0/{total} {unit}s", file=sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.perf_counter()
        first = self.done == n  # the first work done is shown at once, however soon
        if first:  # what came before it (imports, loading, choices) is paid once: estimates use the pace after it
            self.first = (now, self.done)
        if self.plain and (first or now - self.last >= self.every) and self.done < self.total:
            self.last = now
            t_first, done_first = self.first
            left = ("time left estimated after the next update" if self.done == done_first else
                    f"about {duration((now - t_first) / (self.done - done_first) * (self.total - self.done))} left")
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}s ({100 * self.done / self.total:.0f} %), "
                  f"{duration(now - self.t0)}, {left}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.plain:
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}s in {duration(time.perf_counter() - self.t0)}",
                  file=sys.stderr, flush=True)
        self.plain, self.bar = False, None


def progress(items: Iterable, total: int, desc: str, unit: str, enabled: bool = True, every: float = 30.0) -> Iterator:
    """Iterate ``items`` showing progress on stderr (see the module docstring)."""
    meter = Meter(total, desc, unit, enabled, every)
    try:
        for item in items:
            yield item
            meter.update()
    finally:
        meter.close()
