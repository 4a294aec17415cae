"""A LIST (or CLIENTS) response stream of the blocking client.

The concept: ``Stream`` iterates the records of one stream request, raw or
decoded, in bulk; leaving it early cancels the stream and drains until both the
terminator and the cancel's reply have been read (see ``api.client``).  It
reads through the client's ``Connection`` (``api.client_conn``): its inbox
for frames other readers routed to it, the decoder's runs for the rest.

Invariant: the record generator holds a ``_StreamState``, never the ``Stream``
itself, so dropping the last reference to a ``Stream`` runs its clean-up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Generator, Generic, Iterator, TypeVar, cast

from api import wire
from api.client_errors import ClientError, ProtocolError, api_error, \
    is_terminator
from api.codec import Response, iter_records, iter_tuples

if TYPE_CHECKING:
    import struct

    from api.client_conn import Connection

T = TypeVar("T")


@dataclass(slots=True)
class _StreamState:
    """What the record generator needs (it must not hold the ``Stream`` itself)."""

    conn: Connection
    sid: int
    request: str
    record: struct.Struct | None
    size: int = 0                      # record size; 0 until the first raw item
    done: bool = False                 # terminator read, or stream given up
    status: int | None = None          # the terminator's status
    last_record: bytes | None = None


def _finish(st: _StreamState, frame: Response, *, closing: bool = False) -> None:
    """Record the stream's terminator; raise its error unless it is expected."""
    st.done, st.status = True, frame.status
    cancelled = st.conn.finish(st.sid)
    if frame.payload and not closing:
        raise ProtocolError(f"{st.request}: error terminator with a payload")
    ok = (wire.OK, wire.EXFULL) + ((wire.ECANCELED,) if cancelled else ())
    if frame.status not in ok and not closing:
        raise api_error(st.request, frame.status, st.sid)


def _queued(st: _StreamState, frames: deque[Response]) -> list[Any]:
    """Records from frames other readers queued for the stream (slow path)."""
    out: list[Any] = []
    while frames and not st.done:
        frame = frames.popleft()
        if is_terminator(frame):
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
    conn = st.conn
    frames = conn.inbox(st.sid)
    try:
        while not st.done:
            if frames:
                batch = _queued(st, frames)
                if batch:
                    yield iter(batch)
                continue
            run = conn.take_run(st.sid, st.size) if st.size else b""
            if not run:
                conn.pump()
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
        st.conn.orphan(st.sid)
    except Exception:
        st.conn.abandon(st.sid, stream=True)


class Stream(Generic[T]):
    """The records of one stream request; an iterator and a context manager.

    ``for record in stream`` runs at C speed per item (a chain over lazily
    decoded runs; the loop keeps the stream alive).  Use either the items or
    ``batches()``, not both.
    """

    def __init__(self, conn: Connection, sid: int, request: str,
                 record: struct.Struct | None) -> None:
        self._st = _StreamState(conn, sid, request, record,
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
        if st.done or st.conn.closed:
            return
        try:
            _cancel_and_drain(st)
        except BaseException:
            st.done = True
            st.conn.abandon(st.sid, stream=True)
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
        if not (self._closed or st.done or st.conn.closed):
            st.done = True
            _give_up(st)   # best effort, never blocks on reading


def _cancel_and_drain(st: _StreamState) -> None:
    conn = st.conn
    cancel_id = conn.cancel(st.sid)
    frames = conn.inbox(st.sid)
    while not st.done:
        while frames and not st.done:
            frame = frames.popleft()
            if is_terminator(frame):
                _finish(st, frame, closing=True)
            elif not st.size and st.record is None:
                st.size = len(frame.payload)
        if not st.done and not (st.size and conn.skip_run(st.sid, st.size)):
            conn.pump()
    conn.cancel_status(cancel_id)
