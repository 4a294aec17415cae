"""A listing that outlives a slow reader: a bounded backlog, cancel, resume after the last key.

The problem: a listing read in a pager stops being read while the operator
looks at the first screen; reactorctl then blocks writing into the pager's
pipe, stops reading its socket, and after ``--stall-timeout`` the daemon
closes the connection as stalled.

The concept, in two parts:
- ``Backlog``: the output as a file-like object whose ``write`` never blocks:
  text is queued and a writer thread (the only one touching the real output)
  writes it out.  The queue is bounded by the caller: ``full`` says it holds
  more than ``high`` characters, ``wait_low`` blocks until it holds ``low`` or
  fewer.  A failure of the real output (EPIPE when the pager quits, a full
  disk) is raised in the caller at its next ``write``/``wait_low``/``finish``
  as ``OutputClosed``/``OutputError``, so ``q`` cancels at once;
- ``Listing``: the records of one LIST, across streams.  Between two batches,
  if the backlog is full, the stream is cancelled (the daemon then holds
  nothing for us), and once the backlog has drained to ``low`` a new LIST
  starts AFTER the last record handed out, with the rest of ``max_count``.
  The guarantees of one stream hold across the pieces (wire-v1 section 6):
  keys strictly ascending, none twice, every key present throughout listed.

Bounds: the backlog holds at most ``high`` characters plus one batch's text
plus what the stream had queued when it was cancelled (the cancelled
stream's in-flight records are discarded, and listed again by the next
piece); the daemon holds at most one stream's watermarks, as always.
"""

from __future__ import annotations

import struct
import threading
from collections import deque
from typing import IO, Any, Iterator

from api import wire
from api.client import Client
from tools.ctl.output import flush, write

HIGH = 8 << 20
LOW = 2 << 20


class Backlog:
    """Text queued for ``out``, written by a thread; see the module docstring."""

    def __init__(self, out: IO[str], high: int = HIGH, low: int = LOW) -> None:
        self.high, self.low = high, low
        self._out = out
        self._chunks: deque[str] = deque()
        self._queued = 0
        self._done = False            # no more writes will come
        self._failure: Exception | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._drain, name="output", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        return self._queued > self.high

    def write(self, text: str) -> int:
        with self._cond:
            self._raise_failure()
            self._chunks.append(text)
            self._queued += len(text)
            self._cond.notify_all()
        return len(text)

    def flush(self) -> None:
        with self._cond:
            self._raise_failure()

    def wait_low(self) -> None:
        """Block until at most ``low`` characters are queued (or the output failed)."""
        with self._cond:
            self._cond.wait_for(lambda: self._failure is not None or self._queued <= self.low)
            self._raise_failure()

    def finish(self) -> None:
        """Write and flush everything queued; raise the output's failure, if any."""
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._thread.join()
        self._raise_failure()

    def abandon(self) -> None:
        """Drop what is queued; the writer ends after its current write."""
        with self._cond:
            self._chunks.clear()
            self._queued = 0
            self._done = True
            self._cond.notify_all()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _drain(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._chunks) or self._done)
                if not self._chunks:
                    break
                text = self._chunks.popleft()
            try:
                write(self._out, text)
            except Exception as exc:      # OutputClosed / OutputError
                self._fail(exc)
                return
            with self._cond:
                self._queued -= len(text)
                self._cond.notify_all()
        try:
            flush(self._out)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        with self._cond:
            self._failure = exc
            self._chunks.clear()
            self._queued = 0
            self._cond.notify_all()


class Listing:
    """The records of one LIST request, resumed after the last one when the
    backlog forces a pause; see the module docstring."""

    def __init__(self, client: Client, req_type: int, payload: bytes,
                 record: struct.Struct) -> None:
        self._client = client
        self._type = req_type
        self._record = record
        self._max, self._scope, self._flags = wire.LIST_REQ.unpack_from(payload)
        self._payload = payload
        self._listed = 0
        self.last_record: bytes | None = None   # the last record handed out
        self.incomplete = False                 # ended EXFULL: more keys after last_record
        self.pieces = 0                         # streams used (1 + resumptions)

    def batches(self, backlog: Backlog | None) -> Iterator[list[tuple[Any, ...]]]:
        while True:
            stream = self._client.stream(self._type, self._payload, record=self._record)
            self.pieces += 1
            paused = False
            try:
                for batch in stream.batches():
                    self._listed += len(batch)
                    self.last_record = self._record.pack(*batch[-1])
                    yield batch
                    if backlog is not None and backlog.full:
                        paused = True
                        break
            except KeyboardInterrupt:
                # It may have landed between a recv and its decoding: the
                # connection cannot be drained, so it is closed (which ends the
                # stream in the daemon at once; Stream.close then does nothing).
                self._client.close()
                raise
            finally:
                stream.close()
            if not paused:
                self.incomplete = stream.incomplete
                return
            assert backlog is not None           # only a backlog pauses
            backlog.wait_low()
            if not self._resume():
                return

    def _resume(self) -> bool:
        """The next piece's payload; False when ``max_count`` was reached (then a
        one-record probe tells whether the listing is incomplete)."""
        assert self.last_record is not None
        if self._max and self._listed >= self._max:
            probe = self._client.stream(self._type, wire.LIST_REQ.pack(
                1, self._scope, self._flags | wire.LIST_AFTER) + self.last_record,
                record=self._record)
            with probe:
                self.incomplete = any(True for _ in probe)
            return False
        remaining = self._max - self._listed if self._max else 0
        self._payload = wire.LIST_REQ.pack(remaining, self._scope,
                                           self._flags | wire.LIST_AFTER) + self.last_record
        return True
