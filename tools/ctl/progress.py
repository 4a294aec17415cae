"""Progress of a long command: one status line on a terminal, rewritten in place.

The concept: a bulk command (load, restore, save, flush) shows where it is on
stderr while it runs, when stderr is a terminal and only then, so that its
output and its logs stay clean in scripts.

Invariants:
- the line is rewritten at most every ``EVERY_S`` seconds (``force`` for the
  last state), with ``\\r``; a shorter text is padded with spaces over the
  longer one before it, so nothing of an earlier text is left on screen;
- ``clear`` blanks the line and returns the cursor to its start, so that the
  summary printed after it starts on a clean line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

EVERY_S = 0.2


class Progress:
    """A status line on ``stream`` (default stderr) if it is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = self._stream.isatty()
        self.started = time.monotonic()
        self._shown = 0.0
        self._width = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def rate(self, count: int) -> float:
        """``count`` per second since this progress started."""
        return count / max(self.elapsed(), 1e-9)

    def show(self, text: str, *, force: bool = False) -> None:
        """Rewrite the line as ``text`` (skipped if shown less than EVERY_S ago)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._shown < EVERY_S:
            return
        self._shown = now
        self._stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self._width = len(text)
        self._stream.flush()

    def clear(self) -> None:
        """Blank the line (nothing if nothing was shown)."""
        if self.enabled and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0
