"""Streams that wait (``Then.WAIT``): nothing runs for them until they are woken.

The toy is TEST_FEED (tests/support/testserver.py): a stream of every item
posted with TEST_POST from its start on, which waits whenever it has sent
them all; each post wakes the waiting streams (``Server.wake_streams``).
WATCH change streams will work this way.

Most tests drive a real server in this process on socketpairs, with a manual
clock and a reactor that counts what is scheduled on it (a waiting stream must
schedule nothing); the last one runs the test server as a process.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api import wire
from api.config import ServerConfig
from api.session import Session
from api.stream import Flow
from reactor import Reactor, Timer
from reactor.clock import ManualClock
from tests.support.testserver import (TEST_ECHO, TEST_FEED, TEST_LIST, TEST_POST,
                                      TEST_POST_NOW, build_test_daemon, start_test_server)
from tools.harness import Conn, Frame, request, take_frames, wait_for

SMALL = ServerConfig(write_high=16384, write_low=4096, output_cap=65536,
                     stream_batch_bytes=4096, stall_timeout=0)
WATCH_SIZES = (12 + 36, 12 + 12, 12 + 24, 12 + 56, 12)
"""Item sizes of WATCH events (nexthop, route4, route6/fdb, conntrack, SYNC)."""


class CountingReactor(Reactor):
    """A reactor counting what is scheduled on it."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.soon = 0
        self.later = 0

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        self.soon += 1
        super().call_soon(fn, *args)

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> Timer:
        self.later += 1
        return super().call_later(delay, fn, *args)


class Client:
    """One socketpair end, its session, and the frames it has read."""

    def __init__(self, session: Session, sock: socket.socket) -> None:
        self.session, self.sock = session, sock
        self.frames: list[Frame] = []
        self._data = bytearray()

    def send(self, req_id: int, req_type: int, payload: bytes = b"") -> None:
        self.sock.sendall(request(req_id, req_type, payload))

    def receive(self) -> None:
        try:
            self._data += self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        self.frames += take_frames(self._data)

    def items(self, req_id: int) -> list[bytes]:
        return [f.payload for f in self.frames if f.for_id == req_id and f.payload]

    def flow(self) -> Flow | None:
        stream = self.session.stream
        return None if stream is None else stream.flow


class Harness:
    def __init__(self) -> None:
        self.reactor = CountingReactor(ManualClock(1000.0))
        self.server = build_test_daemon(SMALL, 1_000_000, reactor=self.reactor).server
        self.clients: list[Client] = []

    def connect(self, small_buffers: bool = True) -> Client:
        ours, theirs = socket.socketpair()
        if small_buffers:   # pauses come early
            for sock in (ours, theirs):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        theirs.setblocking(False)
        client = Client(self.server.attach(ours), theirs)
        self.clients.append(client)
        return client

    def spin(self, passes: int = 1) -> None:
        for _ in range(passes):
            self.reactor.run_once(0)
            for client in self.clients:
                client.receive()

    def run_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run passes (every client reading) until ``predicate()``; fail at the deadline."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            self.spin()

    def watching(self) -> Client:
        """A client whose TEST_FEED stream (id 1) waits, the feed being empty."""
        watcher = self.connect()
        watcher.send(1, TEST_FEED)
        self.run_until(lambda: watcher.flow() is Flow.WAITING)
        return watcher

    def post(self, poster: Client, items: list[bytes], first_id: int = 100) -> None:
        """Post ``items`` in one pipelined write and wait for every reply."""
        poster.sock.sendall(b"".join(request(first_id + i, TEST_POST, item)
                                     for i, item in enumerate(items)))
        replies = set(range(first_id, first_id + len(items)))
        self.run_until(lambda: replies <= {f.for_id for f in poster.frames if f.status == 0})


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    for client in h.clients:
        client.sock.close()
    h.reactor.close()


def items_of(sizes: tuple[int, ...], rounds: int) -> list[bytes]:
    return [bytes([n % 251]) * size for n, size in enumerate(sizes * rounds)]


def test_a_waiting_stream_schedules_nothing_until_woken(harness: Harness) -> None:
    watcher = harness.watching()
    soon, later = harness.reactor.soon, harness.reactor.later
    harness.spin(50)
    assert (harness.reactor.soon, harness.reactor.later) == (soon, later), \
        "a waiting stream scheduled a pump or a timer"
    figures = harness.server.stats()
    assert (figures["streams_active"], figures["streams_paused"]) == (1, 0)
    assert watcher.items(1) == [] and watcher.session.stream is not None
    assert watcher.session.stream.waiting and not watcher.session.stream.paused
    harness.post(harness.connect(), [b"first"])
    harness.run_until(lambda: watcher.items(1) == [b"first"])
    assert watcher.flow() is Flow.WAITING, "caught up again: it waits, it does not end"


def test_one_wake_sends_items_of_mixed_sizes_in_one_batch(harness: Harness) -> None:
    watcher = harness.watching()
    items = items_of(WATCH_SIZES, 2)
    stream = watcher.session.stream
    assert stream is not None and stream.batch_limit >= len(items)
    poster = harness.connect()
    poster.sock.sendall(b"".join(request(100 + i, TEST_POST, item)
                                 for i, item in enumerate(items)))
    harness.run_until(lambda: stream.records > 0)   # the pass after the posts were read
    assert stream.records == len(items), "all of them in one batch"
    harness.run_until(lambda: len(watcher.items(1)) == len(items))
    assert watcher.items(1) == items
    assert watcher.flow() is Flow.WAITING


