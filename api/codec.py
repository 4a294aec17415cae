"""Frame codec for wire protocol v1: sans-IO, pure (in the manner of h11).

The concept: bytes in, events out; events in, bytes out.  Nothing here touches
a socket, a clock or a thread.  The server feeds what it read from a
connection to a ``RequestDecoder`` and asks for one event at a time (so it can
stop between requests when its output is capped); clients do the same with a
``ResponseDecoder``, whose bulk path takes a whole run of stream items at once.

Invariants and bounds:
- a decoder holds at most the bytes fed and not yet taken (``buffered``); it
  never allocates for a payload before its header has been validated, and a
  payload is copied out only once it is complete, so what it holds is bounded
  by what its owner chooses to feed;
- a request header whose payload_len exceeds ``MAX_PAYLOAD`` is reported once,
  as ``Oversized``, as soon as the header is read; its payload bytes are then
  counted down as they arrive and never buffered;
- ``RequestDecoder`` never raises on any input (any u32 id/type is valid);
  ``ResponseDecoder`` raises only ``CodecError``, for a response larger than
  ``MAX_PAYLOAD`` (a protocol violation by the server, unrecoverable);
- feeding 1 byte at a time or megabytes at once is linear: a read offset moves
  over a bytearray that is compacted only when at least half of it is dead;
- encoders reject payloads larger than ``MAX_PAYLOAD`` with ``ValueError``.

Stream items are framed in one place, ``encode_items`` (a batch's items end to
end, of one size or of several); records of one size take the strided path of
``encode_record_blob``, with no Python object per record.

Bulk path: a stream of fixed-size records is a run of frames whose headers are
all (for_id, 0, R).  ``ResponseDecoder.take_records`` / ``take_tuples`` check
every header of the run at C speed (for each of the 12 header bytes, a strided
slice of the buffer compared with that byte repeated) and cut the records out with
``struct.iter_unpack``: no Python-level work per frame.  ``take_frames`` hands
the run out as one bytes object for ``iter_records`` / ``iter_tuples`` to
decode lazily.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from operator import itemgetter
from typing import Any, Iterator, NamedTuple, Sequence, Union

from api.wire import HEADER, HEADER_SIZE, MAX_PAYLOAD

BytesLike = Union[bytes, bytearray, memoryview]

_COMPACT_MIN = 1 << 16
"""Dead bytes at the front of a decoder buffer that justify moving the rest."""
_GALLOP_FIRST = 8
"""Frames in the first header probe of a bulk run (doubling after)."""


class CodecError(Exception):
    """The peer broke the framing rules; the byte stream cannot be resynchronised."""


class Request(NamedTuple):
    req_id: int
    req_type: int
    payload: bytes


class Oversized(NamedTuple):
    """A request whose payload_len exceeds ``MAX_PAYLOAD`` (its payload is skipped)."""

    req_id: int
    req_type: int
    payload_len: int


class Response(NamedTuple):
    for_id: int
    status: int
    payload: bytes


# -- decoders -------------------------------------------------------------------


class _Decoder:
    """Bytearray plus read offset; the shared buffer management of both decoders."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes fed and not yet taken."""
        return len(self._buf) - self._pos

    def _append(self, data: BytesLike) -> None:
        buf, pos = self._buf, self._pos
        if pos:
            if pos == len(buf):
                buf.clear()
                self._pos = 0
            elif pos >= _COMPACT_MIN and 2 * pos >= len(buf):
                del buf[:pos]
                self._pos = 0
        buf += data

    def _header(self) -> tuple[int, int, int] | None:
        if len(self._buf) - self._pos < HEADER_SIZE:
            return None
        return HEADER.unpack_from(self._buf, self._pos)

    def _take_payload(self, length: int) -> bytes | None:
        """The payload after the current header, consuming the frame, if complete."""
        start = self._pos + HEADER_SIZE
        end = start + length
        if end > len(self._buf):
            return None
        self._pos = end
        return bytes(self._buf[start:end])


