"""The metrics endpoint: ``GET /metrics`` over HTTP/1.1, served from the daemon's reactor.

The concept: a ``MetricsEndpoint`` owns one ``Listener`` (TCP or AF_UNIX) and
an ``HttpConnection`` per accepted socket.  Each connection is a BufferEvent
plus an ``h11.Connection``, the sans-IO HTTP/1.1 parser: bytes read go into
h11, events come out, responses go back through h11 into the BufferEvent.  No
thread: a scrape is served in the pass that reads it, like an API request.

Answers: ``GET``/``HEAD /metrics`` 200 with the exposition text (OpenMetrics
when the Accept header offers ``application/openmetrics-text``, else the
Prometheus text format); ``/`` 200 with a pointer to /metrics; other paths
404; other methods 405; a request with a body 413; anything h11 cannot parse
400 (or h11's status hint, e.g. 431 for a head over the limit), then close.
Keep-alive and pipelining follow h11 (one request answered at a time).

Bounds (per connection, then per endpoint):
- input: at most ``READ_HIGH`` bytes in the BufferEvent (its read high
  watermark) and at most ``MAX_HEAD`` + ``READ_HIGH`` in h11's buffer: h11
  refuses a request head over ``MAX_HEAD`` (``max_incomplete_event_size``)
  before it is complete, and is fed only what was read;
- output: while more than ``OUTPUT_CAP`` bytes are queued the connection is
  neither read nor served (pipelined requests wait), so output stays below
  the cap plus one response;
- time: a connection silent for ``IDLE_TIMEOUT`` s, or whose output makes no
  progress for as long, is closed;
- connections: at most ``MAX_CONNECTIONS`` at once; beyond, a new one is
  closed at accept (one warning per episode, until a connection is served).

Callback order: ``on_read`` feeds h11 and answers every complete request it
yields (stopping at the output cap); ``on_write`` (output fully drained)
resumes a capped connection; ``on_event``: EOF answers what came before it,
then closes; an error or timeout closes.  A connection that must close (an
error answered, ``Connection: close``, EOF) is handed to
``reactor.linger.linger_close``: its reply drains, then FIN, then close, so a
reset never destroys the reply.  A ``render`` exception is logged and answered
500; the daemon goes on.
"""

from __future__ import annotations

import logging
import socket
from http import HTTPStatus
from typing import Any, Callable

import h11

from api.metrics import OPENMETRICS, PROMETHEUS_TEXT
from reactor import BEV_EVENT_EOF, EV_READ, EV_WRITE, BufferEvent, Listener, Reactor
from reactor.linger import linger_close

log = logging.getLogger("api.metrics")

MAX_HEAD = 8192
READ_HIGH = 16384
OUTPUT_CAP = 1 << 20
IDLE_TIMEOUT = 60.0
MAX_CONNECTIONS = 16
INDEX = b"reactord metrics: GET /metrics\n"
TEXT = b"text/plain; charset=utf-8"

Render = Callable[[bool], str]
"""render(openmetrics) -> the exposition text."""


class MetricsEndpoint:
    """Serves ``render`` on the listening socket ``sock``; see the module docstring."""

    def __init__(self, reactor: Reactor, sock: socket.socket, render: Render,
                 server_name: str = "reactord") -> None:
        self.render = render
        self.server_name = server_name.encode()
        self.connections: set[HttpConnection] = set()
        self.scrapes = 0
        self._warned = False
        self._reactor = reactor
        self._listener = Listener(reactor, sock, self._on_accept)

    def _on_accept(self, listener: Listener, sock: socket.socket, address: Any) -> None:
        if len(self.connections) >= MAX_CONNECTIONS:
            if not self._warned:              # once per episode: no log flood
                self._warned = True
                log.warning("metrics: refused a connection: %d open already", MAX_CONNECTIONS)
            sock.close()
            return
        self._warned = False
        self.connections.add(HttpConnection(self, BufferEvent(self._reactor, sock)))

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._listener.close()
        for conn in list(self.connections):
            conn.close()


