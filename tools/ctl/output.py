"""reactorctl's output: aligned tables written as records arrive, the pager, closed pipes.

Also the text of the main module's answers (CLIENTS records, STATS figures).
What table records look like is the library's ``api.text_view`` (a ``View``
per table, shared with the typed client's ``api.text``).

The concept: output is written batch by batch while a stream is still running,
so a listing of a million routes never sits in memory and ``| head`` or
quitting the pager ends it early.

Invariants:
- ``TablePrinter`` holds at most ``SAMPLE`` rows (the first screenful) before
  fixing its column widths from them; after that each batch becomes one
  string (a template repeated once per row, applied once) and one write.  A
  wider value later only pushes its own row: columns never re-flow;
- every write to the output goes through ``write``/``flush`` here, which turn
  a closed reader (EPIPE, quitting the pager) into ``OutputClosed`` and any
  other write error into ``OutputError``; an error from the socket is thus
  never mistaken for either;
- after ``OutputClosed`` the caller cancels its stream and calls
  ``silence_stdout`` so that Python's final flush has nowhere to fail.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from contextlib import contextmanager
from itertools import chain
from typing import IO, Any, Iterator, Mapping, Sequence

from api import wire
from api.text_view import View

Row = tuple[Any, ...]

SAMPLE = 100
DEFAULT_PAGER = "less -SFRX"
GAP = "  "


class OutputClosed(Exception):
    """The reader of our output went away (``| head`` exited, the pager quit)."""


class OutputError(Exception):
    """Writing our output failed otherwise (a full disk, say); ``str()`` says why."""


def write(out: IO[str], text: str) -> None:
    try:
        out.write(text)
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc)) from None


def flush(out: IO[str]) -> None:
    try:
        out.flush()
    except BrokenPipeError:
        raise OutputClosed from None
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc)) from None


def silence_stdout() -> None:
    """Point fd 1 at /dev/null so that the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


class TablePrinter:
    """Left-aligned columns; widths from the header and the first ``sample`` rows."""

    def __init__(self, out: IO[str], columns: Sequence[str], sample: int = SAMPLE) -> None:
        self._out = out
        self._columns = tuple(columns)
        self._sample = sample
        self._held: list[tuple[Any, ...]] = []
        self._template = ""
        self.rows = 0

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Write ``rows`` (tuples of cells), or hold them while the widths are unknown."""
        self.rows += len(rows)
        if not self._template:
            self._held.extend(rows)
            if len(self._held) >= self._sample:
                self._start()
        elif rows:
            write(self._out, (self._template * len(rows)) % tuple(chain.from_iterable(rows)))

    def finish(self) -> None:
        """Write the header and held rows if the widths were never fixed; flush."""
        if not self._template:
            self._start()
        flush(self._out)

    def _start(self) -> None:
        held, self._held = self._held, []
        widths = [len(name) for name in self._columns]
        for row in held[:self._sample]:
            widths = [max(w, len(str(cell))) for w, cell in zip(widths, row)]
        self._template = GAP.join(f"%-{w}s" for w in widths[:-1]) + GAP + "%s\n"
        lines = self._template % self._columns
        if held:
            lines += (self._template * len(held)) % tuple(chain.from_iterable(held))
        write(self._out, lines)


def pager_argv() -> list[str] | None:
    """``$PAGER`` (default ``less -SFRX``) as argv; None when empty, ``cat`` or not found."""
    command = os.environ.get("PAGER", DEFAULT_PAGER)
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    if not argv or argv == ["cat"] or shutil.which(argv[0]) is None:
        return None
    return argv


@contextmanager
def paged(enabled: bool) -> Iterator[IO[str]]:
    """stdout, or a pager's stdin when enabled and stdout is a terminal.

    On leaving, the pager's input is closed and the pager waited for (a Ctrl-C
    meanwhile belongs to the pager: it does not abandon the terminal to it).
    """
    argv = pager_argv() if enabled and sys.stdout.isatty() else None
    proc = None
    if argv is not None:
        env = dict(os.environ)
        env.setdefault("LESS", "FRSX")
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, text=True, env=env,
                                    errors="replace")
        except OSError:
            proc = None
    if proc is None or proc.stdin is None:
        yield sys.stdout
        return
    try:
        yield proc.stdin
    finally:
        _close_pager(proc)


def _close_pager(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    while True:
        try:
            proc.wait()
            return
        except KeyboardInterrupt:
            continue


# -- the main module's answers: CLIENTS records, STATS figures ------------------------------

def client_flags(flags: int) -> list[str]:
    return [name for bit, name in ((wire.CLIENT_STREAM_ACTIVE, "active"),
                                   (wire.CLIENT_STREAM_PAUSED, "paused")) if flags & bit]


def client_rows(batch: list[Row]) -> list[Row]:
    return [(c, p, u, ",".join(client_flags(f)) or "-", o) for c, p, u, f, o in batch]


def client_json_lines(batch: list[Row]) -> list[str]:
    return [json.dumps({"client_id": c, "pid": p, "uid": u, "flags": client_flags(f),
                        "output_bytes": o}) + "\n" for c, p, u, f, o in batch]


def stats_lines(figures: Mapping[str, Any]) -> list[str]:
    """Aligned ``key value`` lines, keys sorted."""
    width = max(map(len, figures), default=0)
    return [f"{key:<{width}}  {figures[key]}\n" for key in sorted(figures)]


CLIENTS_VIEW = View(("CLIENT", "PID", "UID", "FLAGS", "OUTPUT"), client_rows, client_json_lines)
