"""The Reactor: one selector, one timer heap, one ready queue, signals.

The concept: a *pass* (``run_once``) sleeps in ``selector.select`` until an fd
is ready, the next timer is due or the timeout ends, then runs, in this order:
the I/O callbacks of the ready fds, the timers that were due when the pass
began, and the ``call_soon`` callbacks that were queued when the pass began.
Anything scheduled during a pass runs in a later pass, so a pass always ends.

Invariants:
- every fd the reactor waits on is registered with ``selector`` (through
  ``add_io``/``modify_io``/``remove_io``, which count them); a key's ``data`` is
  the callable ``data(mask)`` that handles its readiness (bound once by its
  owner, so dispatch allocates nothing);
- ``run()`` goes on while a timer or ``call_soon`` callback is pending, or an
  fd other than the signal wakeup socket is registered (an open Listener, a
  BufferEvent with interest); signal handlers alone do not keep it alive;
- never a busy loop: with nothing ready the pass sleeps until the next
  deadline; with ready callbacks pending it does not sleep at all;
- ``run``/``run_once`` from inside a callback raise RuntimeError;
- an ``Exception`` escaping a callback is logged on the "reactor" logger and
  the pass goes on; a ``BaseException`` propagates out of ``run``/``run_once``.

Signals: the first ``add_signal`` creates a non-blocking socketpair, passes its
write end to ``signal.set_wakeup_fd`` and registers the read end; the Python
level handler does nothing, the byte the C handler writes wakes ``select`` and
names the signal; ``fn(signum)`` then runs in the loop's I/O step.  Repeated
signals arriving before a pass coalesce into one call.  ``close()`` restores
the previous wakeup fd and every disposition it replaced.

Choices where the spec is silent:
- ``run_once`` counts signal handlers as something that could wake it (so
  ``run_once()`` with only handlers waits for a signal);
- ``close()`` inside a pass raises RuntimeError; after ``close()`` ``run`` and
  ``run_once`` raise RuntimeError and anything still scheduled never runs;
  BufferEvents and Listeners keep their sockets until they are closed;
- a ``BaseException`` leaving a pass drops the rest of that pass's due timers
  (they never fire); queued ``call_soon`` callbacks stay queued;
- only one Reactor at a time should own signals: the wakeup fd is per process;
- all calls come from the loop's thread (``add_signal``: the main thread).

Extras: ``call_at(deadline, fn, *args)``; ``add_io``/``modify_io``/``remove_io``
(fd watching, used by BufferEvent and Listener); the ``selector``, ``clock`` and
``closed`` properties; ``remove_signal`` returns whether a handler was removed.
"""

from __future__ import annotations

import collections
import logging
import selectors
import signal
import socket
import threading
from types import FrameType
from typing import Any, Callable

from reactor.clock import Clock, monotonic
from reactor.timers import Timer, TimerHeap

log = logging.getLogger("reactor")

