"""libevent's classic bufferevent scenarios, both ends BufferEvents in one loop."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from reactor import BEV_EVENT_EOF, BEV_EVENT_READING, EV_READ, EV_WRITE, BufferEvent, Reactor
from tests.reactor.util import run_until


def pattern(size: int) -> bytes:
    return bytes((i * 31 + i // 251) % 256 for i in range(size))


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    r = Reactor()
    yield r
    r.close()


@pytest.fixture
def ends(reactor: Reactor) -> Iterator[tuple[BufferEvent, BufferEvent]]:
    a, b = socket.socketpair()
    writer, reader = BufferEvent(reactor, a), BufferEvent(reactor, b)
    yield writer, reader
    writer.close()
    reader.close()


@pytest.mark.parametrize("low, high, take", [(10, 20, None), (100, 1000, 37), (0, 4096, None),
                                             (500, 0, 200)])
def test_read_watermarks_bound_every_read_callback(
        reactor: Reactor, ends: tuple[BufferEvent, BufferEvent],
        low: int, high: int, take: int | None) -> None:
    writer, reader = ends
    data = pattern(60_000)
    seen_sizes: list[int] = []
    received = bytearray()

    def on_read(bev: BufferEvent) -> None:
        seen_sizes.append(len(bev.input))
        received.extend(bev.read(-1 if take is None else take))

    def on_event(bev: BufferEvent, what: int) -> None:
        assert what == BEV_EVENT_READING | BEV_EVENT_EOF
        received.extend(bev.read())  # the tail below low

    def on_flushed(bev: BufferEvent) -> None:
        bev.socket.shutdown(socket.SHUT_WR)

    reader.set_watermark(EV_READ, low, high)
    reader.set_callbacks(on_read, None, on_event)
    reader.enable(EV_READ)
    writer.set_callbacks(None, on_flushed, None)
    writer.enable(EV_WRITE)
    for offset in range(0, len(data), 1000):
        writer.write(data[offset:offset + 1000])
    run_until(reactor, lambda: not reader.enabled & EV_READ)
    assert bytes(received) == data
    assert seen_sizes and min(seen_sizes) >= low
    if high:
        assert max(seen_sizes) <= high


def test_write_low_watermark_drives_a_producer(
        reactor: Reactor, ends: tuple[BufferEvent, BufferEvent]) -> None:
    writer, reader = ends
    data = pattern(600_000)
    low, high = 4096, 16384
    position = 0
    on_write_outputs: list[int] = []
    received = bytearray()

    def produce(bev: BufferEvent) -> None:
        nonlocal position
        while position < len(data) and not bev.write_full:
            bev.write(data[position:position + 700])
            position += 700

    def on_write(bev: BufferEvent) -> None:
        on_write_outputs.append(len(bev.output))
        produce(bev)

    writer.set_watermark(EV_WRITE, low, high)
    writer.set_callbacks(None, on_write, None)
    writer.enable(EV_WRITE)
    reader.set_watermark(EV_READ, 0, 8192)  # a slow reader: the writer's output backs up
    reader.set_callbacks(lambda b: received.extend(b.read()), None, None)
    reader.enable(EV_READ)
    produce(writer)
    run_until(reactor, lambda: len(received) == len(data))
    assert bytes(received) == data
    assert len(on_write_outputs) >= 5
    assert max(on_write_outputs) <= low


def test_full_duplex_transfer_with_small_buffers_arrives_in_order(
        reactor: Reactor, ends: tuple[BufferEvent, BufferEvent]) -> None:
    left, right = ends
    data_lr, data_rl = pattern(150_000), pattern(170_000)[::-1]
    got = {id(left): bytearray(), id(right): bytearray()}
    for bev in ends:
        bev.set_watermark(EV_READ, 0, 1500)
        bev.set_callbacks(lambda b: got[id(b)].extend(b.read()), None, None)
        bev.enable(EV_READ | EV_WRITE)
    left.write(data_lr)
    right.write(data_rl)
    run_until(reactor, lambda: len(got[id(right)]) == len(data_lr)
              and len(got[id(left)]) == len(data_rl))
    assert got[id(right)] == data_lr and got[id(left)] == data_rl
