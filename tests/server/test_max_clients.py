"""--max-clients counts open connections, through a real listening UNIX socket.

Regression: a client that closed with a stream active used to keep its slot
until a later pass, when the session's next send failed with EPIPE; a client
that closed and reconnected at once was refused at the limit.  The session now
closes in the pass that reads the EOF when the peer hung up (it will read
nothing more).  A half-closed client, which still reads its answers, keeps
its slot until they are delivered.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api import wire
from api.config import ServerConfig
from api.session import Session
from reactor.clock import ManualClock
from reactor.unix import listen_unix
from tests.reactor.util import run_until
from tests.support.testserver import TEST_ECHO, TEST_LIST, build_test_daemon
from tools.harness import request

REFUSED = "refused a connection"


class Harness:
    def __init__(self, tmp_path: Path, max_clients: int) -> None:
        daemon = build_test_daemon(ServerConfig(max_clients=max_clients, stall_timeout=0),
                                   clock=ManualClock(1000.0))
        self.reactor, self.server = daemon.reactor, daemon.server
        self.path = str(tmp_path / "s.sock")
        self.server.listen(listen_unix(self.path))

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.path)   # the backlog takes it; the server accepts in a pass
        sock.setblocking(False)
        return sock

    def run_until(self, predicate: Callable[[], bool]) -> None:
        run_until(self.reactor, predicate, timeout=10.0)

    def session_with_stream(self) -> Session:
        (session,) = [s for s in self.server.sessions.values() if s.stream is not None]
        return session

    def echo(self, sock: socket.socket) -> bytes:
        """Ask TEST_ECHO on ``sock`` while the loop runs; b"" if the server closed it."""
        sock.sendall(request(7, TEST_ECHO, b"hi"))
        data = bytearray()
        for _ in range(10_000):
            self.reactor.run_once(0)
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return b""   # closed with our request unread
            if not chunk:
                return b""
            data += chunk
            if len(data) >= wire.HEADER_SIZE + 2:
                return bytes(data)
        raise AssertionError("no answer and no close")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="api")
    return caplog


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path, max_clients=2)
    yield h
    h.reactor.close()


def drain(sock: socket.socket) -> int:
    got = 0
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return got
        if not chunk:
            return got
        got += len(chunk)


def test_a_client_that_closes_mid_stream_can_reconnect_at_once(
        harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    held = harness.connect()
    streamer = harness.connect()
    harness.run_until(lambda: len(harness.server.sessions) == 2)
    streamer.sendall(request(1, TEST_LIST, wire.U32.pack(0)))
    harness.run_until(lambda: any(s.stream is not None for s in harness.server.sessions.values()))
    session = harness.session_with_stream()

    def streaming_with_nothing_queued() -> bool:
        drain(streamer)   # a fast reader: the next batch is produced in a later pass
        return (session.stream is not None and not session.stream.paused
                and session.output_buffered == 0 and harness.server.items_streamed > 0)

    harness.run_until(streaming_with_nothing_queued)
    streamer.close()
    again = harness.connect()   # before the server has run a single pass
    answer = harness.echo(again)
    assert answer, "the reconnecting client was refused: the closed one still held its slot"
    assert wire.HEADER.unpack_from(answer) == (7, wire.OK, 2)
    assert REFUSED not in logs.text
    assert len(harness.server.sessions) == 2 and session.closed
    for sock in (held, again):
        sock.close()


def test_an_idle_client_can_reconnect_at_once(
        harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    held = harness.connect()
    idle = harness.connect()
    harness.run_until(lambda: len(harness.server.sessions) == 2)
    idle.close()
    again = harness.connect()
    assert harness.echo(again)
    assert REFUSED not in logs.text
    for sock in (held, again):
        sock.close()


def test_a_half_closed_client_keeps_its_slot_until_answered(
        harness: Harness, logs: pytest.LogCaptureFixture) -> None:
    held = harness.connect()
    half = harness.connect()
    harness.run_until(lambda: len(harness.server.sessions) == 2)
    half.sendall(request(1, TEST_LIST, wire.U32.pack(5000)))
    half.shutdown(socket.SHUT_WR)   # still reading its stream
    harness.run_until(lambda: any(s.stream is not None for s in harness.server.sessions.values()))
    extra = harness.connect()
    assert harness.echo(extra) == b"", "a third client at max-clients 2"
    assert REFUSED in logs.text
    received = bytearray()
    while not received.endswith(wire.HEADER.pack(1, wire.OK, 0)):
        harness.reactor.run_once(0)
        try:
            received += half.recv(1 << 20)
        except BlockingIOError:
            pass
    assert len(received) == 5000 * 24 + wire.HEADER_SIZE, "every record reached it"
    harness.run_until(lambda: len(harness.server.sessions) == 1)
    again = harness.connect()
    assert harness.echo(again)
    for sock in (held, half, extra, again):
        sock.close()
