"""Clocks: where the reactor reads the time.

The concept: a clock is any zero-argument callable returning monotonic seconds
as a float.  Every deadline in the reactor is ``clock() + delay``.

- ``monotonic`` (``time.monotonic``) is the default.
- ``ManualClock`` only moves when a test calls ``advance``/``set``; it lets
  tests drive timers and BufferEvent timeouts deterministically.

Invariants: a clock never goes backwards (``ManualClock`` refuses to).

Note: with a ``ManualClock`` the reactor still *sleeps* in real time in
``select`` for at most the manual time to the next timer; tests therefore call
``run_once`` with an explicit small timeout.
"""

from __future__ import annotations

import time
from typing import Callable, TypeAlias

Clock: TypeAlias = Callable[[], float]

monotonic: Clock = time.monotonic


class ManualClock:
    """A clock that moves only when told to."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now += seconds

    def set(self, now: float) -> None:
        """Jump to the absolute time ``now`` (>= the current time)."""
        if now < self._now:
            raise ValueError("a clock never goes backwards")
        self._now = float(now)
