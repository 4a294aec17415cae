"""Tests of the sans-IO frame codec: pure, no I/O."""

from __future__ import annotations

import struct
from typing import Any, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import wire
from api.codec import (
    CodecError, Oversized, Request, RequestDecoder, Response, ResponseDecoder,
    encode_items, encode_record_blob, encode_request, encode_response, iter_records,
    iter_tuples,
)
from api.wire import HEADER, MAX_PAYLOAD

U32S = st.integers(0, 0xFFFFFFFF)
ReqEvent = Union[Request, Oversized]


def drain_requests(dec: RequestDecoder) -> list[ReqEvent]:
    out: list[ReqEvent] = []
    while (event := dec.next_event()) is not None:
        out.append(event)
    return out


def drain_responses(dec: ResponseDecoder) -> list[Response]:
    out: list[Response] = []
    while (event := dec.next_event()) is not None:
        out.append(event)
    return out


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def oversized_frame(req_id: int, req_type: int, length: int) -> bytes:
    return HEADER.pack(req_id, req_type, length) + bytes(range(256)) * (length // 256) \
        + b"\xaa" * (length % 256)


# -- unit cases -----------------------------------------------------------------


def test_request_roundtrip_and_zero_length() -> None:
    dec = RequestDecoder()
    dec.feed(encode_request(1, wire.STATS) + encode_request(2, wire.HELLO, b"\1\0\0\0me"))
    assert drain_requests(dec) == [Request(1, wire.STATS, b""),
                                   Request(2, wire.HELLO, b"\1\0\0\0me")]
    assert dec.buffered == 0


def test_exact_boundaries() -> None:
    dec = RequestDecoder()
    dec.feed(encode_request(7, 9, b"x" * MAX_PAYLOAD))
    assert drain_requests(dec) == [Request(7, 9, b"x" * MAX_PAYLOAD)]
    dec.feed(oversized_frame(8, 9, MAX_PAYLOAD + 1))
    assert drain_requests(dec) == [Oversized(8, 9, MAX_PAYLOAD + 1)]
    assert dec.buffered == 0
    with pytest.raises(ValueError):
        encode_request(1, 2, b"x" * (MAX_PAYLOAD + 1))
    with pytest.raises(ValueError):
        encode_response(1, 0, b"x" * (MAX_PAYLOAD + 1))
    assert len(encode_response(1, 0, b"x" * MAX_PAYLOAD)) == 12 + MAX_PAYLOAD


def test_oversized_reported_at_header_then_skipped_without_buffering() -> None:
    dec = RequestDecoder()
    big = 10 * MAX_PAYLOAD
    dec.feed(HEADER.pack(3, 4, big) + b"\0" * 100)
    assert dec.next_event() == Oversized(3, 4, big)
    assert dec.next_event() is None and dec.buffered == 0
    left = big - 100
    while left > 1000:                      # payload arrives in pieces: nothing held
        dec.feed(b"\0" * min(4096, left - 1000))
        left -= min(4096, left - 1000)
        assert dec.buffered == 0 and dec.next_event() is None
    dec.feed(b"\0" * left + encode_request(5, 6, b"ok"))
    assert drain_requests(dec) == [Request(5, 6, b"ok")]


def test_partial_header_and_payload() -> None:
    dec = RequestDecoder()
    frame = encode_request(1, 2, b"abc")
    dec.feed(frame[:5])
    assert dec.next_event() is None and dec.buffered == 5
    dec.feed(frame[5:13])
    assert dec.next_event() is None
    dec.feed(frame[13:])
    assert dec.next_event() == Request(1, 2, b"abc")


def test_response_oversized_is_codec_error() -> None:
    dec = ResponseDecoder()
    dec.feed(HEADER.pack(1, 0, MAX_PAYLOAD + 1))
    with pytest.raises(CodecError):
        dec.next_event()
    ok = ResponseDecoder()
    ok.feed(encode_response(1, wire.ENOENT) + encode_response(2, 0, b"z" * MAX_PAYLOAD))
    assert drain_responses(ok) == [Response(1, wire.ENOENT, b""),
                                   Response(2, 0, b"z" * MAX_PAYLOAD)]


def one_by_one(for_id: int, items: list[bytes]) -> bytes:
    """Stream items framed one response at a time: what every encoder must equal."""
    return b"".join(encode_response(for_id, 0, item) for item in items)


def test_encode_items() -> None:
    recs = [bytes([i]) * 12 for i in range(5)]
    assert encode_items(9, b"".join(recs), 12) == one_by_one(9, recs)
    assert encode_items(9, b"".join(recs), [12] * 5) == one_by_one(9, recs)
    assert encode_items(9, b"", 12) == b"" == encode_items(9, b"", [])
    with pytest.raises(ValueError):
        encode_items(9, b"short", 12)
    with pytest.raises(ValueError):
        encode_items(9, b"", 0)
    assert encode_items(3, b"abcd", [1, 3]) == one_by_one(3, [b"a", b"bcd"])
    bad = [(b"", [0]), (b"ab", [2, 0]), (b"abc", [1, 1]), (b"abcd", [1, 2]), (b"x", []),
           (b"z" * (MAX_PAYLOAD + 2), [1, MAX_PAYLOAD + 1])]
    for data, sizes in bad:
        with pytest.raises(ValueError):
            encode_items(3, data, sizes)
    with pytest.raises(ValueError):
        encode_request(1 << 32, 0)


@given(st.sampled_from([1, 4, 12, 24, 25, 36, 56]), st.integers(0, 300), U32S)
@settings(max_examples=60, deadline=None)
def test_encode_record_blob_equals_one_by_one(size: int, count: int, for_id: int) -> None:
    recs = [bytes((i * 7 + j) & 0xFF for j in range(size)) for i in range(count)]
    blob = b"".join(recs)
    assert encode_record_blob(for_id, blob, size) == one_by_one(for_id, recs)
    assert encode_record_blob(for_id, memoryview(blob), size) == one_by_one(for_id, recs)
    assert encode_items(for_id, blob, [size] * count) == one_by_one(for_id, recs)


@given(st.lists(st.binary(min_size=1, max_size=80), max_size=200), U32S)
@settings(max_examples=60, deadline=None)
def test_encode_items_of_mixed_sizes_equals_one_by_one(items: list[bytes], for_id: int) -> None:
    data = b"".join(items)
    assert encode_items(for_id, data, [len(item) for item in items]) == one_by_one(for_id, items)


def test_encode_record_blob_rejects_partial_records() -> None:
    with pytest.raises(ValueError):
        encode_record_blob(1, b"x" * 13, 12)
    with pytest.raises(ValueError):
        encode_record_blob(1, b"", 0)
    assert encode_record_blob(1, b"", 12) == b""


def test_bulk_run_stops_exactly_at_mismatch() -> None:
    recs = [wire.ROUTE4.pack(1, 24, 0, i.to_bytes(4, "big"), 7) for i in range(1000)]
    for cut in (1, 2, 3, 500, 999):
        data = (encode_items(5, b"".join(recs[:cut]), 12) + encode_response(6, 0, recs[0])
                + encode_items(5, b"".join(recs[cut:]), 12) + encode_response(5, 0))
        dec = ResponseDecoder()
        dec.feed(data)
        assert dec.take_records(5, 12) == recs[:cut]
        assert dec.take_records(5, 12) == []
        assert dec.next_event() == Response(6, 0, recs[0])
        assert dec.take_tuples(5, wire.ROUTE4) == [wire.ROUTE4.unpack(r) for r in recs[cut:]]
        assert dec.next_event() == Response(5, 0, b"")


def test_bulk_partial_frame_and_skip() -> None:
    data = encode_items(5, b"r" * 120, 12)
    dec = ResponseDecoder()
    dec.feed(data[:-1])
    assert dec.skip_records(5, 12) == 9 and dec.buffered == 23
    dec.feed(data[-1:])
    frames = dec.take_frames(5, 12)
    assert list(iter_records(frames, 12)) == [b"r" * 12]
    with pytest.raises(ValueError):
        dec.take_frames(5, 0)
    with pytest.raises(ValueError):
        list(iter_tuples(encode_items(1, b"x" * 4, 4), struct.Struct("I")))


# -- properties -----------------------------------------------------------------

request_frames = st.lists(st.one_of(
    st.tuples(U32S, U32S, st.binary(max_size=40)),
    st.tuples(U32S, U32S, st.integers(MAX_PAYLOAD + 1, MAX_PAYLOAD + 600)),
), max_size=8)


@settings(max_examples=150, deadline=None)
@given(request_frames, st.lists(st.integers(0, 10**7), max_size=30))
def test_any_chunking_decodes_same_requests(
        frames: list[tuple[int, int, Any]], cuts: list[int]) -> None:
    data = b""
    expected: list[ReqEvent] = []
    for req_id, req_type, body in frames:
        if isinstance(body, int):
            data += oversized_frame(req_id, req_type, body)
            expected.append(Oversized(req_id, req_type, body))
        else:
            data += encode_request(req_id, req_type, body)
            expected.append(Request(req_id, req_type, body))
    dec = RequestDecoder()
    got: list[ReqEvent] = []
    for piece in chunked(data, cuts):
        dec.feed(piece)
        got += drain_requests(dec)
        assert dec.buffered <= len(piece) + 12 + 40
    assert got == expected and dec.buffered == 0


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_bytes_never_break_request_decoder(pieces: list[bytes]) -> None:
    dec = RequestDecoder()
    fed = 0
    for piece in pieces:
        dec.feed(memoryview(piece))
        fed += len(piece)
        drain_requests(dec)
        assert 0 <= dec.buffered <= fed


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=10))
def test_random_bytes_to_response_decoder_only_codec_error(pieces: list[bytes]) -> None:
    dec = ResponseDecoder()
    try:
        for piece in pieces:
            dec.feed(piece)
            drain_responses(dec)
            dec.take_records(int.from_bytes(piece[:1] or b"\0", "little"), 4)
    except CodecError:
        pass


