"""The BufferEvent's two buffers on their own: OutputQueue and InputBuffer."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from reactor.inbuffer import InputBuffer
from reactor.outqueue import COALESCE_TAIL_MAX, SENDMSG_MAX_CHUNKS, OutputQueue


class Flag:
    write_full = False

    def full(self) -> bool:
        """A call, not an attribute read, so mypy does not narrow it across writes."""
        return self.write_full


class Harness:
    def __init__(self, sock: socket.socket) -> None:
        self.flag = Flag()
        self.first: list[bytes] = []
        self.queue = OutputQueue(sock, self.flag, self.on_empty)

    def on_empty(self, data: bytes, size: int) -> None:
        self.first.append(data)
        self.queue.push(data, size)


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_only_a_write_into_the_empty_queue_goes_to_the_owner(
        sockets: tuple[socket.socket, socket.socket]) -> None:
    h = Harness(sockets[0])
    h.queue.write(b"one")
    h.queue.write(b"two")
    h.queue.write(bytearray(b"three"))
    h.queue.write(b"")
    assert h.first == [b"one"]
    assert len(h.queue) == 11


def test_write_full_is_published_on_the_owner(
        sockets: tuple[socket.socket, socket.socket]) -> None:
    h = Harness(sockets[0])
    h.queue.set_high(100)
    h.queue.write(b"x" * 60)
    for _ in range(40):
        h.queue.write(b"y")
    assert not h.flag.full()  # exactly high is not above it
    h.queue.write(b"z")
    assert h.flag.full()
    h.queue.clear()
    assert not h.flag.full() and len(h.queue) == 0


def test_send_some_passes_at_most_512_chunks_and_removes_what_was_sent(
        sockets: tuple[socket.socket, socket.socket]) -> None:
    a, b = sockets
    h = Harness(a)
    big = COALESCE_TAIL_MAX  # large writes stay separate chunks
    chunks = SENDMSG_MAX_CHUNKS + 10
    for i in range(chunks):
        h.queue.write(bytes([i % 256]) * big if i else b"h" * big)
    total = len(h.queue)
    sent = h.queue.send_some()
    assert 0 < sent < total  # the kernel buffer is far smaller than 512 chunks
    assert len(h.queue) == total - sent
    received = bytearray()
    while len(received) < sent:
        received += b.recv(65536)
    assert received[:big] == b"h" * big and len(received) == sent


def test_take_of_everything_hands_over_the_received_object() -> None:
    resumed: list[int] = []
    buf = InputBuffer(lambda: resumed.append(1))
    data = b"abcdef"
    assert buf.append(data) == 6
    assert buf.take() is data
    assert buf.take() == b"" and len(buf) == 0 and resumed == []


def test_partial_takes_and_resume_at_the_high_watermark() -> None:
    resumed: list[int] = []
    buf = InputBuffer(lambda: resumed.append(len(buf)))
    buf.set_high(8)
    buf.append(b"abcd")
    buf.append(b"efgh")
    assert buf.take(0) == b"" and resumed == []
    assert buf.take(3) == b"abc"
    assert resumed == [5]  # the take started at high: once, after removing
    assert buf.take(2) == b"de" and resumed == [5]
    assert buf.take(-1) == b"fgh" and len(buf) == 0
    buf.set_high(0)
    buf.append(b"x" * 100)
    assert buf.take(1) == b"x" and resumed == [5]
