"""Session behaviour driven deterministically: socketpairs, run_once, a manual clock."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api import wire
from api.batch import Batch
from api.config import ServerConfig
from api.registry import Context
from api.session import Session
from reactor.clock import ManualClock
from reactor.unix import listen_unix
from tests.reactor.util import run_until
from tests.support.testserver import TEST_ECHO, TEST_LIST, build_test_daemon
from tools.harness import request

SMALL = ServerConfig(write_high=16384, write_low=4096, output_cap=65536,
                     stream_batch_bytes=4096, stall_timeout=0)


class Harness:
    def __init__(self, config: ServerConfig) -> None:
        self.clock = ManualClock(1000.0)
        daemon = build_test_daemon(config, clock=self.clock)
        self.reactor, self.server = daemon.reactor, daemon.server

    def connect(self) -> tuple[Session, socket.socket]:
        ours, theirs = socket.socketpair()
        for sock in (ours, theirs):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        theirs.setblocking(False)
        return self.server.attach(ours), theirs

    def spin(self, passes: int = 5) -> None:
        for _ in range(passes):
            self.reactor.run_once(0)

    def send(self, sock: socket.socket, data: bytes, offset: int = 0) -> int:
        """Send from ``offset`` while the server reads; return the new offset."""
        idle_passes = 0
        while offset < len(data) and idle_passes < 20:
            try:
                offset += sock.send(data[offset:offset + 65536])
                idle_passes = 0
            except BlockingIOError:
                idle_passes += 1
            self.spin(1)
        return offset

    def run_until(self, predicate: Callable[[], bool]) -> None:
        run_until(self.reactor, predicate, timeout=10.0)


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness(SMALL)
    yield h
    h.reactor.close()


def is_closed(session: Session) -> bool:
    """A call, not a property read, so mypy does not narrow it across the loop passes."""
    return session.closed


def drain(sock: socket.socket, limit: int) -> int:
    try:
        return len(sock.recv(limit))
    except BlockingIOError:
        return 0


def test_paused_stream_resumes_only_at_write_low(harness: Harness) -> None:
    session, client = harness.connect()
    client.sendall(request(1, TEST_LIST, wire.U32.pack(0)))
    harness.run_until(lambda: session.stream is not None and session.stream.paused)
    assert session.output_buffered > SMALL.write_high
    assert session.output_buffered <= SMALL.write_high + SMALL.stream_batch_bytes
    paused_items = harness.server.items_streamed
    harness.spin(50)
    assert harness.server.items_streamed == paused_items, "produced without any drain"
    # read a little at a time: while the output stays above write_low, nothing is produced
    while True:
        drain(client, 512)
        harness.spin(1)   # a resumed pump runs in a later pass: observe every pass
        if session.output_buffered <= SMALL.write_low:
            break
        assert harness.server.items_streamed == paused_items, \
            f"resumed at {session.output_buffered} bytes, above write_low"
    harness.run_until(lambda: harness.server.items_streamed > paused_items)


def test_stalled_output_is_closed_after_stall_timeout() -> None:
    h = Harness(ServerConfig(write_high=16384, write_low=4096, output_cap=65536,
                             stream_batch_bytes=4096, stall_timeout=30))
    session, client = h.connect()
    client.sendall(request(1, TEST_LIST, wire.U32.pack(0)))
    h.run_until(lambda: session.stream is not None and session.stream.paused)
    h.clock.advance(29)
    h.spin()
    assert not is_closed(session)
    h.clock.advance(2)
    h.spin()   # the first check only records the kernel's unsent figure (test_stall.py)
    h.clock.advance(31)
    h.spin()
    assert is_closed(session) and h.server.sessions == {}
    h.reactor.close()


def test_idle_timeout_closes_only_connections_with_nothing_pending() -> None:
    h = Harness(ServerConfig(write_high=16384, write_low=4096, output_cap=65536,
                             stream_batch_bytes=4096, stall_timeout=0, idle_timeout=10))
    idle, _idle_client = h.connect()
    busy, busy_client = h.connect()
    busy_client.sendall(request(1, TEST_LIST, wire.U32.pack(0)))
    h.run_until(lambda: busy.stream is not None and busy.stream.paused)
    h.clock.advance(11)
    h.spin()
    assert is_closed(idle)
    assert not is_closed(busy), "a client waiting for its stream is not idle"
    h.reactor.close()


def test_max_clients_closes_extra_connections_at_once(tmp_path: Path) -> None:
    h = Harness(ServerConfig(max_clients=2, stall_timeout=0))
    path = str(tmp_path / "s.sock")
    h.server.listen(listen_unix(path))
    clients = []
    for _ in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        clients.append(sock)
    h.run_until(lambda: len(h.server.sessions) == 2)
    h.spin(20)
    clients[2].settimeout(5)
    assert clients[2].recv(1) == b"", "the third connection is closed"
    assert len(h.server.sessions) == 2
    for sock in clients:
        sock.close()
    h.reactor.close()


def test_shutdown_flush_deadline_closes_clients_that_do_not_read(harness: Harness) -> None:
    session, client = harness.connect()
    client.sendall(request(1, TEST_LIST, wire.U32.pack(0)))
    harness.run_until(lambda: session.stream is not None and session.stream.paused)
    done: list[bool] = []
    harness.server.shutdown(lambda: done.append(True))
    assert session.stream is None
    harness.spin()
    assert not done and not session.closed
    harness.clock.advance(wire.SHUTDOWN_FLUSH_S + 0.1)
    harness.spin()
    assert is_closed(session) and done == [True]
    harness.server.shutdown(lambda: done.append(True))
    assert done == [True], "shutdown is idempotent"


def test_half_closed_client_gets_all_answers_then_eof(harness: Harness) -> None:
    session, client = harness.connect()
    data = (b"".join(request(i, TEST_ECHO, b"x" * 100) for i in range(50))
            + request(99, TEST_LIST, wire.U32.pack(2000)))
    received = bytearray()
    sent = 0
    while sent < len(data):
        sent = harness.send(client, data, sent)
        received += client.recv(65536)
    client.shutdown(socket.SHUT_WR)
    while True:
        harness.spin(2)
        try:
            chunk = client.recv(65536)
        except BlockingIOError:
            continue
        if not chunk:
            break
        received += chunk
    assert is_closed(session)
    frames = []
    offset = 0
    while offset < len(received):
        for_id, status, size = wire.HEADER.unpack_from(received, offset)
        frames.append((for_id, status, size))
        offset += wire.HEADER_SIZE + size
    assert [f[0] for f in frames[:50]] == list(range(50))
    assert frames[-1] == (99, 0, 0)
    assert len(frames) == 50 + 2000 + 1


def test_output_cap_stops_serving_until_drained(harness: Harness) -> None:
    session, client = harness.connect()
    payload = b"y" * 10000
    data = b"".join(request(i, TEST_ECHO, payload) for i in range(20))
    sent = harness.send(client, data)
    # 200 kB asked for; served only until the output passed the 64 kB cap
    assert sent < len(data), "the server kept reading past its output cap"
    assert SMALL.output_cap < session.output_buffered <= SMALL.output_cap + 12 + len(payload)
    got = 0
    while got < 20 * (12 + len(payload)):
        got += drain(client, 65536)
        sent = harness.send(client, data, sent)
        harness.spin(1)
        assert session.output_buffered <= SMALL.output_cap + 12 + len(payload)
    assert session.output_buffered == 0


def test_record_of_wrong_size_ends_stream_with_eio(harness: Harness) -> None:
    registry = harness.server.registry

    def init(payload: bytes, ctx: object) -> list[int]:
        return [0]

    def bad_next(state: list[int], ctx: object, limit: int) -> Batch:
        return Batch.of([b"short"])

    registry.register_stream(0x7E570009, init, bad_next, record_size=12)
    session, client = harness.connect()
    client.sendall(request(5, 0x7E570009))
    harness.spin(10)
    data = client.recv(65536)
    assert struct.unpack_from("<III", data) == (5, wire.EIO, 0)


def register_blob_stream(harness: Harness, blobs: list[bytes], req_type: int = 0x7E57000A) -> int:
    """A stream of type ``req_type`` whose batches are the given blobs (then the end)."""
    def init(payload: bytes, ctx: object) -> list[int]:
        return [0]

    def next_blob(state: list[int], ctx: object, limit: int) -> Batch:
        state[0] += 1
        return Batch(blobs[state[0] - 1] if state[0] <= len(blobs) else b"", 12)

    harness.server.registry.register_stream(req_type, init, next_blob, record_size=12)
    return req_type


Frame = tuple[int, int, bytes]


def read_frames(harness: Harness, client: socket.socket, until_id: int,
                passes: int = 20_000) -> list[Frame]:
    """(for_id, status, payload) of every frame up to a terminator of
    ``until_id``, within ``passes`` loop passes (else AssertionError)."""
    data, pos = b"", 0
    frames: list[Frame] = []
    for _ in range(passes):
        harness.spin(1)
        data += client.recv(1 << 20) if drain_ready(client) else b""
        while len(data) - pos >= 12:
            for_id, status, length = struct.unpack_from("<III", data, pos)
            if len(data) - pos - 12 < length:
                break
            frames.append((for_id, status, data[pos + 12:pos + 12 + length]))
            pos += 12 + length
            if (for_id, length) == (until_id, 0):
                return frames
    raise AssertionError(f"no terminator for {until_id} after {len(frames)} frames")


def drain_ready(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False


def test_blob_batches_are_framed_as_records(harness: Harness) -> None:
    records = [struct.pack("<I8s", i, b"r" * 8) for i in range(300)]
    stream_type = register_blob_stream(harness, [b"".join(records[:100]),
                                                 b"".join(records[100:300:2])])
    session, client = harness.connect()
    client.sendall(request(5, stream_type))
    frames = read_frames(harness, client, 5)
    assert frames == [(5, 0, r) for r in records[:100] + records[100:300:2]] + [(5, 0, b"")]
    assert harness.server.items_streamed == 200


def test_blob_of_partial_records_or_too_many_ends_stream_with_eio(harness: Harness) -> None:
    limit = SMALL.stream_batch_bytes // 24
    for req_id, blob in ((5, b"x" * 13), (6, b"x" * 12 * (limit + 1))):
        stream_type = register_blob_stream(harness, [b"y" * 24, blob], 0x7E570010 + req_id)
        session, client = harness.connect()
        client.sendall(request(req_id, stream_type))
        frames = read_frames(harness, client, req_id)
        assert frames == [(req_id, 0, b"y" * 12)] * 2 + [(req_id, wire.EIO, b"")]


def test_a_stream_whose_init_closes_the_connection_never_starts(harness: Harness) -> None:
    """Regression: the stream was attached to the closed session and its pump
    rescheduled itself for ever, writing into the closed BufferEvent."""
    def init(payload: bytes, ctx: Context) -> list[int]:
        harness.server.sessions[ctx.client_id].close("closed by its handler")
        return [0]

    def produce(state: list[int], ctx: Context, limit: int) -> Batch:
        state[0] += 1
        return Batch(b"x" * 12, 12)

    harness.server.registry.register_stream(0x7E570030, init, produce, record_size=12)
    session, client = harness.connect()
    client.sendall(request(5, 0x7E570030))
    harness.run_until(lambda: is_closed(session))
    harness.spin(5)
    assert session.stream is None and harness.server.items_streamed == 0