class HttpConnection:
    """One HTTP/1.1 connection to the metrics endpoint."""

    def __init__(self, endpoint: MetricsEndpoint, bev: BufferEvent) -> None:
        self._endpoint = endpoint
        self._bev = bev
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self._capped = False
        self._closing = False
        bev.set_watermark(EV_READ, 0, READ_HIGH)
        bev.set_callbacks(self._on_read, self._on_write, self._on_event)
        bev.set_timeouts(read=IDLE_TIMEOUT, write=IDLE_TIMEOUT)
        bev.enable(EV_READ | EV_WRITE)

    def close(self) -> None:
        self._bev.close()
        self._endpoint.connections.discard(self)

    # -- reactor callbacks --------------------------------------------------------

    def _on_read(self, bev: BufferEvent) -> None:
        self._h11.receive_data(bev.read())
        self._serve()

    def _on_write(self, bev: BufferEvent) -> None:
        if self._capped:
            self._capped = False
            bev.enable(EV_READ)
            self._serve()

    def _on_event(self, bev: BufferEvent, what: int) -> None:
        if what & BEV_EVENT_EOF:
            self._h11.receive_data(b"")      # answer what came before the EOF, then close
            self._serve()
            self._finish()
        else:
            self.close()

    # -- requests -------------------------------------------------------------------

    def _serve(self) -> None:
        conn = self._h11
        while not self._closing:
            if len(self._bev.output) > OUTPUT_CAP:
                self._capped = True
                self._bev.disable(EV_READ)
                return
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as err:
                self._refuse(err.error_status_hint, str(err))
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                self._answer(event)
            elif isinstance(event, h11.ConnectionClosed):
                self._finish()
                return
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()          # keep-alive: ready for the next request
            elif event is h11.PAUSED:
                self._finish()                   # one side must close
                return

    def _answer(self, request: h11.Request) -> None:
        headers = dict(request.headers)
        if headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers:
            self._refuse(413, "request bodies are not accepted")
            return
        path = request.target.split(b"?", 1)[0]
        if request.method not in (b"GET", b"HEAD"):
            self._respond(405, b"only GET and HEAD\n", TEXT,
                          request.method, [(b"Allow", b"GET, HEAD")])
        elif path == b"/metrics":
            self._respond_metrics(request.method, headers.get(b"accept", b""))
        elif path == b"/":
            self._respond(200, INDEX, TEXT, request.method)
        else:
            self._respond(404, b"not found: try /metrics\n", TEXT,
                          request.method)

    def _respond_metrics(self, method: bytes, accept: bytes) -> None:
        openmetrics = b"application/openmetrics-text" in accept
        try:
            body = self._endpoint.render(openmetrics).encode()
        except Exception:
            log.exception("metrics: rendering failed")
            self._respond(500, b"rendering failed: see the daemon's log\n",
                          TEXT, method)
            return
        self._endpoint.scrapes += 1
        self._respond(200, body, (OPENMETRICS if openmetrics else PROMETHEUS_TEXT).encode(),
                      method)

    def _respond(self, status: int, body: bytes, content_type: bytes, method: bytes,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = [(b"Content-Type", content_type), (b"Content-Length", str(len(body)).encode()),
                   (b"Cache-Control", b"no-store"), (b"Server", self._endpoint.server_name),
                   *(extra or [])]
        conn = self._h11
        out = conn.send(h11.Response(status_code=status, headers=headers,
                                     reason=HTTPStatus(status).phrase.encode())) or b""
        if method != b"HEAD":
            out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        self._bev.write(out)
        if conn.our_state is h11.MUST_CLOSE:
            self._finish()

    def _refuse(self, status: int, why: str) -> None:
        """Answer an error if h11 still lets us, then close once it is sent."""
        log.debug("metrics: bad request (%d): %s", status, why)
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            try:
                self._respond(status, f"{status}: {why}\n".encode(), TEXT, b"GET",
                              [(b"Connection", b"close")])
            except h11.LocalProtocolError:
                pass                             # h11 cannot answer in this state: just close
        self._finish()

    def _finish(self) -> None:
        """Close once the queued output has left, without a reset (``linger_close``)."""
        if not self._closing:
            self._closing = True
            linger_close(self._bev, lambda: self._endpoint.connections.discard(self))
