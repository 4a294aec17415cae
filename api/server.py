"""The server: where the reactor and the API meet.

The concept: a ``Server`` owns the listening socket's ``Listener`` and one
``Session`` per accepted connection; it holds the counters STATS reports and
runs the shutdown sequence of wire-v1 section 5.  What happens to
connections and requests is reported to ``observe`` (``api.observe``: the
request log, the metrics), in the order that module states.  Everything protocol-shaped
lives in the sessions, the codec and the registry; the server only wires them
to the loop.

Invariants:
- ``sessions`` holds exactly the open connections, by client id (ids are
  never reused within one server); a client that closed leaves it in the pass
  that reads its EOF, even with a stream or output pending (the session
  closes at once: ``Session``);
- at ``max_clients``, a new connection waits in ``_waiting`` until the next
  pass (one ``call_soon``), then is served if a slot freed meanwhile, else
  logged and closed.  The selector reports a pass's events in no fixed order,
  so the EOF of a client that closed just before reconnecting may come after
  the accept, in the same pass: the wait lets it free its slot first.  A
  flood beyond the limit is thus still accepted and closed within one pass,
  never left in the kernel's backlog.
- ``shutdown`` is idempotent: stop accepting, stop reading, end streams with
  ESHUTDOWN, flush for at most ``shutdown_flush`` seconds, close everything,
  then call ``on_done`` once.
- the registry is the caller's: the server reads it and never registers
  anything (the builtins are registered by whoever assembles the daemon,
  ``tools.daemon.build_daemon``);
- ``wake_streams`` touches only the sessions whose stream went WAITING since
  the last wake (``_sleepers``), so a server with thousands of connections
  pays per waiting stream, not per connection.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable

from api import process, wire
from api.config import ServerConfig
from api.observe import Observers
from api.registry import Registry
from api.session import Session
from api.stream import ActiveStream
from api.version import __version__
from reactor import BufferEvent, Listener, Reactor, Timer
from reactor.unix import peer_credentials

log = logging.getLogger("api")

VERSION = f"reactord {__version__}"


class Server:
    def __init__(self, reactor: Reactor, registry: Registry,
                 config: ServerConfig | None = None, *,
                 clock: Callable[[], float] | None = None) -> None:
        self.config = config or ServerConfig()
        self.config.validate()
        self.registry = registry
        self.version = VERSION
        self.sessions: dict[int, Session] = {}
        self.items_streamed = 0
        self.observe = Observers()
        self._reactor = reactor
        self._clock = clock or reactor.clock
        self._started = self._clock()
        self._next_client_id = 1
        self._listener: Listener | None = None
        self._shutting_down = False
        self._flush_timer: Timer | None = None
        self._on_done: Callable[[], None] | None = None
        self._waiting: list[socket.socket] = []
        self._sleepers: dict[int, Session] = {}

    # -- connections --------------------------------------------------------------

    def listen(self, sock: socket.socket) -> None:
        """Serve connections accepted on ``sock`` (bound and listening)."""
        self._listener = Listener(self._reactor, sock, self._on_accept)

    def _on_accept(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        if self._shutting_down:
            sock.close()
        elif len(self.sessions) < self.config.max_clients and not self._waiting:
            self.attach(sock)
        else:
            self._waiting.append(sock)
            if len(self._waiting) == 1:
                self._reactor.call_soon(self._admit_waiting)

    def _admit_waiting(self) -> None:
        """The next pass after accepts at the limit: serve or refuse, in order."""
        waiting, self._waiting = self._waiting, []
        for sock in waiting:
            if self._shutting_down:
                sock.close()
            elif len(self.sessions) < self.config.max_clients:
                self.attach(sock)
            else:
                log.warning("refused a connection: %d clients already (--max-clients)",
                            len(self.sessions))
                sock.close()

    def attach(self, sock: socket.socket) -> Session:
        """Serve one connected socket (accepted, or one end of a socketpair)."""
        try:
            pid, uid, _gid = peer_credentials(sock)
        except OSError:
            pid, uid = 0, 0
        client_id = self._next_client_id
        self._next_client_id += 1
        session = Session(self, BufferEvent(self._reactor, sock), client_id, pid, uid)
        self.sessions[client_id] = session
        log.debug("client %d connected (pid %d, uid %d)", client_id, pid, uid)
        self.observe.session_opened(session)
        return session

    # -- SessionHost ----------------------------------------------------------------

    def call_soon(self, fn: Callable[[], object]) -> None:
        self._reactor.call_soon(fn)

    def now(self) -> float:
        return self._clock()

    def stream_waits(self, session: Session) -> None:
        self._sleepers[session.client_id] = session

    def wake_streams(self, at_once: bool = False) -> int:
        """Wake every waiting stream (its producer may have news); how many.
        ``at_once``: pump them now rather than in a later pass
        (``Session.wake_stream``)."""
        sleepers, self._sleepers = self._sleepers, {}
        return sum(session.wake_stream(at_once) for session in sleepers.values())

    def stream_ended(self, session: Session, stream: ActiveStream, status: int) -> None:
        log.debug("client %d: %s stream (id %d) ended %s: %d records in %.3f s",
                  session.client_id, stream.entry.name, stream.request_id,
                  wire.status_name(status), stream.records, self._clock() - stream.started)
        self.observe.stream_ended(session, stream, status)

    def session_closed(self, session: Session, reason: str) -> None:
        self.sessions.pop(session.client_id, None)
        self._sleepers.pop(session.client_id, None)
        normal = reason in ("client closed", "shutdown")   # others are worth an INFO line
        log.log(logging.DEBUG if normal else logging.INFO, "client %d disconnected (pid %d, "
                "uid %d): %s", session.client_id, session.pid, session.uid, reason)
        self.observe.session_closed(session, reason)
        if self._shutting_down and not self.sessions:
            self._finish_shutdown()

    # -- figures --------------------------------------------------------------------

    def stats(self) -> dict[str, int | float | str]:
        sessions = list(self.sessions.values())
        streams = [s.stream for s in sessions if s.stream is not None]
        figures: dict[str, int | float | str] = {
            "clients": len(sessions),
            "streams_active": len(streams),
            "streams_paused": sum(1 for st in streams if st.paused),
            "watchers": sum(1 for st in streams if st.entry.req_type == wire.WATCH),
            "output_buffered_bytes": sum(s.output_buffered for s in sessions),
            "items_streamed": self.items_streamed,
            "uptime_s": round(self._clock() - self._started, 3),
            "version": __version__,
            "rss_bytes": process.rss_bytes() or 0,
        }
        figures.update(self.registry.stats())
        return figures

    # -- shutdown -------------------------------------------------------------------

    def shutdown(self, on_done: Callable[[], None] | None = None) -> None:
        if self._shutting_down:
            return
        self._shutting_down = True
        self._on_done = on_done
        log.info("shutting down: %d clients, %d active streams", len(self.sessions),
                 sum(1 for s in self.sessions.values() if s.stream is not None))
        if self._listener is not None:
            self._listener.close()
        for sock in self._waiting:
            sock.close()
        self._waiting.clear()
        for session in list(self.sessions.values()):
            session.begin_shutdown()
        if self.sessions:
            self._flush_timer = self._reactor.call_later(self.config.shutdown_flush,
                                                         self._flush_expired)
        else:
            self._finish_shutdown()

    def _flush_expired(self) -> None:
        self._flush_timer = None
        for session in list(self.sessions.values()):
            session.close("shutdown: output not flushed in time")

    def _finish_shutdown(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done()
