"""One client connection: request dispatch, the stream pump, cancel and caps.

The concept: a ``Session`` turns the bytes of one BufferEvent into requests,
answers them through the registry, and drives at most one stream from the
BufferEvent's write side.  It is the only object that holds per-connection
state; it is the ``Context`` handlers see.

Callback order (all from the reactor loop):
- ``on_read``: feed the decoder, then serve every complete request in one
  pass (pipelined requests never wait for more bytes), stopping when the
  output passes the hard cap;
- ``pump`` (scheduled with ``call_soon`` for one stream): one bounded batch
  from the producer, framed into one buffer, one ``write``; then yield to the
  loop, so other connections and timers run between batches.  After the batch
  the stream is scheduled again, paused (``bev.write_full``), waiting (the
  producer said ``Then.WAIT``) or ended;
- ``wake_stream`` (the server, when a waiting stream may have news): pump a
  waiting stream again, in a later pass or ``at_once``; nothing runs for it
  until then;
- ``on_write`` (output drained to write_low): resume a paused stream, lift the
  read cap;
- ``on_event``: EOF from a client that closed (``reactor.unix.peer_hung_up``:
  it will read nothing more) closes at once, in the pass that reads the EOF,
  so that a client that reconnects at once finds its --max-clients slot free;
  EOF from a half-closed client (``shutdown(SHUT_WR)``) lets pending output
  and the stream finish, then closes; an error closes at once; a read timeout
  closes an idle connection; a write timeout (no send for ``stall_timeout``)
  first asks whether the peer consumed anything since the previous check
  (``api.stall.StallCheck``: the kernel's unsent figure, not only our sends)
  and closes only if it did not.

Lifecycle (``Phase``, one state instead of flags):
- ``OPEN``: reading and serving requests;
- ``CAPPED``: the output passed ``output_cap``: not reading or serving until
  ``on_write`` (drained to write_low) reopens it;
- ``DRAINING``: the client shut down its sending side (EOF, still reading):
  finish the answers and the stream, then close;
- ``SHUTTING_DOWN``: the server stops: nothing read or served, the stream
  ended ESHUTDOWN; close once flushed (or at the server's deadline);
- ``CLOSED``: final; ``close()`` is idempotent.
Moves: OPEN <-> CAPPED, OPEN -> DRAINING, any but CLOSED -> SHUTTING_DOWN,
any -> CLOSED.  (EOF is read only in OPEN: a capped connection reads nothing.)

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
- every write goes through ``_write``, which counts it for the stall check
  (and ``bytes_sent``);
- after ``close()`` (idempotent) nothing is written and nothing is served; any
  handler may close the connection, so code that called one re-reads
  ``self._phase`` and ``self._stream`` instead of trusting a local.
"""

from __future__ import annotations

import enum
import logging
from functools import partial
from typing import Callable, Protocol

from api import wire
from api.batch import Then
from api.codec import Oversized, Request, RequestDecoder, encode_response
from api.config import ServerConfig
from api.observe import Observers
from api.registry import ApiError, OneShot, Registry, call_guarded
from api.stall import StallCheck
from api.stream import ActiveStream, Flow
from reactor import (BEV_EVENT_EOF, BEV_EVENT_TIMEOUT, BEV_EVENT_WRITING, EV_READ, EV_WRITE,
                     BufferEvent)
from reactor.unix import peer_hung_up

log = logging.getLogger("api")


class Phase(enum.Enum):
    """Where a connection is in its life (see the module docstring)."""

    OPEN = "open"
    CAPPED = "capped"
    DRAINING = "draining"
    SHUTTING_DOWN = "shutting down"
    CLOSED = "closed"


_SERVING = (Phase.OPEN, Phase.DRAINING)
"""Phases in which decoded requests are served."""
_MORE, _WAIT, _END = Then.MORE, Then.WAIT, Then.END   # globals: cheaper than enum lookups
_SCHEDULED, _PAUSED, _WAITING = Flow.SCHEDULED, Flow.PAUSED, Flow.WAITING


