"""Blocking, typed client for the reactord API socket (tools and users' scripts).

The concept: one connection, one thread.  Every request gets an explicit id
from a per-client counter; responses are routed by ``for_id`` into per-id
inboxes, so responses read on behalf of another request (a ``call()`` inside a
stream loop, a stream's items read by that call) are kept for their owners.
This module is the documented exception to "only reactor/ touches sockets".

Streams (LIST, CLIENTS) are ``Stream`` objects yielding raw records, or tuples
when a record ``struct.Struct`` is given.  Terminator 0 ends them; EXFULL ends
them ``incomplete`` (resume with AFTER ``last_record``); any other status
raises ``ApiCallError`` (ECANCELED only if this client did not ask for it).
Leaving early sends STREAM_CANCEL: ``close()``/``with`` then drain until both
the terminator and the cancel's reply are read; garbage collection, or a
timeout or error while reading, only sends it and lets later reads drop the rest.

Cost: one ``recv_into`` of up to 256 KiB per system call; runs of stream items
take the codec's bulk path (headers checked, records cut out and decoded at C
speed): no Python code runs per item in the common case.

Bounds: the codec checks every length from the wire before allocating; an
inbox holds only responses to its own outstanding request (for a stream not
being iterated while other calls run: what the daemon sends meanwhile).
Responses to abandoned requests are dropped as they arrive.  Not thread-safe.
"""


from __future__ import annotations

import json
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any, overload

from api import wire
from api.client_errors import ApiCallError, ClientError, ConnectionClosed, ProtocolError, \
    VersionMismatch, api_error, is_terminator
from api.client_stream import Stream
from api.codec import CodecError, Response, ResponseDecoder, encode_request, iter_tuples
from reactor.unix import connect_unix

__all__ = ["Client", "Stream", "ClientError", "ConnectionClosed", "ProtocolError",
           "ApiCallError", "VersionMismatch", "RECV_SIZE"]

RECV_SIZE = 256 * 1024


@dataclass(slots=True)
class _Pending:
    """An outstanding request: its type and the responses read for it."""

    req_type: int
    frames: deque[Response] = field(default_factory=deque)


