"""OutputQueue: the output buffer of a BufferEvent.

The concept: the bytes written but not yet sent, held as a deque of chunks,
and the one operation that moves them to the socket.  ``write()`` appends a
copy; ``send_some()`` hands as many chunks as it can to one system call
(``send`` for one chunk, else ``sendmsg`` over up to 512) and removes what the
kernel took.  Writes shorter than 4 KiB are coalesced into a bytearray tail of
at most 64 KiB, so a million small messages make a few dozen chunks; larger
writes are kept as they are (one copy: ``bytes(data)`` for other types).
``len(queue)`` is the number of bytes queued; ``bev.output`` is this object.

The queue knows nothing of the loop or of callbacks: its owner (the
BufferEvent) decides when to send, and handles a write into the *empty* queue
(``on_empty(data, size)``: drop it once closed, try one immediate send, or
``push`` it); every later write is queued here.

Invariants:
- ``_len`` is the running byte count of the chunks (never a sum); a partially
  sent head chunk is a memoryview past the sent bytes;
- ``_tail`` is None or the last chunk, a bytearray shorter than 64 KiB that
  small writes may extend (never one a memoryview exports); so
  ``_tail is not None`` implies a non-empty queue of an open BufferEvent
  (``clear()`` drops it);
- the owner's ``write_full`` (a plain attribute: producers test it once per
  message) equals ``0 < high < len(queue)``: ``refresh()`` runs after every
  change of the chunks or of ``high``; the per-message path of ``write`` calls
  it only when the length reaches ``_refresh_at`` (the tail is full or high is
  crossed).

Bound: the queue is unbounded by design (``write()`` never refuses; producers
bound it with ``write_full``).  A chunk made of coalesced writes holds at most
64 KiB + one write of < 4 KiB; one send passes at most 512 chunks.

Callback order: none runs here; ``write`` calls only ``on_empty``, and
``send_some`` raises what the send raises, leaving the queue unchanged.

Performance: ``BufferEvent.write`` *is* this ``write`` (bound once), so the
per-message path is one call that touches only this object.
"""

from __future__ import annotations

import collections
import itertools
import socket
import sys
from typing import Callable, Protocol, TypeAlias

SENDMSG_MAX_CHUNKS = 512
COALESCE_BELOW = 4096       # writes shorter than this are copied into the tail
COALESCE_TAIL_MAX = 65536   # a coalescing tail grows to at most this (+ one write)
MSG_NOSIGNAL: int = getattr(socket, "MSG_NOSIGNAL", 0)
_NEVER = sys.maxsize

Chunk: TypeAlias = bytes | bytearray | memoryview


class FullFlag(Protocol):
    """Where the queue publishes ``write_full`` (the BufferEvent)."""

    write_full: bool


class OutputQueue:
    """Bytes waiting to be sent; see the module docstring."""

    __slots__ = ("_chunks", "_len", "_tail", "_refresh_at", "_high", "_flag", "_on_empty",
                 "_send", "_sendmsg")

    def __init__(self, sock: socket.socket, flag: FullFlag,
                 on_empty: Callable[[bytes, int], None]) -> None:
        self._chunks: collections.deque[Chunk] = collections.deque()
        self._len = 0
        self._tail: bytearray | None = None
        self._refresh_at = 0
        self._high = 0
        self._flag = flag
        self._on_empty = on_empty
        self._send = sock.send  # bound once: a send allocates no method
        self._sendmsg = sock.sendmsg
        flag.write_full = False

    def __len__(self) -> int:
        return self._len

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append a copy of ``data``; never blocks, never refuses."""
        tail = self._tail
        if tail is not None and type(data) is bytes:
            size = len(data)
            if size < COALESCE_BELOW:  # the per-message fast path
                tail += data
                queued = self._len + size
                self._len = queued
                if queued >= self._refresh_at:
                    self.refresh()
                return
        self._write_chunk(data)
        self.refresh()

    def _write_chunk(self, data: bytes | bytearray | memoryview) -> None:
        if type(data) is not bytes:
            data = bytes(data)
        size = len(data)
        if not size:
            return
        if not self._len:
            self._on_empty(data, size)
            return
        self._len += size
        if size < COALESCE_BELOW:
            tail = self._tail
            if tail is None:
                self._tail = tail = bytearray()
                self._chunks.append(tail)
            tail += data
        else:
            self._tail = None
            self._chunks.append(data)

    def push(self, chunk: Chunk, size: int) -> None:
        """Append ``chunk`` (``size`` bytes, not copied, never coalesced into)."""
        self._chunks.append(chunk)
        self._len += size

    def set_high(self, high: int) -> None:
        """The write high watermark that ``write_full`` compares with (0 = none)."""
        self._high = high
        self.refresh()

    def clear(self) -> None:
        """Drop everything (the BufferEvent closes)."""
        self._chunks.clear()
        self._len = 0
        self._tail = None
        self._flag.write_full = False

    def refresh(self) -> None:
        """Recompute ``write_full``, close a full tail, set ``_refresh_at``."""
        queued = self._len
        high = self._high
        full = self._flag.write_full = 0 < high < queued
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

    def send_some(self) -> int:
        """One send of the queued chunks; remove and return the bytes it took.

        Raises what the send raises (``BlockingIOError``, ``OSError``), with
        the queue unchanged."""
        chunks = self._chunks
        if len(chunks) == 1:
            sent = self._send(chunks[0], MSG_NOSIGNAL)
        elif len(chunks) <= SENDMSG_MAX_CHUNKS:
            sent = self._sendmsg(chunks, (), MSG_NOSIGNAL)
        else:
            sent = self._sendmsg(itertools.islice(chunks, SENDMSG_MAX_CHUNKS), (), MSG_NOSIGNAL)
        left = self._len = self._len - sent
        if left:
            self._consume(sent)
        else:
            chunks.clear()
            self._tail = None
        self.refresh()
        return sent

    def _consume(self, sent: int) -> None:
        chunks = self._chunks
        while sent:
            head = chunks[0]
            size = len(head)
            if sent < size:
                if head is self._tail:
                    self._tail = None  # a memoryview will export it: no more resizing
                chunks[0] = (head if type(head) is memoryview else memoryview(head))[sent:]
                return
            if head is self._tail:
                self._tail = None
            chunks.popleft()
            sent -= size

    def __repr__(self) -> str:
        return f"<OutputQueue {self._len} bytes in {len(self._chunks)} chunks>"