SIZES = [4, 5, 12, 24]


@st.composite
def response_mix(draw: st.DrawFn) -> tuple[int, list[Response]]:
    size = draw(st.sampled_from(SIZES))
    frame = st.tuples(st.sampled_from([1, 1, 1, 2]), st.sampled_from([0, 0, 0, wire.ENOENT]),
                      st.sampled_from([size, size, size, 0, 3, size + 4]))
    out = []
    for for_id, status, length in draw(st.lists(frame, max_size=60)):
        out.append(Response(for_id, status, draw(st.binary(min_size=length, max_size=length))))
    return size, out


@settings(max_examples=200, deadline=None)
@given(response_mix(), st.lists(st.integers(0, 10**5), max_size=12), st.booleans())
def test_bulk_path_equals_one_by_one(mix: tuple[int, list[Response]], cuts: list[int],
                                     tuples: bool) -> None:
    size, frames = mix
    data = b"".join(encode_response(*f) for f in frames)
    record = struct.Struct(f"<{size - 4}sI")
    dec = ResponseDecoder()
    got: list[Response] = []
    for piece in chunked(data, cuts):
        dec.feed(piece)
        while True:
            if tuples:
                bulk = [record.pack(*t) for t in dec.take_tuples(1, record)]
            else:
                bulk = dec.take_records(1, size)
            got += [Response(1, 0, r) for r in bulk]
            event = None if bulk else dec.next_event()
            if event is not None:
                got.append(event)
            elif not bulk:
                break
    assert got == frames and dec.buffered == 0


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 1500), st.integers(0, 11), st.integers(1, 255), st.booleans())
def test_bulk_run_finds_any_single_bad_header_byte(k: int, byte: int, flip: int,
                                                   tail: bool) -> None:
    recs = [i.to_bytes(4, "little") * 3 for i in range(1500)]
    data = bytearray(encode_items(9, b"".join(recs), 12))
    if k < len(recs):
        data[k * 24 + byte] ^= flip       # frame k no longer has header (9, 0, 12)
    dec = ResponseDecoder()
    dec.feed(data if tail else data + b"\0")
    assert dec.take_records(9, 12) == recs[:k]
    assert dec.buffered == len(data) - 24 * k + (0 if tail else 1)