class Client:
    """A connection to the daemon; HELLO is exchanged on construction."""

    def __init__(self, path: str, *, name: str = "", timeout: float | None = None) -> None:
        self._start(connect_unix(path, timeout), name)

    @classmethod
    def from_socket(cls, sock: socket.socket, *, name: str = "") -> Client:
        """A client over a connected stream socket (a socketpair end, say)."""
        client = cls.__new__(cls)
        client._start(sock, name)
        return client

    def _start(self, sock: socket.socket, name: str) -> None:
        self._sock = sock
        self._decoder = ResponseDecoder()
        self._rbuf = memoryview(bytearray(RECV_SIZE))
        self._last_id = 0
        self._pending: dict[int, _Pending] = {}
        self._abandoned: dict[int, bool] = {}   # id -> is a stream (drop until terminator)
        self._cancelled: set[int] = set()       # stream ids we sent STREAM_CANCEL for
        self.api_version = 0
        self.server_version = ""
        try:
            self.hello(name)
        except BaseException:
            sock.close()
            raise

    # -- lifecycle ----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._sock.fileno() < 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------

    def send(self, req_type: int, payload: bytes = b"") -> int:
        """Send a request without waiting; its id (for ``reply``)."""
        req_id = self._new_id()
        frame = encode_request(req_id, req_type, payload)
        self._pending[req_id] = _Pending(req_type)
        try:
            self._sock.sendall(frame)
        except BaseException:
            del self._pending[req_id]
            raise
        return req_id

    def reply(self, req_id: int) -> bytes:
        """The reply payload of a request sent with ``send``; ApiCallError on error."""
        req_type = self._pending[req_id].req_type
        frame = self._wait(req_id)
        del self._pending[req_id]
        if frame.status:
            raise api_error(wire.type_name(req_type), frame.status, req_id, frame.payload)
        return frame.payload

    def call(self, req_type: int, payload: bytes = b"") -> bytes:
        """Send a one-shot request and return its reply payload (or ApiCallError)."""
        return self.reply(self.send(req_type, payload))

    def hello(self, name: str = "") -> str:
        """Exchange HELLO; the daemon's version string (``VersionMismatch`` on EBADMSG)."""
        if len(name.encode()) > wire.HELLO_NAME_MAX:
            raise ValueError(f"client name longer than {wire.HELLO_NAME_MAX} bytes")
        try:
            reply = self.call(wire.HELLO, wire.HELLO_REQ.pack(wire.API_VERSION) + name.encode())
        except ApiCallError as exc:
            if exc.status == wire.EBADMSG:
                raise VersionMismatch(exc.request, exc.status, exc.req_id) from None
            raise
        if len(reply) < wire.HELLO_REQ.size:
            raise ProtocolError(f"HELLO reply of {len(reply)} bytes")
        (self.api_version,) = wire.HELLO_REQ.unpack_from(reply)
        self.server_version = reply[wire.HELLO_REQ.size:].decode("utf-8", "replace")
        return self.server_version

    def stats(self) -> dict[str, Any]:
        """The STATS figures."""
        try:
            figures = json.loads(self.call(wire.STATS))
        except ValueError as exc:
            raise ProtocolError(f"STATS reply is not JSON: {exc}") from None
        if not isinstance(figures, dict):
            raise ProtocolError("STATS reply is not a JSON object")
        return figures

    def cancel(self, stream_id: int) -> int:
        """STREAM_CANCEL: 0, or ESRCH when no such stream is active."""
        self._cancelled.add(stream_id)   # its ECANCELED terminator is then no error
        try:
            return self._cancel_status(self.send(wire.STREAM_CANCEL,
                                                 wire.CANCEL_REQ.pack(stream_id)))
        finally:
            if stream_id not in self._pending:    # else the terminator clears it
                self._cancelled.discard(stream_id)

    @overload
    def stream(self, req_type: int, payload: bytes = ..., *,
               record: None = None) -> Stream[bytes]: ...
    @overload
    def stream(self, req_type: int, payload: bytes = ..., *,
               record: struct.Struct) -> Stream[tuple[Any, ...]]: ...

    def stream(self, req_type: int, payload: bytes = b"", *,
               record: struct.Struct | None = None) -> Stream[Any]:
        """Send a stream request (LIST, CLIENTS); iterate the result for its records."""
        if record is not None:
            iter_tuples(b"", record)   # reject a record format without byte order now
        return Stream(self, self.send(req_type, payload), wire.type_name(req_type), record)

    # -- reading --------------------------------------------------------------

    def _new_id(self) -> int:
        req_id = self._last_id
        while True:
            req_id = (req_id + 1) & 0xFFFFFFFF
            if req_id not in self._pending and req_id not in self._abandoned:
                self._last_id = req_id
                return req_id

    def _recv(self) -> None:
        n = self._sock.recv_into(self._rbuf)
        if not n:
            raise ConnectionClosed("the daemon closed the connection")
        self._decoder.feed(self._rbuf[:n])

    def _route(self, frame: Response) -> None:
        pending = self._pending.get(frame.for_id)
        if pending is not None:
            pending.frames.append(frame)
        elif frame.for_id in self._abandoned:
            if not self._abandoned[frame.for_id] or is_terminator(frame):
                del self._abandoned[frame.for_id]
        else:
            raise ProtocolError(f"response for id {frame.for_id}, which is not outstanding")

    def _pump(self) -> None:
        """Read one frame and route it, receiving first if none is buffered."""
        try:
            frame = self._decoder.next_event()
        except CodecError as exc:
            raise ProtocolError(str(exc)) from None
        if frame is None:
            self._recv()
        else:
            self._route(frame)

    def _wait(self, req_id: int) -> Response:
        """The next response for ``req_id``; abandons the request if reading fails."""
        frames = self._pending[req_id].frames
        try:
            while not frames:
                self._pump()
        except BaseException:
            self._abandon(req_id, stream=False)
            raise
        return frames.popleft()

    def _abandon(self, req_id: int, *, stream: bool) -> None:
        """Forget a request whose remaining responses nobody will read."""
        pending = self._pending.pop(req_id, None)
        if pending is None:
            return
        if stream and not any(map(is_terminator, pending.frames)):
            self._abandoned[req_id] = True
        elif not stream and not pending.frames:
            self._abandoned[req_id] = False
        self._cancelled.discard(req_id)

    def _cancel_status(self, cancel_id: int) -> int:
        try:
            self.reply(cancel_id)
        except ApiCallError as exc:
            if exc.status == wire.ESRCH:
                return exc.status
            raise
        return 0

    def _orphan(self, stream_id: int) -> None:
        """Cancel a stream without waiting; its responses are dropped as they come."""
        cancel_id = self.send(wire.STREAM_CANCEL, wire.CANCEL_REQ.pack(stream_id))
        self._abandon(cancel_id, stream=False)
        self._abandon(stream_id, stream=True)

