"""Following the daemon's changes: a WATCH stream, and a mirror kept by one.

The concept: ``WatchStream`` is one WATCH request of a ``Client`` (watch-v1),
iterated as ``api.events.Event`` objects; it never ends by itself (leave it,
or ``close()`` it, to cancel), except with ``Stale`` (ESTALE) when the daemon
no longer retains what it needs.  ``Mirror`` keeps an exact copy of chosen
tables across everything a long-lived follower meets: it lists them
(SNAPSHOT), applies each change, and when the connection is lost reconnects
and resumes from the last revision it applied in full; when that revision is
gone (ESTALE), or the daemon was restarted (its revisions start again: a
resume is refused EINVAL), it takes a new snapshot and reports only what
differs.  A daemon that stops (ESHUTDOWN) is reconnected to like a lost
connection.  Limit: a restarted daemon that has already passed the mirror's
revision cannot be told apart from the old one (watch-v1 has no daemon
identity), so the resume is accepted.

Callback order of ``Mirror.follow()``: for each event, the ``Change`` objects
it made (a record added, replaced or removed), then ``Synced(revision)`` once
the copy is exact at that revision (after SYNC, and after the last event of
each revision).  Between a ``Synced`` and the next update, ``mirror.tables``
equals the daemon's tables at ``mirror.revision``.

Bounds: the daemon bounds what a slow mirror costs it (watch-v1 section 5);
here the copy holds one bytes object per record, and a snapshot in progress a
second copy until its SYNC.  Not thread-safe, like ``Client``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from api import wire
from api.client_errors import ApiCallError, ClientError, ConnectionClosed, Stale
from api.client_stream import Stream
from api.events import Event, Synced, TableCopy, Tables, Update, decode_event

if TYPE_CHECKING:
    from api.client import Client

__all__ = ["WatchStream", "Mirror"]


class WatchStream:
    """One WATCH: an iterator of events and a context manager (leaving cancels)."""

    def __init__(self, client: Client, from_revision: int, tables: int, snapshot: bool,
                 no_self: bool) -> None:
        flags = (wire.WATCH_SNAPSHOT if snapshot else 0) | (wire.WATCH_NO_SELF if no_self else 0)
        self.tables = tables
        self._stream: Stream[bytes] = client.stream(
            wire.WATCH, wire.WATCH_REQ.pack(from_revision, tables, flags))

    def __iter__(self) -> Iterator[Event]:
        return map(decode_event, self._stream)

    def close(self) -> None:
        """Cancel the WATCH and read what the daemon still sends for it."""
        self._stream.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Mirror:
    """An exact copy of the tables in ``tables`` (a WATCH mask); see the module
    docstring.  ``connect`` makes a new ``Client`` each time one is needed."""

    def __init__(self, connect: Callable[[], Client], tables: int = wire.ALL_TABLES_MASK, *,
                 retry_delay: float = 0.2, max_retries: int | None = None) -> None:
        self._connect = connect
        self._copy = TableCopy(tables)
        self._synced = False
        self._retry_delay = retry_delay
        self._max_retries = max_retries
        self._stop = False
        self.snapshots = 0
        """SNAPSHOTs taken so far (the first, and one per ESTALE)."""
        self.reconnects = 0
        """Connections made after the first (a lost connection, an ESTALE)."""

    @property
    def tables(self) -> Tables:
        """table id -> key bytes -> record bytes (read-only for the caller)."""
        return self._copy.tables

    @property
    def revision(self) -> int:
        """The revision ``tables`` is exact at (meaningful once ``synced``)."""
        return self._copy.revision

    @property
    def synced(self) -> bool:
        return self._synced

    def stop(self) -> None:
        """Make ``follow()`` return after the update being delivered."""
        self._stop = True

    def follow(self) -> Iterator[Update]:
        """Follow the daemon until ``stop()``: yield every change, and ``Synced``
        whenever the copy is exact.  A lost connection is retried every
        ``retry_delay`` seconds (``max_retries`` in a row at most, then the error
        propagates)."""
        self._stop = False
        failures = 0
        while not self._stop:
            try:
                client = self._connect()
            except (OSError, ClientError):
                failures += 1
                if self._max_retries is not None and failures > self._max_retries:
                    raise
                time.sleep(self._retry_delay)   # a retry interval, not a wait for a condition
                continue
            failures = 0
            with client:
                yield from self._session(client)
            if not self._stop:
                self.reconnects += 1

    def _session(self, client: Client) -> Iterator[Update]:
        """One connection's WATCH; returns when it ends (lost, stale, the daemon
        stopping) or on stop.  A resume needs a revision > 0: from_revision 0
        would mean "from now on", so a copy exact at 0 takes a snapshot again."""
        snapshot = not self._synced or self._copy.revision == 0
        if snapshot:
            self._copy.begin_snapshot()
            self.snapshots += 1
        start = 0 if snapshot else self._copy.revision
        try:
            with client.watch(from_revision=start, tables=self._copy.mask,
                              snapshot=snapshot) as events:
                for event in events:
                    for update in self._copy.apply(event):
                        if isinstance(update, Synced):
                            self._synced = True
                        yield update
                    if self._stop:
                        return
        except (ConnectionClosed, OSError):
            pass                     # reconnect and resume from the last full revision
        except ApiCallError as exc:
            if not _ends_session(exc, snapshot):
                raise
            if exc.status != wire.ESHUTDOWN:
                self._synced = False     # the next connection takes a new snapshot


def _ends_session(exc: ApiCallError, snapshot: bool) -> bool:
    """Whether a WATCH's error is one a mirror recovers from by connecting again:
    ESTALE (fell behind), ESHUTDOWN (the daemon stops; a new one may follow) and,
    on a resume, EINVAL (a revision the daemon never had: it was restarted)."""
    return (isinstance(exc, Stale) or exc.status == wire.ESHUTDOWN
            or (exc.status == wire.EINVAL and not snapshot))
