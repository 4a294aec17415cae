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
from itertools import chain, islice
from typing import Any, Generator, Generic, Iterator, TypeVar, cast, overload

from api import wire
from api.codec import CodecError, Response, ResponseDecoder, encode_request, iter_records, \
    iter_tuples

RECV_SIZE = 256 * 1024
T = TypeVar("T")


class ClientError(Exception):
    """Base of the errors raised by this module."""


class ConnectionClosed(ClientError):
    """The daemon closed the connection."""


class ProtocolError(ClientError):
    """The daemon sent something wire-v1 does not allow."""


class ApiCallError(ClientError):
    """A request was answered with an error status (a positive errno)."""

    def __init__(self, request: str, status: int, req_id: int | None = None) -> None:
        super().__init__(request, status, req_id)
        self.request = request
        self.status = status
        self.req_id = req_id

    def __str__(self) -> str:
        text = wire.STATUS_TEXT.get(self.status, "unknown status")
        return f"{self.request}: {wire.status_name(self.status)} ({text})"


class VersionMismatch(ApiCallError):
    """HELLO was answered EBADMSG: the daemon does not speak this API version."""

    def __str__(self) -> str:
        return (f"{super().__str__()}: the daemon does not speak API version "
                f"{wire.API_VERSION}")


def _is_terminator(frame: Response) -> bool:
    return frame.status != 0 or not frame.payload


@dataclass(slots=True)
class _Pending:
    """An outstanding request: its type and the responses read for it."""

    req_type: int
    frames: deque[Response] = field(default_factory=deque)


class Client:
    """A connection to the daemon; HELLO is exchanged on construction."""

    def __init__(self, path: str, *, name: str = "", timeout: float | None = None) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        self._start(sock, name)

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
            raise ApiCallError(wire.type_name(req_type), frame.status, req_id)
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
            if not self._abandoned[frame.for_id] or _is_terminator(frame):
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
        if stream and not any(map(_is_terminator, pending.frames)):
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


@dataclass(slots=True)
class _StreamState:
    """What the record generator needs (it must not hold the ``Stream`` itself)."""

    client: Client
    sid: int
    request: str
    record: struct.Struct | None
    size: int = 0                      # record size; 0 until the first raw item
    done: bool = False                 # terminator read, or stream given up
    status: int | None = None          # the terminator's status
    last_record: bytes | None = None


def _finish(st: _StreamState, frame: Response, *, closing: bool = False) -> None:
    """Record the stream's terminator; raise its error unless it is expected."""
    client = st.client
    st.done, st.status = True, frame.status
    client._pending.pop(st.sid, None)
    cancelled = st.sid in client._cancelled
    client._cancelled.discard(st.sid)
    if frame.payload and not closing:
        raise ProtocolError(f"{st.request}: error terminator with a payload")
    ok = (wire.OK, wire.EXFULL) + ((wire.ECANCELED,) if cancelled else ())
    if frame.status not in ok and not closing:
        raise ApiCallError(st.request, frame.status, st.sid)


def _queued(st: _StreamState, frames: deque[Response]) -> list[Any]:
    """Records from frames other readers queued for the stream (slow path)."""
    out: list[Any] = []
    while frames and not st.done:
        frame = frames.popleft()
        if _is_terminator(frame):
            _finish(st, frame)
            break
        payload = frame.payload
        if st.record is None:
            st.size = len(payload)
            out.append(payload)
        elif len(payload) != st.size:
            raise ProtocolError(f"{st.request}: record of {len(payload)} bytes, "
                                f"expected {st.size}")
        else:
            out.append(st.record.unpack(payload))
        st.last_record = payload
    return out