class RequestDecoder(_Decoder):
    """Server side: bytes from a client -> ``Request`` / ``Oversized`` events.

    Bound: holds at most what was fed and not yet taken, minus skipped
    oversized payloads; the server bounds what it feeds (it stops reading a
    connection while events are pending).
    """

    __slots__ = ("_skip",)

    def __init__(self) -> None:
        super().__init__()
        self._skip = 0
        """Payload bytes of an oversized request still to discard.  While it is
        non-zero nothing is buffered (``buffered == 0``)."""

    def feed(self, data: BytesLike) -> None:
        """Add bytes read from the connection (any bytes-like object)."""
        if self._skip:
            view = memoryview(data).cast("B")
            n = min(self._skip, len(view))
            self._skip -= n
            if n == len(view):
                return
            data = view[n:]
        self._append(data)

    def next_event(self) -> Request | Oversized | None:
        """The next complete request, an ``Oversized`` notice, or None (feed more)."""
        header = self._header()
        if header is None:
            return None
        req_id, req_type, length = header
        if length > MAX_PAYLOAD:
            self._pos += HEADER_SIZE
            available = len(self._buf) - self._pos
            dropped = min(length, available)
            self._pos += dropped
            self._skip = length - dropped
            return Oversized(req_id, req_type, length)
        payload = self._take_payload(length)
        if payload is None:
            return None
        return Request(req_id, req_type, payload)


class ResponseDecoder(_Decoder):
    """Client side: bytes from the daemon -> ``Response`` events, plus a bulk path.

    Bound: holds at most what was fed and not yet taken (the client feeds one
    receive buffer at a time, and only when it needs another frame).
    """

    __slots__ = ()

    def feed(self, data: BytesLike) -> None:
        """Add bytes read from the connection (any bytes-like object)."""
        self._append(data)

    def next_event(self) -> Response | None:
        """The next complete response, or None (feed more).

        Raises ``CodecError`` for a payload_len above ``MAX_PAYLOAD``.
        """
        header = self._header()
        if header is None:
            return None
        for_id, status, length = header
        if length > MAX_PAYLOAD:
            raise CodecError(f"response for id {for_id} announces {length} bytes "
                             f"(more than MAX_PAYLOAD {MAX_PAYLOAD})")
        payload = self._take_payload(length)
        if payload is None:
            return None
        return Response(for_id, status, payload)

    def take_frames(self, for_id: int, record_size: int) -> bytes:
        """The longest run of complete frames (for_id, 0, record_size) at the front
        of the buffer, consumed and copied out whole (headers included; decode it
        lazily with ``iter_records`` / ``iter_tuples``); b"" when the next frame
        is not one.  Raises ``ValueError`` for a size outside 1..MAX_PAYLOAD."""
        n = self._run_length(for_id, record_size)
        if not n:
            return b""
        start = self._pos
        self._pos = end = start + n * (HEADER_SIZE + record_size)
        return bytes(self._buf[start:end])

    def take_records(self, for_id: int, record_size: int) -> list[bytes]:
        """As ``take_frames``, as a list of the raw records ([] if none)."""
        return list(iter_records(self.take_frames(for_id, record_size), record_size))

    def take_tuples(self, for_id: int, record: struct.Struct) -> list[tuple[Any, ...]]:
        """As ``take_frames``, each record decoded with ``record`` ([] if none)."""
        return list(iter_tuples(self.take_frames(for_id, record.size), record))

    def skip_records(self, for_id: int, record_size: int) -> int:
        """As ``take_frames`` but only counts the frames it discards."""
        n = self._run_length(for_id, record_size)
        self._pos += n * (HEADER_SIZE + record_size)
        return n

    def _run_length(self, for_id: int, size: int) -> int:
        """Number of frames (for_id, 0, size) in a row at the read offset."""
        if not 0 < size <= MAX_PAYLOAD:
            raise ValueError(f"record size {size} outside 1..{MAX_PAYLOAD}")
        frame = HEADER_SIZE + size
        total = (len(self._buf) - self._pos) // frame
        if not total or self._header() != (for_id, 0, size):
            return 0
        return _matching_prefix(self._buf, self._pos, frame, total,
                                HEADER.pack(for_id, 0, size))


