"""One client connection to the daemon: request ids, and responses routed by id.

The concept: what the blocking client (``api.client.Client``) and its streams
(``api.client_stream.Stream``) share about one socket.  Every request gets an
id from a per-connection counter and an inbox; ``pump`` reads one response
and appends it to the inbox of the request it answers, so responses read on
behalf of another request (a ``call()`` inside a stream loop, a stream's
items read by that call) are kept for their owners.  A stream reads its own
runs of items straight from the decoder (``take_run``, ``skip_run``).

Invariants:
- an id is outstanding (it has an inbox) from ``send`` until ``finish`` or
  ``abandon``; ids are never reused while outstanding or abandoned;
- an abandoned request's responses are dropped as they arrive: a one-shot's
  single reply, or a stream's items up to and including its terminator; then
  its id is free again;
- a response for an id that is neither is a ``ProtocolError``; so is a frame
  the codec refuses (``CodecError``);
- reading fails with the socket's errors (timeout, ``ConnectionClosed``); a
  ``wait`` that fails abandons its request, so later reads stay in step.

Bounds: the decoder holds at most one receive buffer (``RECV_SIZE``) beyond
the frame being read; an inbox holds only responses to its own request that
arrived while its owner was not reading.  Not thread-safe.
"""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass, field

from api import wire
from api.client_errors import ApiCallError, ConnectionClosed, ProtocolError, is_terminator
from api.codec import CodecError, Response, ResponseDecoder, encode_request

RECV_SIZE = 256 * 1024


@dataclass(slots=True)
class _Outstanding:
    """A request sent and not yet finished: its type and the responses read for it."""

    req_type: int
    inbox: deque[Response] = field(default_factory=deque)
    cancelled: bool = False
    """A STREAM_CANCEL was sent for it: its ECANCELED terminator is no error."""


class Connection:
    """A connected stream socket to the daemon, and its response routing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._decoder = ResponseDecoder()
        self._rbuf = memoryview(bytearray(RECV_SIZE))
        self._last_id = 0
        self._outstanding: dict[int, _Outstanding] = {}
        self._abandoned: dict[int, bool] = {}   # id -> is a stream (drop until terminator)

    @property
    def closed(self) -> bool:
        return self.sock.fileno() < 0

    def close(self) -> None:
        self.sock.close()

    @property
    def outstanding(self) -> frozenset[int]:
        """Ids sent and not yet finished or abandoned."""
        return frozenset(self._outstanding)

    @property
    def abandoned(self) -> frozenset[int]:
        """Ids whose remaining responses are being dropped."""
        return frozenset(self._abandoned)

    # -- requests -------------------------------------------------------------

    def send(self, req_type: int, payload: bytes = b"") -> int:
        """Send a request; its new id (it is outstanding until finished)."""
        req_id = self._new_id()
        frame = encode_request(req_id, req_type, payload)
        self._outstanding[req_id] = _Outstanding(req_type)
        try:
            self.sock.sendall(frame)
        except BaseException:
            del self._outstanding[req_id]
            raise
        return req_id

    def request_name(self, req_id: int) -> str:
        return wire.type_name(self._outstanding[req_id].req_type)

    def inbox(self, req_id: int) -> deque[Response]:
        """The responses read for an outstanding request and not taken yet."""
        return self._outstanding[req_id].inbox

    def wait(self, req_id: int) -> Response:
        """The next response for ``req_id``; abandons the request if reading fails."""
        inbox = self._outstanding[req_id].inbox
        try:
            while not inbox:
                self.pump()
        except BaseException:
            self.abandon(req_id, stream=False)
            raise
        return inbox.popleft()

    def finish(self, req_id: int) -> bool:
        """Forget a request whose last response was read; whether a cancel was sent for it."""
        done = self._outstanding.pop(req_id, None)
        return done is not None and done.cancelled

    def abandon(self, req_id: int, *, stream: bool) -> None:
        """Forget a request whose remaining responses nobody will read."""
        gone = self._outstanding.pop(req_id, None)
        if gone is None:
            return
        if stream and not any(map(is_terminator, gone.inbox)):
            self._abandoned[req_id] = True
        elif not stream and not gone.inbox:
            self._abandoned[req_id] = False

    # -- cancel -----------------------------------------------------------------

    def cancel(self, stream_id: int) -> int:
        """Send STREAM_CANCEL for ``stream_id`` (its ECANCELED is then expected); the
        cancel's own id, for ``cancel_status``."""
        cancel_id = self.send(wire.STREAM_CANCEL, wire.CANCEL_REQ.pack(stream_id))
        stream = self._outstanding.get(stream_id)
        if stream is not None:
            stream.cancelled = True
        return cancel_id

    def cancel_status(self, cancel_id: int) -> int:
        """The cancel's reply: 0, or ESRCH when no such stream was active."""
        status = self.wait(cancel_id).status
        self.finish(cancel_id)
        if status not in (wire.OK, wire.ESRCH):
            raise ApiCallError("STREAM_CANCEL", status, cancel_id)
        return status

    def orphan(self, stream_id: int) -> None:
        """Cancel a stream without waiting; its responses are dropped as they come."""
        self.abandon(self.cancel(stream_id), stream=False)
        self.abandon(stream_id, stream=True)

    # -- reading ----------------------------------------------------------------

    def pump(self) -> None:
        """Read one frame and route it, receiving first if none is buffered."""
        try:
            frame = self._decoder.next_event()
        except CodecError as exc:
            raise ProtocolError(str(exc)) from None
        if frame is None:
            self._recv()
        else:
            self._route(frame)

    def take_run(self, stream_id: int, size: int) -> bytes:
        """The run of ``size``-byte items of ``stream_id`` at the front of what was
        read, framed (``ResponseDecoder.take_frames``); b"" if the next frame is not one."""
        return self._decoder.take_frames(stream_id, size)

    def skip_run(self, stream_id: int, size: int) -> int:
        """As ``take_run``, discarding the items; how many."""
        return self._decoder.skip_records(stream_id, size)

    def _recv(self) -> None:
        n = self.sock.recv_into(self._rbuf)
        if not n:
            raise ConnectionClosed("the daemon closed the connection")
        self._decoder.feed(self._rbuf[:n])

    def _route(self, frame: Response) -> None:
        owner = self._outstanding.get(frame.for_id)
        if owner is not None:
            owner.inbox.append(frame)
        elif frame.for_id in self._abandoned:
            if not self._abandoned[frame.for_id] or is_terminator(frame):
                del self._abandoned[frame.for_id]
        else:
            raise ProtocolError(f"response for id {frame.for_id}, which is not outstanding")

    def _new_id(self) -> int:
        req_id = self._last_id
        while True:
            req_id = (req_id + 1) & 0xFFFFFFFF
            if req_id not in self._outstanding and req_id not in self._abandoned:
                self._last_id = req_id
                return req_id