def test_a_woken_stream_pauses_at_write_high_and_waits_again(harness: Harness) -> None:
    watcher = harness.connect()
    watcher.send(1, TEST_FEED)
    harness.run_until(lambda: watcher.flow() is Flow.WAITING)
    harness.clients.remove(watcher)          # it reads nothing until told below
    items = items_of((200, 120, 68), 100)    # 400 kB of frames, far above write_high
    harness.post(harness.connect(small_buffers=False), items)
    harness.run_until(lambda: watcher.flow() is Flow.PAUSED)
    assert SMALL.write_high < watcher.session.output_buffered
    assert watcher.session.output_buffered <= SMALL.write_high + wire.STREAM_OVERSHOOT
    assert harness.server.stats()["streams_paused"] == 1
    assert watcher.session.wake_stream() is False, "a wake does not move a paused stream"
    harness.clients.append(watcher)
    harness.run_until(lambda: len(watcher.items(1)) == len(items))
    assert watcher.items(1) == items
    assert watcher.flow() is Flow.WAITING
    assert harness.server.stats()["streams_paused"] == 0


@pytest.mark.parametrize("post, woken_first", [(TEST_POST_NOW, True), (TEST_POST, False)])
def test_a_wake_at_once_queues_items_before_later_replies(harness: Harness, post: int,
                                                          woken_first: bool) -> None:
    """The watcher wakes itself, then asks for an echo in the same write: woken
    at once, its item is queued before both replies (the post's handler sees
    its own request id throughout, else EIO); woken later, after them."""
    watcher = harness.watching()
    watcher.sock.sendall(request(2, post, b"news") + request(3, TEST_ECHO, b"echo"))
    harness.run_until(lambda: len(watcher.frames) == 3)
    replies = [Frame(2, 0, b""), Frame(3, 0, b"echo")]
    item = [Frame(1, 0, b"news")]
    assert watcher.frames == (item + replies if woken_first else replies + item)
    assert watcher.flow() is Flow.WAITING


def test_a_wake_at_once_from_another_connection(harness: Harness) -> None:
    watchers = [harness.watching() for _ in range(3)]
    poster = harness.connect()
    poster.send(7, TEST_POST_NOW, b"to all")
    harness.run_until(lambda: any(f.for_id == 7 for f in poster.frames))
    assert all(w.session.output_buffered > 0 or w.items(1) for w in watchers), \
        "queued before the poster's reply was"
    harness.run_until(lambda: all(w.items(1) == [b"to all"] for w in watchers))
    assert all(w.flow() is Flow.WAITING for w in watchers)


def test_ebusy_and_cancel_apply_to_a_waiting_stream(harness: Harness) -> None:
    watcher = harness.watching()
    watcher.send(2, TEST_LIST, wire.U32.pack(0))
    harness.run_until(lambda: any(f.for_id == 2 for f in watcher.frames))
    assert watcher.frames[-1] == Frame(2, wire.EBUSY, b"")
    assert watcher.flow() is Flow.WAITING
    watcher.send(3, wire.STREAM_CANCEL, wire.U32.pack(1))
    harness.run_until(lambda: any(f.for_id == 3 for f in watcher.frames))
    assert watcher.frames[-2:] == [Frame(1, wire.ECANCELED, b""), Frame(3, 0, b"")]
    assert watcher.session.stream is None
    assert harness.server.stats()["streams_active"] == 0
    assert harness.server.wake_streams() == 0


def test_shutdown_ends_a_waiting_stream_eshutdown(harness: Harness) -> None:
    watcher = harness.watching()
    done: list[bool] = []
    harness.server.shutdown(lambda: done.append(True))
    harness.run_until(lambda: bool(done) and bool(watcher.frames))
    assert watcher.frames == [Frame(1, wire.ESHUTDOWN, b"")]
    assert watcher.session.closed


def test_disconnect_frees_a_waiting_stream(harness: Harness) -> None:
    watcher = harness.watching()
    harness.clients.remove(watcher)
    watcher.sock.close()
    harness.run_until(lambda: watcher.session.closed)
    assert harness.server.stats()["streams_active"] == 0
    assert harness.server.wake_streams() == 0, "a closed session is not woken"


def test_a_waiting_stream_in_a_server_process(tmp_path: Path) -> None:
    server = start_test_server(tmp_path)
    try:
        with Conn(server.path) as watcher, Conn(server.path) as poster:
            watcher.send(1, TEST_FEED)
            wait_for(lambda: poster.stats()["streams_active"] == 1, what="stream active")
            cpu = server.cpu_seconds()
            time.sleep(0.5)   # the wait under test: nothing posted, nothing may run
            assert server.cpu_seconds() - cpu < 0.05, "a waiting stream used CPU"
            figures = json.loads(poster.call(2, wire.STATS).payload)
            assert (figures["streams_active"], figures["streams_paused"]) == (1, 0)
            items = items_of(WATCH_SIZES, 1)
            for n, item in enumerate(items):
                assert poster.call(10 + n, TEST_POST, item).status == 0
            assert [watcher.frame() for _ in items] == [Frame(1, 0, item) for item in items]
            server.proc.send_signal(signal.SIGTERM)
            assert watcher.frame() == Frame(1, wire.ESHUTDOWN, b"")
        assert server.proc.wait(10) == 0
    finally:
        server.kill()
