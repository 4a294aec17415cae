"""The stall timeout against slow readers: socketpairs with the kernel's default
buffers, run_once passes and a manual clock.

Regression: Linux reports a UNIX socket writable only once about 3/4 of its
send buffer has drained, so a client that reads a few tens of KiB per stall
period causes no send for longer than the timeout; the session used to close
it as stalled.  It now asks the kernel (SIOCOUTQ) whether the peer consumed
anything since the previous check.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Iterator

import pytest

from api import stall as stall_module
from api import wire
from api.config import ServerConfig
from api.session import Session
from reactor.clock import ManualClock
from tests.reactor.util import run_until
from tests.support.testserver import RECORD, TEST_LIST, build_test_daemon
from tools.harness import request

STALL = 30.0
CONFIG = ServerConfig(write_high=16384, write_low=4096, output_cap=65536,
                      stream_batch_bytes=4096, stall_timeout=STALL)
RECORDS = 100_000
FRAME = wire.HEADER_SIZE + RECORD.size
STALLED = "stalled: output made no progress"


class Harness:
    def __init__(self) -> None:
        self.clock = ManualClock(1000.0)
        daemon = build_test_daemon(CONFIG, RECORDS, clock=self.clock)
        self.reactor, self.server = daemon.reactor, daemon.server

    def streaming(self) -> tuple[Session, socket.socket]:
        """A session whose client asked for every record; the stream paused."""
        ours, theirs = socket.socketpair()   # default buffers: the kernel holds ~200 KiB
        theirs.setblocking(False)
        session = self.server.attach(ours)
        theirs.sendall(request(1, TEST_LIST, wire.U32.pack(0)))
        self.run_until(lambda: session.stream is not None and session.stream.paused)
        return session, theirs

    def spin(self, passes: int = 5) -> None:
        for _ in range(passes):
            self.reactor.run_once(0)

    def run_until(self, predicate: Callable[[], bool]) -> None:
        run_until(self.reactor, predicate, timeout=10.0)

    def past_the_timeout(self) -> None:
        self.clock.advance(STALL + 1)
        self.spin()


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.reactor.close()


def is_closed(session: Session) -> bool:
    """A call, not a property read, so mypy does not narrow it across the loop passes."""
    return session.closed


def read_some(sock: socket.socket, limit: int) -> bytes:
    """Up to ``limit`` bytes that are there now (none is fine)."""
    data = bytearray()
    while len(data) < limit:
        try:
            chunk = sock.recv(min(4096, limit - len(data)))
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def test_a_slow_steady_reader_is_not_closed_as_stalled(harness: Harness) -> None:
    session, client = harness.streaming()
    received = bytearray()
    for _ in range(8):
        received += read_some(client, 40 * 1024)   # a few tens of KiB per stall period
        # If that made the socket writable, the server refills the kernel's buffer.
        harness.run_until(lambda: session.stream is not None and session.stream.paused)
        harness.past_the_timeout()
        assert not is_closed(session), f"closed after the client read {len(received)} bytes"
    assert len(received) >= 8 * 40 * 1024
    expected = RECORDS * FRAME + wire.HEADER_SIZE
    while len(received) < expected:   # now read everything: the stream finishes
        received += read_some(client, 1 << 20)
        harness.spin(1)
        assert not is_closed(session)
    assert len(received) == expected
    for index in range(0, RECORDS, 997):
        frame = received[index * FRAME:(index + 1) * FRAME]
        assert wire.HEADER.unpack_from(frame) == (1, wire.OK, RECORD.size)
        assert RECORD.unpack_from(frame, wire.HEADER_SIZE) == (index, index)
    assert wire.HEADER.unpack_from(received, expected - wire.HEADER_SIZE) == (1, wire.OK, 0)
    client.close()


def test_a_reader_that_reads_nothing_is_closed_as_stalled(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api")
    session, client = harness.streaming()
    harness.clock.advance(STALL - 1)
    harness.spin()
    assert not is_closed(session), "closed before one stall timeout"
    harness.past_the_timeout()
    harness.past_the_timeout()
    assert is_closed(session) and harness.server.sessions == {}
    assert caplog.text.count(STALLED) == 1
    client.close()


def test_without_the_kernel_figure_the_first_timeout_closes(
        harness: Harness, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def unsupported(fd: int) -> int:
        raise OSError(errno.ENOTSUP, "not supported")

    monkeypatch.setattr(stall_module, "unsent_bytes", unsupported)
    caplog.set_level(logging.INFO, logger="api")
    session, client = harness.streaming()
    received = read_some(client, 40 * 1024)
    assert received
    harness.past_the_timeout()
    assert is_closed(session)
    assert STALLED in caplog.text
    client.close()
