"""reactor.linger: a connection closed with unread input still delivers its last
reply (FIN after the output, input discarded), and lingering is bounded by bytes
and by time.  Real TCP on 127.0.0.1, the real clock."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from reactor import BufferEvent, Reactor
from reactor.inet import listen_tcp
from reactor.linger import linger_close
from tests.reactor.util import run_until


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    r = Reactor()
    yield r
    r.close()


@pytest.fixture
def pair(reactor: Reactor) -> Iterator[tuple[BufferEvent, socket.socket]]:
    """A BufferEvent on the server side of a TCP connection, and the client socket."""
    listener = listen_tcp("127.0.0.1", 0)
    client = socket.create_connection(listener.getsockname(), timeout=10)
    conn, _ = listener.accept()
    listener.close()
    bev = BufferEvent(reactor, conn)
    yield bev, client
    bev.close()
    client.close()


def test_the_reply_arrives_whole_then_eof_despite_unread_input(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, client = pair
    client.sendall(b"x" * 200_000)           # a request body the server will never read
    bev.write(b"HTTP/1.1 413 Payload Too Large\r\n\r\n")
    closed: list[bool] = []
    linger_close(bev, lambda: closed.append(True))
    received = bytearray()
    client.setblocking(False)

    def got_reply() -> bool:
        try:
            received.extend(client.recv(65536))
        except BlockingIOError:
            pass
        return received.endswith(b"\r\n\r\n")

    run_until(reactor, got_reply)
    assert received == b"HTTP/1.1 413 Payload Too Large\r\n\r\n"
    client.settimeout(10)
    assert client.recv(1) == b""              # FIN after the reply, not a reset
    client.close()
    run_until(reactor, lambda: bool(closed))
    assert closed == [True] and bev.closed


def test_lingering_ends_after_max_discard_bytes(
        reactor: Reactor, pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, client = pair
    closed: list[bool] = []
    linger_close(bev, lambda: closed.append(True), max_discard=10_000, timeout=30)
    client.setblocking(False)

    def flooded() -> bool:
        try:
            client.send(b"y" * 4096)
        except (BlockingIOError, ConnectionError):
            pass
        return bool(closed)

    run_until(reactor, flooded)
    assert closed == [True]


def test_lingering_ends_after_the_timeout(reactor: Reactor,
                                          pair: tuple[BufferEvent, socket.socket]) -> None:
    bev, client = pair                        # the client neither sends nor closes
    closed: list[bool] = []
    linger_close(bev, lambda: closed.append(True), timeout=0.2)
    run_until(reactor, lambda: bool(closed), timeout=5)
    assert closed == [True]
