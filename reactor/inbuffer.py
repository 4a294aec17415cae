"""InputBuffer: the input buffer of a BufferEvent.

The concept: the bytes received and not yet read by the application.
``append()`` adds what one ``recv`` returned; ``take(n)`` removes and returns
up to ``n`` bytes from the front (all when n < 0); ``len(buffer)`` is the
number of bytes waiting.  ``bev.input`` is this object and ``bev.read`` *is*
its ``take`` (bound once: no extra call per read), the only way to consume it.

Invariants:
- the contents are ``_whole`` (a received bytes object kept as is, while it
  is the whole input: ``take`` of everything returns it without a copy) or
  else the bytearray ``_buf`` (partial takes delete from its front, which is
  O(1) in CPython); never both;
- ``_len`` is the length of the contents (never a sum);
- a ``take`` that removes data while the length is >= the read high
  watermark (``set_high``; 0 = none) calls ``on_resume()`` once, after
  the data is removed: the owner then watches the socket again.

Bound: none here; the BufferEvent bounds it by receiving at most
``read high - len(input)`` bytes at a time.

Callback order: only the owner's ``on_resume`` (no application callback).
"""

from __future__ import annotations

import sys
from typing import Callable, Protocol

_NEVER = sys.maxsize


class Take(Protocol):
    """The signature of ``take`` (and so of ``BufferEvent.read``)."""

    def __call__(self, n: int = -1) -> bytes: ...


class InputBuffer:
    """Bytes waiting to be read; see the module docstring."""

    __slots__ = ("_len", "_whole", "_buf", "_resume_at", "_on_resume")

    def __init__(self, on_resume: Callable[[], object]) -> None:
        self._len = 0
        self._whole = b""
        self._buf = bytearray()
        self._resume_at = _NEVER
        self._on_resume = on_resume

    def __len__(self) -> int:
        return self._len

    def set_high(self, high: int) -> None:
        """The read high watermark (0 = none); see ``on_resume``."""
        self._resume_at = high or _NEVER

    def append(self, data: bytes) -> int:
        """Add ``data`` (non-empty) at the end; return the new length."""
        if not self._len:
            self._whole = data  # kept as received: take() hands it over as is
        else:
            buf = self._buf
            if self._whole:
                buf += self._whole
                self._whole = b""
            buf += data
        have = self._len = self._len + len(data)
        return have

    def take(self, n: int = -1) -> bytes:
        """Remove and return up to ``n`` bytes (all when n < 0) from the front."""
        have = self._len
        if not have or n == 0:
            return b""
        if n < 0 or n >= have:
            data = self._whole
            if data:
                self._whole = b""  # handed over without a copy
            else:
                data = bytes(self._buf)
                self._buf.clear()
            self._len = 0
        else:
            data = self._take_part(n)
        if have >= self._resume_at:
            self._on_resume()
        return data

    def _take_part(self, n: int) -> bytes:
        buf = self._buf
        if self._whole:  # a partial take: from now on the bytearray holds it
            buf += self._whole
            self._whole = b""
        with memoryview(buf) as view:
            data = view[:n].tobytes()
        del buf[:n]
        self._len -= n
        return data

    def clear(self) -> None:
        self._buf.clear()
        self._whole = b""
        self._len = 0

    def __repr__(self) -> str:
        return f"<InputBuffer {self._len} bytes>"