def iter_records(frames: bytes, record_size: int, *, framed: bool = True) -> Iterator[bytes]:
    """The raw records of a ``take_frames`` run (or, not ``framed``, of records
    back to back), lazily, at C speed."""
    layout = _raw_struct(record_size) if framed else _bare_struct(record_size)
    return map(_first, layout.iter_unpack(frames))


def iter_tuples(frames: bytes, record: struct.Struct) -> Iterator[tuple[Any, ...]]:
    """The decoded records of a ``take_frames`` run, lazily, at C speed.

    ``record`` needs an explicit byte order ("<", ">", "!" or "=").  Lazy on
    purpose: tuples consumed one by one are freed at once, while a list of
    them keeps the cyclic garbage collector busy.
    """
    return _framed_struct(record.format).iter_unpack(frames)


def _matching_prefix(buf: bytearray, pos: int, frame: int, total: int, header: bytes) -> int:
    """Frames in [0, total) from ``pos`` whose headers match, given frame 0 does.

    Galloping: frame 1 alone (a run of one is common between other frames),
    then ranges of 8, 16, 32... frames until one holds a mismatch, then bisect
    inside it.  A call returning k costs O(k) bytes compared however much is
    buffered behind the run, so a buffer of runs broken by other frames is
    still decoded in linear time; a mismatch anywhere is found exactly.
    """
    if total > 1 and HEADER.unpack_from(buf, pos + frame) != HEADER.unpack(header):
        return 1
    lo, step = min(total, 2), _GALLOP_FIRST   # frames [0, lo) match
    while lo < total:
        hi = min(total, lo + step)
        if not _headers_match(buf, pos, frame, lo, hi, header):
            while hi - lo > 1:            # a mismatch lies in [lo, hi)
                mid = (lo + hi) // 2
                if _headers_match(buf, pos, frame, lo, mid, header):
                    lo = mid
                else:
                    hi = mid
            return lo
        lo, step = hi, 2 * step
    return total


def _headers_match(buf: bytearray, pos: int, frame: int, first: int, stop: int,
                   header: bytes) -> bool:
    """Whether frames [first, stop) all start with ``header``.

    Header byte j of every frame is the strided slice ``buf[start + j:end:frame]``
    (a tight C loop, ~1 ns a byte, any alignment), compared with that byte
    repeated: 12 slices check all the headers of a run with no loop per frame.
    """
    count = stop - first
    start, end = pos + first * frame, pos + stop * frame
    for j in range(HEADER_SIZE):
        if buf[start + j:end:frame] != header[j:j + 1] * count:
            return False
    return True


@lru_cache(maxsize=64)
def _raw_struct(size: int) -> struct.Struct:
    """One frame -> its raw record: ``<12x{size}s``."""
    return struct.Struct(f"<{HEADER_SIZE}x{size}s")


@lru_cache(maxsize=64)
def _bare_struct(size: int) -> struct.Struct:
    """One record -> itself: ``{size}s``."""
    return struct.Struct(f"{size}s")


@lru_cache(maxsize=64)
def _framed_struct(record_format: str) -> struct.Struct:
    """One frame -> the decoded record: 12 pad bytes, then the record's fields."""
    order, fields = record_format[:1], record_format[1:]
    if order not in ("<", ">", "!", "="):
        raise ValueError(f"record format {record_format!r} needs an explicit byte order "
                         "(native alignment would change the frame layout)")
    return struct.Struct(f"{order}{HEADER_SIZE}x{fields}")


_first = itemgetter(0)

# -- encoders -------------------------------------------------------------------


def _check_payload(payload: BytesLike) -> None:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD {MAX_PAYLOAD}")


