"""Listener: accepts connections on a bound, listening socket.

The concept (libevent's evconnlistener): the Listener makes the socket
non-blocking and watches it for readability from construction on (it does not
call ``accept`` inside the constructor, so no callback runs there); each
readiness accepts at most 64 connections and hands each, made non-blocking, to
``on_accept(listener, conn_sock, address)``.

Invariants:
- while open and not backing off, the socket is registered for reading;
- on EMFILE/ENFILE (and on any other accept error but the transient
  ECONNABORTED/EPROTO/EPERM of a connection that died in the backlog) it
  unregisters, logs one warning for the episode (not again until an accept
  succeeds) and resumes after ``BACKOFF`` seconds through a reactor timer, so
  it never spins on a listening socket it cannot drain;
- an ``Exception`` escaping ``on_accept`` is logged and the accepted socket is
  closed; the Listener stays open;
- once closed (``close()`` is idempotent, also from inside ``on_accept``)
  nothing runs for it: no accept, no callback, no pending resume timer.

Callback order: within one readiness, accepts and ``on_accept`` calls
alternate, one connection at a time, stopping at 64, at EAGAIN or at close.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
from typing import Any, Callable

from reactor.loop import Reactor
from reactor.timers import Timer

log = logging.getLogger("reactor")

ACCEPTS_PER_READINESS = 64
BACKOFF = 0.1
# The connection died in the backlog: nothing to report, try the next one.
_TRANSIENT = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})

_Socket = socket.socket  # the ``socket`` property shadows the module in the class
AcceptCallback = Callable[["Listener", socket.socket, Any], object]


class Listener:
    """Accepts connections; see the module docstring."""

    def __init__(self, base: Reactor, sock: socket.socket, on_accept: AcceptCallback) -> None:
        sock.setblocking(False)
        self._base = base
        self._sock = sock
        self._fd = sock.fileno()
        self._on_accept = on_accept
        self._closed = False
        self._registered = False
        self._backoff_timer: Timer | None = None
        self._warned = False
        self._register()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def socket(self) -> socket.socket:
        return self._sock

    def close(self) -> None:
        """Unregister and close the listening socket; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._unregister()
        if self._backoff_timer is not None:
            self._backoff_timer.cancel()
            self._backoff_timer = None
        self._sock.close()

    def _register(self) -> None:
        self._base.add_io(self._fd, selectors.EVENT_READ, self._handle_io)
        self._registered = True

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            try:
                self._base.remove_io(self._fd)
            except (KeyError, ValueError):
                pass  # the fd was unregistered under us

    def _handle_io(self, mask: int) -> None:
        accept = self._sock.accept
        for _ in range(ACCEPTS_PER_READINESS):
            if self._closed or not self._registered:
                return
            try:
                conn, address = accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                if err.errno in _TRANSIENT:
                    continue
                self._back_off(err)
                return
            self._warned = False
            conn.setblocking(False)
            self._deliver(conn, address)

    def _deliver(self, conn: _Socket, address: Any) -> None:
        try:
            self._on_accept(self, conn, address)
        except Exception:
            log.exception("exception in on_accept %r: closing the accepted socket",
                          self._on_accept)
            conn.close()

    def _back_off(self, err: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("accept() on fd %d: %s; pausing accepts for %.1f s",
                        self._fd, err, BACKOFF)
        self._unregister()
        self._backoff_timer = self._base.call_later(BACKOFF, self._resume)

    def _resume(self) -> None:
        self._backoff_timer = None
        if not self._closed:
            self._register()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("listening" if self._registered else "paused")
        return f"<Listener fd={self._fd} {state}>"
