"""The handler registry, pure: no sockets."""

from __future__ import annotations

import logging

import pytest

from api import wire
from api.batch import END, Batch, Then, one_record, record_blobs
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
        registry.register_stream(0x10001, init, one_record(next_one))


def test_stream_then_one_shot_of_same_type_fails() -> None:
    registry = Registry()
    registry.register_stream(0x10004, init, one_record(next_one))
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
    registry.register_stream(0x10004, init, one_record(next_one), record_size=1)
    entry = registry.check(0x10004, b"")
    assert isinstance(entry, Stream)
    ctx = FakeContext()
    state = entry.init(b"", ctx)
    first = entry.produce(state, ctx, 3)
    assert first.items() == [b"\x01", b"\x02", b"\x03"] and first.then is Then.MORE
    last = entry.produce(state, ctx, 3)
    assert last.items() == [b"\x04", b"\x05"] and last.then is Then.END, \
        "the first None ends the stream: next_one is not called after it"


def test_blob_producer_cuts_nothing_and_ends_on_empty() -> None:
    blobs = [b"abcdef", b""]
    produce = record_blobs(lambda state, ctx, limit: blobs.pop(0), 3)
    batch = produce(None, FakeContext(), 5)
    assert batch == Batch(b"abcdef", 3) and batch.items() == [b"abc", b"def"]
    assert produce(None, FakeContext(), 5) is END


def test_batch_of_items_of_any_sizes() -> None:
    batch = Batch.of([b"a", b"bcd", b"ef"], Then.WAIT)
    assert (batch.data, batch.count, batch.then) == (b"abcdef", 3, Then.WAIT)
    assert batch.items() == [b"a", b"bcd", b"ef"]
    assert Batch.of([]).count == 0 and Batch(b"x" * 24, 12).count == 2


def test_bad_record_size_is_refused() -> None:
    with pytest.raises(ValueError):
        Registry().register_stream(0x10004, init, one_record(next_one), record_size=0)


def test_record_size_and_max_record_size_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="exclude"):
        Registry().register_stream(0x10004, init, one_record(next_one), record_size=4,
                                   max_record_size=8)
    registry = Registry()
    registry.register_stream(0x10004, init, one_record(next_one), max_record_size=68)
    entry = registry.check(0x10004, b"")
    assert isinstance(entry, Stream)
    assert (entry.record_size, entry.max_record_size) == (None, 68)


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
