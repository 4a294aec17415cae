"""One client connection: request dispatch, the stream pump, cancel and caps.

The concept: a ``Session`` turns the bytes of one BufferEvent into requests,
answers them through the registry, and drives at most one stream from the
BufferEvent's write side.  It is the only object that holds per-connection
state; it is the ``Context`` handlers see.

Callback order (all from the reactor loop):
- ``on_read``: feed the decoder, then serve every complete request in one
  pass (pipelined requests never wait for more bytes), stopping when the
  output passes the hard cap;
- ``pump`` (scheduled with ``call_soon``): one bounded batch of stream records,
  framed into one buffer, one ``write``; then yield to the loop, so other
  connections and timers run between batches;
- ``on_write`` (output drained to write_low): resume a paused stream, lift the
  read cap;
- ``on_event``: EOF from a client that closed (``reactor.unix.peer_hung_up``:
  it will read nothing more) closes at once, in the pass that reads the EOF,
  so that a client that reconnects at once finds its --max-clients slot free;
  EOF from a half-closed client (``shutdown(SHUT_WR)``) lets pending output
  and the stream finish, then closes; an error closes at once; a read timeout
  closes an idle connection; a write timeout (no send for ``stall_timeout``)
  first asks the kernel whether the peer consumed anything
  (``_peer_progressed``) and closes only if it did not.

Stall detection: Linux reports a UNIX socket writable only once about 3/4 of
its send buffer has drained, so a client that reads slowly but steadily can
see no send for longer than the timeout.  At each write timeout the session
reads the kernel's unsent figure (``reactor.unix.unsent_bytes``) and compares
it with the one of the previous check: smaller means the peer is reading, and
EV_WRITE is enabled again (which restarts the timeout).  The first check after
a send has nothing to compare with and only records the figure, so a peer
that reads nothing is closed after two timeouts at most (and never before
one); where the kernel cannot be asked, after the first, as before.

Invariants:
- the stream pump writes only while ``len(output) <= write_high``, at most
  ``stream_batch_bytes`` at a time, so records never bring the output above
  write_high + 65536; once above write_high it waits for ``on_write``;
- requests are served only while ``len(output) <= output_cap``;
- every response carries the id of the request it answers; a stream's id lives
  in its ``ActiveStream``;
- every request taken from the decoder is reported once to
  ``host.observe`` (``api.observe``) with its final status, a stream's when
  it ends (through the host's ``stream_ended``);
- every write goes through ``_write``, so ``_written - len(output)`` is the
  number of bytes sent, which the stall check compares between checks;
- after ``close()`` (idempotent) nothing is written and nothing is served; a
  callback that returns re-reads ``self._stream`` instead of trusting a local.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

from api import wire
from api.codec import Oversized, Request, RequestDecoder, encode_response
from api.config import ServerConfig
from api.observe import Observers
from api.registry import ApiError, OneShot, Registry, call_guarded
from api.stream import ActiveStream
from reactor import (BEV_EVENT_EOF, BEV_EVENT_TIMEOUT, BEV_EVENT_WRITING, EV_READ, EV_WRITE,
                     BufferEvent)
from reactor.unix import peer_hung_up, unsent_bytes

log = logging.getLogger("api")


class SessionHost(Protocol):
    """What a session needs of its server."""

    registry: Registry
    config: ServerConfig
    items_streamed: int
    observe: Observers

    def call_soon(self, fn: Callable[[], object]) -> None: ...
    def now(self) -> float: ...
    def stream_ended(self, session: Session, stream: ActiveStream, status: int) -> None: ...
    def session_closed(self, session: Session, reason: str) -> None: ...


class Session:
    """One connection; implements the handlers' ``Context``."""

    def __init__(self, host: SessionHost, bev: BufferEvent, client_id: int,
                 pid: int, uid: int) -> None:
        self._host = host
        self._bev = bev
        self._client_id = client_id
        self._pid = pid
        self._uid = uid
        self._decoder = RequestDecoder()
        self._stream: ActiveStream | None = None
        self._pump_scheduled = False
        self._capped = False
        self._eof = False
        self._shutting_down = False
        self._closed = False
        self._request_id = 0
        self._in_one_shot = False  # ctx.respond() is valid only then
        self._written = 0          # bytes ever written to the BufferEvent
        self._check_sent = -1      # bytes sent at the last stall check (-1: none yet)
        self._check_unsent = 0     # the kernel's unsent figure then
        self.client_name = ""
        cfg = host.config
        bev.set_watermark(EV_READ, 0, cfg.read_high)
        bev.set_watermark(EV_WRITE, cfg.write_low, cfg.write_high)
        bev.set_callbacks(self._on_read, self._on_write, self._on_event)
        bev.set_timeouts(read=cfg.idle_timeout or None, write=cfg.stall_timeout or None)
        bev.enable(EV_READ | EV_WRITE)

    # -- Context ---------------------------------------------------------------

    @property
    def client_id(self) -> int:
        return self._client_id

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def uid(self) -> int:
        return self._uid

    @property
    def request_id(self) -> int:
        return self._request_id

    def respond(self, payload: bytes) -> None:
        if not self._in_one_shot:
            raise RuntimeError("ctx.respond() is for one-shot handlers only")
        self._write(encode_response(self._request_id, wire.OK, payload))

    def _write(self, data: bytes) -> None:
        self._written += len(data)
        self._bev.write(data)

    # -- what the server and builtins see -------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stream(self) -> ActiveStream | None:
        return self._stream

    @property
    def output_buffered(self) -> int:
        return len(self._bev.output)

    @property
    def bytes_sent(self) -> int:
        """Bytes that left for the peer (written, less what is still queued)."""
        return self._written - len(self._bev.output)

    def cancel_stream(self, request_id: int) -> bool:
        """End the active stream if its id is ``request_id``: ECANCELED terminator."""
        stream = self._stream
        if stream is None or stream.request_id != request_id:
            return False
        self._end_stream(stream, wire.ECANCELED)
        return True

    def begin_shutdown(self) -> None:
        """Stop reading; end the stream with ESHUTDOWN; close once flushed."""
        if self._closed or self._shutting_down:
            return
        self._shutting_down = True
        self._bev.disable(EV_READ)
        stream = self._stream
        if stream is not None:
            self._end_stream(stream, wire.ESHUTDOWN)
        self._bev.set_watermark(EV_WRITE, 0, self._host.config.write_high)
        if not self._closed and len(self._bev.output) == 0:
            self.close("shutdown")

    def close(self, reason: str = "closed") -> None:
        if self._closed:
            return
        self._closed = True
        self._stream = None
        self._written -= len(self._bev.output)   # dropped unsent: bytes_sent stays exact
        self._bev.close()
        self._host.session_closed(self, reason)

    # -- requests -------------------------------------------------------------

    def _on_read(self, bev: BufferEvent) -> None:
        self._decoder.feed(bev.read())
        self._serve_requests()

    def _serve_requests(self) -> None:
        bev = self._bev
        decoder = self._decoder
        cap = self._host.config.output_cap
        while not self._closed and not self._shutting_down:
            if len(bev.output) > cap:
                self._capped = True
                bev.disable(EV_READ)
                return
            event = decoder.next_event()
            if event is None:
                break
            if isinstance(event, Oversized):
                self._reply(event.req_id, wire.EMSGSIZE)
                self._host.observe.oversized(self, event)
            else:
                self._dispatch(event)
        self._close_if_finished()

    def _dispatch(self, request: Request) -> None:
        req_id = request.req_id
        payload = request.payload
        status: int | None = wire.OK
        started = self._host.now()
        try:
            entry = self._host.registry.check(request.req_type, payload)
            self._request_id = req_id
            if isinstance(entry, OneShot):
                self._in_one_shot = True
                try:
                    reply = call_guarded(entry, req_id, lambda: entry.handler(payload, self))
                finally:
                    self._in_one_shot = False
                if len(reply) > wire.MAX_PAYLOAD:
                    log.error("handler %s replied %d bytes to request id %d",
                              entry.name, len(reply), req_id)
                    raise ApiError(wire.EIO)
                self._reply(req_id, wire.OK, reply)
                return
            state = call_guarded(entry, req_id, lambda: entry.init(payload, self))
            if self._stream is not None:
                raise ApiError(wire.EBUSY)
            self._stream = ActiveStream.start(req_id, entry, state, self._host.now(),
                                              self._host.config.stream_batch_bytes)
            self._schedule_pump()
            status = None                    # its status comes with stream_ended
        except ApiError as err:
            status = err.status
            self._reply(req_id, err.status)
        finally:
            self._host.observe.request_done(self, request, status, started)

    def _reply(self, req_id: int, status: int, payload: bytes = b"") -> None:
        self._write(encode_response(req_id, status, payload))

    # -- the stream pump ---------------------------------------------------------

    def _schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self._host.call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_scheduled = False
        stream = self._stream
        if stream is None or stream.paused or self._closed:
            return
        bev = self._bev
        high = self._host.config.write_high
        if len(bev.output) > high:
            stream.paused = True
            return
        try:
            frames, count = self._produce(stream)
        except ApiError as err:
            self._end_stream(stream, err.status)
            self._close_if_finished()
            return
        if not count:
            self._end_stream(stream, wire.OK)
            self._close_if_finished()
            return
        stream.records += count
        self._host.items_streamed += count
        self._write(frames)
        if len(bev.output) > high:
            stream.paused = True
        else:
            self._schedule_pump()

    def _produce(self, stream: ActiveStream) -> tuple[bytes, int]:
        """One batch of the stream, framed, and its record count (0: the end)."""
        entry, state, limit = stream.entry, stream.state, stream.batch_limit
        self._request_id = stream.request_id
        next_blob = entry.next_blob
        if next_blob is not None:
            blob = call_guarded(entry, stream.request_id, lambda: next_blob(state, self, limit))
            return call_guarded(entry, stream.request_id, lambda: stream.frame_blob(blob))
        records = call_guarded(entry, stream.request_id,
                               lambda: entry.next_batch(state, self, limit))
        if not records:
            return b"", 0
        frames = call_guarded(entry, stream.request_id, lambda: stream.frame(records))
        return frames, len(records)

    def _end_stream(self, stream: ActiveStream, status: int) -> None:
        self._stream = None
        self._reply(stream.request_id, status)
        self._host.stream_ended(self, stream, status)

    # -- reactor callbacks --------------------------------------------------------

    def _on_write(self, bev: BufferEvent) -> None:
        if self._shutting_down:
            if len(bev.output) == 0:
                self.close("shutdown")
            return
        stream = self._stream
        if stream is not None and stream.paused:
            stream.paused = False
            self._schedule_pump()
        if self._capped:
            self._capped = False
            if not self._eof:
                bev.enable(EV_READ)
            self._serve_requests()
        else:
            self._close_if_finished()

    def _on_event(self, bev: BufferEvent, what: int) -> None:
        if what & BEV_EVENT_EOF:
            self._eof = True
            if self._peer_gone():
                self.close("client closed")  # nothing pending can reach it any more
                return
            # The client only shut down its sending side: let the answers it
            # is waiting for (and its stream) finish, then close.
            self._bev.set_watermark(EV_WRITE, 0, self._host.config.write_high)
            self._close_if_finished()
        elif what & BEV_EVENT_TIMEOUT and not what & BEV_EVENT_WRITING:
            if self._stream is not None or len(bev.output) > 0:
                bev.enable(EV_READ)  # waiting on us, not idle: keep listening
            else:
                self.close("idle timeout")
        elif what & BEV_EVENT_TIMEOUT:
            if self._peer_progressed():
                bev.enable(EV_WRITE)  # watch again: the timeout restarts from now
            else:
                self.close("stalled: output made no progress")
        else:
            self.close(f"socket error (errno {bev.error})")

    def _peer_gone(self) -> bool:
        try:
            return peer_hung_up(self._bev.fileno())
        except OSError:
            return False  # cannot tell: wait for the output to fail, as before

    def _peer_progressed(self) -> bool:
        """At a write timeout: has the peer consumed anything since the last
        check?  True at the first check after a send (nothing to compare with
        yet); False when the kernel cannot be asked."""
        bev = self._bev
        try:
            unsent = unsent_bytes(bev.fileno())
        except OSError:
            return False
        sent = self._written - len(bev.output)
        progressed = sent != self._check_sent or unsent < self._check_unsent
        self._check_sent, self._check_unsent = sent, unsent
        return progressed

    def _close_if_finished(self) -> None:
        if (self._eof and not self._closed and self._stream is None
                and len(self._bev.output) == 0):
            self.close("client closed")
