"""BufferEvent: a connected socket with an input and an output buffer.

The concept (libevent 2.1 bufferevents): the loop moves bytes between the
socket and two buffers and tells the owner through three callbacks,
``on_read(bev)``, ``on_write(bev)`` and ``on_event(bev, what)``.

Reading: each read readiness does one ``recv`` of at most 65536 bytes and, with
a read high watermark, at most ``high - len(input)``; ``on_read`` runs when the
input then holds >= read low bytes.  While ``len(input) >= high`` the socket is
not watched for reading; ``read()`` below high resumes watching.
Writing: ``write()`` appends; with EV_WRITE enabled and the output empty it
tries one ``send`` at once.  Queued output leaves in as few system calls as
possible (``sendmsg`` over up to 512 chunks; small writes are coalesced into a
bytearray tail of at most 64 KiB).  ``on_write`` runs when a send brings the
output from above write low to <= write low.

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
- the input is ``_in_whole`` (a received bytes object kept as is, while it is
  the whole input: ``read()`` of everything returns it without a copy) or else
  the bytearray ``_inbuf`` (partial reads delete from its front); ``_in_len``
  is its length;
- ``_out_len`` is the running byte count of the output (never a sum);
  a partially sent head chunk is a memoryview past the sent bytes;
- ``_tail`` is None or the last output chunk, a bytearray shorter than 64 KiB
  that small writes may extend (never one a memoryview exports): so
  ``_tail is not None`` implies an open BufferEvent with queued output;
- ``write_full`` is a plain attribute (read it, never assign it: producers
  test it once per message) kept equal to ``0 < write high < len(output)`` by
  ``_refresh_output_state``, which runs after every change of the output or
  the write watermarks; the per-message write path calls it only when the
  output reaches ``_refresh_at`` (the tail is full or write high is crossed).

Bounds: the input never exceeds read high (with high 0 it is bounded only by
the application's reading).  The output is unbounded by design: ``write()``
never refuses; producers bound it with the write watermarks (``write_full``,
``on_write``).

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
the owner the output is fully flushed.
"""

from __future__ import annotations

import collections
import errno
import functools
import itertools
import logging
import socket
import sys
from selectors import EVENT_READ, EVENT_WRITE
from typing import Callable, Optional, TypeAlias

from reactor.loop import Reactor
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
SENDMSG_MAX_CHUNKS = 512
COALESCE_BELOW = 4096       # writes shorter than this are copied into the tail
COALESCE_TAIL_MAX = 65536   # a coalescing tail grows to at most this (+ one write)
_MSG_NOSIGNAL: int = getattr(socket, "MSG_NOSIGNAL", 0)
_NEVER = sys.maxsize

ReadCallback: TypeAlias = Optional[Callable[["BufferEvent"], object]]
WriteCallback: TypeAlias = Optional[Callable[["BufferEvent"], object]]
EventCallback: TypeAlias = Optional[Callable[["BufferEvent", int], object]]
_Chunk: TypeAlias = bytes | bytearray | memoryview
_Socket = socket.socket  # the ``socket`` property shadows the module in the class


class _InputLength:
    """``bev.input``: ``len()`` is the number of bytes waiting to be read."""

    __slots__ = ("_bev",)

    def __init__(self, bev: BufferEvent) -> None:
        self._bev = bev

    def __len__(self) -> int:
        return self._bev._in_len


class _OutputLength(_InputLength):
    """``bev.output``: ``len()`` is the number of bytes not yet sent."""

    __slots__ = ()

    def __len__(self) -> int:
        return self._bev._out_len


