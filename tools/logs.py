"""reactord's log output: where lines go, what each line starts with, SIGHUP reopening.

The concept: one handler on the root logger, chosen once at start.
- ``--log-file PATH``: appended to, every line timestamped; ``reopen()``
  (SIGHUP) opens the path again, so that logrotate's rename-then-HUP works:
  the new file is opened before the old one is closed, and if it cannot be
  opened the old one stays in use and the failure is logged there;
- stderr connected to the journal (``$JOURNAL_STREAM`` names stderr's device
  and inode, as systemd sets it): no timestamp (the journal keeps its own),
  and each line starts with its syslog priority ``<N>``, so that
  ``journalctl -p warning`` selects by level;
- stderr otherwise: every line timestamped.

Line format: ``2026-11-27T10:11:12.345+0000 reactord: INFO: text`` (local time
with its UTC offset, milliseconds), or ``<6>INFO: text`` for the journal
(which adds the time and ``reactord[PID]`` itself).  A record's message never contains a newline from our own code; an
exception's traceback follows its line as extra lines (the journal keeps them
in one entry only when they go through the same stream).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO

PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
              logging.CRITICAL: 2}
BODY = "reactord: %(levelname)s: %(message)s"


class TimestampFormatter(logging.Formatter):
    """ISO 8601 local time with milliseconds and UTC offset, then the body."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s " + BODY)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        local = time.localtime(record.created)
        return (time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{int(record.msecs):03d}"
                + time.strftime("%z", local))


class JournalFormatter(logging.Formatter):
    """``<N>`` syslog priority prefix (journald's SyslogLevelPrefix), no timestamp,
    no program name (the journal records both)."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = PRIORITIES.get(record.levelno, 6)
        return f"<{priority}>" + super().format(record).replace("\n", f"\n<{priority}>")


def stderr_is_journal(stream: IO[str] | None = None) -> bool:
    """True when ``$JOURNAL_STREAM`` (``DEV:INODE``) is the stream's file."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not (dev.isdigit() and ino.isdigit()):
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(dev), int(ino))


class ReopenableFileHandler(logging.FileHandler):
    """A FileHandler whose ``reopen()`` swaps in a freshly opened file."""

    def __init__(self, path: str) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=False)

    def reopen(self) -> None:
        """Open the path again; raise OSError (old file kept) if it cannot be."""
        fresh = self._open()
        self.acquire()              # no record is written half to each file
        try:
            old, self.stream = self.stream, fresh
        finally:
            self.release()
        if old is not None:
            old.close()


class LogOutput:
    """The handler ``setup`` installed; ``reopen`` is SIGHUP's action."""

    def __init__(self, handler: logging.Handler, path: str | None, journal: bool) -> None:
        self.handler = handler
        self.path = path
        self.journal = journal

    def reopen(self) -> str:
        """Reopen the log file, if any; a sentence saying what happened."""
        if not isinstance(self.handler, ReopenableFileHandler):
            return "no --log-file to reopen"
        try:
            self.handler.reopen()
        except OSError as err:
            return f"cannot reopen {self.path}: {err.strerror or err}; still writing the old file"
        return f"reopened {self.path}"


def setup(level: str, path: str | None = None) -> LogOutput:
    """Route every logger's records at ``level`` and above to one handler.

    Raises OSError if ``path`` cannot be opened for appending."""
    handler: logging.Handler
    journal = False
    if path:
        handler = ReopenableFileHandler(path)
        handler.setFormatter(TimestampFormatter())
    else:
        handler = logging.StreamHandler(sys.stderr)
        journal = stderr_is_journal()
        handler.setFormatter(JournalFormatter() if journal else TimestampFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return LogOutput(handler, path, journal)