class SessionHost(Protocol):
    """What a session needs of its server."""

    registry: Registry
    config: ServerConfig
    items_streamed: int
    observe: Observers

    def call_soon(self, fn: Callable[[], object]) -> None: ...
    def now(self) -> float: ...
    def stream_waits(self, session: Session) -> None: ...
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
        self._phase = Phase.OPEN
        self._stream: ActiveStream | None = None
        self._request_id = 0
        self._one_shot: int | None = None   # its id while a one-shot runs: ctx.respond() is valid
        self._stall = StallCheck()
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
        if self._one_shot is None:
            raise RuntimeError("ctx.respond() is for one-shot handlers only")
        self._write(encode_response(self._one_shot, wire.OK, payload))

    def _write(self, data: bytes) -> None:
        self._stall.written += len(data)
        self._bev.write(data)

    # -- what the server and builtins see -------------------------------------

    @property
    def closed(self) -> bool:
        return self._phase is Phase.CLOSED

    @property
    def stream(self) -> ActiveStream | None:
        return self._stream

    @property
    def output_buffered(self) -> int:
        return len(self._bev.output)

    @property
    def bytes_sent(self) -> int:
        """Bytes that left for the peer (written, less what is still queued)."""
        return self._stall.written - len(self._bev.output)

    def cancel_stream(self, request_id: int) -> bool:
        """End the active stream if its id is ``request_id``: ECANCELED terminator."""
        stream = self._stream
        if stream is None or stream.request_id != request_id:
            return False
        self._end_stream(stream, wire.ECANCELED)
        return True

    def wake_stream(self, at_once: bool = False) -> bool:
        """Pump the stream again if it is waiting (``Then.WAIT``); whether it was.

        A woken stream is pumped like any other: paused at write_high, ended by
        cancel or shutdown, asked again for a batch that may say WAIT again.
        By default its pump runs in a later pass; ``at_once`` runs it now, up to
        write_high, so that what it sends is queued before the reply to any
        request this connection has not been served yet (WATCH's guarantee 4)."""
        stream = self._stream
        if stream is None or stream.flow is not _WAITING:
            return False
        if not at_once:
            self._schedule_pump(stream)
            return True
        # This may run inside a one-shot handler of this very connection: the
        # producer sees its stream's id and cannot respond; the handler gets
        # its own id back.
        outer = self._request_id, self._one_shot
        self._one_shot = None
        try:
            stream.flow = _SCHEDULED
            while self._pump_once(stream):
                pass
        finally:
            self._request_id, self._one_shot = outer
        return True

    def begin_shutdown(self) -> None:
        """Stop reading; end the stream with ESHUTDOWN; close once flushed."""
        if self._phase is Phase.CLOSED or self._phase is Phase.SHUTTING_DOWN:
            return
        self._phase = Phase.SHUTTING_DOWN
        self._bev.disable(EV_READ)
        stream = self._stream
        if stream is not None:
            self._end_stream(stream, wire.ESHUTDOWN)
        self._bev.set_watermark(EV_WRITE, 0, self._host.config.write_high)
        if self._phase is Phase.SHUTTING_DOWN and len(self._bev.output) == 0:
            self.close("shutdown")

    def close(self, reason: str = "closed") -> None:
        if self._phase is Phase.CLOSED:
            return
        self._phase = Phase.CLOSED
        self._stream = None
        self._stall.written -= len(self._bev.output)   # dropped unsent: bytes_sent exact
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
        while self._phase in _SERVING:
            if len(bev.output) > cap:
                if self._phase is Phase.OPEN:
                    self._phase = Phase.CAPPED
                    bev.disable(EV_READ)
                return   # served again by on_write, once drained to write_low
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
                self._one_shot = req_id
                try:
                    reply = call_guarded(entry, req_id, lambda: entry.handler(payload, self))
                finally:
                    self._one_shot = None
                if len(reply) > wire.MAX_PAYLOAD:
                    log.error("handler %s replied %d bytes to request id %d",
                              entry.name, len(reply), req_id)
                    raise ApiError(wire.EIO)
                self._reply(req_id, wire.OK, reply)
                return
            state = call_guarded(entry, req_id, lambda: entry.init(payload, self))
            if self._phase is Phase.CLOSED:
                status = None                # nothing was answered: nothing to report
                return   # init closed the connection: no stream, no reply
            if self._phase is Phase.SHUTTING_DOWN:
                raise ApiError(wire.ESHUTDOWN)   # init began the shutdown
            if self._stream is not None:
                raise ApiError(wire.EBUSY)
            stream = ActiveStream.start(req_id, entry, state, self._host.now(),
                                        self._host.config.stream_batch_bytes)
            # Bound to this stream: a call left over from an ended stream never
            # drives the next one.
            stream.pump = partial(self._pump, stream)
            self._stream = stream
            self._schedule_pump(stream)
            status = None                    # its status comes with stream_ended
        except ApiError as err:
            status = err.status
            self._reply(req_id, err.status, err.payload)
        finally:
            self._host.observe.request_done(self, request, status, started)

    def _reply(self, req_id: int, status: int, payload: bytes = b"") -> None:
        self._write(encode_response(req_id, status, payload))

    # -- the stream pump ---------------------------------------------------------

    def _schedule_pump(self, stream: ActiveStream) -> None:
        """One pump call for ``stream`` in a later pass."""
        stream.flow = _SCHEDULED
        self._host.call_soon(stream.pump)

    def _pump(self, stream: ActiveStream) -> None:
        """The scheduled pump call: one batch, then another pass if more is wanted."""
        if self._stream is not stream or stream.flow is not _SCHEDULED:
            return   # ended (cancel, EBUSY's peer, close) since it was scheduled
        if self._pump_once(stream):
            self._host.call_soon(stream.pump)   # still SCHEDULED

    def _pump_once(self, stream: ActiveStream) -> bool:
        """One batch of ``stream`` (SCHEDULED, no call pending), then its next flow:
        ended, WAITING or PAUSED (False), or still SCHEDULED and wanting another
        batch (True: the caller schedules it, or loops)."""
        if self._bev.write_full:
            stream.flow = _PAUSED
            return False
        try:
            frames, count, then = self._produce(stream)
        except ApiError as err:
            if self._stream is stream:
                self._end_stream(stream, err.status)
                self._close_if_finished()
            return False
        if self._stream is not stream:
            return False   # the producer closed the connection, or ended its stream
        if count:
            stream.records += count
            if stream.entry.req_type != wire.WATCH:   # STATS counts LIST records only
                self._host.items_streamed += count
            self._write(frames)
        if then is _END or (then is _MORE and not count):
            self._end_stream(stream, wire.OK)
            self._close_if_finished()
        elif then is _WAIT:
            stream.flow = _WAITING
            self._host.stream_waits(self)
        elif self._output_full():
            stream.flow = _PAUSED
        else:
            return True
        return False

    def _output_full(self) -> bool:
        """Above write_high (a call: mypy must not carry the flag across a write)."""
        return self._bev.write_full

    def _produce(self, stream: ActiveStream) -> tuple[bytes, int, Then]:
        """One batch of the stream, framed, its item count and what follows it.
        The producer sees the stream's id as ``ctx.request_id``."""
        entry, state, limit = stream.entry, stream.state, stream.batch_limit
        rid = self._request_id = stream.request_id
        batch = call_guarded(entry, rid, lambda: entry.produce(state, self, limit))
        frames, count = call_guarded(entry, rid, lambda: stream.frame(batch))
        return frames, count, batch.then

    def _end_stream(self, stream: ActiveStream, status: int) -> None:
        self._stream = None
        self._reply(stream.request_id, status)
        self._host.stream_ended(self, stream, status)

    # -- reactor callbacks --------------------------------------------------------

    def _on_write(self, bev: BufferEvent) -> None:
        if self._phase is Phase.SHUTTING_DOWN:
            if len(bev.output) == 0:
                self.close("shutdown")
            return
        stream = self._stream
        if stream is not None and stream.flow is _PAUSED:
            self._schedule_pump(stream)
        if self._phase is Phase.CAPPED:
            self._phase = Phase.OPEN
            bev.enable(EV_READ)
        self._serve_requests()   # what the cap held back; closes a finished DRAINING

    def _on_event(self, bev: BufferEvent, what: int) -> None:
        if what & BEV_EVENT_EOF:
            if self._peer_gone():
                self.close("client closed")  # nothing pending can reach it any more
                return
            # The client only shut down its sending side: let the answers it
            # is waiting for (and its stream) finish, then close.
            if self._phase is not Phase.SHUTTING_DOWN:
                self._phase = Phase.DRAINING
            self._bev.set_watermark(EV_WRITE, 0, self._host.config.write_high)
            self._close_if_finished()
        elif what & BEV_EVENT_TIMEOUT and not what & BEV_EVENT_WRITING:
            if self._stream is not None or len(bev.output) > 0:
                bev.enable(EV_READ)  # waiting on us, not idle: keep listening
            else:
                self.close("idle timeout")
        elif what & BEV_EVENT_TIMEOUT:
            if self._stall.progressed(bev.fileno(), len(bev.output)):
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

    def _close_if_finished(self) -> None:
        if (self._phase is Phase.DRAINING and self._stream is None
                and len(self._bev.output) == 0):
            self.close("client closed")