def _batches(st: _StreamState) -> Generator[Iterator[Any], None, None]:
    """The stream's records, batch by batch, each decoded lazily from one run."""
    client, decoder = st.client, st.client._decoder
    frames = client._pending[st.sid].frames
    try:
        while not st.done:
            if frames:
                batch = _queued(st, frames)
                if batch:
                    yield iter(batch)
                continue
            run = decoder.take_frames(st.sid, st.size) if st.size else b""
            if not run:
                client._pump()
                continue
            st.last_record = run[-st.size:]
            yield iter_records(run, st.size) if st.record is None else \
                iter_tuples(run, st.record)
    except Exception:
        if not st.done:   # timeout, lost connection, protocol error: give the stream up
            st.done = True
            _give_up(st)
        raise


def _give_up(st: _StreamState) -> None:
    """Cancel without waiting if the connection still works, else just forget."""
    try:
        st.client._orphan(st.sid)
    except Exception:
        st.client._abandon(st.sid, stream=True)


class Stream(Generic[T]):
    """The records of one stream request; an iterator and a context manager.

    ``for record in stream`` runs at C speed per item (a chain over lazily
    decoded runs; the loop keeps the stream alive).  Use either the items or
    ``batches()``, not both.
    """

    def __init__(self, client: Client, sid: int, request: str,
                 record: struct.Struct | None) -> None:
        self._st = _StreamState(client, sid, request, record,
                                record.size if record is not None else 0)
        self._gen = _batches(self._st)
        self._items: Iterator[T] = chain.from_iterable(self._gen)
        self._mode = ""
        self._closed = False

    @property
    def id(self) -> int:
        return self._st.sid

    @property
    def done(self) -> bool:
        """Ended: terminator read, or given up."""
        return self._st.done

    @property
    def status(self) -> int | None:
        """The terminator's status, once read."""
        return self._st.status

    @property
    def incomplete(self) -> bool:
        """Ended with EXFULL: resume with AFTER ``last_record``."""
        return self._st.status == wire.EXFULL

    @property
    def last_record(self) -> bytes | None:
        """Raw bytes of the last record received (all yielded once the stream ended)."""
        return self._st.last_record

    def _use(self, mode: str) -> None:
        if self._mode and self._mode != mode:
            raise RuntimeError("a Stream is read either by items or by batches(), not both")
        self._mode = mode

    def __iter__(self) -> Iterator[T]:
        self._use("items")
        # The empty islice over (self,) keeps the stream alive while a loop runs
        # over the chain, at no cost per item; the stream never holds the loop.
        return cast(Iterator[T], chain(self._items, islice((self,), 0)))

    def __next__(self) -> T:
        self._use("items")
        return next(self._items)

    def batches(self) -> Iterator[list[T]]:
        """The records in lists, one per run read from the socket."""
        self._use("batches")
        return self._lists()

    def _lists(self) -> Iterator[list[T]]:
        for batch in self._gen:    # a generator method: it keeps the stream alive
            yield list(batch)

    def close(self) -> None:
        """Cancel if not ended, then drain the terminator and the cancel's reply."""
        if self._closed:
            return
        self._closed = True
        self._gen.close()
        st = self._st
        if st.done or st.client.closed:
            return
        try:
            _cancel_and_drain(st)
        except BaseException:
            st.done = True
            st.client._abandon(st.sid, stream=True)
            raise

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.close()
        except (ClientError, OSError):
            if exc_type is None:
                raise   # else the exception already propagating says more

    def __del__(self) -> None:
        st = self._st
        if not (self._closed or st.done or st.client.closed):
            st.done = True
            _give_up(st)   # best effort, never blocks on reading


def _cancel_and_drain(st: _StreamState) -> None:
    client = st.client
    cancel_id = client.send(wire.STREAM_CANCEL, wire.CANCEL_REQ.pack(st.sid))
    client._cancelled.add(st.sid)
    frames = client._pending[st.sid].frames
    while not st.done:
        while frames and not st.done:
            frame = frames.popleft()
            if _is_terminator(frame):
                _finish(st, frame, closing=True)
            elif not st.size and st.record is None:
                st.size = len(frame.payload)
        if not st.done and not (st.size and client._decoder.skip_records(st.sid, st.size)):
            client._pump()
    client._cancel_status(cancel_id)