_SignalDisposition = Callable[[int, FrameType | None], Any] | int | None


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup fd carries the signal instead."""


class Reactor:
    """A libevent-style event base; see the module docstring."""

    def __init__(self, selector: selectors.BaseSelector | None = None,
                 clock: Clock | None = None) -> None:
        self._selector = selector if selector is not None else selectors.DefaultSelector()
        self._clock: Clock = clock if clock is not None else monotonic
        self._timers = TimerHeap()
        self._ready: collections.deque[tuple[Callable[..., object], tuple[Any, ...]]] = (
            collections.deque())
        self._in_pass = False
        self._in_run = False
        self._stop_requested = False
        self._closed = False
        self._signal_handlers: dict[int, Callable[[int], object]] = {}
        self._previous_dispositions: dict[int, _SignalDisposition] = {}
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._previous_wakeup_fd = -1
        self._io_count = 0  # fds registered through add_io, i.e. all but the wakeup fd

    # -- public properties -----------------------------------------------------

    @property
    def selector(self) -> selectors.BaseSelector:
        return self._selector

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def closed(self) -> bool:
        return self._closed

    # -- scheduling --------------------------------------------------------------

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` in the next pass; FIFO."""
        self._ready.append((fn, args))

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> Timer:
        """Run ``fn(*args)`` once ``clock()`` reaches now + delay (negative = 0)."""
        if delay < 0:
            delay = 0.0
        return self._timers.schedule(self._clock() + delay, fn, args)

    def call_at(self, deadline: float, fn: Callable[..., object], *args: Any) -> Timer:
        """Extra: run ``fn(*args)`` once ``clock()`` reaches ``deadline``."""
        return self._timers.schedule(deadline, fn, args)

    # -- running -----------------------------------------------------------------

    def run(self) -> None:
        """Dispatch until ``stop()`` or until nothing is left to wait for."""
        self._check_can_run()
        self._in_run = True
        self._stop_requested = False
        try:
            while not self._stop_requested and self._pass(None, False):
                pass
        finally:
            self._in_run = False
            self._stop_requested = False

    def run_once(self, timeout: float | None = None) -> None:
        """One pass; waits at most min(timeout, time to the next timer)."""
        self._check_can_run()
        self._pass(timeout, True)

    def stop(self) -> None:
        """Make ``run()`` return after the current pass; no effect outside run()."""
        if self._in_run:
            self._stop_requested = True

    def _check_can_run(self) -> None:
        if self._in_pass:
            raise RuntimeError("run()/run_once() called from inside a reactor callback")
        if self._closed:
            raise RuntimeError("the reactor is closed")

    # -- I/O registration (for BufferEvent and Listener) --------------------------

    def add_io(self, fd: int, events: int, handler: Callable[[int], object]) -> None:
        """Extra: watch ``fd`` for selector ``events``; ``handler(mask)`` runs on
        readiness.  Registered fds keep ``run()`` going."""
        self._selector.register(fd, events, handler)
        self._io_count += 1

    def modify_io(self, fd: int, events: int, handler: Callable[[int], object]) -> None:
        self._selector.modify(fd, events, handler)

    def remove_io(self, fd: int) -> None:
        """Stop watching ``fd``; a no-op once the selector is closed."""
        if self._closed:
            return
        self._selector.unregister(fd)
        self._io_count -= 1

    def _pass(self, timeout: float | None, signals_wake: bool) -> bool:
        """One pass.  Returns False, without waiting, when nothing is left that
        could wake it (signal handlers count only if ``signals_wake``)."""
        deadline = self._timers.next_deadline()
        if self._ready:
            wait: float | None = 0.0
        elif deadline is not None:
            wait = deadline - self._clock()
            if timeout is not None and timeout < wait:
                wait = timeout
            if wait < 0.0:
                wait = 0.0
        elif self._io_count or (signals_wake and self._signal_handlers):
            wait = timeout
        else:
            return False
        events = self._selector.select(wait)
        self._in_pass = True
        try:
            ready_count = len(self._ready)
            due = self._timers.pop_due(self._clock()) if deadline is not None else None
            for key, mask in events:
                try:
                    key.data(mask)
                except Exception:
                    log.exception("unhandled exception in an I/O callback")
            if due:
                self._run_timers(due)
            if ready_count:
                self._run_ready(ready_count)
        finally:
            self._in_pass = False
        return True

    @staticmethod
    def _run_timers(due: list[Timer]) -> None:
        for timer in due:
            fn = timer._fn
            if fn is None:
                continue  # cancelled earlier in this pass
            args = timer._args
            timer._fn = None
            timer._args = ()
            try:
                fn(*args)
            except Exception:
                log.exception("unhandled exception in timer callback %r", fn)

    def _run_ready(self, count: int) -> None:
        popleft = self._ready.popleft
        for _ in range(count):
            fn, args = popleft()
            try:
                fn(*args)
            except Exception:
                log.exception("unhandled exception in callback %r", fn)

    # -- signals -------------------------------------------------------------------

    def add_signal(self, signum: int, fn: Callable[[int], object]) -> None:
        """Run ``fn(signum)`` in the loop when ``signum`` arrives; main thread only.
        A second call for the same signal replaces the handler."""
        if self._closed:
            raise RuntimeError("the reactor is closed")
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("signals can only be handled from the main thread")
        self._install_wakeup()
        if signum not in self._previous_dispositions:
            self._previous_dispositions[signum] = signal.signal(signum, _ignore_signal)
        self._signal_handlers[signum] = fn

    def remove_signal(self, signum: int) -> bool:
        """Restore the disposition ``add_signal`` replaced; False if none was set."""
        if signum not in self._signal_handlers:
            return False
        del self._signal_handlers[signum]
        previous = self._previous_dispositions.pop(signum)
        # None: the previous handler was not installed from Python; the
        # default is the closest disposition Python can restore.
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        return True

    def _install_wakeup(self) -> None:
        if self._wakeup is not None:
            return
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        try:
            previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self._selector.register(reader.fileno(), selectors.EVENT_READ,
                                    self._read_wakeup)
        except BaseException:
            reader.close()
            writer.close()
            raise
        self._previous_wakeup_fd = previous
        self._wakeup = (reader, writer)

    def _read_wakeup(self, mask: int) -> None:
        assert self._wakeup is not None
        reader = self._wakeup[0]
        arrived: set[int] = set()
        while True:
            try:
                data = reader.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            arrived.update(data)
        for signum in sorted(arrived):
            fn = self._signal_handlers.get(signum)
            if fn is None:
                continue
            try:
                fn(signum)
            except Exception:
                log.exception("unhandled exception in the handler of signal %d", signum)

    # -- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Release the selector, the wakeup fd and the signal handlers; idempotent."""
        if self._closed:
            return
        if self._in_pass:
            raise RuntimeError("close() called from inside a reactor callback")
        self._closed = True
        for signum in list(self._signal_handlers):
            self.remove_signal(signum)
        if self._wakeup is not None:
            reader, writer = self._wakeup
            self._wakeup = None
            if threading.current_thread() is threading.main_thread():
                signal.set_wakeup_fd(self._previous_wakeup_fd)
            reader.close()
            writer.close()
        self._timers.clear()
        self._ready.clear()
        self._selector.close()
