"""The timer heap: one-shot timers ordered by (deadline, sequence number).

The concept: ``TimerHeap`` holds ``(deadline, seq, Timer)`` tuples in a binary
heap; ``seq`` is a strictly increasing counter, so timers with equal deadlines
fire in the order they were scheduled and tuple comparison never reaches the
``Timer`` itself.

Invariants:
- a ``Timer`` is *pending* while its tuple is in the heap, *due* once
  ``pop_due`` has handed it out, and *done* once it fired or was cancelled;
  ``Timer._fn is None`` exactly when it is done;
- cancellation is lazy: ``cancel()`` marks the timer and counts it in
  ``_cancelled``; cancelled heads are dropped by ``next_deadline``/``pop_due``;
  when cancelled entries are more than half the heap the heap is rebuilt
  without them, so it is never more than twice the number of live timers;
- ``live`` is the number of pending, not cancelled timers.

Bound: the heap holds at most 2 * live + 1 entries.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable


class Timer:
    """A handle on one scheduled call; ``cancel()`` is idempotent and a no-op
    after the call has run."""

    __slots__ = ("deadline", "_fn", "_args", "_heap")

    def __init__(self, deadline: float, fn: Callable[..., object], args: tuple[Any, ...],
                 heap: TimerHeap) -> None:
        self.deadline = deadline
        self._fn: Callable[..., object] | None = fn
        self._args = args
        self._heap: TimerHeap | None = heap

    def cancel(self) -> None:
        if self._fn is None:
            return
        self._fn = None
        self._args = ()
        heap = self._heap
        if heap is not None:
            self._heap = None
            heap._note_cancelled()

    @property
    def active(self) -> bool:
        """True until the timer has fired or been cancelled."""
        return self._fn is not None

    def __repr__(self) -> str:
        state = "active" if self._fn is not None else "done"
        return f"<Timer deadline={self.deadline:.6f} {state}>"


class TimerHeap:
    """Pending timers, earliest first; see the module docstring."""

    __slots__ = ("_heap", "_seq", "_cancelled")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cancelled = 0

    def schedule(self, deadline: float, fn: Callable[..., object],
                 args: tuple[Any, ...]) -> Timer:
        timer = Timer(deadline, fn, args, self)
        heapq.heappush(self._heap, (deadline, next(self._seq), timer))
        return timer

    @property
    def live(self) -> int:
        return len(self._heap) - self._cancelled

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when no timer is pending."""
        heap = self._heap
        while heap and heap[0][2]._fn is None:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[Timer]:
        """Remove and return, in firing order, every live timer with
        deadline <= now.  The caller must skip those cancelled meanwhile."""
        heap = self._heap
        due: list[Timer] = []
        pop = heapq.heappop
        while heap and heap[0][0] <= now:
            timer = pop(heap)[2]
            if timer._fn is None:
                self._cancelled -= 1
            else:
                timer._heap = None
                due.append(timer)
        return due

    def clear(self) -> None:
        for _deadline, _seq, timer in self._heap:
            timer._heap = None
            timer.cancel()
        self._heap.clear()
        self._cancelled = 0

    def _note_cancelled(self) -> None:
        self._cancelled += 1
        if self._cancelled * 2 > len(self._heap):
            # Rebuild without the dead entries; amortised O(1) per cancel.
            self._heap = [entry for entry in self._heap if entry[2]._fn is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def __len__(self) -> int:
        return self.live


class ActivityTimeout:
    """A timeout that expires ``timeout`` seconds after the last ``touch()``
    (or ``start()``), for as long as it is started.

    ``touch()`` only records the time: the one pending Timer, when it fires
    early, re-arms itself for the remaining time.  A stream of activity thus
    costs one clock read per touch instead of a cancel and a heap push.
    ``on_expire()`` runs at most once per start; the owner restarts it.
    """

    __slots__ = ("timeout", "_schedule_at", "_clock", "_on_expire", "_since", "_timer",
                 "_fire_cb")

    def __init__(self, schedule_at: Callable[[float, Callable[[], object]], Timer],
                 clock: Callable[[], float], on_expire: Callable[[], object]) -> None:
        self.timeout: float | None = None
        self._schedule_at = schedule_at
        self._clock = clock
        self._on_expire = on_expire
        self._since = 0.0
        self._timer: Timer | None = None
        self._fire_cb = self._fire  # bound once: re-arming allocates no method

    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """(Re)start from now; a no-op while ``timeout`` is None."""
        self.stop()
        if self.timeout is not None:
            self._since = now = self._clock()
            self._timer = self._schedule_at(now + self.timeout, self._fire_cb)

    def run(self, running: bool) -> None:
        """``start()`` if ``running`` else ``stop()``."""
        if running:
            self.start()
        else:
            self.stop()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def touch(self) -> None:
        """Activity: push the expiry to ``timeout`` seconds from now."""
        self._since = self._clock()

    def _fire(self) -> None:
        self._timer = None
        if self.timeout is None:
            return
        due = self._since + self.timeout
        if self._clock() < due:
            self._timer = self._schedule_at(due, self._fire_cb)
        else:
            self._on_expire()