class BufferEvent:
    """Owns a connected socket; see the module docstring."""

    __slots__ = ("_base", "_sock", "_fd", "_send", "_sendmsg", "_recv",
                 "_on_read", "_on_write", "_on_event", "_enabled", "_registered",
                 "_read_low", "_read_high", "_write_low", "_write_high", "_inbuf", "_in_whole",
                 "_in_len", "_out",
                 "_out_len", "_tail", "_refresh_at", "write_full", "_closed", "_error",
                 "_read_timeout", "_write_timeout", "_deferred_scheduled", "_deferred_write",
                 "_deferred_events", "_io", "_deferred_cb", "_input_view", "_output_view")

    def __init__(self, base: Reactor, sock: socket.socket) -> None:
        if sock.fileno() < 0:
            raise ValueError("BufferEvent needs an open socket")
        sock.setblocking(False)
        self._base = base
        self._sock = sock
        self._fd = sock.fileno()
        # Bound methods cached once: the per-event path allocates none.
        self._send = sock.send
        self._sendmsg = sock.sendmsg
        self._recv = sock.recv
        self._io = self._handle_io
        self._deferred_cb = self._run_deferred
        self._on_read: ReadCallback = None
        self._on_write: WriteCallback = None
        self._on_event: EventCallback = None
        self._enabled = 0
        self._registered = 0
        self._read_low = self._read_high = self._write_low = self._write_high = 0
        self._inbuf = bytearray()
        self._in_whole = b""
        self._in_len = 0
        self._out: collections.deque[_Chunk] = collections.deque()
        self._out_len = 0
        self._tail: bytearray | None = None
        self._refresh_at = 0
        self.write_full = False
        self._closed = False
        self._error: int | None = None
        self._read_timeout = ActivityTimeout(base.call_at, base.clock, functools.partial(
            self._timed_out, EV_READ, BEV_EVENT_READING | BEV_EVENT_TIMEOUT))
        self._write_timeout = ActivityTimeout(base.call_at, base.clock, functools.partial(
            self._timed_out, EV_WRITE, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT))
        self._deferred_scheduled = False
        self._deferred_write = False
        self._deferred_events: list[int] = []
        self._input_view = _InputLength(self)
        self._output_view = _OutputLength(self)

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
        if events & EV_WRITE:
            self._write_low, self._write_high = low, high
            self._refresh_output_state()
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
    def input(self) -> _InputLength:
        return self._input_view

    @property
    def output(self) -> _OutputLength:
        return self._output_view

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

    # -- the application's side of the buffers -------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append a copy of ``data`` to the output; never blocks, never refuses."""
        tail = self._tail
        if tail is not None and type(data) is bytes:
            size = len(data)
            if size < COALESCE_BELOW:  # the per-message fast path
                tail += data
                queued = self._out_len + size
                self._out_len = queued
                if queued >= self._refresh_at:
                    self._refresh_output_state()
                return
        self._write_chunk(data)
        self._refresh_output_state()

    def _write_chunk(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            return
        if type(data) is not bytes:
            data = bytes(data)
        size = len(data)
        if not size:
            return
        if self._out_len:
            self._out_len += size
            if size < COALESCE_BELOW:
                tail = self._tail
                if tail is None:
                    self._tail = tail = bytearray()
                    self._out.append(tail)
                tail += data
            else:
                self._tail = None
                self._out.append(data)
        elif self._enabled & EV_WRITE:
            self._write_first(data, size)
        else:
            self._out.append(data)
            self._out_len = size

    def read(self, n: int = -1) -> bytes:
        """Remove and return up to ``n`` bytes (all when n < 0) from the input."""
        have = self._in_len
        if not have or n == 0:
            return b""
        if n < 0 or n >= have:
            data = self._in_whole
            if data:
                self._in_whole = b""  # handed over without a copy
            else:
                data = bytes(self._inbuf)
                self._inbuf.clear()
            self._in_len = 0
        else:
            inbuf = self._inbuf
            if self._in_whole:  # a partial read: from now on the bytearray holds it
                inbuf += self._in_whole
                self._in_whole = b""
            with memoryview(inbuf) as view:
                data = view[:n].tobytes()
            del inbuf[:n]  # bytearray front deletes are O(1) in CPython
            self._in_len = have - n
        high = self._read_high
        if high and have >= high and not self._closed:
            self._update_interest()
        return data

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
        self._out.clear()
        self._out_len = 0
        self._tail = None
        self.write_full = False
        self._inbuf.clear()
        self._in_whole = b""
        self._in_len = 0
        self._deferred_events.clear()
        self._on_read = self._on_write = self._on_event = None
        self._sock.close()

    def _refresh_output_state(self) -> None:
        """Recompute ``write_full``, close a full tail, set ``_refresh_at``."""
        queued = self._out_len
        high = self._write_high
        full = self.write_full = 0 < high < queued
        refresh_at = _NEVER
        tail = self._tail
        if tail is not None:
            if len(tail) >= COALESCE_TAIL_MAX:
                self._tail = None
            else:
                refresh_at = queued + COALESCE_TAIL_MAX - len(tail)
        if high and not full and high < refresh_at:
            refresh_at = high + 1
        self._refresh_at = refresh_at

    # -- interest and timers --------------------------------------------------

    def _update_interest(self) -> None:
        enabled = self._enabled
        want = 0
        if enabled & EV_READ and not (self._read_high and self._in_len >= self._read_high):
            want = EVENT_READ
        if enabled & EV_WRITE and self._out_len:
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

    def _timed_out(self, direction: int, what: int) -> None:
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
        have = self._in_len
        high = self._read_high
        size = RECV_MAX
        if high:
            size = high - have
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
            self._enabled &= ~EV_READ
            self._update_interest()
            self._emit(BEV_EVENT_READING | BEV_EVENT_EOF)
            return
        if not have:
            self._in_whole = data  # kept as received: read() hands it over as is
        else:
            inbuf = self._inbuf
            if self._in_whole:
                inbuf += self._in_whole
                self._in_whole = b""
            inbuf += data
        have += len(data)
        self._in_len = have
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
        out = self._out
        try:
            if len(out) == 1:
                sent = self._send(out[0], _MSG_NOSIGNAL)
            elif len(out) <= SENDMSG_MAX_CHUNKS:
                sent = self._sendmsg(out, (), _MSG_NOSIGNAL)
            else:
                sent = self._sendmsg(itertools.islice(out, SENDMSG_MAX_CHUNKS), (), _MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._fail(EV_WRITE, BEV_EVENT_WRITING | BEV_EVENT_ERROR, err)
            return
        before = self._out_len
        after = self._out_len = before - sent
        if after:
            self._consume_output(sent)
        else:
            out.clear()
            self._tail = None
        self._refresh_output_state()
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
        if not self._out_len and not self._closed:
            self._update_interest()

    def _consume_output(self, sent: int) -> None:
        out = self._out
        while sent:
            head = out[0]
            size = len(head)
            if sent < size:
                if head is self._tail:
                    self._tail = None  # a memoryview will export it: no more resizing
                out[0] = (head if type(head) is memoryview else memoryview(head))[sent:]
                return
            if head is self._tail:
                self._tail = None
            out.popleft()
            sent -= size

    def _write_first(self, data: bytes, size: int) -> None:
        """write() with an empty output and EV_WRITE enabled: one send at once."""
        try:
            sent = self._send(data, _MSG_NOSIGNAL)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as err:
            self._out.append(data)
            self._out_len = size
            self._error = err.errno or errno.EIO
            self._enabled &= ~EV_WRITE
            self._update_interest()
            self._deferred_events.append(BEV_EVENT_WRITING | BEV_EVENT_ERROR)
            self._schedule_deferred()
            return
        if sent < size:
            self._out.append(memoryview(data)[sent:] if sent else data)
            self._out_len = size - sent
            self._update_interest()
        if size > self._write_low >= size - sent and self._on_write is not None:
            self._deferred_write = True
            self._schedule_deferred()

    # -- callbacks ------------------------------------------------------------

    def _fail(self, direction: int, what: int, err: OSError) -> None:
        self._error = err.errno or errno.EIO
        self._enabled &= ~direction
        self._update_interest()
        self._emit(what)

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
            if callback is not None and self._out_len <= self._write_low:
                try:
                    callback(self)
                except Exception:
                    self._callback_failed(callback)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"enabled={self._enabled:#x}"
        return (f"<BufferEvent fd={self._fd} {state} input={self._in_len} "
                f"output={self._out_len}>")