def _pack_header(a: int, b: int, length: int) -> bytes:
    try:
        return HEADER.pack(a, b, length)
    except struct.error as exc:
        raise ValueError(f"header field out of u32 range: {exc}") from None


def encode_request(req_id: int, req_type: int, payload: BytesLike = b"") -> bytes:
    """One request frame."""
    _check_payload(payload)
    return _pack_header(req_id, req_type, len(payload)) + payload


def encode_response(for_id: int, status: int, payload: BytesLike = b"") -> bytes:
    """One response frame (a stream terminator is ``encode_response(id, status)``)."""
    _check_payload(payload)
    return _pack_header(for_id, status, len(payload)) + payload


STRIDED_MAX_RECORD = 24
"""Records up to this size are framed by strided copies (``encode_record_blob``);
larger ones are cut out and joined, which is then cheaper."""


def encode_record_blob(for_id: int, blob: BytesLike, record_size: int) -> bytes:
    """Stream items (status 0) for ``blob``, whole ``record_size``-byte records
    back to back: no Python object per record.

    A template of empty frames is filled column by column: byte j of every
    record is one strided slice of ``blob``, copied into its place in every
    frame by one C loop (2·record_size passes over the batch).  Records larger
    than ``STRIDED_MAX_RECORD`` take a cut-and-join path instead.
    """
    if not 0 < record_size <= MAX_PAYLOAD:
        raise ValueError(f"record size {record_size} outside 1..{MAX_PAYLOAD}")
    count, partial = divmod(len(blob), record_size)
    if partial:
        raise ValueError(f"{len(blob)} bytes are not whole {record_size}-byte records")
    if not count:
        return b""
    header = _pack_header(for_id, 0, record_size)
    if record_size > STRIDED_MAX_RECORD:
        return header + header.join(iter_records(bytes(blob), record_size, framed=False))
    frame = HEADER_SIZE + record_size
    out = bytearray((header + bytes(record_size)) * count)
    for j in range(record_size):
        out[HEADER_SIZE + j::frame] = blob[j::record_size]
    return bytes(out)


def encode_items(for_id: int, data: BytesLike, sizes: int | Sequence[int]) -> bytes:
    """Stream items (status 0) for ``data``, items end to end: all ``sizes``
    bytes long (an int), or of each length in ``sizes`` in order.

    The one framing of a stream batch (``api.batch.Batch``).  Items of one size
    take the strided path (``encode_record_blob``), whether the size is given
    once or per item; mixed sizes are framed item by item.  Raises
    ``ValueError`` when the sizes do not cut ``data`` into whole items of
    1..MAX_PAYLOAD bytes (an empty item would read as a terminator).
    """
    if isinstance(sizes, int):
        return encode_record_blob(for_id, data, sizes)
    if not sizes:
        if len(data):
            raise ValueError(f"{len(data)} bytes and no item sizes")
        return b""
    smallest, largest = min(sizes), max(sizes)
    if smallest < 1 or largest > MAX_PAYLOAD:
        raise ValueError(f"item sizes {smallest}..{largest} outside 1..{MAX_PAYLOAD}")
    if smallest == largest:
        if len(data) != largest * len(sizes):
            raise ValueError(f"{len(data)} bytes are not {len(sizes)} items of {largest}")
        return encode_record_blob(for_id, data, largest)
    if sum(sizes) != len(data):
        raise ValueError(f"item sizes add up to {sum(sizes)}, not {len(data)} bytes")
    return _encode_mixed(for_id, memoryview(data).cast("B"), sizes)


def _encode_mixed(for_id: int, data: memoryview, sizes: Sequence[int]) -> bytes:
    """Frames for items of several sizes: one header per distinct size, reused."""
    headers = {size: _pack_header(for_id, 0, size) for size in set(sizes)}
    out = bytearray()
    pos = 0
    for size in sizes:
        out += headers[size]
        out += data[pos:pos + size]
        pos += size
    return bytes(out)
