"""Error replies that name a record (wire-v1 section 2), through a real socket.

The "daemon" is the other end of a socketpair with every reply written in
advance: the client numbers its requests 1 (HELLO), 2, 3..., so each crafted
reply is already queued when the request that it answers is sent.
"""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import wire
from api.client import Client
from api.client_errors import (
    REASON_MAX, AlreadyExists, ApiCallError, Busy, InvalidArgument, NotFound, api_error,
    parse_error_payload,
)
from api.codec import RequestDecoder, encode_response

ADD = wire.ROUTE4_ADD
ONE_ROUTE = wire.BULK_FLAGS.pack(0) + wire.ROUTE4.pack(0, 8, 0, bytes([10, 0, 0, 0]), 99)


def client_with_replies(*replies: tuple[int, bytes]) -> tuple[Client, socket.socket]:
    """A client whose requests 2, 3, ... are answered (status, payload) in order."""
    mine, theirs = socket.socketpair()
    frames = [encode_response(1, 0, wire.HELLO_REQ.pack(1) + b"crafted")]
    frames += [encode_response(i, status, payload) for i, (status, payload)
               in enumerate(replies, 2)]
    theirs.sendall(b"".join(frames))
    return Client.from_socket(mine), theirs


def error_of(status: int, payload: bytes) -> ApiCallError:
    client, peer = client_with_replies((status, payload))
    with client, peer:
        with pytest.raises(ApiCallError) as info:
            client.call(ADD, ONE_ROUTE)
    return info.value


def test_index_and_reason_are_read_from_the_reply() -> None:
    exc = error_of(wire.ENOENT, struct.pack("<I", 3) + b"nexthop 99 does not exist")
    assert isinstance(exc, NotFound)
    assert (exc.status, exc.errno_name, exc.index, exc.reason) == (
        wire.ENOENT, "ENOENT", 3, "nexthop 99 does not exist")
    assert str(exc) == ("ROUTE4_ADD: ENOENT (no such object): record 3: "
                        "nexthop 99 does not exist")


def test_header_only_reply_has_no_index() -> None:
    exc = error_of(wire.EEXIST, b"")
    assert isinstance(exc, AlreadyExists)
    assert (exc.index, exc.reason) == (None, None)
    assert str(exc) == "ROUTE4_ADD: EEXIST (object already exists)"


def test_empty_reason_gives_the_index_alone() -> None:
    exc = error_of(wire.EINVAL, struct.pack("<I", 0))
    assert isinstance(exc, InvalidArgument)
    assert (exc.index, exc.reason) == (0, "")
    assert str(exc).endswith(": record 0")


@pytest.mark.parametrize("payload", [b"\x01", b"\x01\x02", b"\x01\x02\x03"])
def test_payload_shorter_than_an_index_is_ignored(payload: bytes) -> None:
    exc = error_of(wire.EBUSY, payload)
    assert isinstance(exc, Busy) and (exc.index, exc.reason) == (None, None)


def test_bad_utf8_long_reason_and_control_characters_stay_one_line() -> None:
    reason = b"\xff\xfebad\nline\x1b[31m" + b"x" * 500
    exc = error_of(wire.EINVAL, struct.pack("<I", 0xFFFFFFFF) + reason)
    assert exc.index == 0xFFFFFFFF
    assert exc.reason is not None and exc.reason.startswith("\ufffd\ufffdbad\nline")
    assert len(exc.reason.encode()) <= REASON_MAX + 6     # 2 replacement chars of 3 bytes
    text = str(exc)
    assert "\n" not in text and "\x1b" not in text and "bad\\nline\\x1b[31m" in text


def test_connection_stays_usable_after_error_replies() -> None:
    client, peer = client_with_replies((wire.ENOENT, b"\x00"), (0, b""), (wire.EIO, b"zzzz!"))
    with client, peer:
        with pytest.raises(NotFound):
            client.call(ADD, ONE_ROUTE)
        assert client.call(ADD, ONE_ROUTE) == b""
        with pytest.raises(ApiCallError) as info:
            client.call(ADD, ONE_ROUTE)
        assert type(info.value) is ApiCallError and info.value.errno_name == "EIO"
        assert (info.value.index, info.value.reason) == (int.from_bytes(b"zzzz", "little"),
                                                         "!")
        decoder = RequestDecoder()
        decoder.feed(peer.recv(1 << 16))
        ids = []
        while (event := decoder.next_event()) is not None:
            ids.append(event.req_id)
        assert ids == [1, 2, 3, 4], "the requests went out as numbered"


@given(st.binary(max_size=400))
def test_any_payload_parses_without_raising(payload: bytes) -> None:
    index, reason = parse_error_payload(payload)
    assert (index is None) == (len(payload) < 4)
    exc = api_error("NH_DEL", wire.EBUSY, 7, payload)
    assert "\n" not in str(exc) and exc.index == index and exc.reason == reason


def test_positional_constructor_is_unchanged() -> None:
    exc = ApiCallError("ROUTE4_ADD", wire.EEXIST, 5)
    assert (exc.request, exc.status, exc.req_id, exc.index, exc.applied) == (
        "ROUTE4_ADD", wire.EEXIST, 5, None, 0)
