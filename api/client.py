"""Blocking, typed client for the reactord API socket (tools and users' scripts).

The concept: one connection, one thread.  ``Client`` speaks the requests;
the connection it holds (``api.client_conn.Connection``) gives every request
an explicit id and routes responses by ``for_id`` into per-id inboxes, so
responses read on behalf of another request (a ``call()`` inside a stream
loop, a stream's items read by that call) are kept for their owners.  This
module is the documented exception to "only reactor/ touches sockets".

Streams (LIST, CLIENTS) are ``Stream`` objects (``api.client_stream``)
yielding raw records, or tuples when a record ``struct.Struct`` is given.
Terminator 0 ends them; EXFULL ends them ``incomplete`` (resume with AFTER
``last_record``); any other status raises ``ApiCallError`` (ECANCELED only if
this client did not ask for it).  Leaving early sends STREAM_CANCEL:
``close()``/``with`` then drain until both the terminator and the cancel's
reply are read; garbage collection, or a timeout or error while reading, only
sends it and lets later reads drop the rest.

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
from typing import TYPE_CHECKING, Any, overload

from api import wire
from api.client_conn import RECV_SIZE, Connection
from api.client_errors import ApiCallError, ClientError, ConnectionClosed, ProtocolError, \
    VersionMismatch, api_error
from api.client_stream import Stream
from api.codec import iter_tuples
from reactor.unix import connect_unix

if TYPE_CHECKING:
    from api.watch import WatchStream

__all__ = ["Client", "Stream", "ClientError", "ConnectionClosed", "ProtocolError",
           "ApiCallError", "VersionMismatch", "RECV_SIZE"]


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
        self._conn = Connection(sock)
        self.api_version = 0
        self.server_version = ""
        try:
            self.hello(name)
        except BaseException:
            sock.close()
            raise

    # -- lifecycle ----------------------------------------------------------

    @property
    def connection(self) -> Connection:
        """The socket and its response routing (shared with this client's streams)."""
        return self._conn

    @property
    def closed(self) -> bool:
        return self._conn.closed

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -----------------------------------------------------------

    def send(self, req_type: int, payload: bytes = b"") -> int:
        """Send a request without waiting; its id (for ``reply``)."""
        return self._conn.send(req_type, payload)

    def reply(self, req_id: int) -> bytes:
        """The reply payload of a request sent with ``send``; ApiCallError on error."""
        name = self._conn.request_name(req_id)
        frame = self._conn.wait(req_id)
        self._conn.finish(req_id)
        if frame.status:
            raise api_error(name, frame.status, req_id, frame.payload)
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
        return self._conn.cancel_status(self._conn.cancel(stream_id))

    def watch(self, *, from_revision: int = 0, tables: int = wire.ALL_TABLES_MASK,
              snapshot: bool = False, no_self: bool = False) -> WatchStream:
        """Start a WATCH (watch-v1): iterate it for ``api.events.Event`` objects.

        ``snapshot`` lists the selected tables first; ``from_revision`` resumes
        after a revision; ``no_self`` leaves out this connection's own changes.
        Raises ``Stale`` (ESTALE) when the changes asked for are gone."""
        from api.watch import WatchStream   # api.watch builds on this module
        return WatchStream(self, from_revision, tables, snapshot, no_self)

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
        return Stream(self._conn, self.send(req_type, payload), wire.type_name(req_type), record)
