"""Observers: how metrics and logs learn what the server did, without living in it.

The concept: the server and its sessions report four kinds of facts to one
``Observers`` object (``Server.observe``), which hands each to every observer
added to it, in the order they were added.  An observer only records: it never
writes to a connection, never raises into the server (an exception from one is
logged and the others still run) and keeps O(1) work per call, because
``request_done`` runs once per request on the daemon's only thread.

Callback order, for one connection:
- ``session_opened`` once, when the connection is attached;
- per request, exactly one of: ``request_done`` with the reply's status (a
  one-shot, or a stream request refused before it began); ``request_done``
  with ``status None`` when a stream began, then ``stream_ended`` once with its
  terminator's status; or ``oversized`` for a header over MAX_PAYLOAD;
- ``session_closed`` once, last; the session's figures (``bytes_sent``) are
  final by then.

``started`` is the server clock's reading (``Server.now``, monotonic seconds)
when the request was taken from the decoder, before any handler ran.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from api.codec import Oversized, Request

if TYPE_CHECKING:
    from api.session import Session
    from api.stream import ActiveStream

log = logging.getLogger("api")


class Observer:
    """Base class: every hook does nothing; override the ones you need."""

    def session_opened(self, session: Session) -> None:
        pass

    def request_done(self, session: Session, request: Request, status: int | None,
                     started: float) -> None:
        pass

    def oversized(self, session: Session, event: Oversized) -> None:
        pass

    def stream_ended(self, session: Session, stream: ActiveStream, status: int) -> None:
        pass

    def session_closed(self, session: Session, reason: str) -> None:
        pass


class Observers(Observer):
    """The fan-out: each fact to every observer added, in order."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def _each(self, call: Callable[[Observer], None]) -> None:
        for observer in self._observers:
            try:
                call(observer)
            except Exception:
                log.exception("observer %r failed", observer)

    def session_opened(self, session: Session) -> None:
        self._each(lambda o: o.session_opened(session))

    def request_done(self, session: Session, request: Request, status: int | None,
                     started: float) -> None:
        for observer in self._observers:     # the hot path: no closure per request
            try:
                observer.request_done(session, request, status, started)
            except Exception:
                log.exception("observer %r failed", observer)

    def oversized(self, session: Session, event: Oversized) -> None:
        self._each(lambda o: o.oversized(session, event))

    def stream_ended(self, session: Session, stream: ActiveStream, status: int) -> None:
        self._each(lambda o: o.stream_ended(session, stream, status))

    def session_closed(self, session: Session, reason: str) -> None:
        self._each(lambda o: o.session_closed(session, reason))
