"""BufferEvent: a connected socket with an input and an output buffer.

The concept (libevent 2.1 bufferevents): the loop moves bytes between the
socket and two buffers and tells the owner through three callbacks,
``on_read(bev)``, ``on_write(bev)`` and ``on_event(bev, what)``.

Reading: each read readiness does one ``recv`` of at most 65536 bytes and, with
a read high watermark, at most ``high - len(input)``, into the input, an
``InputBuffer`` (inbuffer.py; ``bev.read`` is its ``take``); ``on_read`` runs
when the input then holds >= read low bytes.  While ``len(input) >= high`` the
socket is not watched for reading; ``read()`` below high resumes watching.
Writing: ``write()`` appends to the output, an ``OutputQueue``
(outqueue.py: chunks, coalescing, ``sendmsg`` over many chunks, the
``write_full`` flag; ``bev.write`` is that queue's ``write``); with EV_WRITE
enabled and the output empty it tries one ``send`` at once.  ``on_write``
runs when a send brings the output from above write low to <= write low.

Invariants:
- the selector holds exactly ``_registered``: READ iff EV_READ is enabled and
  reading is not suspended by the high watermark, WRITE iff EV_WRITE is
  enabled and the output is non-empty (when a send empties the output, WRITE
  is dropped after ``on_write`` returns, so a refilling producer keeps it;
  no select runs in between); ``selector.modify`` runs only when that mask
  changes;
- a read (write) timeout runs iff it is set and READ (WRITE) is registered,
  so the spec's "runs only while" rules hold by construction; a recv (send)
  with data only ``touch()``es it (``timers.ActivityTimeout``: no heap churn
  per system call);
- ``write_full`` is a plain attribute (read it, never assign it) that the
  output queue keeps equal to ``0 < write high < len(output)``.

Bounds: the input never exceeds read high (with high 0 it is bounded only by
the application's reading); the output is unbounded by design: producers bound
it with the write watermarks (``write_full``, ``on_write``).

Callback order and re-entrancy: no callback runs inside ``write``, ``read``,
``enable``, ``disable``, ``set_*`` or ``close``.  Results of ``write``'s
immediate send (an ``on_write`` or a WRITING|ERROR ``on_event``) are deferred
to the next pass; a deferred ``on_write`` runs only if the output is still at
or below write low then.  Within one readiness: read (``on_read`` or
``on_event``) then write (``on_write`` or ``on_event``); nothing runs once the
BufferEvent is closed, whoever closed it.  EOF, errors and timeouts disable
their direction before ``on_event``.  An ``Exception`` escaping a callback is
logged on the "reactor" logger and closes this BufferEvent without
``on_event``.

Choices where the spec is silent: ``enable(EV_WRITE)`` never sends by itself
(queued output leaves from the loop); EOF, errors and timeouts keep both
buffers (the input stays readable, the output queued until ``close()``);
negative watermarks or 0 < high < low, and timeouts <= 0, raise ValueError.

Extras: ``closed``, ``socket``, ``fileno()``; ``on_write`` with write low 0 tells
the owner the output is fully flushed; ``input``/``output`` are the buffer
objects themselves (the spec promises only their ``len()``).
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
from selectors import EVENT_READ, EVENT_WRITE
from typing import Callable, Optional, TypeAlias

from reactor.inbuffer import InputBuffer, Take
from reactor.loop import Reactor
from reactor.outqueue import MSG_NOSIGNAL, OutputQueue
from reactor.timers import ActivityTimeout

log = logging.getLogger("reactor")

EV_READ = 0x02
EV_WRITE = 0x04
BEV_EVENT_READING = 0x01
BEV_EVENT_WRITING = 0x02
BEV_EVENT_EOF = 0x10
BEV_EVENT_ERROR = 0x20
BEV_EVENT_TIMEOUT = 0x40

RECV_MAX = 65536

ReadCallback: TypeAlias = Optional[Callable[["BufferEvent"], object]]
WriteCallback: TypeAlias = Optional[Callable[["BufferEvent"], object]]
EventCallback: TypeAlias = Optional[Callable[["BufferEvent", int], object]]
_Socket = socket.socket  # the ``socket`` property shadows the module in the class


class BufferEvent:
    """Owns a connected socket; see the module docstring."""

    __slots__ = ("_base", "_sock", "_fd", "_send", "_recv", "read", "write",
                 "_on_read", "_on_write", "_on_event", "_enabled", "_registered",
                 "_read_low", "_read_high", "_write_low", "_input", "_output", "write_full",
                 "_closed", "_error",
                 "_read_timeout", "_write_timeout", "_deferred_scheduled", "_deferred_write",
                 "_deferred_events", "_io", "_deferred_cb")

    read: Take
    """``read(n=-1)`` is the input buffer's ``take``, bound once: no extra call."""
    write: Callable[[bytes | bytearray | memoryview], None]
    """``write(data)`` is the output queue's own, bound once: no extra call per message."""

    def __init__(self, base: Reactor, sock: socket.socket) -> None:
        if sock.fileno() < 0:
            raise ValueError("BufferEvent needs an open socket")
        sock.setblocking(False)
        self._base = base
        self._sock = sock
        self._fd = sock.fileno()
        # Bound methods cached once: the per-event path allocates none.
        self._send = sock.send
        self._recv = sock.recv
        self._io = self._handle_io
        self._deferred_cb = self._run_deferred
        self._on_read: ReadCallback = None
        self._on_write: WriteCallback = None
        self._on_event: EventCallback = None
        self._enabled = 0
        self._registered = 0
        self._read_low = self._read_high = self._write_low = 0
        self._input = InputBuffer(self._resume_reading)
        self.read = self._input.take
        self.write_full = False
        self._output = OutputQueue(sock, self, self._write_first)
        self.write = self._output.write
        self._closed = False
        self._error: int | None = None
        self._read_timeout = ActivityTimeout(base.call_at, base.clock, functools.partial(
            self._disable_and_emit, EV_READ, BEV_EVENT_READING | BEV_EVENT_TIMEOUT))
        self._write_timeout = ActivityTimeout(base.call_at, base.clock, functools.partial(
            self._disable_and_emit, EV_WRITE, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT))
        self._deferred_scheduled = False
        self._deferred_write = False
        self._deferred_events: list[int] = []

    # -- configuration ---------------------------------------------------------

    def set_callbacks(self, on_read: ReadCallback, on_write: WriteCallback,
                      on_event: EventCallback) -> None:
        if not self._closed:
            self._on_read, self._on_write, self._on_event = on_read, on_write, on_event

    def enable(self, events: int) -> None:
        if not self._closed:
            self._enabled |= events & (EV_READ | EV_WRITE)
            self._update_interest()

    def disable(self, events: int) -> None:
        if not self._closed:
            self._enabled &= ~events
            self._update_interest()

    @property
    def enabled(self) -> int:
        return self._enabled

    def set_watermark(self, events: int, low: int, high: int) -> None:
        """Set low/high for EV_READ and/or EV_WRITE; high 0 = unlimited."""
        if low < 0 or high < 0 or (high and low > high):
            raise ValueError(f"bad watermarks: low {low}, high {high}")
        if events & EV_READ:
            self._read_low, self._read_high = low, high
            self._input.set_high(high)
        if events & EV_WRITE:
            self._write_low = low
            self._output.set_high(high)
        if not self._closed:
            self._update_interest()

    def set_timeouts(self, read: float | None = None, write: float | None = None) -> None:
        """Set both timeouts (seconds, None = none) and restart armed ones from now."""
        if (read is not None and read <= 0) or (write is not None and write <= 0):
            raise ValueError("timeouts are positive seconds or None")
        self._read_timeout.timeout, self._write_timeout.timeout = read, write
        if not self._closed:
            self._read_timeout.run(bool(self._registered & EVENT_READ))
            self._write_timeout.run(bool(self._registered & EVENT_WRITE))

    # -- state -----------------------------------------------------------------

    @property
    def input(self) -> InputBuffer:
        return self._input

    @property
    def output(self) -> OutputQueue:
        return self._output

    @property
    def error(self) -> int | None:
        """The errno of the error last reported to on_event, else None."""
        return self._error

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def socket(self) -> _Socket:
        return self._sock

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """Unregister, close the socket, drop buffered data; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._registered:
            self._registered = 0
            try:
                self._base.remove_io(self._fd)
            except (KeyError, ValueError):
                pass  # the fd was unregistered under us
        self._read_timeout.stop()
        self._write_timeout.stop()
        self._enabled = 0
        self._output.clear()
        self._input.clear()
        self._deferred_events.clear()
        self._on_read = self._on_write = self._on_event = None
        self._sock.close()

    # -- interest and timers --------------------------------------------------

    def _update_interest(self) -> None:
        enabled = self._enabled
        want = 0
        if enabled & EV_READ and not (self._read_high and len(self._input) >= self._read_high):
            want = EVENT_READ
        if enabled & EV_WRITE and len(self._output):
            want |= EVENT_WRITE
        have = self._registered
        if want == have:
            return
        if not have:
            self._base.add_io(self._fd, want, self._io)
        elif not want:
            self._base.remove_io(self._fd)
        else:
            self._base.modify_io(self._fd, want, self._io)
        self._registered = want
        changed = want ^ have
        if changed & EVENT_READ and self._read_timeout.timeout is not None:
            self._read_timeout.run(bool(want & EVENT_READ))
        if changed & EVENT_WRITE and self._write_timeout.timeout is not None:
            self._write_timeout.run(bool(want & EVENT_WRITE))

    def _resume_reading(self) -> None:
        """``read()`` took data from an input at or above read high."""
        if not self._closed:
            self._update_interest()

    def _disable_and_emit(self, direction: int, what: int) -> None:
        """A timeout, EOF or error: that direction stops, then ``on_event(what)``."""
        self._enabled &= ~direction
        self._update_interest()
        self._emit(what)

    # -- the loop's side -------------------------------------------------------

    def _handle_io(self, mask: int) -> None:
        if mask & EVENT_READ and self._registered & EVENT_READ:
            self._do_read()
        if mask & EVENT_WRITE and self._registered & EVENT_WRITE:
            self._do_write()

    def _do_read(self) -> None:
        high = self._read_high
        size = RECV_MAX
        if high:
            size = high - len(self._input)
            if size > RECV_MAX:
                size = RECV_MAX
            elif size <= 0:  # defensive: recv(0) would read as EOF
                self._update_interest()
                return
        try:
            data = self._recv(size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._fail(EV_READ, BEV_EVENT_READING | BEV_EVENT_ERROR, err)
            return
        if not data:
            self._disable_and_emit(EV_READ, BEV_EVENT_READING | BEV_EVENT_EOF)
            return
        have = self._input.append(data)
        if self._read_timeout.timeout is not None:
            self._read_timeout.touch()
        if high and have >= high:
            self._update_interest()
        callback = self._on_read
        if callback is not None and have >= self._read_low:
            try:
                callback(self)
            except Exception:
                self._callback_failed(callback)

    def _do_write(self) -> None:
        output = self._output
        before = len(output)
        try:
            sent = output.send_some()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._fail(EV_WRITE, BEV_EVENT_WRITING | BEV_EVENT_ERROR, err)
            return
        after = before - sent
        if sent and self._write_timeout.timeout is not None:
            self._write_timeout.touch()
        if before > self._write_low >= after:
            callback = self._on_write
            if callback is not None:
                try:
                    callback(self)
                except Exception:
                    self._callback_failed(callback)
        # Write interest is dropped only now: a producer that refills the
        # output from on_write keeps it, saving two epoll_ctl per cycle.
        if not len(output) and not self._closed:
            self._update_interest()

    def _write_first(self, data: bytes, size: int) -> None:
        """write() into the empty output: dropped once closed, queued while
        EV_WRITE is disabled, else one send at once."""
        if self._closed:
            return
        output = self._output
        if not self._enabled & EV_WRITE:
            output.push(data, size)
            return
        try:
            sent = self._send(data, MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as err:
            output.push(data, size)
            self._error = err.errno or errno.EIO
            self._enabled &= ~EV_WRITE
            self._update_interest()
            self._deferred_events.append(BEV_EVENT_WRITING | BEV_EVENT_ERROR)
            self._schedule_deferred()
            return
        if sent < size:
            output.push(memoryview(data)[sent:] if sent else data, size - sent)
            self._update_interest()
        if size > self._write_low >= size - sent and self._on_write is not None:
            self._deferred_write = True
            self._schedule_deferred()

    # -- callbacks ------------------------------------------------------------

    def _fail(self, direction: int, what: int, err: OSError) -> None:
        self._error = err.errno or errno.EIO
        self._disable_and_emit(direction, what)

    def _emit(self, what: int) -> None:
        callback = self._on_event
        if callback is not None:
            try:
                callback(self, what)
            except Exception:
                self._callback_failed(callback)

    def _callback_failed(self, callback: object) -> None:
        log.exception("exception in BufferEvent callback %r: closing fd %d", callback, self._fd)
        self.close()

    def _schedule_deferred(self) -> None:
        if not self._deferred_scheduled:
            self._deferred_scheduled = True
            self._base.call_soon(self._deferred_cb)

    def _run_deferred(self) -> None:
        self._deferred_scheduled = False
        events = self._deferred_events
        while events and not self._closed:
            self._emit(events.pop(0))
        if self._deferred_write and not self._closed:
            self._deferred_write = False
            callback = self._on_write
            if callback is not None and len(self._output) <= self._write_low:
                try:
                    callback(self)
                except Exception:
                    self._callback_failed(callback)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"enabled={self._enabled:#x}"
        return (f"<BufferEvent fd={self._fd} {state} input={len(self._input)} "
                f"output={len(self._output)}>")
