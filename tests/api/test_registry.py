"""The handler registry, pure: no sockets."""

from __future__ import annotations

import logging

import pytest

from api import wire
from api.registry import ApiError, Context, OneShot, Registry, Stream, call_guarded, list_min_size


class FakeContext:
    client_id = 1
    pid = 2
    uid = 3
    request_id = 4

    def __init__(self) -> None:
        self.extra: list[bytes] = []

    def respond(self, payload: bytes) -> None:
        self.extra.append(payload)


def echo(payload: bytes, ctx: Context) -> bytes:
    return payload


def init(payload: bytes, ctx: Context) -> list[int]:
    return [0]


def next_one(state: list[int], ctx: Context) -> bytes | None:
    if state[0] >= 5:
        return None
    state[0] += 1
    return bytes([state[0]])


def test_registering_a_type_twice_fails_loudly() -> None:
    registry = Registry()
    registry.register(0x10001, echo)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(0x10001, echo)
    with pytest.raises(ValueError, match="already registered"):
        registry.register_stream(0x10001, init, next_one)


def test_stream_then_one_shot_of_same_type_fails() -> None:
    registry = Registry()
    registry.register_stream(0x10004, init, next_one)
    with pytest.raises(ValueError, match="Stream"):
        registry.register(0x10004, echo)


def test_unknown_type_is_enotsup() -> None:
    with pytest.raises(ApiError) as err:
        Registry().check(0xDEAD0001, b"")
    assert err.value.status == wire.ENOTSUP


def test_short_payload_is_emsgsize_before_the_handler() -> None:
    calls: list[bytes] = []

    def handler(payload: bytes, ctx: Context) -> bytes:
        calls.append(payload)
        return b""

    registry = Registry()
    registry.register(0x10001, handler, min_size=4)
    with pytest.raises(ApiError) as err:
        registry.check(0x10001, b"abc")
    assert err.value.status == wire.EMSGSIZE
    assert calls == []
    assert isinstance(registry.check(0x10001, b"abcd"), OneShot)


def test_list_minimum_depends_only_on_the_after_bit() -> None:
    min_size = list_min_size(12)
    assert min_size(b"") == 8
    assert min_size(wire.LIST_REQ.pack(0, 0, 0)) == 8
    assert min_size(wire.LIST_REQ.pack(0, 0, wire.LIST_AFTER)) == 20
    assert min_size(wire.LIST_REQ.pack(0, 0, 0x2)) == 8


def test_one_record_stream_is_wrapped_into_batches() -> None:
    registry = Registry()
    registry.register_stream(0x10004, init, next_one, record_size=1)
    entry = registry.check(0x10004, b"")
    assert isinstance(entry, Stream)
    ctx = FakeContext()
    state = entry.init(b"", ctx)
    assert entry.next_batch(state, ctx, 3) == [b"\x01", b"\x02", b"\x03"]
    assert entry.next_batch(state, ctx, 3) == [b"\x04", b"\x05"]
    assert entry.next_batch(state, ctx, 3) == []


def test_bad_record_size_is_refused() -> None:
    with pytest.raises(ValueError):
        Registry().register_stream(0x10004, init, next_one, record_size=0)


def test_blob_batches_need_a_record_size() -> None:
    def next_blob(state: list[int], ctx: Context, limit: int) -> bytes:
        return b""

    def next_batch(state: list[int], ctx: Context, limit: int) -> list[bytes]:
        return []

    with pytest.raises(ValueError, match="record_size"):
        Registry().register_stream_batch(0x10004, init, next_batch, next_blob=next_blob)


def test_unexpected_exception_becomes_eio_and_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    entry = OneShot(0xF00D0001, "ROUTE4_ADD", 0, echo)

    def boom() -> bytes:
        raise KeyError("bug")

    with caplog.at_level(logging.ERROR, logger="api"), pytest.raises(ApiError) as err:
        call_guarded(entry, 99, boom)
    assert err.value.status == wire.EIO
    assert "ROUTE4_ADD failed on request id 99" in caplog.text


def test_api_error_passes_through_unlogged(caplog: pytest.LogCaptureFixture) -> None:
    entry = OneShot(1, "X", 0, echo)

    def refuse() -> bytes:
        raise ApiError(wire.EEXIST, "key 10.0.0.0/8")

    with pytest.raises(ApiError) as err:
        call_guarded(entry, 1, refuse)
    assert err.value.status == wire.EEXIST
    assert "EEXIST" in str(err.value) and "10.0.0.0/8" in str(err.value)
    assert caplog.text == ""


def test_stats_figures_are_unique_and_live() -> None:
    registry = Registry()
    table = [1, 2]
    registry.add_stats("routes4", lambda: len(table))
    table.append(3)
    assert registry.stats() == {"routes4": 3}
    with pytest.raises(ValueError):
        registry.add_stats("routes4", lambda: 0)
